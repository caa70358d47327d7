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


# ---- SIMD conv2d ---------------------------------------------------------------------------------
# A 2-D convolution (groups 1, dilation 1, f32) as a GEMM over implicit im2col, no im2col buffer:
#
# 1. the input is copied, zero-padded and split into stride phases, into a scratch
#    xs[c, ph, pw, hq, wq] = xpad[c, hq·sh + ph, wq·sw + pw]: then the input of output pixel
#    (oh, ow) for tap (kh, kw) is xs[c, kh%sh, kw%sw, oh + kh//sh, ow + kw//sw], and along the
#    flattened pixel index p = oh·Wq + ow a tap reads a *contiguous* run of xs;
# 2. tiles of MR output channels × NV·16 consecutive p accumulate Σ_c Σ_taps w · x in
#    registers (weights pre-packed at compile time as Wp[M/MR, C·KH·KW, MR], broadcast;
#    pixels are vector loads); results go to a scratch yp[m, p] (p over the padded width);
# 3. each output row is read back from yp (its first OW columns), the bias and the fused
#    epilogue are applied, and it is stored into y.
# Padding never reaches the hot loop; the columns ow >= OW of the padded width are wasted
# lanes ((Wq - OW) / Wq). Parallel over blocks of MR output channels.
import numpy as np  # noqa: E402
from xdsl.dialects import builtin as B  # noqa: E402

from tensorc.dialects.tg import ConstantOp, WeightOp  # noqa: E402

from .microkernel import PerfKernel, gemm_tile, perf_kernel, store_vec  # noqa: E402

LANES = 16
CONV_MR, CONV_NV = 8, 2


