"""Convolution: the SIMD conv2d kernel (`ConvKernel` below: f32, groups 1, dilation 1,
constant weights) and the plain direct loop nest for everything else (any rank,
groups, dilation, padding, element type). The plain kernel sums in the compute type
(f32 for f16/bf16/f8, f64 for f64) and rounds once at the store, as the reference."""

from __future__ import annotations

from xdsl.dialects import arith, builtin as B

from ..kernel_builder import KernelBuilder
from ..scalar import storage_view
from . import kernel
from .kit import compute_type, etype, load_c, store_c, to_compute, zero
from .nn import _float_only, _in_bounds_load, _window_index


@kernel("conv")
def conv(kb: KernelBuilder, ins, outs, op) -> None:
    x, w = ins[0], ins[1]
    xs, ws, ys = (list(v.type.get_shape()) for v in (x, w, outs[0]))
    r = len(xs) - 2
    types = [etype(v) for v in (*op.inputs, *op.outputs)]
    for t in types:
        _float_only(op, t)
    tx, tw, ty = types[0], types[1], types[-1]
    ct = B.f64 if any(compute_type(t) == B.f64 for t in types) else B.f32
    strides = op.attr("strides") or [1] * r
    dil = op.attr("dilations") or [1] * r
    pads = op.attr("pads") or [0] * (2 * r)
    g = op.attr("group")
    cin_g, m_g = ws[1], ys[1] // g
    x_raw = storage_view(kb, x)  # padding taps select the register zero of x's type
    x_zero = zero(kb, tx)
    needs_check = [pads[i] > 0 or pads[r + i] > 0 for i in range(r)]

    def widen(v):
        return v if v.type == ct else kb.op(arith.ExtFOp(v, ct))

    with kb.loops(ys) as ivs:
        n, m, osp = ivs[0], ivs[1], ivs[2:]
        init = widen(load_c(kb, ins[2], [m], types[2])) if len(ins) > 2 else kb.const(0.0, ct)
        c0 = kb.mul(kb.op(arith.DivUIOp(m, kb.idx(m_g))), cin_g)

        def body(kivs, accs):
            c, ks = kivs[0], kivs[1:]
            sp = [_window_index(kb, osp[i], ks[i], strides[i], dil[i], pads[i]) for i in range(r)]
            xv = _in_bounds_load(kb, x_raw, [n, kb.op(arith.AddiOp(c0, c))] + sp,
                                 [(xs[0], False), (xs[1], False)] + [(xs[2 + i], needs_check[i]) for i in range(r)],
                                 x_zero)
            xv, wv = widen(to_compute(kb, xv, tx)), widen(load_c(kb, w, [m, c] + ks, tw))
            return [kb.op(arith.AddfOp(accs[0], kb.op(arith.MulfOp(xv, wv))))]

        (res,) = kb.fold([cin_g] + ws[2:], [init], body)
        store_c(kb, res, outs[0], ivs, ty)


