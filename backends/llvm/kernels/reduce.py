"""Reductions over explicit axes, and arg-max/min."""

from __future__ import annotations

from xdsl.dialects import arith, math

from ..kernel_builder import KernelBuilder
from . import UnsupportedKernel, kernel

# op → (initial value, combine, finish)
_INIT = {"reduce_sum": 0.0, "reduce_mean": 0.0, "reduce_sum_square": 0.0, "reduce_l1": 0.0, "reduce_l2": 0.0,
         "reduce_max": float("-inf"), "reduce_min": float("inf"), "reduce_prod": 1.0,
         "reduce_log_sum": 0.0, "reduce_log_sum_exp": 0.0}


@kernel(*_INIT)
def reduce(kb: KernelBuilder, ins, outs, op) -> None:
    name = op.name.removeprefix("tg.")
    in_shape = list(ins[0].type.get_shape())
    elem = outs[0].type.element_type
    if "f" not in str(elem):
        raise UnsupportedKernel(f"{op.where()}: integer {name}")
    axes = sorted(a % len(in_shape) for a in op.attr("axes"))
    keep = op.attr("keepdims")
    kept_axes = [d for d in range(len(in_shape)) if d not in axes]
    count = 1
    for a in axes:
        count *= in_shape[a]
    with kb.loops([in_shape[d] for d in kept_axes]) as kivs:
        out_idx = []
        it = iter(kivs)
        for d in range(len(in_shape)):
            if d in axes:
                if keep:
                    out_idx.append(kb.idx(0))
            else:
                out_idx.append(next(it))
        if name == "reduce_log_sum_exp":  # max-shifted for stability
            mx = _reduce_loop(kb, ins[0], in_shape, axes, kivs, kept_axes, "reduce_max", elem)
            acc = _reduce_loop(kb, ins[0], in_shape, axes, kivs, kept_axes, name, elem, shift=mx)
            res = kb.op(arith.AddfOp(kb.op(math.LogOp(acc)), mx))
        else:
            acc = _reduce_loop(kb, ins[0], in_shape, axes, kivs, kept_axes, name, elem)
            res = _finish(kb, name, acc, count, elem)
        kb.store(res, outs[0], out_idx)


def _reduce_loop(kb, buf, in_shape, axes, kivs, kept_axes, name, elem, shift=None):
    def body(rivs, accs):
        ivs = dict(zip(axes, rivs))
        idx = [ivs[d] if d in ivs else kivs[kept_axes.index(d)] for d in range(len(in_shape))]
        x = kb.load(buf, idx)
        if shift is not None:
            x = kb.op(math.ExpOp(kb.op(arith.SubfOp(x, shift))))
        return [_combine(kb, name, accs[0], x)]

    return kb.fold([in_shape[a] for a in axes], [kb.const(_INIT[name], elem)], body)[0]


def _combine(kb, name, acc, x):
    if name in ("reduce_sum", "reduce_mean", "reduce_log_sum", "reduce_log_sum_exp"):
        return kb.op(arith.AddfOp(acc, x))
    if name == "reduce_sum_square" or name == "reduce_l2":
        return kb.op(arith.AddfOp(acc, kb.op(arith.MulfOp(x, x))))
    if name == "reduce_l1":
        return kb.op(arith.AddfOp(acc, kb.op(math.AbsFOp(x))))
    if name == "reduce_max":
        return kb.op(arith.MaximumfOp(acc, x))
    if name == "reduce_min":
        return kb.op(arith.MinimumfOp(acc, x))
    if name == "reduce_prod":
        return kb.op(arith.MulfOp(acc, x))
    raise UnsupportedKernel(name)


def _finish(kb, name, acc, count, elem):
    if name == "reduce_mean":
        return kb.op(arith.DivfOp(acc, kb.const(float(count), elem)))
    if name == "reduce_l2":
        return kb.op(math.SqrtOp(acc))
    if name == "reduce_log_sum":
        return kb.op(math.LogOp(acc))
    return acc
