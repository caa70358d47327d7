"""Reductions (explicit `axes`; an empty list reduces over nothing) and arg_max/arg_min."""

from __future__ import annotations

import numpy as np

from . import kernel
from ._common import attr, fl, int_range, is_float, norm_axes, norm_axis, wide


def _prep(inputs, attrs, as_float=False):
    x = wide(inputs[0])
    if as_float or is_float(x.dtype):
        x = fl(x)
    a = attrs.get("axes")
    axes = tuple(range(x.ndim)) if a is None else tuple(sorted(set(norm_axes(a, x.ndim))))
    keep = bool(int(attr(attrs, "keepdims", 1)))
    return x, axes, keep


def _empty(x, axes):
    return any(x.shape[a] == 0 for a in axes)


def _sum(x, axes, keep):
    if x.dtype.kind in "iub":
        return np.sum(x, axis=axes, keepdims=keep, dtype=np.uint64 if x.dtype.kind == "u" else np.int64)
    return np.sum(x, axis=axes, keepdims=keep)


def _extreme(fn, lowest):
    def k(inputs, attrs, outs):
        x, axes, keep = _prep(inputs, attrs)
        kw = {}
        if _empty(x, axes):
            if x.dtype.kind == "f":
                kw["initial"] = -np.inf if lowest else np.inf
            elif x.dtype == np.bool_:
                kw["initial"] = not lowest
            else:
                lo, hi = int_range(x.dtype)
                kw["initial"] = lo if lowest else hi
        return [fn(x, axis=axes, keepdims=keep, **kw)]

    return k


kernel("reduce_max")(_extreme(np.max, True))
kernel("reduce_min")(_extreme(np.min, False))


@kernel("reduce_sum")
def _reduce_sum(inputs, attrs, outs):
    x, axes, keep = _prep(inputs, attrs)
    return [_sum(x, axes, keep)]


@kernel("reduce_mean")
def _reduce_mean(inputs, attrs, outs):
    x, axes, keep = _prep(inputs, attrs)
    if x.dtype.kind in "iub":
        n = int(np.prod([x.shape[a] for a in axes]))
        s = _sum(x, axes, keep)
        # integer mean truncates toward zero
        q = np.abs(s) // max(n, 1)
        return [np.where(s < 0, -q, q) if x.dtype.kind == "i" else q]
    return [np.mean(x, axis=axes, keepdims=keep)]


@kernel("reduce_prod")
def _reduce_prod(inputs, attrs, outs):
    x, axes, keep = _prep(inputs, attrs)
    return [np.prod(x, axis=axes, keepdims=keep)]


@kernel("reduce_l1")
def _reduce_l1(inputs, attrs, outs):
    x, axes, keep = _prep(inputs, attrs)
    return [_sum(np.abs(x), axes, keep)]


@kernel("reduce_l2")
def _reduce_l2(inputs, attrs, outs):
    x, axes, keep = _prep(inputs, attrs, as_float=True)
    return [np.sqrt(np.sum(np.square(x), axis=axes, keepdims=keep))]


@kernel("reduce_sum_square")
def _reduce_sum_square(inputs, attrs, outs):
    x, axes, keep = _prep(inputs, attrs)
    return [_sum(x * x, axes, keep)]


@kernel("reduce_log_sum")
def _reduce_log_sum(inputs, attrs, outs):
    x, axes, keep = _prep(inputs, attrs, as_float=True)
    return [np.log(np.sum(x, axis=axes, keepdims=keep))]


@kernel("reduce_log_sum_exp")
def _reduce_log_sum_exp(inputs, attrs, outs):
    x, axes, keep = _prep(inputs, attrs, as_float=True)
    if _empty(x, axes):
        return [np.log(np.sum(np.exp(x), axis=axes, keepdims=keep))]
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    r = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    if not keep:
        r = np.squeeze(r, axis=axes)
    return [r]


def _arg(fn):
    def k(inputs, attrs, outs):
        x = wide(inputs[0])
        ax = norm_axis(attr(attrs, "axis", 0), x.ndim)
        keep = bool(int(attr(attrs, "keepdims", 1)))
        if int(attr(attrs, "select_last_index", 0)):
            r = x.shape[ax] - 1 - fn(np.flip(x, axis=ax), axis=ax)
        else:
            r = fn(x, axis=ax)
        if keep:
            r = np.expand_dims(r, ax)
        return [np.asarray(r, dtype=np.int64)]

    return k


kernel("arg_max")(_arg(np.argmax))
kernel("arg_min")(_arg(np.argmin))
