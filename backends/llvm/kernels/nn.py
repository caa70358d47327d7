"""Softmax family, batch normalization, pooling and transposed convolution.

Float math runs in the compute type (f32, f64 for f64 tensors; f16/bf16 are
widened on load and rounded once on store), as the reference kernels do.
"""

from __future__ import annotations

import itertools

from xdsl.dialects import arith, builtin as B, math

from ..kernel_builder import KernelBuilder
from . import UnsupportedKernel, kernel
from .kit import (
    and_, ceildiv, cmpf, cmpi, compute_type, const_of, divu, etype, fc, fold_ranges, greater, in_range,
    index_to_i64, is_float, linearize, load_c, load_elem, not_, or_, prod, remu, reshape_view, scratch, sel, shape,
    store_c, store_elem, sub, to_compute, zero,
)


def _rows(shape, axis):
    """Loop bounds over all axes but `axis`."""
    return [d for i, d in enumerate(shape) if i != axis]


def _with_axis(ivs, axis, iv):
    return list(ivs[:axis]) + [iv] + list(ivs[axis:])


def _fold(kb, n, init, body):
    """acc = init; for t in range(n): acc = body(t, acc); return acc."""
    return kb.fold([n], [init], lambda ivs, accs: [body(ivs[0], accs[0])])[0]


def _float_only(op, t):
    if not is_float(t):
        raise UnsupportedKernel(f"{op.where()}: {op.name} on {t}")


# ---- softmax family ---------------------------------------------------------------
@kernel("softmax", "log_softmax")
def softmax(kb: KernelBuilder, ins, outs, op) -> None:
    shp = shape(ins[0])
    axis = op.attr("axis") % len(shp)
    t = etype(op.inputs[0])
    _float_only(op, t)
    ct = compute_type(t)
    x, y = ins[0], outs[0]
    n = shp[axis]
    is_soft = op.name == "tg.softmax"
    in_place = ct == t  # the exponentials can be kept in y between passes
    with kb.loops(_rows(shp, axis)) as ivs:
        at = lambda j: _with_axis(ivs, axis, j)  # noqa: E731
        mx = _fold(kb, n, fc(kb, float("-inf"), ct), lambda j, acc: kb.op(arith.MaximumfOp(acc, load_c(kb, x, at(j), t))))

        def exp_at(j):
            return kb.op(math.ExpOp(kb.op(arith.SubfOp(load_c(kb, x, at(j), t), mx))))

        def exp_sum(j, acc):
            e = exp_at(j)
            if is_soft and in_place:
                kb.store(e, y, at(j))
            return kb.op(arith.AddfOp(acc, e))

        total = _fold(kb, n, fc(kb, 0.0, ct), exp_sum)
        if is_soft:
            inv = kb.op(arith.DivfOp(fc(kb, 1.0, ct), total))
            with kb.loop(0, n) as j:
                e = kb.load(y, at(j)) if in_place else exp_at(j)
                store_c(kb, kb.op(arith.MulfOp(e, inv)), y, at(j), t)
        else:
            lse = kb.op(arith.AddfOp(kb.op(math.LogOp(total)), mx))
            with kb.loop(0, n) as j:
                store_c(kb, kb.op(arith.SubfOp(load_c(kb, x, at(j), t), lse)), y, at(j), t)


