"""Packed block floating point on the CPU: bfp.pack, bfp.unpack and bfp.matmul (Q·Kᵀ from packed K).

The layout is tensorc.quant.packing's: the blocked axis moves last, each block
is one biased exponent byte (0xFF: the block held NaN/inf) and the mantissas in
two's complement, 8 / wl per byte, the first in the low bits.

Bit-exact with the numpy reference by construction — every step is exact
integer or power-of-two arithmetic:

* amax by an unsigned max over |x| bit patterns (bits & 0x7FFFFFFF): NaN and
  inf sort above every finite value, so one compare (>= 0x7F800000) finds a
  non-finite block; the exponent field of amax is floor(log2 amax) + 127 for a
  normal amax, 0 for a subnormal one (then E = -127, the clamp) or zero (E = 0);
* m = clamp(round(x · 2^(wl-2-E)), ±(2^(wl-1)-1)) in f64, where the scaling is
  exact (2^-125..2^133 is an f64 normal) and the rounding is one roundeven
  (rne) or floor(|v| + 1/2) with the sign put back (rna) on the exact quotient;
* decoding is m · 2^(E-(wl-2)) in f64, rounded once to f32: exact, because
  every value of the format is an f32 (subnormals included), and m = 0 gives +0.

bfp.matmul decodes a tile of up to 64 columns of K [D, T] (blocks along D) into
a stack buffer and accumulates C[s, t0:t0+64] += A[s, d] · Kᵀ-tile[d, :] with t
innermost (contiguous, so LLVM vectorizes it): the f32 K never exists in the
arena, only D·64 floats on the stack. Its summation order (d = 0, 1, ...)
differs from the matmul kernels', so it matches them to rounding, not bitwise.
"""

from __future__ import annotations

from xdsl.dialects import arith, builtin as B, math

from ..kernel_builder import INDEX, KernelBuilder
from . import UnsupportedKernel, kernel
from .kit import scratch, sel, shape

I8, I32, I64, F32, F64 = B.i8, B.i32, B.i64, B.f32, B.f64
QNAN_BITS = 0x7FC00000
#: columns of K decoded per tile by bfp.matmul
TILE = 64


def _fmt(op):
    from tensorc.quant.packing import can_pack, per_byte
    from tensorc.quant import parse_format

    fmt = parse_format(op.attr("format"))
    if not can_pack(fmt):
        raise UnsupportedKernel(f"{op.where()}: no packed CPU kernel for {fmt.name}")
    return fmt, per_byte(fmt)


class _E:
    """Scalar integer/float helpers on one KernelBuilder."""

    def __init__(self, kb: KernelBuilder):
        self.kb = kb

    def i(self, v, t=I32):
        return self.kb.const(v, t)

    def op(self, o):
        return self.kb.op(o)

    def f64_pow2(self, e32):
        """2^e as f64 for an i32 exponent e in the normal range."""
        e = self.op(arith.ExtSIOp(e32, I64))
        bits = self.op(arith.ShLIOp(self.op(arith.AddiOp(e, self.i(1023, I64))), self.i(52, I64)))
        return self.op(arith.BitcastOp(bits, F64))


def _x_index(outer_ivs, j, axis):
    """Index into the unpacked tensor: the outer indices with the axis index inserted at `axis`."""
    return list(outer_ivs[:axis]) + [j] + list(outer_ivs[axis:])


# ---------------------------------------------------------------------------
# bfp.pack
# ---------------------------------------------------------------------------
@kernel("bfp.pack")
def pack(kb: KernelBuilder, ins, outs, op) -> None:
    fmt, per = _fmt(op)
    x, p = ins[0], outs[0]
    xs = shape(x)
    axis = op.attr("axis") % len(xs)
    L, n, wl = xs[axis], fmt.block, fmt.mantissa_bits
    outer = xs[:axis] + xs[axis + 1:]
    bpb = shape(p)[-1]
    e = _E(kb)
    full, tail = divmod(L, n)
    with kb.loops(outer) as ivs:
        if full:
            with kb.loop(0, full) as b:
                _pack_block(kb, e, x, p, ivs, b, kb.mul(b, n), n, axis, fmt, per, bpb)
        if tail:
            _pack_block(kb, e, x, p, ivs, kb.idx(full), kb.idx(full * n), tail, axis, fmt, per, bpb)


