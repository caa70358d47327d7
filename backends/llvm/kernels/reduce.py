"""Reductions over explicit axes, and arg-max/min.

Floats accumulate in their compute type (f32 for f16/bf16/f8, as the reference),
integers in their own width (sums and products wrap the same way as the
reference's int64 sums cast back) except the mean, which sums in 64 bits and
truncates toward zero. L2, LogSum and LogSumExp of integers are computed in
float64 and truncated, as the reference does. An empty reduction gives the
op's identity (0, 1, the lowest/highest value, NaN for a float mean).
"""

from __future__ import annotations

from xdsl.dialects import arith, builtin as B, math

from ..kernel_builder import KernelBuilder
from ..scalar import (
    fconst,
    float_to_int,
    from_compute,
    iconst,
    int_to_float,
    is_bool,
    is_float,
    is_int,
    is_unsigned,
    load_elem,
    reg_type,
    store_elem,
    to_compute,
)
from . import UnsupportedKernel, kernel

NAMES = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_l1", "reduce_l2",
         "reduce_log_sum", "reduce_log_sum_exp", "reduce_sum_square")
_FLOAT_INIT = {"reduce_max": float("-inf"), "reduce_min": float("inf"), "reduce_prod": 1.0}
_AS_FLOAT = ("reduce_l2", "reduce_log_sum", "reduce_log_sum_exp")  # integers go through float64


def _out_index(kb, rank, axes, keep, kivs):
    out_idx, it = [], iter(kivs)
    for d in range(rank):
        if d in axes:
            if keep:
                out_idx.append(kb.idx(0))
        else:
            out_idx.append(next(it))
    return out_idx


@kernel(*NAMES)
def reduce(kb: KernelBuilder, ins, outs, op) -> None:
    name = op.name.removeprefix("tg.")
    t = op.inputs[0].type.element_type
    out_t = op.outputs[0].type.element_type
    in_shape = list(ins[0].type.get_shape())
    rank = len(in_shape)
    axes = sorted({a % rank for a in op.attr("axes")}) if rank else []
    keep = op.attr("keepdims")
    kept = [d for d in range(rank) if d not in axes]
    count = 1
    for a in axes:
        count *= in_shape[a]

    if is_float(t) or (is_int(t) and name in _AS_FLOAT):
        domain = "float"
    elif is_int(t) or (is_bool(t) and name in ("reduce_max", "reduce_min")):
        domain = "int"
    else:
        raise UnsupportedKernel(f"{op.where()}: {name} on {t}")
    wide_int = domain == "int" and name == "reduce_mean"
    uns = is_unsigned(t)

    def value(idx):
        v = load_elem(kb, ins[0], idx, t)
        if domain == "float":
            return to_compute(kb, v, t) if is_float(t) else int_to_float(kb, v, t, B.f64)
        if wide_int:
            return kb.op((arith.ExtUIOp if uns else arith.ExtSIOp)(v, B.i64)) if v.type != B.i64 else v
        return v

    acc_t = (B.f64 if (not is_float(t) or isinstance(t, B.Float64Type)) else B.f32) if domain == "float" else (
        B.i64 if wide_int else reg_type(t))

    def init(rname):
        if domain == "float":
            return fconst(kb, _FLOAT_INIT.get(rname, 0.0), acc_t)
        w = acc_t.width.data
        if rname == "reduce_max":
            return iconst(kb, 0 if uns else -(1 << (w - 1)), acc_t)
        if rname == "reduce_min":
            return iconst(kb, (1 << w) - 1 if uns else (1 << (w - 1)) - 1, acc_t)
        return iconst(kb, 1 if rname == "reduce_prod" else 0, acc_t)

    def fold(rname, kivs, shift=None):
        def body(rivs, accs):
            ivs = dict(zip(axes, rivs))
            idx = [ivs[d] if d in ivs else kivs[kept.index(d)] for d in range(rank)]
            x = value(idx)
            if shift is not None:
                x = kb.op(math.ExpOp(kb.op(arith.SubfOp(x, shift))))
            return [_combine(kb, rname, accs[0], x, domain, uns)]

        return kb.fold([in_shape[a] for a in axes], [init(rname)], body)[0]

    with kb.loops([in_shape[d] for d in kept]) as kivs:
        out_idx = _out_index(kb, rank, axes, keep, kivs)
        if name == "reduce_log_sum_exp":  # shifted by the max when it is finite (reference)
            mx = fold("reduce_max", kivs)
            finite = kb.op(arith.CmpfOp(kb.op(math.AbsFOp(mx)), fconst(kb, float("inf"), acc_t), "olt"))
            mx = kb.op(arith.SelectOp(finite, mx, fconst(kb, 0.0, acc_t)))
            acc = fold(name, kivs, shift=mx)
            res = kb.op(arith.AddfOp(kb.op(math.LogOp(acc)), mx))
        else:
            res = _finish(kb, name, fold(name, kivs), count, domain, uns)
        if domain == "float":
            res = from_compute(kb, res, out_t) if is_float(out_t) else float_to_int(kb, res, out_t)
        elif wide_int:
            res = kb.op(arith.TruncIOp(res, reg_type(out_t))) if reg_type(out_t) != B.i64 else res
        store_elem(kb, res, outs[0], out_idx, out_t)


