"""Normalizations: layer (with its Mean/InvStdDev outputs), RMS, instance, group, LRN, Lp,
mean-variance.

Statistics are computed in f32 (f64 for f64 tensors) as the reference kernels do,
two passes (mean, then the centered sum of squares), one more pass to write.
"""

from __future__ import annotations

from xdsl.dialects import arith, builtin as B, math

from ..kernel_builder import KernelBuilder
from . import UnsupportedKernel, kernel
from .elementwise import broadcast_index
from .kit import (
    addf, cmpf, divf, etype, fc, in_range, is_float, load_c, mulf, prod, sel, shape, store_c, subf,
)


def _ct(op, *vals):
    types = [etype(v) for v in (vals or op.inputs)]
    for t in types:
        if not is_float(t):
            raise UnsupportedKernel(f"{op.where()}: {op.name} on {t}")
    return B.f64 if any(isinstance(t, B.Float64Type) for t in types) else B.f32


def _ld(kb, buf, idx, t, ct):
    v = load_c(kb, buf, idx, t)
    return v if v.type == ct else kb.op(arith.ExtFOp(v, ct) if ct.bitwidth > v.type.bitwidth else arith.TruncFOp(v, ct))


def _mean_var(kb, bounds, load, ct, count):
    """(mean, variance) of load(ivs) over a loop nest (two passes)."""
    z = fc(kb, 0.0, ct)
    (s,) = kb.fold(bounds, [z], lambda ivs, accs: [addf(kb, accs[0], load(ivs))])
    mean = divf(kb, s, fc(kb, float(count), ct))

    def sq(ivs, accs):
        d = subf(kb, load(ivs), mean)
        return [addf(kb, accs[0], mulf(kb, d, d))]

    (ss,) = kb.fold(bounds, [z], sq)
    return mean, divf(kb, ss, fc(kb, float(count), ct))


def _rsqrt(kb, v, eps, ct):
    return divf(kb, fc(kb, 1.0, ct), kb.op(math.SqrtOp(addf(kb, v, fc(kb, eps, ct)))))


@kernel("layer_normalization", "rms_normalization")
def layer_norm(kb: KernelBuilder, ins, outs, op) -> None:
    xs = shape(ins[0])
    axis = op.attr("axis") % len(xs)
    t = etype(op.inputs[0])
    ct = _ct(op, op.inputs[0])  # stash type: f32, f64 for f64 inputs
    types = [etype(v) for v in op.inputs]
    inner = xs[axis:]
    count = prod(inner)
    x = ins[0]
    eps = op.attr("epsilon")
    rms = op.name == "tg.rms_normalization"
    with kb.loops(xs[:axis]) as outer:
        load = lambda ivs: _ld(kb, x, list(outer) + list(ivs), t, ct)  # noqa: E731
        if rms:
            z = fc(kb, 0.0, ct)
            (ss,) = kb.fold(inner, [z], lambda ivs, accs: [addf(kb, accs[0], mulf(kb, load(ivs), load(ivs)))])
            mean = None
            rstd = _rsqrt(kb, divf(kb, ss, fc(kb, float(count), ct)), eps, ct)
        else:
            mean, var = _mean_var(kb, inner, load, ct, count)
            rstd = _rsqrt(kb, var, eps, ct)
        stat_idx = list(outer) + [kb.idx(0)] * len(inner)
        if len(outs) > 1 and outs[1] is not None:
            store_c(kb, mean, outs[1], stat_idx, etype(op.outputs[1]))
        if len(outs) > 2:
            store_c(kb, rstd, outs[2], stat_idx, etype(op.outputs[2]))
        with kb.loops(inner) as ivs:
            idx = list(outer) + list(ivs)
            xv = load(ivs)
            v = mulf(kb, xv if rms else subf(kb, xv, mean), rstd)
            v = mulf(kb, v, _ld(kb, ins[1], broadcast_index(kb, shape(ins[1]), idx), types[1], ct))
            if len(ins) > 2:
                v = addf(kb, v, _ld(kb, ins[2], broadcast_index(kb, shape(ins[2]), idx), types[2], ct))
            store_c(kb, v, outs[0], idx, t)


