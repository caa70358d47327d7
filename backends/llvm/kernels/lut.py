"""The `lut` dialect on the CPU: table precompute and the table-lookup matmul (docs/lut.md §2, §4).

**`lut.precompute`** (`precompute` below, a plain kernel): per activation row, for each group j
of 4 activations the 16 (or 8, `half`) signed sums as one vector of entries,
((c0·a0 + c1·a1) + c2·a2) + c3·a3 with the form's constant coefficient vectors — the reference's
order, so f32 tables are bit-identical. i8 tables first take each activation group's scale
ts = max_j (((|a0|+|a1|)+|a2|)+|a3|) / 127 (1.0 when 0), then round_half_even(T / ts) (an f32
division, as the reference), saturated to ±127.

**`lut.mpgemm`** (`MpGemmKernel`): two kernels.

- *Shuffle kernel* (i8 tables, x86 with AVX2 or AVX-512BW; T-MAC's design): the weights'
  bit-planes are repacked at compile time (`ShuffleLayout`) so that a 64-byte (32 on AVX2)
  load holds, for one table group j, the 4-bit indices of a chunk of rows: two indices per byte
  (low nibble: the chunk's first half of rows, high nibble: the second half), and within each
  16-byte lane the planes of a row in adjacent bytes. The group's 16-entry int8 table is
  broadcast to every 128-bit lane; `cpu.vshuffle_bytes` (vpshufb) looks up 64 indices at once.
  The planes are combined by the multiply-add that also widens: for b = 3, 4 one `vpdpbusd`
  with the per-byte plane weights (1, 2, 4, 8) (3 bits: a zero 4th plane) sums a row's planes
  straight into its i32 accumulator; for b = 2 `pmaddubsw` with (1, 2) gives L0 + 2·L1 in i16;
  b = 1 sign-extends the lookups to i16. i16 accumulators hold at most ⌊32767/((2^b−1)·127)⌋
  groups (86 for b = 2, 258 for b = 1) before they are widened into i32 — so the integer sums
  are exact, whatever the block size. Per block β (B = min(G, act_group) activations), the
  epilogue is the contract's, in f32: R = acc − z·S (`unsigned`) or (acc + (2^b−1−2z)·S)/2,
  y += (s·ts)·R, β increasing from 0.0 — with i8 tables the result is bit-identical to the
  reference interpreter (acc and S are exact integers; every f32 operation is the reference's).
  Rows are tiled (U chunks per tile, one table broadcast shared by all), the tiles run on the
  thread pool, the activation rows loop inside a tile (its weights stay in L1/L2).
- *Generic kernel* (`--cpu generic`, and i16 / f32 tables everywhere): scalar lookups on the
  plain planes (`[N, K4, bits]`), exact i32 sums for integer tables (the integer path is
  bit-exact), f32 sums per plane for f32 tables. Operands known only at run time take the same
  kernel on the contract's layout (`mpgemm_runtime`).

`half` tables (8 entries) are expanded once per call into the 16-entry tables the shuffle wants
(T[2q+1] = H[q], T[14−2q] = −H[q]: exact) and the planes' offline index inversion is undone at
compile time, so both kernels see the `signed` form — the arithmetic, and so the result, is the
same (docs/lut.md: R is the same in all three forms on the integer path).

Scales: `s` f32 [tile, K/G, rows]; zero points as 2z in int8 when every 2z is an integer in
[−128, 127] (always for integer and half-integer zero points: the contract's), else f32 z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects import arith, builtin as B, math, vector

from tensorc.dialects.cpu import VCastOp, VDotBytesOp, ViewOp, VMulAddBytesOp, VMulAddWordsOp, VShuffleBytesOp
from tensorc.dialects.tg import ConstantOp, WeightOp
from tensorc.quant.lut import half_decode

from . import UnsupportedKernel, kernel
from .lowbit_isa import Isa, current_isa
from .microkernel import PerfKernel, perf_kernel, store_vec

I8, I16, I32, I64, F32 = B.i8, B.i16, B.i32, B.i64, B.f32
I8_MAX = 127
#: i16 accumulator capacity in table groups: |Σ_i 2^i L_i| ≤ (2^b − 1)·127 per group
I16_GROUPS = {1: 32767 // 127, 2: 32767 // (3 * 127)}


def _vt(elem, n: int) -> B.VectorType:
    return B.VectorType(elem, [n])


def _is_const(v) -> bool:
    return isinstance(v.owner, (WeightOp, ConstantOp))


def _table_type(op) -> str:
    t = op.inputs[0].type.element_type
    return {F32: "f32", I16: "i16", I8: "i8"}[t] if t in (F32, I16, I8) else "?"


# ---- lut.precompute --------------------------------------------------------------------------------
def _coefficients(form: str) -> np.ndarray:
    """[4, E]: the coefficient of a[4j+t] in entry e (tensorc.quant.lut's, transposed)."""
    idx = np.arange(16)
    bit = (idx[:, None] >> np.arange(4)) & 1
    coef = bit if form == "unsigned" else 2 * bit - 1
    return (coef[1::2] if form == "half" else coef).T


def _const_vec(kb, values, vt: B.VectorType):
    """A non-splat constant vector (created once, at the kernel's entry)."""
    vals = [int(v) for v in values] if isinstance(vt.element_type, B.IntegerType) else [float(v) for v in values]
    attr = B.DenseIntOrFPElementsAttr.from_list(vt, vals)
    return kb._entry_const(("cvec", tuple(vals), vt), lambda: arith.ConstantOp(attr, vt))


@kernel("lut.precompute")
def precompute(kb, ins, outs, op) -> None:
    k, form, ttype, ag = int(op.attr("K")), op.attr("form"), op.attr("table_type"), int(op.attr("act_group"))
    integer = ins[0].type.element_type == I8
    tables, tsc = outs
    m, k4, e = tables.type.get_shape()
    na = tsc.type.get_shape()[1]
    a = kb.op(ViewOp(ins[0], 0, B.MemRefType(ins[0].type.element_type, [m, k])))
    coef = _coefficients(form)
    per = ag // 4  # table groups per activation group
    cty = I32 if integer else F32  # the type the sums are computed in (exact for i8 activations)
    vc = _vt(cty, e)
    vf = _vt(F32, e)

    def act(mi, kk):
        """a[m, k] in the compute type (k an index value or int)."""
        kk = kb.idx(kk) if isinstance(kk, int) else kk
        v = kb.load(a, [mi, kk])
        return kb.op(arith.ExtSIOp(v, I32)) if integer else v

    def quad(mi, j, count: int):
        """a[m, 4j : 4j+4] (the last `4 - count` zero: past K)."""
        k0 = kb.mul(j, 4) if not isinstance(j, int) else 4 * j
        out = []
        for t in range(4):
            if t < count:
                out.append(act(mi, kb.add(k0, t) if not isinstance(k0, int) else k0 + t))
            else:
                out.append(kb.const(0, I32) if integer else kb.const(0.0, F32))
        return out

    def absum(q):
        mags = []
        for v in q:
            f = kb.op(arith.SIToFPOp(v, F32)) if integer else v
            mags.append(kb.op(math.AbsFOp(f)))
        return kb.addf(kb.addf(kb.addf(mags[0], mags[1]), mags[2]), mags[3])

    def entries(q):
        cvs = [_const_vec(kb, coef[t], vc) for t in range(4)]
        terms = []
        for t in range(4):
            av = kb.bcast(q[t], vc)
            terms.append(kb.op(arith.MuliOp(av, cvs[t])) if integer else kb.mulf(av, cvs[t]))
        add = (lambda x, y: kb.op(arith.AddiOp(x, y))) if integer else kb.addf
        return add(add(add(terms[0], terms[1]), terms[2]), terms[3])

    full, rest = divmod(k, 4)

    def each_group(mi, fn):
        """fn(j, quad) for every table group of row mi (the last one zero-padded)."""
        if full:
            with kb.loop(0, full) as j:
                fn(j, quad(mi, j, 4))
        if rest:
            fn(kb.idx(full), quad(mi, full, rest))

    with kb.loop(0, m) as mi:
        if ttype == "i8":
            # ts per activation group: the largest |a0|+|a1|+|a2|+|a3| of its table groups / 127
            with kb.loop(0, na) as ai:
                j0 = kb.mul(ai, per)
                j1 = kb.min_(kb.add(j0, per), full)

                peak = kb.const(0.0, F32)
                if full:
                    with kb.loop(j0, j1, iter_args=[peak]) as (j, acc):
                        kb.yield_(kb.op(arith.MaximumfOp(acc, absum(quad(mi, j, 4)))))
                    peak = kb.last_loop.results[0]
                if rest:  # the zero-padded last group belongs to the last activation group
                    last = kb.cmpi(ai, na - 1, "eq")
                    tail = absum(quad(mi, full, rest))
                    peak = kb.op(arith.SelectOp(last, kb.op(arith.MaximumfOp(peak, tail)), peak))
                pos = kb.op(arith.CmpfOp(peak, kb.const(0.0, F32), "ogt"))
                ts = kb.op(arith.SelectOp(pos, kb.op(arith.DivfOp(peak, kb.const(float(I8_MAX), F32))),
                                          kb.const(1.0, F32)))
                kb.store(ts, tsc, [mi, ai])
        else:
            with kb.loop(0, na) as ai:
                kb.store(kb.const(1.0, F32), tsc, [mi, ai])

        def table(j, q):
            tv = entries(q)
            if ttype == "i16":
                kb.vstore(kb.op(VCastOp(tv, "trunc", I16)), tables, [mi, j, kb.idx(0)])
                return
            tf = kb.op(VCastOp(tv, "sitofp", F32)) if integer else tv
            if ttype == "f32":
                kb.vstore(tf, tables, [mi, j, kb.idx(0)])
                return
            ts = kb.bcast(kb.load(tsc, [mi, kb.divu(j, per)]), vf)
            r = kb.op(math.RoundEvenOp(kb.op(arith.DivfOp(tf, ts))))
            r = kb.op(arith.MinimumfOp(kb.op(arith.MaximumfOp(r, kb.vconst(-float(I8_MAX), vf))),
                                       kb.vconst(float(I8_MAX), vf)))
            r8 = kb.op(VCastOp(kb.op(VCastOp(r, "fptosi", I32)), "trunc", I8))
            kb.vstore(r8, tables, [mi, j, kb.idx(0)])

        each_group(mi, table)


# ---- lut.mpgemm: the weight layouts -----------------------------------------------------------------
@dataclass(frozen=True)
class ShuffleLayout:
    """Bit-planes for the shuffle kernel: uint8[NT, K4, U, VB] (see the module doc).

    A chunk is RT rows × one table group in VB bytes; byte p = 16·L + be·r + i of a chunk
    (lane L, row r of the lane, plane i; be = planes per row: 1, 2 or 4) holds plane i of row
    Rl·L + r in its low nibble and of row RT/2 + Rl·L + r in its high nibble (Rl = 16/be).
    """

    bits: int
    vbytes: int  # 64 (AVX-512) or 32 (AVX2)
    unroll: int  # chunks per row tile

    @property
    def planes(self) -> int:  # planes stored per row (3 bits: a zero 4th)
        return 4 if self.bits >= 3 else self.bits

    @property
    def chunk_rows(self) -> int:
        return {4: self.vbytes // 2, 2: self.vbytes, 1: 2 * self.vbytes}[self.planes]

    @property
    def tile_rows(self) -> int:
        return self.unroll * self.chunk_rows

    def tiles(self, n: int) -> int:
        return -(-n // self.tile_rows)

    def pack(self, idx: np.ndarray) -> np.ndarray:
        """Plain 4-bit indices uint8[bits, N, K4] → uint8[NT, K4, U, VB]."""
        bits, n, k4 = idx.shape
        be, rt, u, vb = self.planes, self.chunk_rows, self.unroll, self.vbytes
        nt = self.tiles(n)
        padded = np.zeros((be, nt * self.tile_rows, k4), np.uint8)
        padded[:bits, :n] = idx
        arr = padded.reshape(be, nt, u, rt, k4)
        p = np.arange(vb)
        lane, q = p // 16, p % 16
        r, i = q // be, q % be
        row_lo = (16 // be) * lane + r
        lo = arr[i, :, :, row_lo, :]  # [VB, NT, U, K4]
        hi = arr[i, :, :, rt // 2 + row_lo, :]
        return np.ascontiguousarray((lo | (hi << 4)).transpose(1, 3, 2, 0))

    def pack_rows(self, a: np.ndarray, dtype) -> np.ndarray:
        """Per-row, per-group [N, NG] → [NT, NG, TR] (rows past N: 0)."""
        n, ng = a.shape
        nt, tr = self.tiles(n), self.tile_rows
        padded = np.zeros((nt * tr, ng), dtype)
        padded[:n] = a
        return np.ascontiguousarray(padded.reshape(nt, tr, ng).transpose(0, 2, 1))


#: chunks per tile by planes per row, for 64-byte vectors (halved for 32)
UNROLL = {1: 1, 2: 2, 4: 4}


def shuffle_layout(op, isa: Isa | None = None) -> ShuffleLayout | None:
    """The shuffle kernel's layout for this lut.mpgemm, or None when the generic kernel runs."""
    isa = isa or current_isa()
    if _table_type(op) != "i8" or not isa.vbytes:
        return None
    bits = int(op.attr("bits"))
    be = 4 if bits >= 3 else bits
    unroll = UNROLL[be] if isa.vbytes == 64 else max(1, UNROLL[be] // 2)
    return ShuffleLayout(bits, isa.vbytes, unroll)


def plain_planes(planes: np.ndarray, form: str) -> np.ndarray:
    """Contract planes uint8[bits, N, K4] → plain indices (the `half` inversion undone)."""
    planes = np.asarray(planes, np.uint8)
    return half_decode(planes) if form == "half" else planes


def zeros_as_int8(zeros: np.ndarray) -> np.ndarray | None:
    """2z as int8 when every 2z is an integer in [−128, 127] (the contract's zero points), else None."""
    z2 = np.asarray(zeros, np.float64) * 2
    if np.all(z2 == np.rint(z2)) and np.all(np.abs(z2) <= 127):
        return np.rint(z2).astype(np.int8)
    return None


# ---- lut.mpgemm: the kernels -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Dims:
    m: int
    k: int
    n: int
    bits: int
    group: int
    ag: int
    form: str
    bsz: int  # block: min(G, act_group)

    @property
    def k4(self) -> int:
        return self.k // 4

    @property
    def nb(self) -> int:
        return self.k // self.bsz


def _dims(op) -> _Dims:
    k, n, bits, group, ag = (int(op.attr(a)) for a in ("K", "N", "bits", "group", "act_group"))
    m = op.inputs[0].type.get_shape()[0]
    return _Dims(m, k, n, bits, group, ag, op.attr("form"), min(group, ag))


@perf_kernel("lut.mpgemm")
class MpGemmKernel(PerfKernel):
    name = "lut.mpgemm"

    def applicable(self, op) -> bool:
        return all(_is_const(v) for v in op.inputs[2:]) and _table_type(op) != "?" and int(op.attr("K")) % 4 == 0

    def accepts_epilogue(self, op) -> bool:
        return self.applicable(op)

    def prepack(self, op, index, array):
        d = _dims(op)
        lay = shuffle_layout(op)
        if index == 2:
            idx = plain_planes(array, d.form)
            if lay is not None:
                return lay.pack(idx), ("shuffle", lay)
            return np.ascontiguousarray(idx.transpose(1, 2, 0)), ("plain",)  # [N, K4, bits]
        if lay is None:
            return None  # the generic kernel reads scales and zero points as they are
        if index == 3:
            return lay.pack_rows(np.asarray(array, np.float32), np.float32), ("rows",)
        if index == 4:
            z2 = zeros_as_int8(array)
            if z2 is not None:
                return lay.pack_rows(z2, np.int8), ("z2",)
            return lay.pack_rows(np.asarray(array, np.float32), np.float32), ("zf32",)
        return None

    def scratch(self, op):
        d = _dims(op)
        out = [B.MemRefType(F32, [d.m, d.nb])]  # S[m, β] = Σ_{j∈β} T[m, j, 15]
        if d.form == "half":  # the 8-entry tables expanded to 16
            out.append(B.MemRefType(op.inputs[0].type.element_type, [d.m, d.k4, 16]))
        lay = shuffle_layout(op)
        if lay is not None and d.m > 1:  # GEMM: y of a tile's rows × chunk across blocks, per tile
            out.append(B.MemRefType(F32, [lay.tiles(d.n), GEMM_ROWS[lay.planes], lay.chunk_rows]))
        return out

    def emit(self, kb, ins, outs, op, packed, epilogue):
        d = _dims(op)
        tables = _prologue(kb, ins[0], outs, d)
        if packed.get(2, ("?",))[0] == "shuffle":
            _emit_shuffle(kb, ins, outs, op, packed, epilogue, d, tables, packed[2][1], current_isa())
        elif packed.get(2, ("?",))[0] == "plain":
            _emit_generic(kb, ins, outs, op, epilogue, d, tables)
        else:
            raise UnsupportedKernel(f"{op.where()}: planes not pre-packed")


def _prologue(kb, tables, outs, d: _Dims):
    """Expand `half` tables to 16 entries; S[m, β] = Σ_{j∈β} T[m, j, 15] (exact for integer tables).
    Returns the 16-entry tables."""
    elem = tables.type.element_type
    integer = isinstance(elem, B.IntegerType)
    ssum = outs[1]
    if d.form == "half":  # T[2q+1] = H[q], T[14-2q] = -H[q]: one shuffle of (H, -H) per group
        full = outs[2]
        v8, v16 = _vt(elem, 8), _vt(elem, 16)
        mask = [0] * 16
        for q in range(8):
            mask[2 * q + 1], mask[14 - 2 * q] = q, 8 + q
        with kb.loops([d.m, d.k4]) as (mi, j):
            h = kb.vload(tables, [mi, j, kb.idx(0)], v8)
            neg = kb.op(arith.SubiOp(kb.vconst(0, v8), h)) if integer else kb.op(arith.NegfOp(h))
            t = kb.op(vector.ShuffleOp(h, neg, B.DenseArrayBase.from_list(I64, mask), result_type=v16))
            kb.vstore(t, full, [mi, j, kb.idx(0)])
        tables = full
    per = d.bsz // 4
    with kb.loops([d.m, d.nb]) as (mi, bi):
        j0 = kb.mul(bi, per)
        if integer:
            def step(iv, acc):
                return [kb.op(arith.AddiOp(acc[0], kb.op(arith.ExtSIOp(kb.load(tables, [mi, kb.add(j0, iv[0]), kb.idx(15)]), I32))))]
            s = kb.op(arith.SIToFPOp(kb.fold([per], [kb.const(0, I32)], step)[0], F32))
        else:
            s = kb.fold([per], [kb.const(0.0, F32)],
                        lambda iv, acc: [kb.addf(acc[0], kb.load(tables, [mi, kb.add(j0, iv[0]), kb.idx(15)]))])[0]
        kb.store(s, ssum, [mi, bi])
    return tables


def _residual(kb, accf, zf, sb, d: _Dims, f_vt):
    """R = acc − z·S (`unsigned`) or (acc + (2^b − 1 − 2z)·S) / 2, in f32 (`zf` = z, or c = 2^b−1−2z)."""
    if d.form == "unsigned":
        return kb.op(arith.SubfOp(accf, kb.mulf(zf, sb)))
    return kb.mulf(kb.addf(accf, kb.mulf(zf, sb)), kb.vconst(0.5, f_vt) if isinstance(f_vt, B.VectorType) else kb.const(0.5, F32))


#: activation rows that share each weight load in a GEMM (their accumulators: 8 registers)
GEMM_ROWS = {1: 2, 2: 4, 4: 4}


def _emit_shuffle(kb, ins, outs, op, packed, epilogue, d: _Dims, tables_in, lay: ShuffleLayout, isa: Isa):
    """GEMV (M = 1): per tile, U chunks share each table broadcast, y stays in registers across
    blocks. GEMM: per tile and chunk, GEMM_ROWS activation rows share each weight load and its
    nibble split, y of those rows lives in a small stack buffer."""
    vb, be, rt, unroll, tr = lay.vbytes, lay.planes, lay.chunk_rows, lay.unroll, lay.tile_rows
    f = vb // 4  # f32 lanes of the epilogue
    v8, v16, v32, vf = _vt(I8, vb), _vt(I16, vb // 2), _vt(I32, f), _vt(F32, f)
    nt = lay.tiles(d.n)
    per = d.bsz // 4
    gpb, apb = d.group // d.bsz, d.ag // d.bsz  # blocks per weight group / per activation group
    z_int8 = packed.get(4, ("?",))[0] == "z2"
    tsc, w, sp, zp = ins[1], ins[2], ins[3], ins[4]
    ssum = outs[1]
    y = outs[0]
    out_shape = list(y.type.get_shape())
    n_head = len(op.inputs)
    epi_bufs = dict(zip(epilogue.operands, ins[n_head:])) if epilogue is not None else {}
    run = I16_GROUPS.get(be, per)  # groups an i16 accumulator may hold
    runs = [(s, min(run, per - s)) for s in range(0, per, run)]
    pieces = rt // f  # f32 vectors per chunk
    top = (1 << d.bits) - 1
    mt = min(d.m, GEMM_ROWS[be])
    ybuf = outs[-1] if d.m > 1 else None  # scratch: GEMM rows' y, per tile
    bufs = [tables_in, tsc, w, sp, zp, ssum, y] + ([ybuf] if ybuf is not None else []) + list(epi_bufs.values())

    def body(kb, bufs, lo, hi):
        tables, tsc, w, sp, zp, ssum, y = bufs[:7]
        nfix = 8 if d.m > 1 else 7
        ybuf = bufs[7] if d.m > 1 else None
        ebufs = dict(zip(epi_bufs.keys(), bufs[nfix:]))
        low4 = kb.vconst(15, v8)
        four = kb.vconst(4, v8)
        if be == 4:
            mult = _const_vec(kb, [1 << (p % 4) if p % 4 < d.bits else 0 for p in range(vb)], v8)
        elif be == 2:
            mult = _const_vec(kb, [1 << (p % 2) for p in range(vb)], v8)
        ones16 = kb.vconst(1, v16)

        def part(v, i: int, n: int):
            """Lanes [i·n, (i+1)·n) of v."""
            mask = B.DenseArrayBase.from_list(I64, list(range(i * n, (i + 1) * n)))
            return kb.op(vector.ShuffleOp(v, v, mask, result_type=_vt(v.type.element_type, n)))

        def zero_chunk() -> list:
            """One chunk's accumulators: i32 [lo, hi] (b ≥ 3), i16 [lo, hi] (b = 2), i16 [lo0, lo1, hi0, hi1]."""
            if be == 4:
                return [kb.vconst(0, v32)] * 2
            return [kb.vconst(0, v16)] * (2 if be == 2 else 4)

        def table(mi, j):
            """Row mi's table of group j in every 128-bit lane."""
            t16 = kb.vload(tables, [mi, j, kb.idx(0)], _vt(I8, 16))
            return kb.op(vector.ShuffleOp(t16, t16, B.DenseArrayBase.from_list(I64, list(range(16)) * (vb // 16)),
                                          result_type=v8))

        def chunk_step(tile, j, u, tabs, accs):
            """Chunk u of group j looked up in each table of `tabs`; accs[r]: row r's chunk accumulators."""
            wv = kb.vload(w, [tile, j, u, kb.idx(0)], v8)
            nibbles = [kb.op(arith.AndIOp(wv, low4)), kb.op(arith.AndIOp(kb.op(arith.ShRUIOp(wv, four)), low4))]
            out = []
            for tab, acc in zip(tabs, accs):
                acc = list(acc)
                for h, nib in enumerate(nibbles):
                    look = kb.op(VShuffleBytesOp(tab, nib))
                    if be == 4:
                        if isa.vnni:
                            acc[h] = kb.op(VDotBytesOp(acc[h], mult, look))
                        else:
                            pairs = kb.op(VMulAddWordsOp(kb.op(VMulAddBytesOp(mult, look)), ones16))
                            acc[h] = kb.op(arith.AddiOp(acc[h], pairs))
                    elif be == 2:
                        acc[h] = kb.op(arith.AddiOp(acc[h], kb.op(VMulAddBytesOp(mult, look))))
                    else:
                        for i in range(2):
                            wide = kb.op(VCastOp(part(look, i, vb // 2), "sext", I16))
                            acc[h * 2 + i] = kb.op(arith.AddiOp(acc[h * 2 + i], wide))
                out.append(acc)
            return out

        def to_i32(acc) -> list:
            """A chunk's accumulators as i32 vectors of f rows, in row order."""
            if be == 4:
                return list(acc)
            return [kb.op(VCastOp(part(a, i, f), "sext", I32)) for a in acc for i in range(2)]

        def block_sums(bi, step) -> list:
            """Exact i32 sums over the block's groups: step(j, accs) -> accs, per i16-safe run."""
            j0 = kb.mul(bi, per)
            total = None
            for start, count in runs:
                accs = step(kb.add(j0, start), count)
                wide = [to_i32(a) for a in accs]
                total = wide if total is None else [[kb.op(arith.AddiOp(x, q)) for x, q in zip(t, v)]
                                                    for t, v in zip(total, wide)]
            return total

        def epilogue_terms(tile, mi, bi, chunk_row0, wide) -> list:
            """(s·ts)·R of each f32 vector of a chunk (the contract's epilogue, before the sum)."""
            gi = kb.divu(bi, gpb)
            sb = kb.bcast(kb.load(ssum, [mi, bi]), vf)
            tsb = kb.bcast(kb.load(tsc, [mi, kb.divu(bi, apb)]), vf)
            terms = []
            for v, piece in enumerate(wide):
                row = kb.add(chunk_row0, v * f)
                accf = kb.op(VCastOp(piece, "sitofp", F32))
                if z_int8:
                    z2 = kb.op(VCastOp(kb.vload(zp, [tile, gi, row], _vt(I8, f)), "sext", I32))
                    if d.form == "unsigned":
                        zf = kb.mulf(kb.op(VCastOp(z2, "sitofp", F32)), kb.vconst(0.5, vf))
                    else:
                        zf = kb.op(VCastOp(kb.op(arith.SubiOp(kb.vconst(top, v32), z2)), "sitofp", F32))
                else:
                    zf = kb.vload(zp, [tile, gi, row], vf)
                    if d.form != "unsigned":
                        zf = kb.op(arith.SubfOp(kb.vconst(float(top), vf), kb.addf(zf, zf)))
                r = _residual(kb, accf, zf, sb, d, vf)
                sts = kb.mulf(kb.vload(sp, [tile, gi, row], vf), tsb)
                terms.append(kb.mulf(sts, r))
            return terms

        def store_rows(tile, mi, row0: int, nrows: int, value):
            """y[mi, tile rows row0 .. row0+nrows) from value(v) (f32 vectors of f rows), epilogue applied."""
            n0 = kb.mul(tile, tr)
            for v in range(-(-nrows // f)):
                mask = kb.lane_mask(0, nrows - v * f, f) if (v + 1) * f > nrows else None
                col = kb.add(n0, row0 + v * f)
                val = value(v)
                if epilogue is not None:
                    val = epilogue.apply(kb, val, ebufs, [mi, col], out_shape, mask, vf)
                store_vec(kb, val, y, [mi, col], mask)

        def by_tail(tile, emit):
            """emit(nrows) for this tile's rows that exist (the last tile may be partial)."""
            tail = d.n - (nt - 1) * tr
            if tail == tr:
                emit(tr)
            elif nt == 1:
                emit(tail)
            else:
                with kb.if_(kb.cmpi(tile, nt - 1, "eq")) as orelse:
                    emit(tail)
                    with orelse():
                        emit(tr)

        def gemv(tile):
            mi = kb.idx(0)

            def block(bi, ys):
                def step(j0, count):
                    def one(iv, flat):
                        j = kb.add(j0, iv[0])
                        tab = table(mi, j)
                        accs = [flat[u * len(flat) // unroll:(u + 1) * len(flat) // unroll] for u in range(unroll)]
                        new = [chunk_step(tile, j, kb.idx(u), [tab], [accs[u]])[0] for u in range(unroll)]
                        return [a for acc in new for a in acc]

                    flat = kb.fold([count], [a for _ in range(unroll) for a in zero_chunk()], one)
                    size = len(flat) // unroll
                    return [flat[u * size:(u + 1) * size] for u in range(unroll)]

                wide = block_sums(bi, step)
                ys = list(ys)
                for u in range(unroll):
                    for v, t in enumerate(epilogue_terms(tile, mi, bi, kb.idx(u * rt), wide[u])):
                        ys[u * pieces + v] = kb.addf(ys[u * pieces + v], t)
                return ys

            ys = kb.fold([d.nb], [kb.vconst(0.0, vf)] * (unroll * pieces), lambda iv, a: block(iv[0], a))
            by_tail(tile, lambda nrows: store_rows(tile, mi, 0, nrows, lambda v: ys[v]))

        def gemm(tile):
            def rows(u, m0, nr: int):
                zero = kb.vconst(0.0, vf)
                for r in range(nr):
                    for v in range(pieces):
                        kb.vstore(zero, ybuf, [tile, kb.idx(r), kb.idx(v * f)])
                ms = [kb.add(m0, r) for r in range(nr)]
                with kb.loop(0, d.nb) as bi:
                    def step(j0, count):
                        def one(iv, flat):
                            j = kb.add(j0, iv[0])
                            tabs = [table(mi, j) for mi in ms]
                            size = len(flat) // nr
                            new = chunk_step(tile, j, u, tabs, [flat[r * size:(r + 1) * size] for r in range(nr)])
                            return [a for acc in new for a in acc]

                        flat = kb.fold([count], [a for _ in range(nr) for a in zero_chunk()], one)
                        size = len(flat) // nr
                        return [flat[r * size:(r + 1) * size] for r in range(nr)]

                    wide = block_sums(bi, step)
                    for r in range(nr):
                        for v, t in enumerate(epilogue_terms(tile, ms[r], bi, kb.mul(u, rt), wide[r])):
                            at = [tile, kb.idx(r), kb.idx(v * f)]
                            kb.vstore(kb.addf(kb.vload(ybuf, at, vf), t), ybuf, at)
                # store the chunk's rows of each activation row: a run-time mask covers the rows past N
                n0 = kb.add(kb.mul(tile, tr), kb.mul(u, rt))
                for r in range(nr):
                    for v in range(pieces):
                        col = kb.add(n0, v * f)
                        valid = kb.max_(kb.min_(kb.sub(kb.idx(d.n), col), f), 0)
                        mask = kb.lane_mask(kb.idx(0), valid, f)
                        val = kb.vload(ybuf, [tile, kb.idx(r), kb.idx(v * f)], vf)
                        if epilogue is not None:
                            val = epilogue.apply(kb, val, ebufs, [ms[r], col], out_shape, mask, vf)
                        store_vec(kb, val, y, [ms[r], col], mask)

            with kb.loop(0, unroll) as u:
                full = d.m // mt
                if full:
                    with kb.loop(0, full) as mb:
                        rows(u, kb.mul(mb, mt), mt)
                if d.m % mt:
                    rows(u, kb.idx(full * mt), d.m % mt)

        with kb.loop(lo, hi) as tile:
            if d.m == 1:
                gemv(tile)
            else:
                gemm(tile)

    kb.parallel_for(nt, bufs, body, work=2 * d.m * d.n * d.k)


def _emit_generic(kb, ins, outs, op, epilogue, d: _Dims, tables_in, runtime: bool = False):
    """Scalar lookups on planes [N, K4, bits] (16-entry tables, S precomputed): exact i32 sums for
    integer tables. `runtime`: the operands as the contract has them — planes [bits, N, K4]
    (index-inverted for `half`: H[sel], negated when neg), 8- or 16-entry tables, S summed here."""
    elem = tables_in.type.element_type
    integer = isinstance(elem, B.IntegerType)
    tsc, planes, scales, zeros = ins[1], ins[2], ins[3], ins[4]
    ssum, y = (outs[0] if runtime else outs[1]), outs[0]  # (runtime: a placeholder, never read)
    entries = tables_in.type.get_shape()[2]
    half_rt = runtime and d.form == "half"
    per = d.bsz // 4
    gpb, apb = d.group // d.bsz, d.ag // d.bsz
    top = float((1 << d.bits) - 1)
    out_shape = list(y.type.get_shape())
    n_head = len(op.inputs)
    epi_bufs = dict(zip(epilogue.operands, ins[n_head:])) if epilogue is not None else {}
    bufs = [tables_in, tsc, planes, scales, zeros, ssum, y] + list(epi_bufs.values())

    def body(kb, bufs, lo, hi):
        tables, tsc, planes, scales, zeros, ssum, y = bufs[:7]
        ebufs = dict(zip(epi_bufs.keys(), bufs[7:]))
        with kb.loop(lo, hi) as ni:
            with kb.loop(0, d.m) as mi:
                def block(iv, yacc):
                    bi = iv[0]
                    j0 = kb.mul(bi, per)

                    def group(jv, accs):
                        j = kb.add(j0, jv[0])
                        accs = list(accs)
                        for i in range(d.bits):
                            raw = kb.load(planes, [kb.idx(i), ni, j] if runtime else [ni, j, kb.idx(i)])
                            if half_rt:
                                sel = kb.op(arith.AndIOp(raw, kb.const(7, I8)))
                                neg = kb.op(arith.CmpiOp(kb.op(arith.AndIOp(raw, kb.const(8, I8))), kb.const(0, I8), "ne"))
                                raw = sel
                            idx = kb.op(arith.IndexCastOp(kb.op(arith.ExtUIOp(raw, I64)), B.IndexType()))
                            e = kb.load(tables, [mi, j, idx])
                            if half_rt:
                                minus = kb.op(arith.SubiOp(kb.const(0, elem), e)) if integer else kb.op(arith.NegfOp(e))
                                e = kb.op(arith.SelectOp(neg, minus, e))
                            if integer:
                                ev = kb.op(arith.ExtSIOp(e, I32))
                                if i:
                                    ev = kb.op(arith.ShLIOp(ev, kb.const(i, I32)))
                                accs[0] = kb.op(arith.AddiOp(accs[0], ev))
                            else:
                                accs[i] = kb.addf(accs[i], e)
                        return accs

                    if integer:
                        acc = kb.fold([per], [kb.const(0, I32)], group)[0]
                        accf = kb.op(arith.SIToFPOp(acc, F32))
                    else:  # per plane in f32, then Σ 2^i (the reference sums in f64: not bit-exact)
                        sums = kb.fold([per], [kb.const(0.0, F32)] * d.bits, group)
                        accf = sums[0]
                        for i in range(1, d.bits):
                            accf = kb.addf(accf, kb.mulf(sums[i], kb.const(float(1 << i), F32)))
                    gi = kb.divu(bi, gpb)
                    z = kb.load(zeros, [ni, gi])
                    if d.form != "unsigned":
                        z = kb.op(arith.SubfOp(kb.const(top, F32), kb.addf(z, z)))
                    if runtime:  # S = Σ_{j∈β} T[m, j, E−1] (H[7] for half)
                        last = kb.idx(entries - 1)
                        if integer:
                            si = kb.fold([per], [kb.const(0, I32)], lambda jv, a: [kb.op(arith.AddiOp(
                                a[0], kb.op(arith.ExtSIOp(kb.load(tables, [mi, kb.add(j0, jv[0]), last]), I32))))])[0]
                            sb = kb.op(arith.SIToFPOp(si, F32))
                        else:
                            sb = kb.fold([per], [kb.const(0.0, F32)], lambda jv, a: [kb.addf(
                                a[0], kb.load(tables, [mi, kb.add(j0, jv[0]), last]))])[0]
                    else:
                        sb = kb.load(ssum, [mi, bi])
                    r = _residual(kb, accf, z, sb, d, F32)
                    sts = kb.mulf(kb.load(scales, [ni, gi]), kb.load(tsc, [mi, kb.divu(bi, apb)]))
                    return [kb.addf(yacc[0], kb.mulf(sts, r))]

                val = kb.fold([d.nb], [kb.const(0.0, F32)], block)[0]
                if epilogue is not None:
                    val = _scalar_epilogue(kb, epilogue, val, ebufs, [mi, ni], out_shape)
                kb.store(val, y, [mi, ni])

    kb.parallel_for(d.n, bufs, body, work=2 * d.m * d.n * d.k)


@kernel("lut.mpgemm")
def mpgemm_runtime(kb, ins, outs, op) -> None:
    """Planes, scales or zero points known only at run time: the generic kernel on the contract's layout."""
    d = _dims(op)
    if d.k % 4:
        raise UnsupportedKernel(f"{op.where()}: K = {d.k} is not a multiple of 4")
    _emit_generic(kb, ins, outs, op, None, d, ins[0], runtime=True)


def _scalar_epilogue(kb, epilogue, val, ebufs, out_index, out_shape):
    """The fused elementwise chain on one f32 output element."""
    from ..scalar import NotLowerable, emit_scalar
    from .elementwise import broadcast_index

    vals = {epilogue.head_value: val}
    for v in epilogue.operands:
        vals[v] = kb.load(ebufs[v], broadcast_index(kb, list(v.type.get_shape()), out_index))
    for eop in epilogue.ops:
        try:
            vals[eop.outputs[0]] = emit_scalar(kb, eop.name.removeprefix("tg."), [vals[x] for x in eop.inputs],
                                               eop.attr_values(), F32, F32)
        except NotLowerable as e:
            raise UnsupportedKernel(f"{eop.where()}: no scalar lowering ({e})") from None
    return vals[epilogue.out_value]
