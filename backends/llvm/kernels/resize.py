"""Resize: nearest / linear / cubic, every coordinate transformation mode, antialias,
exclude_outside, extrapolation (tf_crop_and_resize).

A prologue computes, per resized axis and output index, the source taps (clamped
input indices) and their weights into small stack tables, with the same float64
operations as the reference (`backends/reference/kernels/misc.py`); the main loop
over the output then sums weight products times inputs over the taps of all
resized axes (the reference resizes one axis after another: the same sum).
"""

from __future__ import annotations

import math as pymath

from xdsl.dialects import arith, builtin as B, math

from ..kernel_builder import KernelBuilder
from ..scalar import int_width, is_subbyte
from . import UnsupportedKernel, kernel
from .data import raw_load, raw_store
from .kit import (
    addf, and_, cmpf, cmpi, const_of, divf, etype, fc, from_compute, index_to_i64, is_float, is_unsigned,
    load_c, load_elem, mulf, or_, scratch, sel, shape, store_elem, subf, cast,
)

F64 = B.f64


def _coord(kb, ctm, y, n_in, n_out, scale, roi_lo, roi_hi):
    """Source coordinate (f64) of output index y (f64), and the extrapolation flag or None."""
    c = lambda v: fc(kb, v, F64)  # noqa: E731
    out_f = scale * n_in
    if ctm == "align_corners":
        if out_f == 1:
            return c(0.0), None
        return divf(kb, mulf(kb, y, c(n_in - 1)), c(out_f - 1)), None
    if ctm == "asymmetric":
        return divf(kb, y, c(scale)), None
    if ctm == "tf_crop_and_resize":
        if out_f == 1:
            x = c((roi_hi - roi_lo) * (n_in - 1) / 2)
        else:
            x = divf(kb, mulf(kb, y, c((roi_hi - roi_lo) * (n_in - 1))), c(out_f - 1))
        x = addf(kb, x, c(roi_lo * (n_in - 1)))
        ext = or_(kb, cmpf(kb, x, c(0.0), "olt"), cmpf(kb, x, c(n_in - 1), "ogt"))
        return x, ext
    half = subf(kb, divf(kb, addf(kb, y, c(0.5)), c(scale)), c(0.5))
    if ctm == "pytorch_half_pixel":
        return (c(-0.5) if out_f == 1 else half), None
    if ctm == "half_pixel":
        return half, None
    if ctm == "half_pixel_symmetric":
        adjustment = n_out / out_f
        offset = n_in / 2 * (1 - adjustment)
        return subf(kb, addf(kb, c(offset), divf(kb, addf(kb, y, c(0.5)), c(scale))), c(0.5)), None
    raise UnsupportedKernel(f"resize coordinate_transformation_mode {ctm!r}")


def _ld_index(kb, buf, idx):
    return kb.op(arith.IndexCastOp(kb.load(buf, idx), B.IndexType()))


def _cubic(kb, t, a):
    c = lambda v: fc(kb, v, F64)  # noqa: E731
    t = kb.op(math.AbsFOp(t))
    t2 = mulf(kb, t, t)
    t3 = mulf(kb, t2, t)
    near = addf(kb, subf(kb, mulf(kb, c(a + 2), t3), mulf(kb, c(a + 3), t2)), c(1.0))
    far = subf(kb, addf(kb, subf(kb, mulf(kb, c(a), t3), mulf(kb, c(5 * a), t2)), mulf(kb, c(8 * a), t)), c(4 * a))
    return sel(kb, cmpf(kb, t, c(1.0), "ole"), near, sel(kb, cmpf(kb, t, c(2.0), "olt"), far, c(0.0)))


def _linear(kb, t):
    c = lambda v: fc(kb, v, F64)  # noqa: E731
    w = subf(kb, c(1.0), kb.op(math.AbsFOp(t)))
    return kb.op(arith.MinimumfOp(kb.op(arith.MaximumfOp(w, c(0.0))), c(1.0)))


