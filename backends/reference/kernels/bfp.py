"""Reference kernels of the bfp dialect: block quantization and packed storage with tensorc.quant's exact numerics.

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


@kernel("bfp.pack")
def _pack(inputs, attrs, outs):
    from tensorc.quant.packing import pack

    return [pack(inputs[0], attrs["format"], axis=int(attrs.get("axis", -1)))]


@kernel("bfp.unpack")
def _unpack(inputs, attrs, outs):
    from tensorc.quant.packing import unpack

    return [unpack(inputs[0], attrs["format"], axis=int(attrs["axis"]), length=int(attrs["length"]))]


@kernel("bfp.matmul")
def _matmul(inputs, attrs, outs):
    """A @ B with B unpacked from its blocks along the contraction axis (-2)."""
    from tensorc.quant.packing import unpack

    p = inputs[1]  # [..., nblocks, bytes, T]
    b = unpack(p, attrs["format"], axis=p.ndim - 3, length=int(attrs["length"]))
    return [np.matmul(np.asarray(inputs[0], np.float32), b)]
