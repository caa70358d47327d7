"""Reference kernels of the bfp dialect: block quantization with tensorc.quant's exact numerics.

`bfp.quantize` returns the values the format represents (the array a
`tensor<..., #bfp.format<...>>` holds); `bfp.dequantize` hands them on unchanged.
"""

from __future__ import annotations

import numpy as np

from tensorc.quant import quantize

from . import kernel


@kernel("bfp.quantize")
def _quantize(inputs, attrs, outs):
    return [quantize(inputs[0], attrs["format"], axis=int(attrs.get("axis", -1)))]


@kernel("bfp.dequantize")
def _dequantize(inputs, attrs, outs):
    return [np.array(inputs[0], dtype=np.float32, copy=True)]
