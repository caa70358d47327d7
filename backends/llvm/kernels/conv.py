"""Convolution (direct, any rank, groups, dilation, padding)."""

from __future__ import annotations

from xdsl.dialects import arith

from ..kernel_builder import KernelBuilder
from . import kernel
from .nn import _in_bounds_load, _window_index


@kernel("conv")
def conv(kb: KernelBuilder, ins, outs, op) -> None:
    x, w = ins[0], ins[1]
    xs, ws, ys = (list(v.type.get_shape()) for v in (x, w, outs[0]))
    r = len(xs) - 2
    elem = outs[0].type.element_type
    strides = op.attr("strides") or [1] * r
    dil = op.attr("dilations") or [1] * r
    pads = op.attr("pads") or [0] * (2 * r)
    g = op.attr("group")
    cin_g, m_g = ws[1], ys[1] // g
    zero = kb.const(0.0, elem)
    needs_check = [pads[i] > 0 or pads[r + i] > 0 for i in range(r)]
    with kb.loops(ys) as ivs:
        n, m, osp = ivs[0], ivs[1], ivs[2:]
        init = kb.load(ins[2], [m]) if len(ins) > 2 else zero
        c0 = kb.mul(kb.op(arith.DivUIOp(m, kb.idx(m_g))), cin_g)

        def body(kivs, accs):
            c, ks = kivs[0], kivs[1:]
            sp = [_window_index(kb, osp[i], ks[i], strides[i], dil[i], pads[i]) for i in range(r)]
            xv = _in_bounds_load(kb, x, [n, kb.op(arith.AddiOp(c0, c))] + sp,
                                 [(xs[0], False), (xs[1], False)] + [(xs[2 + i], needs_check[i]) for i in range(r)], zero)
            return [kb.op(arith.AddfOp(accs[0], kb.op(arith.MulfOp(xv, kb.load(w, [m, c] + ks)))))]

        (res,) = kb.fold([cin_g] + ws[2:], [init], body)
        kb.store(res, outs[0], ivs)
