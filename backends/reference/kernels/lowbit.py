"""Reference kernel of `tg.matmul_nbits`: unpack, dequantize to f32, matmul."""

from __future__ import annotations

import numpy as np

from tensorc.quant.lowbit import dequantize, unpack_codes

from . import kernel


@kernel("matmul_nbits")
def _matmul_nbits(inputs, attrs, outs):
    x, codes, scales, zeros = inputs
    k, bits, group = int(attrs["K"]), int(attrs["bits"]), int(attrs["block_size"])
    w = dequantize(unpack_codes(codes, k, bits), scales, zeros, group)
    return [np.matmul(x.astype(np.float32), w.T)]
