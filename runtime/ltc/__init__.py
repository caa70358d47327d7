"""The LUT Tensor Core simulator (numpy only; no compiler imports). See docs/ltc.md.

- `isa`: the instruction set — opcodes, bit fields, encode/decode, operand regions (one source of truth)
- `program`: the `.ltc` file (header, tensor table, DRAM segments, instruction stream)
- `config`: `LTCConfig`, every machine parameter, `load_config(FILE)` (.json/.toml)
- `functional`, `cost`, `timing`: what instructions compute, what they cost, when they run
- `simulate(program, inputs, config)` → outputs and the report
"""

from .config import LTCConfig, config_from_dict, load_config
from .errors import LTCConfigError, LTCError, LTCFormatError, LTCInputError
from .isa import OPS, Instr, decode_all, encode, encode_all
from .program import LTCProgram, Segment, TensorInfo, program_from_bytes, read_program
from .sim import SimResult, simulate
from .timing import format_report

__all__ = ["LTCConfig", "load_config", "config_from_dict", "LTCError", "LTCFormatError", "LTCConfigError",
           "LTCInputError", "OPS", "Instr", "encode", "encode_all", "decode_all", "LTCProgram", "Segment",
           "TensorInfo", "read_program", "program_from_bytes", "simulate", "SimResult", "format_report"]
