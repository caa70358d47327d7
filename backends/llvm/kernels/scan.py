"""Scans along one axis: cum_sum (exclusive, reverse)."""

from __future__ import annotations

from xdsl.dialects import arith

from ..kernel_builder import KernelBuilder
from ..scalar import (
    compute_type, fconst, from_compute, iconst, is_float, is_int, load_elem, reg_type, store_elem, to_compute,
)
from . import UnsupportedKernel, kernel


@kernel("cum_sum")
def cum_sum(kb: KernelBuilder, ins, outs, op) -> None:
    """Running sum along `axis` (floats in their compute type, integers wrapping)."""
    t = op.inputs[0].type.element_type
    shape = list(ins[0].type.get_shape())
    rank = len(shape)
    axis = op.attr("axis") % rank
    exclusive, reverse = bool(op.attr("exclusive")), bool(op.attr("reverse"))
    flt = is_float(t)
    if not (flt or is_int(t)):
        raise UnsupportedKernel(f"{op.where()}: cum_sum on {t}")
    n = shape[axis]
    others = [d for i, d in enumerate(shape) if i != axis]
    with kb.loops(others) as ivs:
        at = lambda k: list(ivs[:axis]) + [k] + list(ivs[axis:])  # noqa: E731
        zero = fconst(kb, 0.0, compute_type(t)) if flt else iconst(kb, 0, reg_type(t))

        def body(kivs, accs):
            k = kivs[0]
            pos = kb.op(arith.SubiOp(kb.idx(n - 1), k)) if reverse else k
            x = load_elem(kb, ins[0], at(pos), t)
            acc = accs[0]
            if flt:
                x = to_compute(kb, x, t)
                new = kb.op(arith.AddfOp(acc, x))
            else:
                new = kb.op(arith.AddiOp(acc, x))
            res = acc if exclusive else new
            store_elem(kb, from_compute(kb, res, t) if flt else res, outs[0], at(pos), t)
            return [new]

        kb.fold([n], [zero], body)
