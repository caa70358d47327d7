"""tensorc.quant — block-floating-point numerics (BFP12/BFP16, OCP MX), formats and metrics.

    from tensorc.quant import quantize, parse_format
    y = quantize(x, "bfp12_32", axis=-1)       # dequantized float32, same shape
    parse_format("mxfp4").bits_per_element()  # 4.25

The exact rule (rounding, zero blocks, subnormals, inf/NaN) is in
`tensorc.quant.numerics` and docs/bfp.md.
"""

from .formats import FAMILIES, FP_ELEMS, ROUNDINGS, Format, FpElem, parse_format
from .metrics import channel_sqnr_db, cosine, sqnr_db
from .numerics import QNAN_BITS, quantize, shared_exponents, zeroed_fraction
from .packing import can_pack, pack, unpack

__all__ = [
    "Format", "FpElem", "FP_ELEMS", "FAMILIES", "ROUNDINGS", "parse_format",
    "quantize", "shared_exponents", "zeroed_fraction", "QNAN_BITS",
    "sqnr_db", "channel_sqnr_db", "cosine",
    "pack", "unpack", "can_pack",
]
