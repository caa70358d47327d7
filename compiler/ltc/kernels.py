"""Instruction sequences for whole operators: the tiled LUT linear layer (lut.precompute + lut.mpgemm).

`emit_lut_linear(b, x=..., y=..., codes=..., ...)` emits y[M, N] = lut.mpgemm(lut.precompute(x), W)
for a quantized weight W (docs/lut.md §1) onto a ProgramBuilder:

    for each chunk of M rows:        dma.ld x rows → X;  pre X → tables, table scales
      for each chunk of N columns:   dma.ld scales, zeros → SZ[·]
        for each chunk of K:         dma.ld weight tile → W[t%2];  lmma.dq → Y[·] (+=)
                                     (epilogue="vector": lmma → ACC[t%2];  vdq ACC[t%2] → Y[·] (+=))
        dma.st Y[·] → y

Buffers W, SZ and Y (and ACC) alternate between two copies (the tables too when they fit), so
the scoreboard overlaps the next tile's DMA with this tile's lmma (and the vector epilogue of one
tile with the lmma of the next). K chunks run in increasing order and lmma.dq / vdq continue y's
sum, which keeps the result bit-identical to lut.mpgemm's block order.

Weights go to DRAM pre-tiled: for each (N chunk, K chunk), its packed planes [bits, rows, bytes]
are one contiguous block, so each tile is one dense DMA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tensorc.quant import lut as L
from tensorc.runtime.ltc import isa
from tensorc.runtime.ltc.errors import LTCFormatError
from tensorc.runtime.ltc.layout import pack_planes

from .builder import DramTensor, ProgramBuilder, Ref, table_row_bytes


@dataclass(frozen=True)
class LinearTiling:
    m_chunk: int
    n_chunk: int
    k_chunk: int
    table_buffers: int  # 1 or 2
    footprint: int  # scratchpad bytes


def _buffers(m, n, k, bits, group, act_group, form, table_type, adt, mc, nc, kc, ntab, epilogue) -> list[int]:
    blk = L.block_size(group, act_group)
    asz = isa.itemsize(adt)
    nag = -(-k // act_group)
    ncols = k // group
    nbk = kc // blk
    acc = [nbk * mc * nc * 4] * 2 + [mc * nbk * 4] * 2 if epilogue == "vector" else []
    return ([mc * k * asz] + [mc * table_row_bytes(k, form, table_type)] * ntab + [mc * nag * 4] * ntab
            + [bits * nc * math.ceil(kc / 8)] * 2 + [nc * ncols * 4] * 4 + acc + [mc * nc * 4] * 2)


def plan_linear(m: int, n: int, k: int, *, bits: int, group: int, act_group: int, form: str, table_type: str,
                adt: str, budget: int, tile_n: int = 64, arrays: int = 4, epilogue: str = "array") -> LinearTiling:
    """Chunk sizes whose buffers fit in `budget` scratchpad bytes. Preference: all M rows at once (the
    weights stream from DRAM once), double-buffered tables when M must be split, N chunks that give
    every array a tile, then the largest tiles up to 2^19 weights (big enough to hide per-instruction latencies, small enough that the
    first tile's load is short)."""
    blk = L.block_size(group, act_group)
    kstep = blk * 8 // math.gcd(blk, 8)  # K chunks start on a byte of packed planes
    ks = sorted({k} | {kstep << i for i in range(20) if kstep << i < k}, reverse=True)
    nstep = tile_n * arrays
    ns = sorted({n} | {nstep << i for i in range(12) if nstep << i < n} | ({tile_n} if tile_n < n else set()),
                reverse=True)
    ms = sorted({max(1, -(-m // d)) for d in (1, 2, 4, 8, 16, 32, 64, 128) if -(-m // d) >= 1}, reverse=True)
    best = None
    for mc in ms:
        for ntab in (1, 2) if mc < m else (1,):
            for nc in ns:
                for kc in ks:
                    bufs = _buffers(m, n, k, bits, group, act_group, form, table_type, adt, mc, nc, kc, ntab,
                                    epilogue)
                    foot = sum(-(-b // 64) * 64 for b in bufs)
                    if foot > budget:
                        continue
                    nt = -(-nc // tile_n)
                    arrays_used = nt / (-(-nt // arrays) * arrays)  # N tiles keep every array busy
                    score = (mc, ntab, arrays_used, min(nc * kc, 1 << 19), kc, nc)
                    if best is None or score > best[0]:
                        best = (score, LinearTiling(mc, nc, kc, ntab, foot))
    if best is None:
        raise LTCFormatError(f"linear {m}x{k} · {n}x{k}: no tiling fits a {budget}-byte scratchpad")
    return best[1]


@dataclass(frozen=True)
class LutWeight:
    """A quantized weight placed in DRAM in the LTC layout."""

    planes: DramTensor  # pre-tiled packed planes
    scales: DramTensor  # f32 [N, K/G]
    zeros: DramTensor
    n: int
    k: int
    bits: int
    group: int
    form: str
    n_chunk: int
    k_chunk: int
    offsets: dict  # (n chunk, k chunk) -> byte offset of its block in `planes`

    def tile(self, ni: int, ki: int) -> tuple[int, int, int, int]:
        """(DRAM address, rows, bytes per row, total bytes) of one tile's planes."""
        nr = min(self.n_chunk, self.n - ni * self.n_chunk)
        kr = min(self.k_chunk, self.k - ki * self.k_chunk)
        kb = (kr // 4 + 1) // 2
        return self.planes.addr + self.offsets[ni, ki], nr, kb, self.bits * nr * kb


def place_weight(b: ProgramBuilder, name: str, codes: np.ndarray, scales: np.ndarray, zeros: np.ndarray, *,
                 bits: int, group: int, form: str, n_chunk: int, k_chunk: int) -> LutWeight:
    """Codes uint8[N, K] (+ f32 scales/zeros [N, K/G]) → DRAM constants in the tiled LTC layout."""
    codes = np.asarray(codes, np.uint8)
    n, k = codes.shape
    if k % 4 or k_chunk % 8 and k_chunk != k:
        raise LTCFormatError(f"weight '{name}': K = {k} must be a multiple of 4 and K chunks of 8")
    packed = pack_planes(L.planes_from_codes(codes, bits, form))  # [bits, N, ceil(K4/2)]
    blocks, offsets, pos = [], {}, 0
    for ni, n0 in enumerate(range(0, n, n_chunk)):
        for ki, k0 in enumerate(range(0, k, k_chunk)):
            kr = min(k_chunk, k - k0)
            blk = np.ascontiguousarray(packed[:, n0:n0 + n_chunk, k0 // 8:k0 // 8 + (kr // 4 + 1) // 2])
            offsets[ni, ki] = pos
            blocks.append(blk.tobytes())
            pos += len(blocks[-1])
    planes = b.constant(f"{name}.planes", b"".join(blocks))
    sc = b.constant(f"{name}.scales", np.asarray(scales, np.float32))
    zc = b.constant(f"{name}.zeros", np.asarray(zeros, np.float32))
    return LutWeight(planes, sc, zc, n, k, bits, group, form, n_chunk, k_chunk, offsets)


def emit_lut_linear(b: ProgramBuilder, *, x: DramTensor, y: DramTensor, codes: np.ndarray, scales: np.ndarray,
                    zeros: np.ndarray, bits: int, group: int, act_group: int = 64, form: str = "half",
                    table_type: str = "i16", name: str = "w", tiling: LinearTiling | None = None,
                    budget: int | None = None, epilogue: str = "array") -> LinearTiling:
    """y[M, N] (f32, DRAM) = the LUT matmul of x[M, K] (i8, f16 or f32, DRAM) with the quantized
    weight (codes, scales, zeros), exactly as lut.precompute + lut.mpgemm (f16 tables: within
    docs/ltc.md's tolerance). Allocates its scratchpad buffers from b.spad and frees them.
    epilogue: "array" (lmma.dq) or "vector" (lmma + vdq through the scratchpad)."""
    if epilogue not in ("array", "vector"):
        raise LTCFormatError(f"emit_lut_linear: epilogue '{epilogue}' is not array or vector")
    if len(x.shape) != 2 or len(y.shape) != 2:
        raise LTCFormatError("emit_lut_linear: x and y must be 2-D")
    m, k = x.shape
    n = np.asarray(codes).shape[0]
    if y.shape != (m, n) or y.dtype != "f32":
        raise LTCFormatError(f"emit_lut_linear: y must be f32 [{m}, {n}], got {y.dtype} {list(y.shape)}")
    adt = x.dtype
    if adt not in isa.ADTYPES:
        raise LTCFormatError(f"emit_lut_linear: activations of type {adt}")
    cfg = b.config
    if tiling is None:
        free = b.spad.size - b.spad.used() - 64 * 32
        tiling = plan_linear(m, n, k, bits=bits, group=group, act_group=act_group, form=form,
                             table_type=table_type, adt=adt, budget=budget or free, tile_n=cfg.tile_n,
                             arrays=cfg.arrays, epilogue=epilogue)
    mc, nc, kc = tiling.m_chunk, tiling.n_chunk, tiling.k_chunk
    blk = L.block_size(group, act_group)
    wt = place_weight(b, name, codes, scales, zeros, bits=bits, group=group, form=form, n_chunk=nc, k_chunk=kc)
    e = isa.FORM_ENTRIES[form]
    tsz = isa.itemsize(table_type)
    asz = isa.itemsize(adt)
    row = table_row_bytes(k, form, table_type)
    nag = -(-k // act_group)
    ncols = k // group
    sdiv, tdiv = group // blk, act_group // blk
    acc_type = "f32" if table_type == "f16" else "i32"
    a = b.spad.alloc
    X = a(mc * k * asz)
    TAB = [a(mc * row) for _ in range(tiling.table_buffers)]
    TS = [a(mc * nag * 4) for _ in range(tiling.table_buffers)]
    W = [a(bits * nc * math.ceil(kc / 8)) for _ in range(2)]
    SZ = [(a(nc * ncols * 4), a(nc * ncols * 4)) for _ in range(2)]
    vector = epilogue == "vector"
    ACC = [a((kc // blk) * mc * nc * 4) for _ in range(2)] if vector else []
    SUMS = [a(mc * (kc // blk) * 4) for _ in range(2)] if vector else []
    Y = [a(mc * nc * 4) for _ in range(2)]
    t = chunk = 0
    for mi, m0 in enumerate(range(0, m, mc)):
        mr = min(mc, m - m0)
        tab, ts = TAB[mi % tiling.table_buffers], TS[mi % tiling.table_buffers]
        b.dma_load(spad=X, dram=x.addr + m0 * k * asz, rows=mr, row_bytes=k * asz)
        b.precompute(Ref(X, k * asz, adt), m=mr, k=k, tab=tab, ts=ts, table_type=table_type, form=form,
                     act_group=act_group)
        for ni, n0 in enumerate(range(0, n, nc)):
            nr = min(nc, n - n0)
            s_buf, z_buf = SZ[chunk % 2]
            yb = Y[chunk % 2]
            b.dma_load(spad=s_buf, dram=wt.scales.addr + n0 * ncols * 4, row_bytes=nr * ncols * 4)
            b.dma_load(spad=z_buf, dram=wt.zeros.addr + n0 * ncols * 4, row_bytes=nr * ncols * 4)
            for ki, k0 in enumerate(range(0, k, kc)):
                kr = min(kc, k - k0)
                addr, rows, kb, nbytes = wt.tile(ni, ki)
                wb = W[t % 2]
                b.dma_load(spad=wb, dram=addr, row_bytes=nbytes)
                look = dict(tab=tab + (k0 // 4) * e * tsz, tab_stride=row, table_type=table_type, form=form, w=wb,
                            w_row=kb, w_plane=rows * kb, bits=bits, m=mr, n=nr, k=kr, block=blk)
                beta0 = k0 // blk
                scale = dict(scales=s_buf + (beta0 // sdiv) * 4, zeros=z_buf + (beta0 // sdiv) * 4,
                             s_stride=ncols * 4, s_div=sdiv, s_phase=beta0 % sdiv,
                             ts=ts + (beta0 // tdiv) * 4, ts_stride=nag * 4, t_div=tdiv, t_phase=beta0 % tdiv,
                             y=Ref(yb, nr * 4, "f32"), accum=ki > 0)
                if vector:
                    b.lmma(**look, acc=ACC[t % 2], sums=SUMS[t % 2])
                    b.dequant(acc=ACC[t % 2], sums=SUMS[t % 2], m=mr, n=nr, nb=kr // blk, bits=bits, form=form,
                              acc_type=acc_type, **scale)
                else:
                    b.lmma_dq(**look, **scale)
                t += 1
            b.dma_store(dram=y.addr + (m0 * n + n0) * 4, spad=yb, rows=mr, row_bytes=nr * 4, dram_stride=n * 4)
            chunk += 1
    for addr in [X, *TAB, *TS, *W, *(p for pair in SZ for p in pair), *ACC, *SUMS, *Y]:
        b.spad.free(addr)
    return tiling