def _pack_block(kb, e: _E, x, p, ivs, b, j0, count: int, axis: int, fmt, per: int, bpb: int) -> None:
    """One block of `count` (static) values starting at axis index j0."""
    wl = fmt.mantissa_bits

    def load(j):
        return kb.load(x, _x_index(ivs, kb.add(j0, j) if not isinstance(j, int) else kb.add(j0, j), axis))

    # amax as bits: unsigned max of |x| patterns
    (amax,) = kb.fold([count], [e.i(0)], lambda jv, acc: [e.op(arith.MaxUIOp(acc[0], e.op(arith.AndIOp(
        e.op(arith.BitcastOp(load(jv[0]), I32)), e.i(0x7FFFFFFF)))))])
    nonfinite = e.op(arith.CmpiOp(amax, e.i(0x7F800000), "uge"))
    field = e.op(arith.ShRUIOp(amax, e.i(23)))
    E = e.op(arith.MaxSIOp(e.op(arith.SubiOp(field, e.i(127))), e.i(-127)))
    E = sel(kb, e.op(arith.CmpiOp(amax, e.i(0), "eq")), e.i(0), E)
    E = sel(kb, nonfinite, e.i(0), E)
    code = sel(kb, nonfinite, e.i(0xFF), e.op(arith.AddiOp(E, e.i(127))))
    kb.store(e.op(arith.TruncIOp(code, I8)), p, list(ivs) + [b, kb.idx(0)])
    scale = e.f64_pow2(e.op(arith.SubiOp(e.i(wl - 2), E)))
    mmax = float(fmt.mmax)
    mask = (1 << wl) - 1

    def mantissa(j):
        v = e.op(arith.MulfOp(e.op(arith.ExtFOp(load(j), F64)), scale))
        if fmt.rounding == "rne":
            r = e.op(math.RoundEvenOp(v))
        else:
            r = e.op(math.CopySignOp(e.op(math.FloorOp(e.op(arith.AddfOp(e.op(math.AbsFOp(v)), kb.const(0.5, F64))))), v))
        r = e.op(arith.MinimumfOp(e.op(arith.MaximumfOp(r, kb.const(-mmax, F64))), kb.const(mmax, F64)))
        m = sel(kb, nonfinite, e.i(0), e.op(arith.FPToSIOp(r, I32)))
        return e.op(arith.AndIOp(m, e.i(mask)))

    def byte(js):
        acc = None
        for t, j in enumerate(js):
            u = mantissa(j)
            if t:
                u = e.op(arith.ShLIOp(u, e.i(wl * t)))
            acc = u if acc is None else e.op(arith.OrIOp(acc, u))
        return e.op(arith.TruncIOp(acc, I8))

    nfull, rest = divmod(count, per)
    if nfull:
        with kb.loop(0, nfull) as jb:
            base = kb.mul(jb, per)
            kb.store(byte([kb.add(base, t) for t in range(per)]), p, list(ivs) + [b, kb.add(jb, 1)])
    if rest:
        kb.store(byte([kb.idx(nfull * per + t) for t in range(rest)]), p, list(ivs) + [b, kb.idx(1 + nfull)])
    for k in range(1 + nfull + (1 if rest else 0), bpb):  # bytes of a short block's missing values
        kb.store(kb.const(0, I8), p, list(ivs) + [b, kb.idx(k)])


