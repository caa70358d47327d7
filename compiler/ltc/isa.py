"""The LUT Tensor Core ISA. Its one definition lives in tensorc.runtime.ltc.isa (the runtime may not
import the compiler, and the simulator decodes with the same tables); this module re-exports it."""

from tensorc.runtime.ltc.isa import *  # noqa: F401,F403
from tensorc.runtime.ltc.isa import (ADTYPES, BY_CODE, FORM_ENTRIES, FORMS, FUSABLE, ISA_VERSION, OPS, TTYPES,  # noqa: F401
                                     UNITS, VDTYPES, Access, Field, Instr, OpSpec, Region, access, check_stream,
                                     decode_all, decode_one, encode, encode_all)
