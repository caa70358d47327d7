"""Einsum (general), det (LU with partial pivoting), QuantizeLinear / DequantizeLinear."""

from __future__ import annotations

from xdsl.dialects import arith, builtin as B, math

from ..kernel_builder import KernelBuilder
from ..scalar import int_width, is_subbyte
from . import UnsupportedKernel, kernel
from .kit import (
    addf, cast, cmpf, cmpi, divf, etype, fc, from_compute, is_float, is_unsigned, load_c, load_elem, mulf, scratch,
    sel, shape, store_c, store_elem, subf, to_compute,
)


# ---- einsum ---------------------------------------------------------------------------
def _parse_einsum(eq: str, shapes):
    """Per operand its label tokens, the output tokens, and the size of each token. Ellipsis
    dims become tokens ("...", k) aligned from the right (broadcast as numpy)."""
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    n_ell = 0
    for term, shp in zip(terms, shapes):
        if "..." in term:
            n_ell = max(n_ell, len(shp) - len(term.replace("...", "")))
    ops_tokens = []
    for term, shp in zip(terms, shapes):
        toks = []
        if "..." in term:
            pre, _, post = term.partition("...")
            e = len(shp) - len(pre) - len(post)
            toks = list(pre) + [("...", n_ell - e + t) for t in range(e)] + list(post)
        else:
            toks = list(term)
        if len(toks) != len(shp):
            raise UnsupportedKernel(f"einsum term '{term}' does not match rank {len(shp)}")
        ops_tokens.append(toks)
    ell = [("...", t) for t in range(n_ell)]
    if arrow:
        pre, dots, post = rhs.partition("...")
        out = list(pre) + (ell if dots else []) + list(post)
    else:
        letters = [c for c in lhs if c.isalpha()]
        out = ell + sorted(c for c in set(letters) if letters.count(c) == 1)
    sizes: dict = {}
    for toks, shp in zip(ops_tokens, shapes):
        for tok, d in zip(toks, shp):
            sizes[tok] = max(sizes.get(tok, d), d)
    return ops_tokens, out, sizes


@kernel("einsum")
def einsum(kb: KernelBuilder, ins, outs, op) -> None:
    shapes = [shape(b) for b in ins]
    ops_tokens, out_toks, sizes = _parse_einsum(op.attr("equation"), shapes)
    types = [etype(v) for v in op.inputs]
    ot = etype(op.outputs[0])
    floats = all(is_float(t) for t in types)
    if floats:
        ct = B.f64 if any(isinstance(t, B.Float64Type) for t in types) else B.f32
    elif any(is_float(t) for t in types):
        raise UnsupportedKernel(f"{op.where()}: einsum on mixed float/integer operands")
    else:
        ct = B.i64
    red_toks = []
    for toks in ops_tokens:
        for tok in toks:
            if tok not in out_toks and tok not in red_toks:
                red_toks.append(tok)

    def operand(i, env):
        idx = [env[tok] if shapes[i][a] == sizes[tok] else kb.idx(0) for a, tok in enumerate(ops_tokens[i])]
        if floats:
            v = load_c(kb, ins[i], idx, types[i])
            return v if v.type == ct else kb.op(arith.ExtFOp(v, ct))
        return cast(kb, load_elem(kb, ins[i], idx, types[i]), types[i], B.IntegerType(64, B.Signedness.SIGNED)
                    if not is_unsigned(types[i]) else B.IntegerType(64, B.Signedness.UNSIGNED))

    zero = fc(kb, 0.0, ct) if floats else kb.const(0, ct)
    with kb.loops([sizes[t] for t in out_toks]) as oivs:
        env = dict(zip(out_toks, oivs))

        def body(rivs, accs):
            e = dict(env)
            e.update(zip(red_toks, rivs))
            p = None
            for i in range(len(ins)):
                v = operand(i, e)
                p = v if p is None else (mulf(kb, p, v) if floats else kb.op(arith.MuliOp(p, v)))
            return [addf(kb, accs[0], p) if floats else kb.op(arith.AddiOp(accs[0], p))]

        (res,) = kb.fold([sizes[t] for t in red_toks], [zero], body)
        if floats:
            store_c(kb, res, outs[0], oivs, ot)
        else:
            store_elem(kb, cast(kb, res, B.IntegerType(64, B.Signedness.SIGNED), ot), outs[0], oivs, ot)


