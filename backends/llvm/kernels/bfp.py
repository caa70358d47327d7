"""Packed block floating point on the CPU: bfp.pack, bfp.unpack and bfp.matmul (Q·Kᵀ from packed K).

The layout is tensorc.quant.packing's: the blocked axis is replaced by
[nblocks, bytes]; each block is one biased exponent byte (0xFF: the block held
NaN/inf) and the mantissas in two's complement, 8 / wl per byte, the first in
the low bits. Axes after the blocked one (T of Kᵀ [.., D, T]) stay innermost,
so the kernels walk them in their innermost loop: loads and stores are
contiguous and LLVM vectorizes them (with the blocked axis last, they go block
by block instead).

Bit-exact with the numpy reference by construction — every step is exact
integer or power-of-two arithmetic:

* amax by an unsigned max over |x| bit patterns (bits & 0x7FFFFFFF): NaN and
  inf sort above every finite value, so one compare (>= 0x7F800000) finds a
  non-finite block; the exponent field of amax is floor(log2 amax) + 127 for a
  normal amax, 0 for a subnormal one (then E = -127, the clamp) or zero (E = 0);
* m = clamp(round(x · 2^(wl-2-E)), ±(2^(wl-1)-1)) in f64, where the scaling is
  exact (2^-125..2^133 is an f64 normal) and the rounding is one roundeven
  (rne) or floor(|v| + 1/2) with the sign put back (rna) on the exact quotient;
* decoding is m · 2^(E-(wl-2)) in f32 with the power of two built from bits
  (subnormal below 2^-126): exact, because every value of the format is an
  f32 (subnormals included), and m = 0 gives +0.

bfp.matmul decodes a tile of up to 64 tokens of K [D, T] into a stack buffer
[D, 64] and accumulates C[s, t0:t0+64] += A[s, d] · tile[d, :] with t
innermost: the f32 K never exists in the arena, only D·64 floats on the stack.
Its summation order (d = 0, 1, ...) differs from the matmul kernels', so it
matches them to rounding, not bitwise.
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


def _tiles(kb, total: int, width: int, body) -> None:
    """body(start, w) over [0, total) in tiles of `width` (a static tail tile last)."""
    full, tail = divmod(total, width)
    if full:
        with kb.loop(0, full) as it:
            body(kb.mul(it, width), width)
    if tail:
        body(kb.idx(full * width), tail)


def _blocks(kb, L: int, n: int, body) -> None:
    """body(b, j0, count) for every block of the axis (a static short last block)."""
    full, tail = divmod(L, n)
    if full:
        with kb.loop(0, full) as b:
            body(b, kb.mul(b, n), n)
    if tail:
        body(kb.idx(full), kb.idx(full * n), tail)


def _views(kb, x_shape, axis, x, p):
    """x as [lead, L, R] and its packed form as [lead, nb, bytes, R]."""
    from .kit import prod, reshape_view

    lead, L, R = prod(x_shape[:axis]), x_shape[axis], prod(x_shape[axis + 1:])
    ps = shape(p)
    return (reshape_view(kb, x, [lead, L, R]), reshape_view(kb, p, [lead, ps[axis], ps[axis + 1], R]), lead, L, R)


# ---------------------------------------------------------------------------
# bfp.pack
# ---------------------------------------------------------------------------
class _Encoder:
    """The shared exponent and the mantissas of one block, from |x| bit patterns and f64 scaling."""

    def __init__(self, kb: KernelBuilder, fmt, per: int):
        self.kb, self.e, self.fmt, self.per = kb, _E(kb), fmt, per
        self.wl = fmt.mantissa_bits

    def abs_bits(self, xv):
        e = self.e
        return e.op(arith.AndIOp(e.op(arith.BitcastOp(xv, I32)), e.i(0x7FFFFFFF)))

    def code(self, amax):
        """Exponent byte (i32) of a block from its largest |x| pattern."""
        e, kb = self.e, self.kb
        nonfinite = e.op(arith.CmpiOp(amax, e.i(0x7F800000), "uge"))
        field = e.op(arith.ShRUIOp(amax, e.i(23)))
        E = e.op(arith.MaxSIOp(e.op(arith.SubiOp(field, e.i(127))), e.i(-127)))  # subnormal amax: -127
        E = sel(kb, e.op(arith.CmpiOp(amax, e.i(0), "eq")), e.i(0), E)  # all-zero block: 0
        return sel(kb, nonfinite, e.i(0xFF), e.op(arith.AddiOp(E, e.i(127))))

    def scale(self, code):
        """(non-finite flag, 2^(wl-2-E) as f64) from the exponent byte."""
        e = self.e
        nonfinite = e.op(arith.CmpiOp(code, e.i(0xFF), "eq"))
        E = sel(self.kb, nonfinite, e.i(0), e.op(arith.SubiOp(code, e.i(127))))
        return nonfinite, e.f64_pow2(e.op(arith.SubiOp(e.i(self.wl - 2), E)))

    def field(self, xv, nonfinite, scale, t: int):
        """The mantissa of x in two's complement wl bits, shifted to field t of its byte (i32)."""
        e, kb, fmt = self.e, self.kb, self.fmt
        v = e.op(arith.MulfOp(e.op(arith.ExtFOp(xv, F64)), scale))
        if fmt.rounding == "rne":
            r = e.op(math.RoundEvenOp(v))
        else:
            r = e.op(math.CopySignOp(e.op(math.FloorOp(e.op(arith.AddfOp(e.op(math.AbsFOp(v)), kb.const(0.5, F64))))), v))
        mmax = float(fmt.mmax)
        r = e.op(arith.MinimumfOp(e.op(arith.MaximumfOp(r, kb.const(-mmax, F64))), kb.const(mmax, F64)))
        m = sel(kb, nonfinite, e.i(0), e.op(arith.FPToSIOp(r, I32)))
        u = e.op(arith.AndIOp(m, e.i((1 << self.wl) - 1)))
        return e.op(arith.ShLIOp(u, e.i(self.wl * t))) if t else u

    def byte(self, fields):
        acc = fields[0]
        for f in fields[1:]:
            acc = self.e.op(arith.OrIOp(acc, f))
        return self.e.op(arith.TruncIOp(acc, I8))