@kernel("instance_normalization", "group_normalization")
def group_norm(kb: KernelBuilder, ins, outs, op) -> None:
    """Instance norm = group norm with one channel per group; scale and bias per channel."""
    x, scale, bias = ins
    xs = shape(x)
    t = etype(op.inputs[0])
    ct = _ct(op)
    types = [etype(v) for v in op.inputs]
    n, c, sp = xs[0], xs[1], xs[2:]
    groups = op.attr("num_groups") if op.name == "tg.group_normalization" else c
    cg = c // groups
    eps = op.attr("epsilon")
    count = cg * prod(sp)
    with kb.loops([n, groups]) as (ni, gi):
        c0 = kb.mul(gi, cg)
        load = lambda ivs: _ld(kb, x, [ni, kb.add(c0, ivs[0])] + list(ivs[1:]), t, ct)  # noqa: E731
        mean, var = _mean_var(kb, [cg] + sp, load, ct, count)
        rstd = _rsqrt(kb, var, eps, ct)
        with kb.loop(0, cg) as cl:
            ch = kb.add(c0, cl)
            a = mulf(kb, rstd, _ld(kb, scale, [ch], types[1], ct))
            b = _ld(kb, bias, [ch], types[2], ct)
            with kb.loops(sp) as sivs:
                idx = [ni, ch] + list(sivs)
                v = addf(kb, mulf(kb, subf(kb, _ld(kb, x, idx, t, ct), mean), a), b)
                store_c(kb, v, outs[0], idx, t)


@kernel("lrn")
def lrn(kb: KernelBuilder, ins, outs, op) -> None:
    """y = x / (bias + alpha/size * sum of x^2 over channels [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta."""
    x = ins[0]
    xs = shape(x)
    t = etype(op.inputs[0])
    ct = _ct(op)
    size = op.attr("size")
    lo = (size - 1) // 2
    alpha, beta, bias = op.attr("alpha"), op.attr("beta"), op.attr("bias")
    z = fc(kb, 0.0, ct)
    with kb.loops(xs) as ivs:
        n, c, sp = ivs[0], ivs[1], ivs[2:]

        def body(kivs, accs):
            cc = kb.op(arith.SubiOp(kb.add(c, kivs[0]), kb.idx(lo)))
            ok = in_range(kb, cc, 0, xs[1])
            cl = kb.op(arith.MinSIOp(kb.op(arith.MaxSIOp(cc, kb.idx(0))), kb.idx(xs[1] - 1)))
            v = _ld(kb, x, [n, cl] + list(sp), t, ct)
            return [addf(kb, accs[0], sel(kb, ok, mulf(kb, v, v), z))]

        (ss,) = kb.fold([size], [z], body)
        den = addf(kb, fc(kb, bias, ct), mulf(kb, fc(kb, alpha / size, ct), ss))
        den = kb.op(math.PowFOp(den, fc(kb, beta, ct)))
        store_c(kb, divf(kb, _ld(kb, x, ivs, t, ct), den), outs[0], ivs, t)


@kernel("lp_normalization")
def lp_normalization(kb: KernelBuilder, ins, outs, op) -> None:
    x = ins[0]
    xs = shape(x)
    axis = op.attr("axis") % len(xs)
    p = op.attr("p")
    t = etype(op.inputs[0])
    ct = _ct(op)
    z = fc(kb, 0.0, ct)
    rows = [d for i, d in enumerate(xs) if i != axis]
    with kb.loops(rows) as ivs:
        at = lambda j: list(ivs[:axis]) + [j] + list(ivs[axis:])  # noqa: E731

        def body(fivs, accs):
            v = _ld(kb, x, at(fivs[0]), t, ct)
            return [addf(kb, accs[0], kb.op(math.AbsFOp(v)) if p == 1 else mulf(kb, v, v))]

        (s,) = kb.fold([xs[axis]], [z], body)
        nrm = s if p == 1 else kb.op(math.SqrtOp(s))
        is_zero = cmpf(kb, nrm, z, "oeq")
        inv = divf(kb, fc(kb, 1.0, ct), sel(kb, is_zero, fc(kb, 1.0, ct), nrm))
        with kb.loop(0, xs[axis]) as j:
            v = mulf(kb, _ld(kb, x, at(j), t, ct), inv)
            store_c(kb, sel(kb, is_zero, z, v), outs[0], at(j), t)


@kernel("mean_variance_normalization")
def mvn(kb: KernelBuilder, ins, outs, op) -> None:
    x = ins[0]
    xs = shape(x)
    r = len(xs)
    axes = sorted({a % r for a in op.attr("axes")})
    kept = [d for d in range(r) if d not in axes]
    t = etype(op.inputs[0])
    ct = _ct(op)
    count = prod(xs[a] for a in axes)
    with kb.loops([xs[d] for d in kept]) as kivs:
        def full(rivs):
            m = dict(zip(kept, kivs))
            m.update(zip(axes, rivs))
            return [m[d] for d in range(r)]

        mean, var = _mean_var(kb, [xs[a] for a in axes], lambda rivs: _ld(kb, x, full(rivs), t, ct), ct, count)
        den = addf(kb, kb.op(math.SqrtOp(var)), fc(kb, 1e-9, ct))
        with kb.loops([xs[a] for a in axes]) as rivs:
            idx = full(rivs)
            store_c(kb, divf(kb, subf(kb, _ld(kb, x, idx, t, ct), mean), den), outs[0], idx, t)