# ---- det --------------------------------------------------------------------------------
@kernel("det")
def det(kb: KernelBuilder, ins, outs, op) -> None:
    """Gaussian elimination with partial pivoting (first row of maximal |a|, as LAPACK getrf)
    on a stack copy of each matrix; det = sign * product of the pivots."""
    xs = shape(ins[0])
    t = etype(op.inputs[0])
    if not is_float(t):
        raise UnsupportedKernel(f"{op.where()}: det on {t}")
    n = xs[-1]
    ct = B.f64 if isinstance(t, B.Float64Type) else B.f32
    if n * n * 8 > (4 << 20):
        raise UnsupportedKernel(f"{op.where()}: det of {n}x{n} matrices (the LU copy lives on the stack)")
    a = scratch(kb, ct, [n, n])
    one, zero = fc(kb, 1.0, ct), fc(kb, 0.0, ct)
    with kb.loops(xs[:-2]) as bivs:
        with kb.loops([n, n]) as (i, j):
            v = load_c(kb, ins[0], list(bivs) + [i, j], t)
            kb.store(v if v.type == ct else kb.op(arith.ExtFOp(v, ct)), a, [i, j])
        with kb.loop(0, n, iter_args=[one]) as (k, d):
            absf = lambda x: kb.op(math.AbsFOp(x))  # noqa: E731
            with kb.loop(k, n, iter_args=[fc(kb, -1.0, ct), k]) as (i, best, p):
                m = absf(kb.load(a, [i, k]))
                take = cmpf(kb, m, best, "ogt")
                kb.yield_(sel(kb, take, m, best), sel(kb, take, i, p))
            _, p = kb.last_loop.results
            with kb.loop(0, n) as j:
                u, w = kb.load(a, [k, j]), kb.load(a, [p, j])
                kb.store(w, a, [k, j])
                kb.store(u, a, [p, j])
            piv = kb.load(a, [k, k])
            sign = sel(kb, cmpi(kb, p, k, "ne"), fc(kb, -1.0, ct), one)
            d2 = mulf(kb, mulf(kb, d, sign), piv)
            nz = cmpf(kb, piv, zero, "une")
            inv = divf(kb, one, sel(kb, nz, piv, one))
            with kb.loop(kb.add(k, 1), n) as i:
                f = sel(kb, nz, mulf(kb, kb.load(a, [i, k]), inv), zero)
                with kb.loop(kb.add(k, 1), n) as j:
                    kb.store(subf(kb, kb.load(a, [i, j]), mulf(kb, f, kb.load(a, [k, j]))), a, [i, j])
            kb.yield_(d2)
        store_c(kb, kb.last_loop.results[0], outs[0], list(bivs), t)


# ---- quantization ------------------------------------------------------------------------------
def _param_index(kb, pbuf, ivs, axis, block):
    """Index of the scale / zero point for element ivs: per tensor, per axis, or blocked."""
    ps = shape(pbuf)
    if len(ps) == 0:
        return []
    if block:
        idx = list(ivs)
        idx[axis] = kb.op(arith.DivUIOp(ivs[axis], kb.idx(block)))
        return idx
    if len(ps) == 1 and ps[0] == 1:
        return [kb.idx(0)]
    if len(ps) == len(ivs) and all(d == 1 for i, d in enumerate(ps) if i != axis):  # same-rank per-axis
        return [ivs[a] if a == axis else kb.idx(0) for a in range(len(ps))]
    return [ivs[axis]]


def _int_range(t):
    w = int_width(t)
    if is_unsigned(t):
        return 0, (1 << w) - 1
    return -(1 << (w - 1)), (1 << (w - 1)) - 1