class _Geo:
    def __init__(self, op):
        x_t, w_t, y_t = op.inputs[0].type, op.inputs[1].type, op.outputs[0].type
        self.n, self.c, self.h, self.w = x_t.get_shape()
        self.m, _, self.kh, self.kw = w_t.get_shape()
        _, _, self.oh, self.ow = y_t.get_shape()
        self.sh, self.sw = op.attr("strides") or [1, 1]
        pads = op.attr("pads") or [0, 0, 0, 0]
        self.pt, self.pl, self.pb, self.pr = pads
        self.hp = self.h + self.pt + self.pb
        self.wp = self.w + self.pl + self.pr
        self.hq = -(-self.hp // self.sh)
        self.wq = -(-self.wp // self.sw)
        self.plane = self.hq * self.wq
        self.mr = CONV_MR if self.m >= CONV_MR else self.m
        self.nv = CONV_NV
        self.nt = self.nv * LANES
        self.np_ = -(-(self.oh * self.wq) // self.nt) * self.nt  # p extent, whole tiles
        self.mb = -(-self.m // self.mr)
        self.taps = [(kh, kw) for kh in range(self.kh) for kw in range(self.kw)]
        self.ktot = self.c * self.kh * self.kw
        self.cu = max(1, 4 // len(self.taps)) if self.kh == 1 else 1  # channels unrolled (1xK convs)
        total = self.c * self.sh * self.sw * self.plane
        max_tap = ((self.kh - 1) // self.sh) * self.wq + (self.kw - 1) // self.sw
        last = (self.c * self.sh * self.sw - 1) * self.plane + self.np_ - 1 + max_tap
        self.xs_size = max(total, last + 1)

    def tap_offset(self, kh, kw) -> int:
        return ((kh % self.sh) * self.sw + (kw % self.sw)) * self.plane + (kh // self.sh) * self.wq + kw // self.sw


@perf_kernel("conv")
class ConvKernel(PerfKernel):
    def applicable(self, op) -> bool:
        x_t, w_t, y_t = op.inputs[0].type, op.inputs[1].type, op.outputs[0].type
        if len(x_t.get_shape()) != 4 or op.attr("group") != 1:
            return False
        if not isinstance(op.inputs[1].owner, (WeightOp, ConstantOp)):
            return False  # weights computed at run time: the plain kernel
        if any(d != 1 for d in (op.attr("dilations") or [1, 1])):
            return False
        if not all(isinstance(t.element_type, B.Float32Type) for t in (x_t, w_t, y_t)):
            return False
        if len(op.inputs) > 2 and not isinstance(op.inputs[2].type.element_type, B.Float32Type):
            return False
        return all(d > 0 for d in y_t.get_shape())

    def prepack(self, op, index, array):
        if index != 1:
            return None
        g = _Geo(op)
        w = np.asarray(array, np.float32).reshape(g.m, g.ktot)
        wp = np.zeros((g.mb * g.mr, g.ktot), np.float32)
        wp[: g.m] = w
        return np.ascontiguousarray(wp.reshape(g.mb, g.mr, g.ktot).transpose(0, 2, 1)), ("conv-rows", g.mr)

    def scratch(self, op):
        g = _Geo(op)
        return [B.MemRefType(B.f32, [g.xs_size]), B.MemRefType(B.f32, [g.mb * g.mr, g.np_])]

    def emit(self, kb, ins, outs, op, packed, epilogue):
        g = _Geo(op)
        if 1 not in packed:
            raise NotImplementedError("conv perf kernel needs constant weights")
        vt = kb.vt(B.f32)
        has_bias = len(op.inputs) > 2
        n_head = len(op.inputs)
        y, xs, yp = outs[0], outs[1], outs[2]
        out_shape = list(y.type.get_shape())
        epi_pos = {v: n_head + i for i, v in enumerate(epilogue.operands)} if epilogue is not None else {}
        bufs = list(ins) + [y, xs, yp]
        n_in = len(ins)

        with kb.loop(0, g.n) as n:
            # 1. pad + phase split: parallel over input channels
            def fill(kb, bufs, lo, hi):
                x, xs = bufs[0], bufs[n_in + 1]
                _fill_xs(kb, g, x, xs, bufs[-1], lo, hi)

            kb.parallel_for(g.c, bufs + [n], fill, work=2 * g.xs_size)

            # 2 + 3. tiles into yp, then rows of y: parallel over blocks of output channels
            def block(kb, bufs, lo, hi):
                wp = bufs[1]
                bias = bufs[2] if has_bias else None
                y, xs, yp, n = bufs[n_in], bufs[n_in + 1], bufs[n_in + 2], bufs[-1]
                ebufs = {v: bufs[i] for v, i in epi_pos.items()}
                with kb.loop(lo, hi) as mb:
                    def tiles(mrr):
                        with kb.loop(0, g.np_ // g.nt) as pt:
                            p0 = kb.mul(pt, g.nt)

                            def step_index(civ, s):
                                """(weight row k, input address of the tile's first pixel) of a step."""
                                cu, kh, kw = s
                                if isinstance(civ, list):  # (channel, kernel row) loop nest, kw unrolled
                                    c, kh = civ
                                    k = kb.add(kb.mul(c, g.kh * g.kw), kw)
                                    k = kb.add(k, kb.mul(kh, g.kw))
                                    # kh = q*sh + ph: tap offset (ph*sw + kw%sw)*plane + q*wq + kw//sw
                                    q, ph = (kh, 0) if g.sh == 1 else (kb.divu(kh, g.sh), kb.remu(kh, g.sh))
                                    off = kb.add(kb.mul(q, g.wq), (kw % g.sw) * g.plane + kw // g.sw)
                                    if g.sh > 1:
                                        off = kb.add(off, kb.mul(ph, g.sw * g.plane))
                                    xb = kb.add(kb.add(kb.mul(c, g.sh * g.sw * g.plane), p0), off)
                                    return k, xb
                                if isinstance(civ, int):  # the remainder steps: absolute channels
                                    c = kb.idx(civ + cu)
                                else:
                                    c = kb.add(kb.mul(civ, g.cu), cu) if g.cu > 1 else civ
                                k = kb.add(kb.mul(c, g.kh * g.kw), kh * g.kw + kw)
                                xb = kb.add(kb.add(kb.mul(c, g.sh * g.sw * g.plane), p0), g.tap_offset(kh, kw))
                                return k, xb

                            def a_scalar(r, x):
                                return kb.load(wp, [mb, x[0], kb.idx(r)])

                            def b_vector(v, x):
                                return kb.vload(xs, [kb.add(x[1], v * LANES)], vt)

                            if g.kh > 1:  # loops over (c, kh), the kw taps unrolled
                                steps = [(0, None, kw) for kw in range(g.kw)]
                                outer = [g.c, g.kh]
                            else:
                                steps = [(cu, kh, kw) for cu in range(g.cu) for kh, kw in g.taps]
                                outer = g.c // g.cu
                            accs = gemm_tile(kb, mr=mrr, nv=g.nv, vt=vt, outer=outer, steps=steps,
                                             a_scalar=a_scalar, b_vector=b_vector, step_index=step_index)
                            rest = g.c % g.cu if g.kh == 1 else 0
                            if rest:
                                c0 = (g.c // g.cu) * g.cu
                                steps_r = [(c0 + cu, kh, kw) for cu in range(rest) for kh, kw in g.taps]
                                accs = gemm_tile(kb, mr=mrr, nv=g.nv, vt=vt, outer=1, steps=steps_r,
                                                 a_scalar=a_scalar, b_vector=b_vector,
                                                 step_index=lambda _c, s: step_index(0, s), accs=accs)
                            for r in range(mrr):
                                m = kb.add(kb.mul(mb, g.mr), r)
                                for v in range(g.nv):
                                    kb.vstore(accs[r * g.nv + v], yp, [m, kb.add(p0, v * LANES)])

                    def rows(mrr):
                        nov = -(-g.ow // LANES)
                        masks = [None] * nov
                        if g.ow % LANES:
                            masks[-1] = kb.lane_mask(0, g.ow % LANES, LANES)
                        with kb.loop(0, mrr) as r:
                            m = kb.add(kb.mul(mb, g.mr), r)
                            bv = kb.bcast(kb.load(bias, [m]), vt) if bias is not None else None
                            with kb.loop(0, g.oh) as oh:
                                for v in range(nov):
                                    p = kb.add(kb.mul(oh, g.wq), v * LANES)
                                    val = kb.vload(yp, [m, p], vt) if masks[v] is None else kb.vmload(yp, [m, p], masks[v], vt)
                                    if bv is not None:
                                        val = kb.addf(val, bv)
                                    oidx = [n, m, oh, kb.idx(v * LANES)]
                                    if epilogue is not None:
                                        val = epilogue.apply(kb, val, ebufs, oidx, out_shape, masks[v], vt)
                                    store_vec(kb, val, y, oidx, masks[v])

                    tail = g.m - (g.mb - 1) * g.mr
                    if tail == g.mr:
                        tiles(g.mr)
                        rows(g.mr)
                    else:
                        with kb.if_(kb.cmpi(mb, g.mb - 1, "eq")) as orelse:
                            tiles(tail)
                            rows(tail)
                            with orelse():
                                tiles(g.mr)
                                rows(g.mr)

            kb.parallel_for(g.mb, bufs + [n], block, work=2 * g.m * g.ktot * g.oh * g.ow)


def _fill_xs(kb, g: _Geo, x, xs, n, lo, hi) -> None:
    """xs[c, ph, pw, hq, wq] = xpad[c, hq*sh+ph, wq*sw+pw] for c in [lo, hi); the slack after
    the last channel is zeroed by the chunk holding it."""
    zero = kb.const(0.0, B.f32)
    with kb.loop(lo, hi) as c:
        for ph in range(g.sh):
            # rows hq whose source row ih = hq*sh + ph - pt lies in [0, H)
            h_lo = max(0, -(-(g.pt - ph) // g.sh))
            h_hi = min(g.hq, -(-(g.h + g.pt - ph) // g.sh))
            for pw in range(g.sw):
                w_lo = max(0, -(-(g.pl - pw) // g.sw))
                w_hi = min(g.wq, -(-(g.w + g.pl - pw) // g.sw))
                base = kb.add(kb.mul(c, g.sh * g.sw * g.plane), (ph * g.sw + pw) * g.plane)

                def zero_run(start, count):
                    if count > 0:
                        with kb.loop(0, count) as i:
                            kb.store(zero, xs, [kb.add(kb.add(base, start), i)])

                zero_run(0, h_lo * g.wq)
                if h_hi > h_lo:
                    with kb.loop(h_lo, h_hi) as hq:
                        row = kb.add(base, kb.mul(hq, g.wq))
                        ih = kb.sub(kb.add(kb.mul(hq, g.sh), ph), g.pt)
                        for a, b_ in ((0, w_lo), (max(w_hi, w_lo), g.wq)):
                            if b_ > a:
                                with kb.loop(a, b_) as wq:
                                    kb.store(zero, xs, [kb.add(row, wq)])
                        if w_hi > w_lo:
                            with kb.loop(w_lo, w_hi) as wq:
                                iw = kb.sub(kb.add(kb.mul(wq, g.sw), pw), g.pl)
                                kb.store(kb.load(x, [n, c, ih, iw]), xs, [kb.add(row, wq)])
                zero_run(max(h_hi, h_lo) * g.wq, (g.hq - max(h_hi, h_lo)) * g.wq)
        # slack past the last plane (read by the last tiles' wasted lanes)
        total = g.c * g.sh * g.sw * g.plane
        if g.xs_size > total:
            with kb.if_(kb.cmpi(c, g.c - 1, "eq")):
                with kb.loop(total, g.xs_size) as i:
                    kb.store(zero, xs, [i])