@kernel("hardmax")
def hardmax(kb: KernelBuilder, ins, outs, op) -> None:
    """1 at the first maximum along the axis, 0 elsewhere."""
    shp = shape(ins[0])
    axis = op.attr("axis") % len(shp)
    t = etype(op.inputs[0])
    n = shp[axis]
    if n == 0:
        return
    one, zer = const_of(kb, 1, t), zero(kb, t)
    with kb.loops(_rows(shp, axis)) as ivs:
        at = lambda j: _with_axis(ivs, axis, j)  # noqa: E731
        first = load_elem(kb, ins[0], at(kb.idx(0)), t)

        def body(fivs, accs):
            j = kb.add(fivs[0], 1)
            v = load_elem(kb, ins[0], at(j), t)
            take = greater(kb, v, accs[0], t)
            if is_float(t):  # argmax returns the first NaN
                xv, bv = to_compute(kb, v, t), to_compute(kb, accs[0], t)
                take = or_(kb, take, and_(kb, cmpf(kb, xv, xv, "uno"), cmpf(kb, bv, bv, "ord")))
            return [sel(kb, take, v, accs[0]), sel(kb, take, j, accs[1])]

        _, arg = kb.fold([n - 1], [first, kb.idx(0)], body)
        with kb.loop(0, n) as j:
            store_elem(kb, sel(kb, cmpi(kb, j, arg, "eq"), one, zer), outs[0], at(j), t)


# ---- batch normalization --------------------------------------------------------------
@kernel("batch_normalization")
def batch_norm(kb: KernelBuilder, ins, outs, op) -> None:
    x, scale, bias, mean, var = ins
    shp = shape(x)
    t = etype(op.inputs[0])
    _float_only(op, t)
    types = [etype(v) for v in op.inputs]
    ct = B.f64 if any(isinstance(u, B.Float64Type) for u in types) else B.f32
    eps = fc(kb, op.attr("epsilon"), ct)

    def chan(buf, tt, c):
        v = load_c(kb, buf, c, tt)
        return v if v.type == ct else kb.op(arith.ExtFOp(v, ct))

    with kb.loops(shp[:2] if len(shp) > 1 else shp) as outer:
        c = [outer[1]] if len(shp) > 1 else [kb.idx(0)]
        rstd = kb.op(arith.DivfOp(fc(kb, 1.0, ct), kb.op(math.SqrtOp(kb.op(arith.AddfOp(chan(var, types[4], c), eps))))))
        a = kb.op(arith.MulfOp(rstd, chan(scale, types[1], c)))
        m = chan(mean, types[3], c)
        b = chan(bias, types[2], c)
        with kb.loops(shp[2:]) as sp:
            idx = list(outer) + list(sp)
            xv = load_c(kb, x, idx, t)
            if xv.type != ct:
                xv = kb.op(arith.ExtFOp(xv, ct))
            v = kb.op(arith.AddfOp(kb.op(arith.MulfOp(kb.op(arith.SubfOp(xv, m)), a)), b))
            store_c(kb, v, outs[0], idx, t)


# ---- helpers shared with conv.py -------------------------------------------------------
def _in_bounds_load(kb, buf, idx_parts, shape, zero):
    """Load buf[idx] where spatial indices may fall in the padding (then `zero`)."""
    valid = None
    clamped = []
    for iv, (d, check) in zip(idx_parts, shape):
        if check:
            ok = kb.op(arith.AndIOp(kb.op(arith.CmpiOp(iv, kb.idx(0), "sge")), kb.op(arith.CmpiOp(iv, kb.idx(d), "slt"))))
            valid = ok if valid is None else kb.op(arith.AndIOp(valid, ok))
            lo = kb.op(arith.MaxSIOp(iv, kb.idx(0)))
            clamped.append(kb.op(arith.MinSIOp(lo, kb.idx(d - 1))))
        else:
            clamped.append(iv)
    v = kb.load(buf, clamped)
    return v if valid is None else kb.op(arith.SelectOp(valid, v, zero))


def _window_index(kb, o_iv, k_iv, stride, dil, pad):
    return kb.op(arith.SubiOp(kb.add(kb.mul(o_iv, stride), kb.mul(k_iv, dil)), kb.idx(pad)))