@kernel("dequantize_linear")
def dequantize_linear(kb: KernelBuilder, ins, outs, op) -> None:
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    tx, ts = etype(op.inputs[0]), etype(op.inputs[1])
    ot = etype(op.outputs[0])
    xs = shape(x)
    axis = op.attr("axis") % max(len(xs), 1)
    block = op.attr("block_size")
    ct = B.f64 if isinstance(ot, B.Float64Type) else B.f32
    with kb.loops(xs) as ivs:
        pidx = _param_index(kb, scale, ivs, axis, block)
        if is_float(tx):
            d = load_c(kb, x, ivs, tx)
            if zp is not None:
                d = subf(kb, d, load_c(kb, zp, _param_index(kb, zp, ivs, axis, block), etype(op.inputs[2])))
            if d.type != ct:
                d = kb.op(arith.ExtFOp(d, ct))
        else:
            i64 = B.IntegerType(64, B.Signedness.SIGNED)
            d = cast(kb, load_elem(kb, x, ivs, tx), tx, i64)
            if zp is not None:
                tz = etype(op.inputs[2])
                z = cast(kb, load_elem(kb, zp, _param_index(kb, zp, ivs, axis, block), tz), tz, i64)
                d = kb.op(arith.SubiOp(d, z))
            d = kb.op(arith.SIToFPOp(d, ct))
        s = load_c(kb, scale, pidx, ts)
        if s.type != ct:
            s = kb.op(arith.ExtFOp(s, ct) if ct == B.f64 else arith.TruncFOp(s, ct))
        store_c(kb, mulf(kb, d, s), outs[0], ivs, ot)


@kernel("quantize_linear")
def quantize_linear(kb: KernelBuilder, ins, outs, op) -> None:
    """q = saturate(round_half_even(x / scale) + zero_point), or a float8/float4 cast of
    x / scale + zero_point."""
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    tx, ts = etype(op.inputs[0]), etype(op.inputs[1])
    ot = etype(op.outputs[0])
    xs = shape(x)
    axis = op.attr("axis") % max(len(xs), 1)
    block = op.attr("block_size")
    saturate = bool(op.attr("saturate"))
    # compute type: the promotion of x's and the scale's compute types (int x computes in f64)
    wide = (not is_float(tx)) or isinstance(tx, B.Float64Type) or isinstance(ts, B.Float64Type)
    ct = B.f64 if wide else B.f32
    out_float = is_float(ot)
    with kb.loops(xs) as ivs:
        if is_float(tx):
            xv = load_c(kb, x, ivs, tx)
            if xv.type != ct:
                xv = kb.op(arith.ExtFOp(xv, ct))
        else:
            xv = cast(kb, load_elem(kb, x, ivs, tx), tx, ct)
        s = load_c(kb, scale, _param_index(kb, scale, ivs, axis, block), ts)
        if s.type != ct:
            s = kb.op(arith.ExtFOp(s, ct))
        q = divf(kb, xv, s)
        zv = None
        if zp is not None:
            tz = etype(op.inputs[2])
            zraw = load_elem(kb, zp, _param_index(kb, zp, ivs, axis, block), tz)
            zv = to_compute(kb, zraw, tz) if is_float(tz) else cast(kb, zraw, tz, B.f64)
        if out_float:
            if zv is not None:
                if zv.type != q.type:
                    zv = kb.op(arith.ExtFOp(zv, q.type) if q.type == B.f64 else arith.TruncFOp(zv, q.type))
                q = addf(kb, q, zv)
            store_elem(kb, from_compute(kb, q, ot, saturate), outs[0], ivs, ot)
        else:
            r = kb.op(math.RoundEvenOp(q))
            if r.type != B.f64:
                r = kb.op(arith.ExtFOp(r, B.f64))
            if zv is not None:
                r = addf(kb, r, zv)
            lo, hi = _int_range(ot)
            r = kb.op(arith.MaximumfOp(r, fc(kb, float(lo), B.f64)))
            r = kb.op(arith.MinimumfOp(r, fc(kb, float(hi), B.f64)))
            v = kb.op(arith.FPToSIOp(r, B.i64))
            w = 8 if is_subbyte(ot) else int_width(ot)
            if w < 64:
                v = kb.op(arith.TruncIOp(v, B.IntegerType(w)))
            store_elem(kb, v, outs[0], ivs, ot)