# ---- SIMD conv2d ---------------------------------------------------------------------------------
# A 2-D convolution (groups 1, dilation 1, f32, constant weights) as a GEMM over implicit
# im2col, with no im2col buffer:
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
#
# Padding never reaches the hot loop; the columns ow >= OW of the padded width are wasted
# lanes ((Wq - OW) / Wq). Steps 1 and 2 are shared functions of the module, specialized only
# on (stride, kernel size, MR) and taking the sizes at run time: a model with many conv shapes
# (DenseNet) compiles them once. Parallel over input channels (1) and blocks of MR output
# channels (2 + 3).
import numpy as np  # noqa: E402

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
        self.ntiles = -(-(self.oh * self.wq) // self.nt)
        self.np_ = self.ntiles * self.nt  # p extent, whole tiles
        self.mb = -(-self.m // self.mr)
        self.ktot = self.c * self.kh * self.kw
        total = self.c * self.sh * self.sw * self.plane
        max_tap = ((self.kh - 1) // self.sh) * self.wq + (self.kw - 1) // self.sw
        last = (self.c * self.sh * self.sw - 1) * self.plane + self.np_ - 1 + max_tap
        self.xs_size = max(total, last + 1)


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
        out_shape = list(outs[0].type.get_shape())
        epi_pos = {v: n_head + i for i, v in enumerate(epilogue.operands)} if epilogue is not None else {}
        bufs = list(ins) + list(outs[:3])
        n_in = len(ins)

        with kb.loop(0, g.n) as n:
            # 1. pad + phase split: parallel over input channels
            def fill(kb, bufs, lo, hi):
                x, xs, n = bufs[0], bufs[n_in + 1], bufs[-1]
                args = [kb.dyn_view(x), kb.dyn_view(xs), kb.mul(n, g.c * g.h * g.w)] + [
                    kb.idx(v) for v in (g.h, g.w, g.pt, g.pl, g.hq, g.wq, g.c, g.xs_size)] + [lo, hi]
                kb.call_shared(f"tc_conv_fill_s{g.sh}x{g.sw}", args, lambda kb2, a: _fill_xs(kb2, g.sh, g.sw, *a))

            kb.parallel_for(g.c, bufs + [n], fill, work=2 * g.xs_size)

            # 2 + 3. tiles into yp, then rows of y: parallel over blocks of output channels
            def block(kb, bufs, lo, hi):
                wp = bufs[1]
                bias = bufs[2] if has_bias else None
                y, xs, yp, n = bufs[n_in], bufs[n_in + 1], bufs[n_in + 2], bufs[-1]
                ebufs = {v: bufs[i] for v, i in epi_pos.items()}
                with kb.loop(lo, hi) as mb:
                    def tiles(mrr):
                        name = f"tc_conv_tiles_k{g.kh}x{g.kw}_s{g.sh}x{g.sw}_mr{mrr}x{g.mr}"
                        args = [kb.dyn_view(wp), kb.dyn_view(xs), kb.dyn_view(yp), mb] + [
                            kb.idx(v) for v in (g.c, g.ktot, g.wq, g.plane, g.ntiles, g.np_)]
                        kb.call_shared(name, args, lambda kb2, a: _tiles(kb2, g.kh, g.kw, g.sh, g.sw, mrr, g.mr, *a))

                    def rows(mrr):
                        nfull, tail = divmod(g.ow, LANES)
                        tail_mask = kb.lane_mask(0, tail, LANES) if tail else None
                        with kb.loop(0, mrr) as r:
                            m = kb.add(kb.mul(mb, g.mr), r)
                            bv = kb.bcast(kb.load(bias, [m]), vt) if bias is not None else None
                            with kb.loop(0, g.oh) as oh:
                                def one(j, mask):
                                    p = kb.add(kb.mul(oh, g.wq), j)
                                    val = kb.vload(yp, [m, p], vt) if mask is None else kb.vmload(yp, [m, p], mask, vt)
                                    if bv is not None:
                                        val = kb.addf(val, bv)
                                    oidx = [n, m, oh, j]
                                    if epilogue is not None:
                                        val = epilogue.apply(kb, val, ebufs, oidx, out_shape, mask, vt)
                                    store_vec(kb, val, y, oidx, mask)

                                if nfull == 1:
                                    one(kb.idx(0), None)
                                elif nfull:
                                    with kb.loop(0, nfull) as jv:
                                        one(kb.mul(jv, LANES), None)
                                if tail:
                                    one(kb.idx(nfull * LANES), tail_mask)

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


def _ceil_div_nonneg(kb, a, d: int):
    """ceil(max(a, 0) / d) for a runtime index a."""
    a = kb.max_(a, 0)
    return kb.divu(kb.add(a, d - 1), d) if d > 1 else a


def _fill_xs(kb, sh, sw, x, xs, xoff, h, w, pt, pl, hq, wq, c_total, xs_size, lo, hi) -> None:
    """xs[c, ph, pw, hq, wq] = xpad[c, hq*sh+ph, wq*sw+pw] for channels c in [lo, hi), sizes at run
    time; the slack past the last channel (read by the last tiles' wasted lanes) is zeroed by the
    chunk that holds the last channel."""
    zero = kb.const(0.0, B.f32)
    plane = kb.mul(hq, wq)

    def zero_run(start, end):
        with kb.loop(start, end) as i:
            kb.store(zero, xs, [i])

    with kb.loop(lo, hi) as c:
        for ph in range(sh):
            # rows hq whose source row ih = hq*sh + ph - pt lies in [0, H)
            h_lo = kb.min_(_ceil_div_nonneg(kb, kb.sub(pt, ph), sh), hq)
            h_hi = kb.max_(kb.min_(_ceil_div_nonneg(kb, kb.sub(kb.add(h, pt), ph), sh), hq), h_lo)
            for pw in range(sw):
                w_lo = kb.min_(_ceil_div_nonneg(kb, kb.sub(pl, pw), sw), wq)
                w_hi = kb.max_(kb.min_(_ceil_div_nonneg(kb, kb.sub(kb.add(w, pl), pw), sw), wq), w_lo)
                base = kb.mul(kb.add(kb.mul(c, sh * sw), ph * sw + pw), plane)
                zero_run(base, kb.add(base, kb.mul(h_lo, wq)))
                with kb.loop(h_lo, h_hi) as q:
                    row = kb.add(base, kb.mul(q, wq))
                    ih = kb.sub(kb.add(kb.mul(q, sh), ph), pt)
                    src = kb.add(xoff, kb.mul(kb.add(kb.mul(c, h), ih), w))  # x[n, c, ih, 0]
                    zero_run(row, kb.add(row, w_lo))
                    with kb.loop(w_lo, w_hi) as j:
                        iw = kb.sub(kb.add(kb.mul(j, sw), pw), pl)
                        kb.store(kb.load(x, [kb.add(src, iw)]), xs, [kb.add(row, j)])
                    zero_run(kb.add(row, w_hi), kb.add(row, wq))
                zero_run(kb.add(base, kb.mul(h_hi, wq)), kb.add(base, plane))
        with kb.if_(kb.cmpi(c, kb.sub(c_total, 1), "eq")):
            zero_run(kb.mul(kb.mul(c_total, sh * sw), plane), xs_size)


def _tiles(kb, kh_n, kw_n, sh, sw, mr, mr_pack, wp, xs, yp, mb, c_n, ktot, wq, plane, ntiles, np_) -> None:
    """All pixel tiles of output-channel block mb: yp[mb*MR + r, p0 : p0 + 32] for r < mr."""
    vt = kb.vt(B.f32)
    nv = CONV_NV
    nt = nv * LANES
    with kb.loop(0, ntiles) as pt:
        p0 = kb.mul(pt, nt)
        wrow = kb.mul(mb, ktot)  # first packed weight row of the block

        def step_index(civ, s):
            """(index of the packed weight row's first element, input address of the tile)."""
            if isinstance(civ, list):
                c, kh = civ
            else:
                c, kh = civ, kb.idx(0)
            kw = s
            k = kb.add(kb.add(kb.mul(c, kh_n * kw_n), kb.mul(kh, kw_n)), kw)
            # kh = q*sh + ph: the tap reads phase (ph, kw % sw) at row offset q, column kw // sw
            q, ph = (kh, None) if sh == 1 else (kb.divu(kh, sh), kb.remu(kh, sh))
            off = kb.add(kb.mul(q, wq), kb.add(kb.mul(kb.idx(kw % sw), plane), kw // sw))
            if ph is not None:
                off = kb.add(off, kb.mul(kb.mul(ph, sw), plane))
            xb = kb.add(kb.add(kb.mul(kb.mul(c, sh * sw), plane), p0), off)
            return kb.mul(kb.add(wrow, k), mr_pack), xb

        def a_scalar(r, x):
            return kb.load(wp, [kb.add(x[0], r)])

        def b_vector(v, x):
            return kb.vload(xs, [kb.add(x[1], v * LANES)], vt)

        outer = [c_n, kb.idx(kh_n)] if kh_n > 1 else c_n
        accs = gemm_tile(kb, mr=mr, nv=nv, vt=vt, outer=outer, steps=list(range(kw_n)),
                         a_scalar=a_scalar, b_vector=b_vector, step_index=step_index)
        for r in range(mr):
            row = kb.mul(kb.add(kb.mul(mb, mr_pack), r), np_)
            for v in range(nv):
                kb.vstore(accs[r * nv + v], yp, [kb.add(kb.add(row, p0), v * LANES)])
