"""Indexed access: gather, gather_elements, gather_nd, scatter_elements, scatter_nd, one_hot,
compress, top_k.

Index tensors may be of any integer type (negative values count from the end of
their axis); data of any element type is moved in its storage representation.
"""

from __future__ import annotations

from xdsl.dialects import arith

from ..kernel_builder import KernelBuilder
from ..scalar import is_subbyte, normalize_subbyte
from . import kernel
from .data import raw_load, raw_store
from .kit import (
    and_, cmpf, cmpi, delinearize, fc, etype, greater, if_, index_to_i64, is_bool, is_float, is_unsigned, load_elem,
    load_index, not_, or_, prod, sel, shape, store_elem, to_compute, from_compute,
)


@kernel("gather")
def gather(kb: KernelBuilder, ins, outs, op) -> None:
    data_shape = shape(ins[0])
    idx_rank = len(shape(ins[1]))
    axis = op.attr("axis") % len(data_shape)
    it = etype(op.inputs[1])
    with kb.loops(shape(outs[0])) as ivs:
        j = load_index(kb, ins[1], ivs[axis: axis + idx_rank], it, data_shape[axis])
        src = ivs[:axis] + [j] + ivs[axis + idx_rank:]
        raw_store(kb, raw_load(kb, ins[0], src), outs[0], ivs)


@kernel("gather_elements")
def gather_elements(kb: KernelBuilder, ins, outs, op) -> None:
    data_shape = shape(ins[0])
    axis = op.attr("axis") % len(data_shape)
    it = etype(op.inputs[1])
    with kb.loops(shape(outs[0])) as ivs:
        src = list(ivs)
        src[axis] = load_index(kb, ins[1], ivs, it, data_shape[axis])
        raw_store(kb, raw_load(kb, ins[0], src), outs[0], ivs)


@kernel("gather_nd")
def gather_nd(kb: KernelBuilder, ins, outs, op) -> None:
    xs, ish = shape(ins[0]), shape(ins[1])
    b = op.attr("batch_dims")
    k = ish[-1]
    it = etype(op.inputs[1])
    n_mid = len(ish) - 1 - b
    with kb.loops(shape(outs[0])) as ivs:
        bat, mid, rest = ivs[:b], ivs[b: b + n_mid], ivs[b + n_mid:]
        comps = [load_index(kb, ins[1], bat + mid + [kb.idx(j)], it, xs[b + j]) for j in range(k)]
        raw_store(kb, raw_load(kb, ins[0], bat + comps + rest), outs[0], ivs)


# ---- scatters -------------------------------------------------------------------
def _combine(kb, reduction, old, new, t):
    """ScatterElements/ScatterND reductions on register values of tg type `t`."""
    if reduction == "none":
        return new
    if is_bool(t):
        if reduction in ("add", "max"):
            return or_(kb, old, new)
        return and_(kb, old, new)  # mul, min
    if is_float(t):
        a, b = to_compute(kb, old, t), to_compute(kb, new, t)
        r = {"add": arith.AddfOp, "mul": arith.MulfOp, "max": arith.MaximumfOp, "min": arith.MinimumfOp}[reduction]
        return from_compute(kb, kb.op(r(a, b)), t)
    if reduction == "add":
        r = kb.op(arith.AddiOp(old, new))
    elif reduction == "mul":
        r = kb.op(arith.MuliOp(old, new))
    elif reduction == "max":
        r = kb.op((arith.MaxUIOp if is_unsigned(t) else arith.MaxSIOp)(old, new))
    else:
        r = kb.op((arith.MinUIOp if is_unsigned(t) else arith.MinSIOp)(old, new))
    if is_subbyte(t):
        r = normalize_subbyte(kb, r, t)
    return r


def _copy_all(kb, src, dst):
    with kb.loops(shape(dst)) as ivs:
        raw_store(kb, raw_load(kb, src, ivs), dst, ivs)


def _scatter_one(kb, op, out, upd, dst_idx, upd_idx):
    t = etype(op.inputs[0])
    red = op.attr("reduction")
    if red == "none":
        raw_store(kb, raw_load(kb, upd, upd_idx), out, dst_idx)
        return
    new = load_elem(kb, upd, upd_idx, t)
    old = load_elem(kb, out, dst_idx, t)
    store_elem(kb, _combine(kb, red, old, new, t), out, dst_idx, t)


@kernel("scatter_elements")
def scatter_elements(kb: KernelBuilder, ins, outs, op) -> None:
    data, idx, upd = ins
    axis = op.attr("axis") % len(shape(data))
    it = etype(op.inputs[1])
    _copy_all(kb, data, outs[0])
    with kb.loops(shape(idx)) as ivs:
        dst = list(ivs)
        dst[axis] = load_index(kb, idx, ivs, it, shape(data)[axis])
        _scatter_one(kb, op, outs[0], upd, dst, ivs)


