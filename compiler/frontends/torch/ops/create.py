"""Tensor factories: arange, full, zeros/ones, scalar_tensor, linspace — all constants at import."""

from __future__ import annotations

import numpy as np

from ..importer import OpContext, Val, aten


def _const(cx: OpContext, array) -> Val:
    return Val("", const=np.asarray(array).astype(cx.out_dtype).reshape(cx.out_shape))


@aten("arange")
def arange(cx: OpContext):
    start, step = cx.get("start", 0), cx.get("step", 1)
    i = np.arange(cx.out_shape[0], dtype=np.float64)
    # torch computes start + i * step in double (integers exactly), then casts
    if cx.out_dtype.kind == "f" or isinstance(start, float) or isinstance(step, float):
        return _const(cx, float(start) + i * float(step))
    return _const(cx, int(start) + i.astype(np.int64) * int(step))


@aten("full", "full_like", "new_full")
def full(cx: OpContext):
    return _const(cx, np.full(cx.out_shape, cx["fill_value"]))


@aten("zeros", "zeros_like", "new_zeros", "empty", "empty_like", "new_empty", "empty_strided", "new_empty_strided")
def zeros(cx: OpContext):
    # `empty` is uninitialized memory in torch: any value is right, zeros are deterministic
    return _const(cx, np.zeros(cx.out_shape))


@aten("ones", "ones_like", "new_ones")
def ones(cx: OpContext):
    return _const(cx, np.ones(cx.out_shape))


@aten("scalar_tensor")
def scalar_tensor(cx: OpContext):
    return _const(cx, np.asarray(cx["s"]))


@aten("linspace")
def linspace(cx: OpContext):
    return _const(cx, np.linspace(float(cx["start"]), float(cx["end"]), int(cx["steps"])))


@aten("fill.Scalar", "fill.Tensor")
def fill(cx: OpContext):
    v = cx["value"]
    if isinstance(v, Val):
        v = cx.const(v, "the fill value")
    return _const(cx, np.full(cx.out_shape, v))


@aten("_local_scalar_dense")
def item(cx: OpContext):
    """`tensor.item()`: a Python scalar, when the tensor is known at import."""
    return cx.const(cx["self"], "the tensor read by .item()").item()