@kernel("bfp.pack")
def pack(kb: KernelBuilder, ins, outs, op) -> None:
    """Blocked axis last: block by block along it. Otherwise the axes after it are columns, taken in
    tiles of up to 64 with the column loop innermost (contiguous loads and stores, vectorizable)."""
    fmt, per = _fmt(op)
    xs = shape(ins[0])
    axis = op.attr("axis") % len(xs)
    x, p, lead, L, R = _views(kb, xs, axis, ins[0], outs[0])
    enc = _Encoder(kb, fmt, per)
    e = enc.e
    bpb = shape(outs[0])[axis + 1]
    zero8 = kb.const(0, I8)

    if R == 1:
        def block(i, b, j0, count):
            def xv(j):
                return kb.load(x, [i, kb.add(j0, j), kb.idx(0)])

            (amax,) = kb.fold([count], [e.i(0)], lambda jv, acc: [e.op(arith.MaxUIOp(acc[0], enc.abs_bits(xv(jv[0]))))])
            code = enc.code(amax)
            kb.store(e.op(arith.TruncIOp(code, I8)), p, [i, b, kb.idx(0), kb.idx(0)])
            nonfinite, scale = enc.scale(code)
            nfull, rest = divmod(count, per)
            if nfull:
                with kb.loop(0, nfull) as jb:
                    base = kb.mul(jb, per)
                    by = enc.byte([enc.field(xv(kb.add(base, t)), nonfinite, scale, t) for t in range(per)])
                    kb.store(by, p, [i, b, kb.add(jb, 1), kb.idx(0)])
            if rest:
                by = enc.byte([enc.field(xv(kb.idx(nfull * per + t)), nonfinite, scale, t) for t in range(rest)])
                kb.store(by, p, [i, b, kb.idx(1 + nfull), kb.idx(0)])
            for k in range(1 + -(-count // per), bpb):  # bytes of a short block's missing values
                kb.store(zero8, p, [i, b, kb.idx(k), kb.idx(0)])

        with kb.loop(0, lead) as i:
            _blocks(kb, L, fmt.block, lambda b, j0, count: block(i, b, j0, count))
        return

    width = min(R, TILE)
    amax_s = scratch(kb, I32, [width])

    def block(i, r0, w, b, j0, count):
        with kb.loop(0, w) as c:
            kb.store(e.i(0), amax_s, [c])
        with kb.loop(0, count) as j:
            with kb.loop(0, w) as c:
                a = enc.abs_bits(kb.load(x, [i, kb.add(j0, j), kb.add(r0, c)]))
                kb.store(e.op(arith.MaxUIOp(kb.load(amax_s, [c]), a)), amax_s, [c])
        with kb.loop(0, w) as c:
            code = enc.code(kb.load(amax_s, [c]))
            kb.store(code, amax_s, [c])  # the scratch now holds the codes
            kb.store(e.op(arith.TruncIOp(code, I8)), p, [i, b, kb.idx(0), kb.add(r0, c)])

        def byte_row(k, j_first, nvals):
            with kb.loop(0, w) as c:
                nonfinite, scale = enc.scale(kb.load(amax_s, [c]))
                fields = [enc.field(kb.load(x, [i, kb.add(j_first, t), kb.add(r0, c)]), nonfinite, scale, t)
                          for t in range(nvals)]
                kb.store(enc.byte(fields), p, [i, b, k, kb.add(r0, c)])

        nfull, rest = divmod(count, per)
        if nfull:
            with kb.loop(0, nfull) as jb:
                byte_row(kb.add(jb, 1), kb.add(j0, kb.mul(jb, per)), per)
        if rest:
            byte_row(kb.idx(1 + nfull), kb.add(j0, nfull * per), rest)
        for k in range(1 + -(-count // per), bpb):
            with kb.loop(0, w) as c:
                kb.store(zero8, p, [i, b, kb.idx(k), kb.add(r0, c)])

    with kb.loop(0, lead) as i:
        _tiles(kb, R, width, lambda r0, w: _blocks(kb, L, fmt.block, lambda b, j0, count: block(i, r0, w, b, j0, count)))


# ---------------------------------------------------------------------------
# decoding (bfp.unpack, bfp.matmul)
# ---------------------------------------------------------------------------
class _Decoder:
    """m · 2^(E - (wl - 2)) as f32 (NaN blocks: the quiet NaN), in f32 arithmetic: the power of two
    is built from bits (a subnormal one below 2^-126) and the product is exact because every value
    of the format is an f32."""

    def __init__(self, kb: KernelBuilder, fmt, per: int):
        self.kb, self.e, self.fmt, self.per = kb, _E(kb), fmt, per
        self.wl = fmt.mantissa_bits

    def block_scale(self, code_i8):
        """(nan flag, f32 scale) of a block from its exponent byte."""
        e = self.e
        code = e.op(arith.ExtUIOp(code_i8, I32))
        nan = e.op(arith.CmpiOp(code, e.i(0xFF), "eq"))
        k = e.op(arith.SubiOp(code, e.i(127 + self.wl - 2)))  # -133 .. 128
        normal = e.op(arith.ShLIOp(e.op(arith.AddiOp(k, e.i(127))), e.i(23)))
        sub = e.op(arith.ShLIOp(e.i(1), e.op(arith.AddiOp(k, e.i(149)))))
        bits = sel(self.kb, e.op(arith.CmpiOp(k, e.i(-126), "slt")), sub, normal)
        return nan, e.op(arith.BitcastOp(bits, F32))

    def value(self, byte_i8, t: int, nan, scale):
        """Mantissa t of a byte, decoded."""
        e, wl = self.e, self.wl
        u = e.op(arith.ExtUIOp(byte_i8, I32))
        up = 32 - wl - wl * t  # move the field to the top, then shift down arithmetically: sign-extended
        if up:
            u = e.op(arith.ShLIOp(u, e.i(up)))
        m = e.op(arith.ShRSIOp(u, e.i(32 - wl)))
        v = e.op(arith.MulfOp(e.op(arith.SIToFPOp(m, F32)), scale))
        return sel(self.kb, nan, e.op(arith.BitcastOp(e.i(QNAN_BITS), F32)), v)

    def decode(self, L: int, width, at, put) -> None:
        """Decode `width` blocked vectors side by side (width None: one vector, no column loop):
        at(b, k, c) indexes byte k of block b of vector c; put(j, c, value) stores value j of it.
        The column loop is innermost, so loads and stores run along it."""
        kb, per = self.kb, self.per

        def group(b, k, j_first, nvals):
            def body(c):
                nan, scale = self.block_scale(kb.load(*at(b, kb.idx(0), c)))
                by = kb.load(*at(b, k, c))
                for t in range(nvals):
                    put(kb.add(j_first, t), c, self.value(by, t, nan, scale))

            if width is None:
                body(None)
            else:
                with kb.loop(0, width) as c:
                    body(c)

        def block(b, j0, count):
            nfull, rest = divmod(count, per)
            if nfull:
                with kb.loop(0, nfull) as jb:
                    group(b, kb.add(jb, 1), kb.add(j0, kb.mul(jb, per)), per)
            if rest:
                group(b, kb.idx(1 + nfull), kb.add(j0, nfull * per), rest)

        _blocks(kb, L, self.fmt.block, block)


@kernel("bfp.unpack")
def unpack(kb: KernelBuilder, ins, outs, op) -> None:
    """Blocked axis last: vector after vector. Otherwise along the axes after it (contiguous)."""
    fmt, per = _fmt(op)
    ys = shape(outs[0])
    axis = op.attr("axis") % len(ys)
    y, p, lead, L, R = _views(kb, ys, axis, outs[0], ins[0])
    dec = _Decoder(kb, fmt, per)
    with kb.loop(0, lead) as i:
        if R == 1:
            dec.decode(L, None, lambda b, k, c: (p, [i, b, k, kb.idx(0)]),
                       lambda j, c, v: kb.store(v, y, [i, j, kb.idx(0)]))
        else:
            dec.decode(L, R, lambda b, k, c: (p, [i, b, k, c]), lambda j, c, v: kb.store(v, y, [i, j, c]))


@kernel("bfp.matmul")
def matmul(kb: KernelBuilder, ins, outs, op) -> None:
    fmt, per = _fmt(op)
    a, p = ins[0], ins[1]
    c = outs[0]
    As, Ps, Cs = shape(a), shape(p), shape(c)
    S, D = As[-2], As[-1]
    T = Ps[-1]
    batch = Cs[:-2]
    dec = _Decoder(kb, fmt, per)
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
        dec.decode(D, w, lambda b, k, tt: (p, pb + [b, k, kb.add(t0, tt)]), lambda d, tt, v: kb.store(v, kt, [d, tt]))
        with kb.loop(0, S) as s:
            with kb.loop(0, w) as tt:
                kb.store(zero, c, list(ivs) + [s, kb.add(t0, tt)])
            with kb.loop(0, D) as d:
                av = kb.load(a, ab + [s, d])
                with kb.loop(0, w) as tt:
                    ci = list(ivs) + [s, kb.add(t0, tt)]
                    acc = kb.load(c, ci)
                    kb.store(kb.op(arith.AddfOp(acc, kb.op(arith.MulfOp(av, kb.load(kt, [d, tt]))))), c, ci)

    with kb.loops(batch) as ivs:
        _tiles(kb, T, width, lambda t0, w: tile(ivs, t0, w))


__all__ = ["pack", "unpack", "matmul", "TILE"]