@kernel("scatter_nd")
def scatter_nd(kb: KernelBuilder, ins, outs, op) -> None:
    data, idx, upd = ins
    xs, ish = shape(data), shape(idx)
    k = ish[-1]
    it = etype(op.inputs[1])
    _copy_all(kb, data, outs[0])
    with kb.loops(ish[:-1]) as ivs:
        comps = [load_index(kb, idx, list(ivs) + [kb.idx(j)], it, xs[j]) for j in range(k)]
        with kb.loops(xs[k:]) as rest:
            _scatter_one(kb, op, outs[0], upd, comps + list(rest), list(ivs) + list(rest))


# ---- one_hot, compress --------------------------------------------------------------
@kernel("one_hot")
def one_hot(kb: KernelBuilder, ins, outs, op) -> None:
    idx, values = ins
    depth = op.attr("depth")
    ys = shape(outs[0])
    axis = op.attr("axis") % len(ys)
    it = etype(op.inputs[0])
    off = raw_load(kb, values, [kb.idx(0)])
    on = raw_load(kb, values, [kb.idx(1)])
    with kb.loops(ys) as ivs:
        i = load_index(kb, idx, ivs[:axis] + ivs[axis + 1:], it, depth)
        hot = cmpi(kb, i, ivs[axis], "eq")
        raw_store(kb, sel(kb, hot, on, off), outs[0], ivs)


@kernel("compress")
def compress(kb: KernelBuilder, ins, outs, op) -> None:
    """Selected slices are appended at a running count (the result length is static)."""
    x, cond = ins
    xs = shape(x)
    axis = op.attr("axis")
    ct = etype(op.inputs[1])
    n_out = shape(outs[0])[0 if axis is None else axis % len(xs)]
    if n_out == 0:
        return
    n_cond = prod(shape(cond))
    dim = prod(xs) if axis is None else xs[axis % len(xs)]
    n = min(n_cond, dim)

    def chosen(t):
        c = load_elem(kb, cond, [t] if len(shape(cond)) == 1 else delinearize(kb, t, shape(cond)), ct)
        if is_bool(ct):
            return c
        if is_float(ct):
            cv = to_compute(kb, c, ct)
            return cmpf(kb, cv, fc(kb, 0.0, cv.type), "une")
        return cmpi(kb, c, kb.const(0, c.type), "ne")

    with kb.loop(0, n, iter_args=[kb.idx(0)]) as (t, count):
        take = chosen(t)
        with if_(kb, take):
            if axis is None:
                raw_store(kb, raw_load(kb, x, delinearize(kb, t, xs)), outs[0], [count])
            else:
                a = axis % len(xs)
                with kb.loops(xs[:a] + xs[a + 1:]) as ivs:
                    raw_store(kb, raw_load(kb, x, ivs[:a] + [t] + ivs[a:]), outs[0], ivs[:a] + [count] + ivs[a:])
        kb.yield_(sel(kb, take, kb.add(count, 1), count))


# ---- top_k --------------------------------------------------------------------------
@kernel("top_k")
def top_k(kb: KernelBuilder, ins, outs, op) -> None:
    """Insertion into the k-long output row: each element bubbles in from the front,
    ordered by value, ties by the lower index (a stable sort); O(n*k) selects per row."""
    xs = shape(ins[0])
    axis = op.attr("axis") % len(xs)
    k = op.attr("k")
    n = xs[axis]
    largest = op.attr("largest")
    t = etype(op.inputs[0])
    vals, inds = outs
    if k == 0:
        return
    rows = xs[:axis] + xs[axis + 1:]
    with kb.loops(rows) as rivs:
        at = lambda j: list(rivs[:axis]) + [j] + list(rivs[axis:])  # noqa: E731
        with kb.loop(0, n) as src:
            x = load_elem(kb, ins[0], at(src), t)
            xi = index_to_i64(kb, src)
            filled = kb.op(arith.MinSIOp(src, kb.idx(k)))  # entries already in the row
            ub = kb.op(arith.MinSIOp(kb.add(src, 1), kb.idx(k)))
            with kb.loop(0, ub, iter_args=[x, xi]) as (j, cv, ci):
                cur = load_elem(kb, vals, at(j), t)
                curi = kb.load(inds, at(j))
                # the carry goes before cur: a better value, or an equal one with a lower index
                gt, lt = greater(kb, cv, cur, t), greater(kb, cur, cv, t)
                better = gt if largest else lt
                tie = and_(kb, not_(kb, gt), not_(kb, lt))
                better = or_(kb, better, and_(kb, tie, cmpi(kb, ci, curi, "slt")))
                swap = and_(kb, cmpi(kb, j, filled, "slt"), better)
                put = or_(kb, swap, cmpi(kb, j, filled, "eq"))
                store_elem(kb, sel(kb, put, cv, cur), vals, at(j), t)
                kb.store(sel(kb, put, ci, curi), inds, at(j))
                kb.yield_(sel(kb, swap, cur, cv), sel(kb, swap, curi, ci))