@kernel("resize")
def resize(kb: KernelBuilder, ins, outs, op) -> None:
    x = ins[0]
    xs, ys = shape(x), shape(outs[0])
    r = len(xs)
    t = etype(op.inputs[0])
    mode = op.attr("mode")
    ctm = op.attr("coordinate_transformation_mode")
    scales = op.attr("scales") or [o / i if i else 1.0 for o, i in zip(ys, xs)]
    roi = op.attr("roi") or [0.0] * r + [1.0] * r
    axes = [a for a in range(r) if not (ys[a] == xs[a] and scales[a] == 1.0 and ctm != "tf_crop_and_resize")]
    if mode not in ("nearest", "linear", "cubic"):
        raise UnsupportedKernel(f"{op.where()}: resize mode {mode!r}")
    if mode != "nearest" and not (is_float(t) or isinstance(t, B.IntegerType)):
        raise UnsupportedKernel(f"{op.where()}: resize on {t}")
    antialias = op.attr("antialias")
    exclude = op.attr("exclude_outside")
    a_coef = op.attr("cubic_coeff_a")
    nearest_mode = op.attr("nearest_mode")
    c = lambda v: fc(kb, v, F64)  # noqa: E731

    # ---- prologue: per axis, taps and weights (stack tables: bounded)
    table_bytes = 0
    for a in axes:
        s_eff = min(float(scales[a]), 1.0) if antialias else 1.0
        taps = 1 if mode == "nearest" else 2 - 2 * (int(pymath.floor(-(1.0 if mode == "linear" else 2.0) / s_eff)) + 1)
        table_bytes += ys[a] * taps * 16
    if table_bytes > (4 << 20):
        raise UnsupportedKernel(f"{op.where()}: resize tap tables of {table_bytes >> 20} MiB exceed the stack budget")
    tables = {}
    for a in axes:
        n_in, n_out, scale = xs[a], ys[a], float(scales[a])
        if mode == "nearest":
            n_taps = 1
        else:
            support = 1.0 if mode == "linear" else 2.0
            s_eff = min(scale, 1.0) if antialias else 1.0
            start = int(pymath.floor(-support / s_eff)) + 1
            n_taps = 2 - 2 * start
        idx_t = scratch(kb, B.i64, [n_out, n_taps])  # index tables as i64 (no index memrefs)
        w_t = scratch(kb, F64, [n_out, n_taps]) if mode != "nearest" else None
        ext_t = scratch(kb, B.i1, [n_out]) if ctm == "tf_crop_and_resize" else None
        tables[a] = (idx_t, w_t, ext_t, n_taps)
        with kb.loop(0, n_out) as yi:
            yf = kb.op(arith.SIToFPOp(index_to_i64(kb, yi), F64))
            xc, ext = _coord(kb, ctm, yf, n_in, n_out, scale, roi[a], roi[r + a])
            if ext_t is not None:
                kb.store(ext, ext_t, [yi])
            if mode == "nearest":
                if nearest_mode == "round_prefer_floor":
                    src = kb.op(math.CeilOp(subf(kb, xc, c(0.5))))
                elif nearest_mode == "round_prefer_ceil":
                    src = kb.op(math.FloorOp(addf(kb, xc, c(0.5))))
                elif nearest_mode == "floor":
                    src = kb.op(math.FloorOp(xc))
                elif nearest_mode == "ceil":
                    src = kb.op(math.CeilOp(xc))
                else:
                    raise UnsupportedKernel(f"{op.where()}: nearest_mode {nearest_mode!r}")
                src = kb.op(arith.MinimumfOp(kb.op(arith.MaximumfOp(src, c(0.0))), c(n_in - 1)))
                kb.store(kb.op(arith.FPToSIOp(src, B.i64)), idx_t, [yi, kb.idx(0)])
                continue
            base = kb.op(arith.IndexCastOp(kb.op(arith.FPToSIOp(kb.op(math.CeilOp(xc)), B.i64)), B.IndexType()))
            base = kb.add(base, start - 1)  # the taps: ceil(x) - 1 + start + t
            # raw weights and their sum
            def wbody(tivs, accs):
                ti = tivs[0]
                ii = kb.add(base, ti)
                fi = kb.op(arith.SIToFPOp(index_to_i64(kb, ii), F64))
                arg = mulf(kb, subf(kb, fi, xc), c(s_eff))
                w = _linear(kb, arg) if mode == "linear" else _cubic(kb, arg, a_coef)
                kb.store(w, w_t, [yi, ti])
                kb.store(index_to_i64(kb, ii), idx_t, [yi, ti])
                return [addf(kb, accs[0], w)]

            (wsum,) = kb.fold([n_taps], [c(0.0)], wbody)
            if antialias or exclude:
                def nbody(tivs, accs):
                    ti = tivs[0]
                    w = kb.load(w_t, [yi, ti])
                    if antialias:
                        w = divf(kb, w, wsum)
                    if exclude:
                        ii = _ld_index(kb, idx_t, [yi, ti])
                        inside = and_(kb, cmpi(kb, ii, kb.idx(0), "sge"), cmpi(kb, ii, kb.idx(n_in), "slt"))
                        w = sel(kb, inside, w, c(0.0))
                    kb.store(w, w_t, [yi, ti])
                    return [addf(kb, accs[0], w)]

                (tot,) = kb.fold([n_taps], [c(0.0)], nbody)
                if exclude:
                    tot = sel(kb, cmpf(kb, tot, c(0.0), "oeq"), c(1.0), tot)
                    with kb.loop(0, n_taps) as ti:
                        kb.store(divf(kb, kb.load(w_t, [yi, ti]), tot), w_t, [yi, ti])
            with kb.loop(0, n_taps) as ti:
                ii = _ld_index(kb, idx_t, [yi, ti])
                kb.store(index_to_i64(kb, kb.op(arith.MinSIOp(kb.op(arith.MaxSIOp(ii, kb.idx(0))), kb.idx(n_in - 1)))), idx_t, [yi, ti])

    # ---- main loop
    ev = op.attr("extrapolation_value") or 0.0
    with kb.loops(ys) as ivs:
        ext = None
        for a in axes:
            e = tables[a][2]
            if e is not None:
                fl = kb.load(e, [ivs[a]])
                ext = fl if ext is None else or_(kb, ext, fl)
        if mode == "nearest" or not axes:
            src = list(ivs)
            for a in axes:
                src[a] = _ld_index(kb, tables[a][0], [ivs[a], kb.idx(0)])
            v = raw_load(kb, x, src)
            if ext is not None:
                evc = const_of(kb, ev, t)
                if is_subbyte(t):
                    evc = kb.op(arith.AndIOp(evc, kb.const((1 << int_width(t)) - 1, evc.type)))
                v = sel(kb, ext, evc, v)
            raw_store(kb, v, outs[0], ivs)
        else:
            _interpolate(kb, x, outs[0], t, ivs, axes, tables, ext, ev)