# ---------------------------------------------------------------------------
# decoding (bfp.unpack, bfp.matmul)
# ---------------------------------------------------------------------------
def _decode_block(kb, e: _E, p, pidx, count: int, fmt, per: int, put) -> None:
    """Decode the first `count` (static) values of the block at p[*pidx, :]; put(j, value_f32)."""
    wl = fmt.mantissa_bits
    code = e.op(arith.ExtUIOp(kb.load(p, list(pidx) + [kb.idx(0)]), I32))
    nan = e.op(arith.CmpiOp(code, e.i(0xFF), "eq"))
    scale = e.f64_pow2(e.op(arith.SubiOp(code, e.i(127 + wl - 2))))
    qnan = e.op(arith.BitcastOp(e.i(QNAN_BITS), F32))
    shift_up = 32 - wl

    def value(byte32, t):
        u = e.op(arith.ShRUIOp(byte32, e.i(wl * t))) if t else byte32
        m = e.op(arith.ShRSIOp(e.op(arith.ShLIOp(u, e.i(shift_up))), e.i(shift_up)))  # sign-extend wl bits
        v = e.op(arith.TruncFOp(e.op(arith.MulfOp(e.op(arith.SIToFPOp(m, F64)), scale)), F32))
        return sel(kb, nan, qnan, v)

    def byte_at(k):
        return e.op(arith.ExtUIOp(kb.load(p, list(pidx) + [k]), I32))

    nfull, rest = divmod(count, per)
    if nfull:
        with kb.loop(0, nfull) as jb:
            by = byte_at(kb.add(jb, 1))
            base = kb.mul(jb, per)
            for t in range(per):
                put(kb.add(base, t), value(by, t))
    if rest:
        by = byte_at(kb.idx(1 + nfull))
        for t in range(rest):
            put(kb.idx(nfull * per + t), value(by, t))


def _decode_axis(kb, e: _E, p, outer_idx, L: int, fmt, per: int, put) -> None:
    """Decode the L values of one blocked vector p[*outer_idx, :, :]; put(j, value) with j in [0, L)."""
    n = fmt.block
    full, tail = divmod(L, n)
    if full:
        with kb.loop(0, full) as b:
            j0 = kb.mul(b, n)
            _decode_block(kb, e, p, list(outer_idx) + [b], n, fmt, per, lambda j, v: put(kb.add(j0, j), v))
    if tail:
        j0 = kb.idx(full * n)
        _decode_block(kb, e, p, list(outer_idx) + [kb.idx(full)], tail, fmt, per, lambda j, v: put(kb.add(j0, j), v))


@kernel("bfp.unpack")
def unpack(kb: KernelBuilder, ins, outs, op) -> None:
    fmt, per = _fmt(op)
    p, y = ins[0], outs[0]
    ys = shape(y)
    axis = op.attr("axis") % len(ys)
    outer = ys[:axis] + ys[axis + 1:]
    e = _E(kb)
    with kb.loops(outer) as ivs:
        _decode_axis(kb, e, p, ivs, ys[axis], fmt, per, lambda j, v: kb.store(v, y, _x_index(ivs, j, axis)))


@kernel("bfp.matmul")
def matmul(kb: KernelBuilder, ins, outs, op) -> None:
    fmt, per = _fmt(op)
    a, p = ins[0], ins[1]
    c = outs[0]
    As, Ps, Cs = shape(a), shape(p), shape(c)
    S, D = As[-2], As[-1]
    T = Ps[-3]
    batch = Cs[:-2]
    e = _E(kb)
    width = min(T, TILE)
    kt = scratch(kb, F32, [D, width])  # decoded K tile [d, t]
    zero = kb.const(0.0, F32)

    def bidx(ivs, dims):
        """Broadcast batch index into an operand with batch dims `dims` (right-aligned)."""
        off = len(batch) - len(dims)
        return [kb.idx(0) if d == 1 else ivs[off + i] for i, d in enumerate(dims)]

    def tile(ivs, t0, w: int):
        pb = bidx(ivs, Ps[:-3])
        ab = bidx(ivs, As[:-2])
        with kb.loop(0, w) as tt:
            t = kb.add(t0, tt)
            _decode_axis(kb, e, p, pb + [t], D, fmt, per, lambda d, v: kb.store(v, kt, [d, tt]))
        with kb.loop(0, S) as s:
            with kb.loop(0, w) as tt:
                kb.store(zero, c, list(ivs) + [s, kb.add(t0, tt)])
            with kb.loop(0, D) as d:
                av = kb.load(a, ab + [s, d])
                with kb.loop(0, w) as tt:
                    ci = list(ivs) + [s, kb.add(t0, tt)]
                    acc = kb.load(c, ci)
                    kb.store(e.op(arith.AddfOp(acc, e.op(arith.MulfOp(av, kb.load(kt, [d, tt]))))), c, ci)

    full, tail = divmod(T, width)
    with kb.loops(batch) as ivs:
        if full:
            with kb.loop(0, full) as it:
                tile(ivs, kb.mul(it, width), width)
        if tail:
            tile(ivs, kb.idx(full * width), tail)


__all__ = ["pack", "unpack", "matmul", "TILE"]
