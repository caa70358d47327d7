"""`tg.matmul_nbits` on the CPU: a fused dequantize + dot SIMD kernel (the multiply-add baseline).

y[m, n] = Σ_k x[m, k] · s[n, β(k)] · (q[n, k] − z[n, β(k)]) is computed per quantization group β as

    y[m, n] += s[n, β] · (Σ_{k∈β} q[n, k] · x[m, k] − z[n, β] · X[m, β]),   X[m, β] = Σ_{k∈β} x[m, k]

so the inner loop is one f32 FMA per weight on the *code* (an exact small integer), and the scale
and zero point are applied once per group. Lanes run along n (16 output rows per vector), so no
horizontal sums are needed.

Layout (compile-time `prepack` of the constant codes, scales and zero points): row tiles of
NR = 64 rows; within a tile, per group β, W = ⌈G / c⌉ 32-bit words per row, each holding
c = ⌊32 / b⌋ consecutive codes (code t at bits b·t; 32, 16, 10, 8 codes for b = 1..4), stored
`words[tile, β, w, row]`, so one 64-byte load brings the same word of 16 rows. Per code:
shift, mask, int→float, FMA (the shift/mask/convert are shared by the MT activation rows of a
GEMM tile). Scales and zero points are stored `[tile, β, row]`. Rows past N have code 0 and
scale 0 and are never stored. The group sums X are computed once per call (a scratch buffer).

Threads: `parallel_for` over the row tiles. Results do not depend on the thread count. The
order of the sums differs from the reference (dequantize, then a matmul), so results agree to
rounding, not bit for bit.

Codes that are not compile-time constants take the plain kernel (`matmul_nbits` below): scalar
loops that unpack the bit stream, dequantize and accumulate, for every bit width.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, builtin as B

from tensorc.dialects.cpu import VCastOp, ViewOp
from tensorc.dialects.tg import ConstantOp, WeightOp
from tensorc.quant.lowbit import unpack_codes

from . import kernel
from .lowbit_isa import current_isa
from .microkernel import PerfKernel, perf_kernel, store_vec

LANES = 16
NV = 4  # vectors per row tile
NR = NV * LANES  # rows per tile


def codes_per_word(bits: int) -> int:
    return 32 // bits


def _is_const(v) -> bool:
    return isinstance(v.owner, (WeightOp, ConstantOp))


def _dims(op):
    k, n, bits, group = (int(op.attr(a)) for a in ("K", "N", "bits", "block_size"))
    m = 1
    for d in op.inputs[0].type.get_shape()[:-1]:
        m *= d
    return m, k, n, bits, group


def pack_words(codes: np.ndarray, k: int, bits: int, group: int) -> np.ndarray:
    """Packed codes uint8[N, ⌈K·b/8⌉] → int32 words[NT, K/G, W, NR] (see the module doc)."""
    q = unpack_codes(codes, k, bits).astype(np.uint32)  # [N, K]
    n = q.shape[0]
    c = codes_per_word(bits)
    nb, wpb = k // group, -(-group // c)
    nt = -(-n // NR)
    padded = np.zeros((nt * NR, nb, wpb * c), np.uint32)
    padded[:n, :, :group] = q.reshape(n, nb, group)
    slots = padded.reshape(nt * NR, nb, wpb, c)
    words = np.zeros((nt * NR, nb, wpb), np.uint32)
    for t in range(c):
        words |= slots[:, :, :, t] << np.uint32(bits * t)
    return np.ascontiguousarray(words.reshape(nt, NR, nb, wpb).transpose(0, 2, 3, 1)).view(np.int32)


def pack_rows(a: np.ndarray) -> np.ndarray:
    """Per-row, per-group f32 [N, NB] → [NT, NB, NR] (rows past N: 0)."""
    a = np.asarray(a, np.float32)
    n, nb = a.shape
    nt = -(-n // NR)
    padded = np.zeros((nt * NR, nb), np.float32)
    padded[:n] = a
    return np.ascontiguousarray(padded.reshape(nt, NR, nb).transpose(0, 2, 1))


@perf_kernel("matmul_nbits")
class MatMulNBitsKernel(PerfKernel):
    name = "matmul_nbits"

    def applicable(self, op) -> bool:
        x_t, y_t = op.inputs[0].type, op.outputs[0].type
        return (all(_is_const(v) for v in op.inputs[1:]) and x_t.element_type == B.f32
                and y_t.element_type == B.f32 and len(x_t.get_shape()) >= 1)

    def accepts_epilogue(self, op) -> bool:
        return self.applicable(op) and len(op.outputs[0].type.get_shape()) == 2

    def prepack(self, op, index, array):
        _, k, n, bits, group = _dims(op)
        if index == 1:
            return pack_words(array, k, bits, group), ("words",)
        if index in (2, 3):
            return pack_rows(array), ("rows",)
        return None

    def scratch(self, op):
        m, k, _, _, group = _dims(op)
        return [B.MemRefType(B.f32, [m, k // group])]  # X[m, β]: the group sums of x

    def emit(self, kb, ins, outs, op, packed, epilogue):
        if packed.keys() != {1, 2, 3}:  # the lowering packs every constant operand
            raise AssertionError("matmul_nbits: operands not pre-packed")
        # `--cpu generic` has no FMA instruction: llvm.fma becomes a libm call per lane there
        fused = current_isa().level != "generic"

        def fma(kb, a, b, c):
            return kb.fma(a, b, c) if fused else kb.addf(kb.mulf(a, b), c)

        m, k, n, bits, group = _dims(op)
        nb = k // group
        c = codes_per_word(bits)
        full_words, tail_codes = divmod(group, c)
        nt = -(-n // NR)
        vt = kb.vt(B.f32)
        it = kb.vt(B.i32)
        x = kb.op(ViewOp(ins[0], 0, B.MemRefType(B.f32, [m, k])))
        words, scales, zeros = ins[1], ins[2], ins[3]
        out = outs[0]
        y2 = out if len(out.type.get_shape()) == 2 else kb.op(ViewOp(out, 0, B.MemRefType(B.f32, [m, n])))
        xsum = outs[1]
        n_head = len(op.inputs)
        epi_bufs = dict(zip(epilogue.operands, ins[n_head:])) if epilogue is not None else {}
        out_shape = list(out.type.get_shape())

        # X[m, β] = Σ_{k∈β} x[m, k] (once per call)
        with kb.loops([m, nb]) as (mi, bi):
            k0 = kb.mul(bi, group)
            s = kb.fold([group], [kb.const(0.0, B.f32)],
                        lambda iv, a: [kb.addf(a[0], kb.load(x, [mi, kb.add(k0, iv[0])]))])[0]
            kb.store(s, xsum, [mi, bi])

        mt_max = 2 if m >= 2 else 1
        bufs = [x, words, scales, zeros, xsum, y2] + list(epi_bufs.values())

        def body(kb, bufs, lo, hi):
            x, words, scales, zeros, xsum, y2 = bufs[:6]
            ebufs = dict(zip(epi_bufs.keys(), bufs[6:]))
            mask_bits = kb.vconst((1 << bits) - 1, it)
            shift_b = kb.vconst(bits, it)
            with kb.loop(lo, hi) as tile:
                n0 = kb.mul(tile, NR)

                def rows(m0, mt: int):
                    """y[m0 : m0+mt, tile rows] (MT activation rows share each decoded code)."""
                    split = 2 if mt == 1 else 1  # two accumulator sets: the FMA latency
                    nacc = mt * NV

                    def block(bi, ys):
                        kbase = kb.mul(bi, group)

                        def codes_of(w, ncodes: int, accs):
                            accs = list(accs)
                            wv = [kb.vload(words, [tile, bi, w, kb.idx(v * LANES)], it) for v in range(NV)]
                            kw = kb.add(kbase, kb.mul(w, c))
                            for t in range(ncodes):
                                qf = []
                                for v in range(NV):
                                    if t:  # shift by b per code: one shift constant, not ⌊32/b⌋
                                        wv[v] = kb.op(arith.ShRUIOp(wv[v], shift_b))
                                    q = wv[v]
                                    if bits * (t + 1) < 32:
                                        q = kb.op(arith.AndIOp(q, mask_bits))
                                    qf.append(kb.op(VCastOp(q, "sitofp", B.f32)))
                                kk = kb.add(kw, t)
                                for r in range(mt):
                                    xv = kb.bcast(kb.load(x, [kb.add(m0, r), kk]), vt)
                                    base = (t % split) * nacc + r * NV
                                    for v in range(NV):
                                        accs[base + v] = fma(kb, qf[v], xv, accs[base + v])
                            return accs

                        zero = kb.vconst(0.0, vt)
                        accs = [zero] * (nacc * split)
                        if full_words:
                            accs = kb.fold([full_words], accs, lambda iv, a: codes_of(iv[0], c, a))
                        if tail_codes:
                            accs = codes_of(kb.idx(full_words), tail_codes, accs)
                        if split > 1:
                            accs = [kb.addf(a, b) for a, b in zip(accs[:nacc], accs[nacc:])]
                        ys = list(ys)
                        for v in range(NV):
                            j = kb.idx(v * LANES)
                            sv = kb.vload(scales, [tile, bi, j], vt)
                            zv = kb.vload(zeros, [tile, bi, j], vt)
                            for r in range(mt):
                                xs = kb.bcast(kb.load(xsum, [kb.add(m0, r), bi]), vt)
                                dot = kb.op(arith.SubfOp(accs[r * NV + v], kb.mulf(zv, xs)))
                                ys[r * NV + v] = fma(kb, sv, dot, ys[r * NV + v])
                        return ys

                    ys = kb.fold([nb], [kb.vconst(0.0, vt)] * nacc, lambda iv, a: block(iv[0], a))

                    def store(ncols: int):
                        for r in range(mt):
                            mi = kb.add(m0, r)
                            for v in range(-(-ncols // LANES)):
                                mask = None
                                if (v + 1) * LANES > ncols:
                                    mask = kb.lane_mask(0, ncols - v * LANES, LANES)
                                col = kb.add(n0, v * LANES)
                                val = ys[r * NV + v]
                                if epilogue is not None:
                                    val = epilogue.apply(kb, val, ebufs, [mi, col], out_shape, mask, vt)
                                store_vec(kb, val, y2, [mi, col], mask)

                    tail = n - (nt - 1) * NR
                    if tail == NR:
                        store(NR)
                    elif nt == 1:
                        store(tail)
                    else:
                        with kb.if_(kb.cmpi(tile, nt - 1, "eq")) as orelse:
                            store(tail)
                            with orelse():
                                store(NR)

                full = m // mt_max
                if full:
                    with kb.loop(0, full) as mb:
                        rows(kb.mul(mb, mt_max), mt_max)
                if m % mt_max:
                    rows(kb.idx(full * mt_max), m % mt_max)

        kb.parallel_for(nt, bufs, body, work=2 * m * n * k)


@kernel("matmul_nbits")
def matmul_nbits(kb, ins, outs, op) -> None:
    """Codes known only at run time: unpack each code from the row's bit stream, dequantize, accumulate."""
    m, k, n, bits, group = _dims(op)
    rb = -(-k * bits // 8)
    x = kb.op(ViewOp(ins[0], 0, B.MemRefType(B.f32, [m, k])))
    codes, scales, zeros = ins[1], ins[2], ins[3]
    y = kb.op(ViewOp(outs[0], 0, B.MemRefType(B.f32, [m, n])))
    i32 = B.i32
    mask = kb.const((1 << bits) - 1, i32)

    def byte(row, i):  # codes[row, i] as i32, 0 past the row's end (a 3-bit code may end in the last byte)
        inside = kb.cmpi(i, rb, "ult")
        safe = kb.op(arith.SelectOp(inside, i, kb.idx(rb - 1)))
        v = kb.op(arith.ExtUIOp(kb.load(codes, [row, safe]), i32))
        return kb.op(arith.SelectOp(inside, v, kb.const(0, i32)))

    with kb.loops([m, n]) as (mi, ni):
        def step(iv, acc):
            kk = iv[0]
            bit = kb.mul(kk, bits)
            lo = kb.op(arith.ShRUIOp(bit, kb.idx(3)))
            sh = kb.op(arith.IndexCastOp(kb.op(arith.AndIOp(bit, kb.idx(7))), i32))
            word = kb.op(arith.OrIOp(byte(ni, lo), kb.op(arith.ShLIOp(byte(ni, kb.add(lo, 1)), kb.const(8, i32)))))
            q = kb.op(arith.AndIOp(kb.op(arith.ShRUIOp(word, sh)), mask))
            g = kb.divu(kk, group)
            w = kb.mulf(kb.op(arith.SubfOp(kb.op(arith.UIToFPOp(q, B.f32)), kb.load(zeros, [ni, g]))),
                        kb.load(scales, [ni, g]))
            return [kb.addf(acc[0], kb.mulf(kb.load(x, [mi, kk]), w))]

        kb.store(kb.fold([k], [kb.const(0.0, B.f32)], step)[0], y, [mi, ni])