def _interpolate(kb, x, y, t, ivs, axes, tables, ext, ev):
    c = lambda v: fc(kb, v, F64)  # noqa: E731

    def load_x(src):
        if is_float(t):
            xv = load_c(kb, x, src, t)
            return xv if xv.type == F64 else kb.op(arith.ExtFOp(xv, F64))
        return cast(kb, load_elem(kb, x, src, t), t, F64)

    def nested(k, src):
        """sum over the taps of axes[k] of w * (the sum over axes[:k]): the reference resizes
        axis by axis, so the first axis is the innermost sum."""
        a = axes[k]
        idx_t, w_t, _, n_taps = tables[a]

        def body(tivs, accs):
            s2 = list(src)
            s2[a] = _ld_index(kb, idx_t, [ivs[a], tivs[0]])
            inner = load_x(s2) if k == 0 else nested(k - 1, s2)
            return [addf(kb, accs[0], mulf(kb, kb.load(w_t, [ivs[a], tivs[0]]), inner))]

        return kb.fold([n_taps], [c(0.0)], body)[0]

    v = nested(len(axes) - 1, list(ivs))
    if ext is not None:
        v = sel(kb, ext, c(float(ev)), v)
    if is_float(t):
        store_elem(kb, from_compute(kb, v, t), y, ivs, t)
        return
    # integer images: round half to even, saturate
    w = int_width(t)
    lo, hi = (0, (1 << w) - 1) if is_unsigned(t) else (-(1 << (w - 1)), (1 << (w - 1)) - 1)
    v = kb.op(math.RoundEvenOp(v))
    v = kb.op(arith.MinimumfOp(kb.op(arith.MaximumfOp(v, c(float(lo)))), c(float(hi))))
    iv = kb.op(arith.FPToSIOp(v, B.i64))
    rw = 8 if is_subbyte(t) else w
    if rw < 64:
        iv = kb.op(arith.TruncIOp(iv, B.IntegerType(rw)))
    store_elem(kb, iv, y, ivs, t)