def _combine(kb, name, acc, x, domain, uns):
    op = kb.op
    if domain == "float":
        if name in ("reduce_sum", "reduce_mean", "reduce_log_sum", "reduce_log_sum_exp"):
            return op(arith.AddfOp(acc, x))
        if name in ("reduce_sum_square", "reduce_l2"):
            return op(arith.AddfOp(acc, op(arith.MulfOp(x, x))))
        if name == "reduce_l1":
            return op(arith.AddfOp(acc, op(math.AbsFOp(x))))
        if name == "reduce_max":
            return op(arith.MaximumfOp(acc, x))
        if name == "reduce_min":
            return op(arith.MinimumfOp(acc, x))
        if name == "reduce_prod":
            return op(arith.MulfOp(acc, x))
    else:
        if name in ("reduce_sum", "reduce_mean"):
            return op(arith.AddiOp(acc, x))
        if name == "reduce_sum_square":
            return op(arith.AddiOp(acc, op(arith.MuliOp(x, x))))
        if name == "reduce_l1":
            if not uns:
                zero = iconst(kb, 0, x.type)
                neg = op(arith.CmpiOp(x, zero, "slt"))
                x = op(arith.SelectOp(neg, op(arith.SubiOp(zero, x)), x))
            return op(arith.AddiOp(acc, x))
        if name == "reduce_max":
            return op((arith.MaxUIOp if uns else arith.MaxSIOp)(acc, x))
        if name == "reduce_min":
            return op((arith.MinUIOp if uns else arith.MinSIOp)(acc, x))
        if name == "reduce_prod":
            return op(arith.MuliOp(acc, x))
    raise UnsupportedKernel(name)


def _finish(kb, name, acc, count, domain, uns):
    if domain == "float":
        if name == "reduce_mean":
            return kb.op(arith.DivfOp(acc, fconst(kb, float(count), acc.type)))
        if name == "reduce_l2":
            return kb.op(math.SqrtOp(acc))
        if name == "reduce_log_sum":
            return kb.op(math.LogOp(acc))
        return acc
    if name == "reduce_mean":  # truncating toward zero
        n = iconst(kb, max(count, 1), acc.type)
        return kb.op((arith.DivUIOp if uns else arith.DivSIOp)(acc, n))
    return acc


# ---- arg max / arg min -----------------------------------------------------------------
@kernel("arg_max", "arg_min")
def arg_reduce(kb: KernelBuilder, ins, outs, op) -> None:
    """Index of the first (or, with select_last_index, the last) extreme value along `axis`.
    NaN counts as the extreme (numpy's argmax/argmin)."""
    t = op.inputs[0].type.element_type
    shape = list(ins[0].type.get_shape())
    rank = len(shape)
    axis = op.attr("axis") % rank
    keep = op.attr("keepdims")
    last = bool(op.attr("select_last_index"))
    is_max = op.name == "tg.arg_max"
    n = shape[axis]
    if n == 0:
        raise UnsupportedKernel(f"{op.where()}: {op.name} over an empty axis")
    flt = is_float(t)
    uns = is_unsigned(t)
    others = [d for i, d in enumerate(shape) if i != axis]

    def value(idx):
        v = load_elem(kb, ins[0], idx, t)
        return to_compute(kb, v, t) if flt else v

    with kb.loops(others) as ivs:
        at = lambda k: list(ivs[:axis]) + [k] + list(ivs[axis:])  # noqa: E731
        x0 = value(at(kb.idx(0)))

        def body(kivs, accs):
            best, bi = accs
            x = value(at(kivs[0]))
            if flt:
                strict, loose = ("ogt", "oge") if is_max else ("olt", "ole")
                x_nan = kb.op(arith.CmpfOp(x, x, "uno"))
                b_ok = kb.op(arith.CmpfOp(best, best, "ord"))
                if last:
                    better = kb.op(arith.OrIOp(x_nan, kb.op(arith.AndIOp(b_ok, kb.op(arith.CmpfOp(x, best, loose))))))
                else:
                    better = kb.op(arith.AndIOp(b_ok, kb.op(arith.OrIOp(x_nan, kb.op(arith.CmpfOp(x, best, strict))))))
            else:
                p = ("u" if uns else "s") + ("g" if is_max else "l") + ("e" if last else "t")
                better = kb.op(arith.CmpiOp(x, best, p))
            k = kb.op(arith.IndexCastOp(kivs[0], B.i64))
            return [kb.op(arith.SelectOp(better, x, best)), kb.op(arith.SelectOp(better, k, bi))]

        _, bi = kb.fold([n], [x0, iconst(kb, 0, B.i64)], body)
        out_idx = list(ivs[:axis]) + ([kb.idx(0)] if keep else []) + list(ivs[axis:])
        kb.store(bi, outs[0], out_idx)