# ---- pooling ----------------------------------------------------------------------------
class _Window:
    """Geometry of a pooling window over x[N, C, *spatial]. Output positions are split per axis
    into a border-low, an interior and a border-high range (static): in the interior of an axis
    every tap is inside the input, so its index needs no check; the tap loops have static
    bounds (LLVM unrolls them)."""

    def __init__(self, kb, op, xs, ys):
        self.kb, self.xs, self.ys = kb, xs, ys
        r = self.r = len(xs) - 2
        self.k = op.attr("kernel_shape")
        self.strides = op.attr("strides") or [1] * r
        self.dil = op.attr("dilations") or [1] * r
        self.pads = op.attr("pads") or [0] * (2 * r)

    def segments(self, i):
        n_in, n_out, s, d, k, pb = self.xs[2 + i], self.ys[2 + i], self.strides[i], self.dil[i], self.k[i], self.pads[i]
        lo = min(-(-pb // s), n_out)
        hi = max(lo, min(n_out, (n_in - 1 + pb - (k - 1) * d) // s + 1)) if n_in - 1 + pb - (k - 1) * d >= 0 else lo
        return [(a, b, chk) for a, b, chk in ((0, lo, True), (lo, hi, False), (hi, n_out, True)) if b > a]

    def loops(self, emit):
        """emit(n, c, osp, checked) for every output position, `checked[i]` False where axis i is
        interior."""
        kb = self.kb
        segs = [self.segments(i) for i in range(self.r)] if self.r <= 3 else \
            [[(0, self.ys[2 + i], True)] for i in range(self.r)]
        with kb.loops(self.ys[:2]) as (n, c):
            for combo in itertools.product(*segs):
                cms, osp = [], []
                for lo, hi, _ in combo:
                    cm = kb.loop(lo, hi)
                    osp.append(cm.__enter__())
                    cms.append(cm)
                emit(n, c, osp, [chk for _, _, chk in combo])
                for cm in reversed(cms):
                    cm.__exit__(None, None, None)

    def tap(self, osp, kivs, checked):
        """(input indices, clamped indices, valid or None) of one tap."""
        kb = self.kb
        sp = [_window_index(kb, osp[i], kivs[i], self.strides[i], self.dil[i], self.pads[i]) for i in range(self.r)]
        valid, clamped = None, []
        for i in range(self.r):
            if not checked[i]:
                clamped.append(sp[i])
                continue
            d = self.xs[2 + i]
            ok = in_range(kb, sp[i], 0, d)
            valid = ok if valid is None else and_(kb, valid, ok)
            clamped.append(kb.op(arith.MinSIOp(kb.op(arith.MaxSIOp(sp[i], kb.idx(0))), kb.idx(d - 1))))
        return sp, clamped, valid

    def in_padded(self, sp, checked):
        kb, r, m = self.kb, self.r, None
        for i in range(r):
            if checked[i]:
                ok = in_range(kb, sp[i], -self.pads[i], self.xs[2 + i] + self.pads[r + i])
                m = ok if m is None else and_(kb, m, ok)
        return m


@kernel("max_pool")
def max_pool(kb: KernelBuilder, ins, outs, op) -> None:
    """The first valid tap, replaced by every later valid tap strictly greater (as the reference:
    a leading NaN stays, later NaNs are skipped); optional flat argmax indices (storage_order)."""
    x = ins[0]
    xs, ys = shape(x), shape(outs[0])
    t = etype(op.inputs[0])
    win = _Window(kb, op, xs, ys)
    r = win.r
    want_idx = len(outs) > 1
    col_major = op.attr("storage_order") == 1
    isp = xs[2:]
    no = kb.const(0, B.i1)

    def emit(n, c, osp, checked):
        def body(kivs, accs):
            best, have = accs[0], accs[1]
            _, cl, valid = win.tap(osp, kivs, checked)
            v = load_elem(kb, x, [n, c] + cl, t)
            take = or_(kb, not_(kb, have), greater(kb, v, best, t))
            if valid is not None:
                take = and_(kb, valid, take)
            res = [sel(kb, take, v, best), or_(kb, have, valid) if valid is not None else kb.const(-1, B.i1)]
            if want_idx:
                dims = list(range(r))
                if col_major:
                    dims.reverse()
                flat = None
                for i in dims:
                    flat = cl[i] if flat is None else kb.add(kb.mul(flat, isp[i]), cl[i])
                res.append(sel(kb, take, flat, accs[2]))
            return res

        init = [zero(kb, t), no] + ([kb.idx(-1)] if want_idx else [])
        res = kb.fold(win.k, init, body)
        oidx = [n, c] + list(osp)
        store_elem(kb, res[0], outs[0], oidx, t)
        if want_idx:
            base = kb.mul(kb.add(kb.mul(n, xs[1]), c), prod(isp))
            arg = res[2]
            flat = sel(kb, cmpi(kb, arg, kb.idx(0), "sge"), kb.add(arg, base), kb.idx(-1))
            kb.store(index_to_i64(kb, flat), outs[1], oidx)

    win.loops(emit)


@kernel("average_pool", "lp_pool")
def average_pool(kb: KernelBuilder, ins, outs, op) -> None:
    x = ins[0]
    xs, ys = shape(x), shape(outs[0])
    t = etype(op.inputs[0])
    _float_only(op, t)
    ct = compute_type(t)
    win = _Window(kb, op, xs, ys)
    is_lp = op.name == "tg.lp_pool"
    p = float(op.attr("p")) if is_lp else 1.0
    count_pad = (not is_lp) and op.attr("count_include_pad")
    z, one = fc(kb, 0.0, ct), fc(kb, 1.0, ct)

    def emit(n, c, osp, checked):
        def body(kivs, accs):
            sp, cl, valid = win.tap(osp, kivs, checked)
            v = load_c(kb, x, [n, c] + cl, t)
            if valid is not None:
                v = sel(kb, valid, v, z)
            if is_lp:
                return [kb.op(arith.AddfOp(accs[0], _lp_term(kb, v, p)))]
            counted = win.in_padded(sp, checked) if count_pad else valid
            inc = one if counted is None else sel(kb, counted, one, z)
            return [kb.op(arith.AddfOp(accs[0], v)), kb.op(arith.AddfOp(accs[1], inc))]

        res = kb.fold(win.k, [z] if is_lp else [z, z], body)
        out = _lp_root(kb, res[0], p) if is_lp else kb.op(arith.DivfOp(res[0], res[1]))
        store_c(kb, out, outs[0], [n, c] + list(osp), t)

    win.loops(emit)


def _lp_term(kb, v, p):
    a = kb.op(math.AbsFOp(v))
    if p == 1.0:
        return a
    if p == 2.0:
        return kb.op(arith.MulfOp(v, v))
    return kb.op(math.PowFOp(a, fc(kb, p, v.type)))


def _lp_root(kb, s, p):
    if p == 1.0:
        return s
    if p == 2.0:
        return kb.op(math.SqrtOp(s))
    return kb.op(math.PowFOp(s, fc(kb, 1.0 / p, s.type)))


@kernel("global_average_pool", "global_max_pool", "global_lp_pool")
def global_pool(kb: KernelBuilder, ins, outs, op) -> None:
    xs = shape(ins[0])
    t = etype(op.inputs[0])
    name = op.name.removeprefix("tg.")
    spatial = xs[2:]
    count = prod(spatial)
    with kb.loops(xs[:2]) as (n, c):
        out_idx = [n, c] + [kb.idx(0)] * len(spatial)
        if name == "global_max_pool":
            first = load_elem(kb, ins[0], [n, c] + [kb.idx(0)] * len(spatial), t)

            def mbody(sivs, accs):
                v = load_elem(kb, ins[0], [n, c] + sivs, t)
                take = greater(kb, v, accs[0], t)
                if is_float(t):  # NaN propagates (np.max)
                    xv = to_compute(kb, v, t)
                    take = or_(kb, take, cmpf(kb, xv, xv, "uno"))
                return [sel(kb, take, v, accs[0])]

            (res,) = kb.fold(spatial, [first], mbody)
            store_elem(kb, res, outs[0], out_idx, t)
        else:
            _float_only(op, t)
            ct = compute_type(t)
            p = float(op.attr("p")) if name == "global_lp_pool" else 1.0

            def body(sivs, accs):
                v = load_c(kb, ins[0], [n, c] + sivs, t)
                return [kb.op(arith.AddfOp(accs[0], _lp_term(kb, v, p) if name == "global_lp_pool" else v))]

            (s,) = kb.fold(spatial, [fc(kb, 0.0, ct)], body)
            res = _lp_root(kb, s, p) if name == "global_lp_pool" else kb.op(arith.DivfOp(s, fc(kb, float(count), ct)))
            store_c(kb, res, outs[0], out_idx, t)


# ---- transposed convolution ------------------------------------------------------------------
def _convt_attrs(op, xs, ws):
    r = len(xs) - 2
    return (r, op.attr("strides") or [1] * r, op.attr("dilations") or [1] * r, op.attr("pads") or [0] * (2 * r),
            op.attr("group"))


@kernel("conv_transpose")
def conv_transpose(kb: KernelBuilder, ins, outs, op) -> None:
    """GEMM + col2im, per batch item, output channel m and chunk of input rows:
    cols[k, p] = sum_{c in m's group} w[c, m % Mg, k] * x[n, c, p] (the innermost loop runs over
    contiguous input positions p: vector FMAs), then y[n, m, i*s + k*d - pad_begin] += cols[k, i]
    over the input positions i whose output lands inside y (a range per axis, computed from k:
    no bounds checks). y starts as the bias. The chunk of `cols` lives on the stack (<= 64 KiB).
    f16/bf16 (or mixed) types use the per-output gather form (accumulation in f32 registers)."""
    x, w = ins[0], ins[1]
    xs, ws, ys = shape(x), shape(w), shape(outs[0])
    t = etype(op.inputs[0])
    _float_only(op, t)
    types = [etype(v) for v in op.inputs]
    r, strides, dil, pads, g = _convt_attrs(op, xs, ws)
    kk, inner = prod(ws[2:]), prod(xs[3:])
    if not all(isinstance(u, (B.Float32Type, B.Float64Type)) for u in types) or len(set(types)) > 1 \
            or kk * inner > 65536:  # (one row of `cols` must fit the stack)
        return _conv_transpose_gather(kb, ins, outs, op)
    y = outs[0]
    cg, mg = xs[1] // g, ws[1]
    isp, osp, ksp = xs[2:], ys[2:], ws[2:]
    rows = max(1, min(isp[0], 16384 // max(1, kk * inner)))
    cols = scratch(kb, t, [kk, rows * inner])
    xf = reshape_view(kb, x, [xs[0], xs[1], prod(isp)])
    wf = reshape_view(kb, w, [ws[0], ws[1], kk])
    zero_ = fc(kb, 0.0, t)
    with kb.loops(ys[:2]) as (n, m):
        b = kb.load(ins[2], [m]) if len(ins) > 2 else zero_
        with kb.loops(osp) as o:
            kb.store(b, y, [n, m] + list(o))
        c0 = kb.mul(divu(kb, m, mg), cg)
        ml = remu(kb, m, mg)
        with kb.loop(0, isp[0], rows) as r0:
            nrows = kb.op(arith.MinSIOp(kb.idx(rows), sub(kb, kb.idx(isp[0]), r0)))
            nq = kb.mul(nrows, inner)
            q0 = kb.mul(r0, inner)
            with kb.loop(0, kk) as kf:
                with kb.loop(0, nq) as q:
                    kb.store(zero_, cols, [kf, q])
            with kb.loops([cg, kk]) as (cl, kf):
                c = kb.add(c0, cl)
                wv = kb.load(wf, [c, ml, kf])
                with kb.loop(0, nq) as q:
                    xv = kb.load(xf, [n, c, kb.add(q0, q)])
                    kb.store(kb.op(arith.AddfOp(kb.load(cols, [kf, q]), kb.op(arith.MulfOp(wv, xv)))), cols, [kf, q])
            # col2im
            with kb.loops(ksp) as ks:
                kf = None
                for i in range(r):
                    kf = ks[i] if kf is None else kb.add(kb.mul(kf, ksp[i]), ks[i])
                offs, ranges = [], []
                for i in range(r):
                    off = sub(kb, kb.mul(ks[i], dil[i]), pads[i])  # o = i*s + off
                    lo = kb.op(arith.MaxSIOp(ceildiv(kb, sub(kb, kb.idx(0), off), strides[i]), kb.idx(0)))
                    hi = kb.op(arith.MinSIOp(ceildiv(kb, sub(kb, kb.idx(osp[i]), off), strides[i]), kb.idx(isp[i])))
                    if i == 0:
                        lo = kb.op(arith.MaxSIOp(lo, r0))
                        hi = kb.op(arith.MinSIOp(hi, kb.add(r0, nrows)))
                    offs.append(off)
                    ranges.append((lo, hi))

                def body(iivs, accs):
                    oidx = [n, m] + [kb.add(kb.mul(iivs[i], strides[i]), offs[i]) for i in range(r)]
                    q = linearize(kb, [sub(kb, iivs[0], r0)] + list(iivs[1:]), [rows] + isp[1:])
                    acc = kb.load(y, oidx)
                    kb.store(kb.op(arith.AddfOp(acc, kb.load(cols, [kf, q]))), y, oidx)
                    return []

                fold_ranges(kb, ranges, [], body)


def _conv_transpose_gather(kb: KernelBuilder, ins, outs, op) -> None:
    """Per output: y[n, m, o] = b[m] + sum over (c, k) with o = i*s + k*d - pad_begin."""
    x, w = ins[0], ins[1]
    xs, ws, ys = shape(x), shape(w), shape(outs[0])
    t = etype(op.inputs[0])
    types = [etype(v) for v in op.inputs]
    ct = B.f64 if any(isinstance(u, B.Float64Type) for u in types) else B.f32
    r, strides, dil, pads, g = _convt_attrs(op, xs, ws)
    cg, mg = xs[1] // g, ws[1]
    z = fc(kb, 0.0, ct)

    def ld(buf, tt, idx):
        v = load_c(kb, buf, idx, tt)
        return v if v.type == ct else kb.op(arith.ExtFOp(v, ct))

    with kb.loops(ys) as ivs:
        n, m, osp = ivs[0], ivs[1], ivs[2:]
        ml = remu(kb, m, mg)
        c0 = kb.mul(divu(kb, m, mg), cg)
        init = ld(ins[2], types[2], [m]) if len(ins) > 2 else z

        def body(kivs, accs):
            cl, ks = kivs[0], kivs[1:]
            valid, src = None, []
            for i in range(r):
                tt = sub(kb, kb.add(osp[i], pads[i]), kb.mul(ks[i], dil[i]))
                if strides[i] == 1:
                    ii = tt
                    ok = in_range(kb, ii, 0, xs[2 + i])
                else:
                    ii = kb.op(arith.DivSIOp(tt, kb.idx(strides[i])))
                    exact = cmpi(kb, kb.op(arith.RemSIOp(tt, kb.idx(strides[i]))), kb.idx(0), "eq")
                    ok = and_(kb, and_(kb, cmpi(kb, tt, kb.idx(0), "sge"), exact), cmpi(kb, ii, kb.idx(xs[2 + i]), "slt"))
                valid = ok if valid is None else and_(kb, valid, ok)
                src.append(kb.op(arith.MinSIOp(kb.op(arith.MaxSIOp(ii, kb.idx(0))), kb.idx(xs[2 + i] - 1))))
            c = kb.add(c0, cl)
            xv = sel(kb, valid, ld(x, types[0], [n, c] + src), z)
            return [kb.op(arith.AddfOp(accs[0], kb.op(arith.MulfOp(xv, ld(w, types[1], [c, ml] + ks)))))]

        (res,) = kb.fold([cg] + ws[2:], [init], body)
        store_c(kb, res, outs[0], ivs, t)
