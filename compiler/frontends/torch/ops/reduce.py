"""Reductions, softmax, norms, cumsum, top-k."""

from __future__ import annotations

import math

import numpy as np

from ..importer import OpContext, Val, aten, dims_list, norm_dim


def reduce(cx: OpContext, op: str, x: Val, dim, keepdim) -> Val:
    if x.rank == 0:
        return x
    axes = dims_list(dim, x.rank)
    return cx.emit1(op, [x], {"axes": axes, "keepdims": int(bool(keepdim))})


@aten("sum.dim_IntList", "sum.default")
def sum_(cx: OpContext):
    x = cx.tensor(cx["self"], cx.out_dtype)  # bools and small ints sum in int64
    return reduce(cx, "reduce_sum", x, cx.get("dim"), cx.get("keepdim", False))


@aten("mean.dim", "mean.default")
def mean(cx: OpContext):
    x = cx.tensor(cx["self"], cx.out_dtype)
    return reduce(cx, "reduce_mean", x, cx.get("dim"), cx.get("keepdim", False))


@aten("prod.dim_int", "prod.default")
def prod(cx: OpContext):
    x = cx.tensor(cx["self"], cx.out_dtype)
    return reduce(cx, "reduce_prod", x, cx.get("dim"), cx.get("keepdim", False))


@aten("amax", "amin")
def amax(cx: OpContext):
    op = "reduce_max" if cx.op.startswith("aten.amax") else "reduce_min"
    return reduce(cx, op, cx["self"], cx.get("dim"), cx.get("keepdim", False))


@aten("max.default", "min.default")
def max_all(cx: OpContext):
    op = "reduce_max" if cx.op.startswith("aten.max") else "reduce_min"
    return reduce(cx, op, cx["self"], None, False)


@aten("max.dim", "min.dim")
def max_dim(cx: OpContext):
    is_max = cx.op.startswith("aten.max")
    x, keep = cx["self"], int(bool(cx.get("keepdim", False)))
    d = norm_dim(cx["dim"], x.rank)
    values = reduce(cx, "reduce_max" if is_max else "reduce_min", x, [d], keep)
    indices = cx.emit1("arg_max" if is_max else "arg_min", [x], {"axis": d, "keepdims": keep})
    return [values, indices]


@aten("argmax", "argmin")
def argmax(cx: OpContext):
    op = "arg_max" if cx.op.startswith("aten.argmax") else "arg_min"
    x, dim, keep = cx["self"], cx.get("dim"), int(bool(cx.get("keepdim", False)))
    if dim is None:
        flat = cx.reshape(x, [math.prod(x.shape)])
        return cx.reshape(cx.emit1(op, [flat], {"axis": 0, "keepdims": 0}), cx.out_shape)
    return cx.emit1(op, [x], {"axis": norm_dim(dim, x.rank), "keepdims": keep})


@aten("any", "all")
def any_all(cx: OpContext):
    op = "reduce_max" if cx.op.startswith("aten.any") else "reduce_min"
    x = cx.tensor(cx["self"], np.float32)
    dims = cx.get("dim")
    r = reduce(cx, op, x, dims, cx.get("keepdim", False))
    return cx.cast(r, np.bool_)


def _var(cx: OpContext, x: Val, dim, correction, keepdim) -> Val:
    axes = dims_list(dim, x.rank)
    n = math.prod(x.shape[a] for a in axes)
    mean = cx.emit1("reduce_mean", [x], {"axes": axes, "keepdims": 1})
    d = cx.emit1("sub", [x, mean])
    ss = cx.emit1("reduce_sum", [cx.emit1("mul", [d, d])], {"axes": axes, "keepdims": int(bool(keepdim))})
    return cx.emit1("div", [ss, cx.tensor(max(n - correction, 0), x.dtype)])


@aten("var.correction", "var.dim")
def var(cx: OpContext):
    x = cx["self"]
    corr = cx.get("correction")
    if corr is None:
        corr = 1 if cx.get("unbiased", True) else 0
    return _var(cx, x, cx.get("dim"), float(corr), cx.get("keepdim", False))


@aten("var_mean.correction", "var_mean.dim")
def var_mean(cx: OpContext):
    x = cx["self"]
    corr = cx.get("correction")
    if corr is None:
        corr = 1 if cx.get("unbiased", True) else 0
    dim, keep = cx.get("dim"), cx.get("keepdim", False)
    return [_var(cx, x, dim, float(corr), keep), reduce(cx, "reduce_mean", x, dim, keep)]


@aten("std.correction", "std.dim")
def std(cx: OpContext):
    return cx.emit1("sqrt", [var(cx)])


@aten("linalg_vector_norm")
def vector_norm(cx: OpContext):
    x = cx.tensor(cx["self"], cx.out_dtype)
    p, dim, keep = float(cx.get("ord", 2)), cx.get("dim"), cx.get("keepdim", False)
    if p == 2:
        return reduce(cx, "reduce_l2", x, dim, keep)
    if p == 1:
        return reduce(cx, "reduce_l1", x, dim, keep)
    ax = cx.emit1("abs", [x])
    if p == math.inf:
        return reduce(cx, "reduce_max", ax, dim, keep)
    if p == -math.inf:
        return reduce(cx, "reduce_min", ax, dim, keep)
    if p == 0:
        nz = cx.cast(cx.emit1("not", [cx.emit1("equal", [x, cx.tensor(0, x.dtype)])]), x.dtype)
        return reduce(cx, "reduce_sum", nz, dim, keep)
    s = reduce(cx, "reduce_sum", cx.emit1("pow", [ax, cx.tensor(p, x.dtype)]), dim, keep)
    return cx.emit1("pow", [s, cx.tensor(1.0 / p, x.dtype)])


@aten("logsumexp")
def logsumexp(cx: OpContext):
    x = cx.tensor(cx["self"], cx.out_dtype)
    return reduce(cx, "reduce_log_sum_exp", x, cx.get("dim"), cx.get("keepdim", False))


@aten("_softmax", "softmax.int", "_log_softmax", "log_softmax.int", "_safe_softmax")
def softmax(cx: OpContext):
    op = "log_softmax" if "log_softmax" in cx.op else "softmax"
    x = cx.tensor(cx["self"], cx.out_dtype)
    if x.rank == 0:
        return cx.tensor(0.0 if op == "log_softmax" else 1.0, x.dtype)
    return cx.emit1(op, [x], {"axis": norm_dim(cx["dim"], x.rank)})


@aten("cumsum")
def cumsum(cx: OpContext):
    x = cx.tensor(cx["self"], cx.out_dtype)
    return cx.emit1("cum_sum", [x], {"axis": norm_dim(cx["dim"], x.rank)})


@aten("topk")
def topk(cx: OpContext):
    x = cx["self"]
    attrs = {"k": int(cx["k"]), "axis": norm_dim(cx.get("dim", -1), x.rank),
             "largest": int(bool(cx.get("largest", True))), "sorted": int(bool(cx.get("sorted", True)))}
    return cx.emit("top_k", [x], attrs, num_results=2)


@aten("sort.default", "sort.stable")
def sort(cx: OpContext):
    """A full-length top-k (ties may come out in another order than torch's)."""
    x = cx["self"]
    d = norm_dim(cx.get("dim", -1), x.rank)
    attrs = {"k": x.shape[d], "axis": d, "largest": int(bool(cx.get("descending", False))), "sorted": 1}
    return cx.emit("top_k", [x], attrs, num_results=2)
