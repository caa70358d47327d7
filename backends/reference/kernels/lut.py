"""Reference kernels of the lut dialect: exactly docs/lut.md §2 (tensorc.quant.lut's numerics)."""

from __future__ import annotations

from tensorc.quant import lut as L

from . import kernel


@kernel("lut.precompute")
def _precompute(inputs, attrs, outs):
    (a,) = inputs
    return list(L.precompute(a, int(attrs["K"]), attrs["form"], attrs["table_type"], int(attrs["act_group"])))


@kernel("lut.mpgemm")
def _mpgemm(inputs, attrs, outs):
    tables, tscales, planes, scales, zeros = inputs
    return [L.mpgemm(tables, tscales, planes, scales, zeros, k=int(attrs["K"]), n=int(attrs["N"]),
                     bits=int(attrs["bits"]), group=int(attrs["group"]), act_group=int(attrs["act_group"]),
                     form=attrs["form"])]
