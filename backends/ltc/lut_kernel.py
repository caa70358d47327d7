"""`lut.mpgemm` on the LMMA array: tiling, the weight layout in DRAM, and the instruction loop.

The tables and table scales are already in the scratchpad (the memory plan put them there, the
precompute wrote them), and so is the output y [M, N] f32 (the plan's offset). The weight —
packed bit-planes, scales and zero points — streams from DRAM through the workspace:

    for each N chunk:      dma.ld scales, zeros of the chunk → SZ[c % 2]
      for each K chunk:    dma.ld the weight tile (all bit-planes) → W[t % 2]
        for each M chunk:  lmma.dq tables × W, scales → y (+=)                      (epilogue="array")
                           lmma tables × W → ACC[u % 2], SUMS[u % 2];  vdq → y (+=)  (epilogue="vector")

so every weight byte is read from DRAM exactly once (the loop over M is innermost, the tables
stay put), and the alternating buffers let the scoreboard run the next tile's DMA under this
tile's lmma (and, with the vector epilogue, the vector unit dequantize one tile while the arrays
compute the next). `lmma.dq` (the default) applies the scales in the arrays' output stage, so the
per-block accumulators never go through the scratchpad; `vdq` reads them back from it. K chunks
run in increasing order and both continue y's sum, so y is bit-identical to lut.mpgemm's block
order (docs/lut.md §2) either way.

Weights are stored pre-tiled: the planes of each (N chunk, K chunk) tile are one contiguous
block [bits, rows, bytes] (docs/ltc.md, "Compiler"), so a tile is one dense DMA; K chunks start
on a byte of packed planes (a multiple of 8 activations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tensorc.diagnostics import BackendError
from tensorc.quant import lut as L
from tensorc.runtime.ltc import isa
from tensorc.runtime.ltc.layout import pack_planes

ALIGN = 64


def _al(x: int) -> int:
    return -(-x // ALIGN) * ALIGN


@dataclass(frozen=True)
class MpTiling:
    m_chunk: int
    n_chunk: int
    k_chunk: int
    footprint: int  # workspace bytes

    def key(self):
        return (self.n_chunk, self.k_chunk)


EPILOGUES = ("array", "vector")


def tile_buffers(m_chunk: int, n_chunk: int, k_chunk: int, *, bits: int, block: int, ncols: int,
                 epilogue: str = "array") -> list[int]:
    """Workspace buffers of one mpgemm, in allocation order (each pair double-buffered): weight
    tiles, scales and zero points, and for the vector epilogue the accumulators and sums."""
    nbk = k_chunk // block
    w = bits * n_chunk * ((k_chunk // 4 + 1) // 2)
    bufs = [w, w, n_chunk * ncols * 4, n_chunk * ncols * 4, n_chunk * ncols * 4, n_chunk * ncols * 4]
    if epilogue == "vector":
        bufs += [nbk * m_chunk * n_chunk * 4, nbk * m_chunk * n_chunk * 4, m_chunk * nbk * 4, m_chunk * nbk * 4]
    return bufs


def choose_tiling(m: int, n: int, k: int, *, bits: int, group: int, act_group: int, budget: int,
                  tile_m: int = 2, tile_n: int = 64, arrays: int = 4, where: str = "lut.mpgemm",
                  epilogue: str = "array") -> MpTiling:
    """The tiling whose buffers fit `budget` bytes. Preference: N chunks that keep every array busy
    (the arrays split an lmma's N tiles), then all M rows in one lmma (fewer instructions; the
    weights are read once either way: M is the innermost loop), then tiles of up to 2^19 weights (long enough to hide each instruction's
    pipeline latency, short enough that the first tile's DMA is not a long exposed prologue),
    then long K chunks (fewer y read-modify-writes in the epilogue)."""
    blk = L.block_size(group, act_group)
    ncols = k // group
    kstep = blk * 8 // math.gcd(blk, 8)
    ks = sorted({k} | {kstep * i for i in range(1, k // kstep + 1) if kstep * i < k and (k // kstep) % i == 0}
                | {kstep << i for i in range(16) if kstep << i < k}, reverse=True)
    nstep = tile_n * arrays
    ns = sorted({n} | {nstep * i for i in range(1, n // nstep + 1) if nstep * i < n}
                | ({tile_n, 2 * tile_n} & set(range(1, n))), reverse=True)
    ms = sorted({m} | {tile_m * i for i in range(1, m // tile_m + 1) if tile_m * i < m and m % (tile_m * i) == 0}
                | {tile_m << i for i in range(16) if tile_m << i < m}, reverse=True)
    best = None
    for mc in ms:
        for nc in ns:
            if nc > 65535:
                continue
            for kc in ks:
                if kc > 65535:
                    continue
                foot = sum(_al(b) for b in tile_buffers(mc, nc, kc, bits=bits, block=blk, ncols=ncols,
                                                        epilogue=epilogue))
                if foot > budget:
                    continue
                nt = -(-nc // tile_n)
                busy = nt / (-(-nt // arrays) * arrays)  # share of the arrays an lmma keeps busy
                score = (busy, mc == m, min(nc * kc, 1 << 19), mc, kc, nc)
                if best is None or score > best[0]:
                    best = (score, MpTiling(mc, nc, kc, foot))
    if best is None:
        raise BackendError(f"ltc: {where}: no tiling of M={m} N={n} K={k} fits the {budget}-byte workspace "
                           f"(raise --ltc-workspace or the scratchpad)")
    return best[1]


def tile_offsets(bits: int, n: int, k: int, n_chunk: int, k_chunk: int) -> tuple[dict, int]:
    """Byte offset of each (N chunk, K chunk) tile of pre-tiled packed planes, and the total bytes."""
    offsets, pos = {}, 0
    for ni, n0 in enumerate(range(0, n, n_chunk)):
        for ki, k0 in enumerate(range(0, k, k_chunk)):
            kr = min(k_chunk, k - k0)
            offsets[ni, ki] = pos
            pos += bits * min(n_chunk, n - n0) * ((kr // 4 + 1) // 2)
    return offsets, pos


def pretile_planes(planes: np.ndarray, n_chunk: int, k_chunk: int) -> tuple[bytes, dict]:
    """IR planes uint8 [bits, N, K4] (one index a byte) → packed tiles, and each tile's byte offset."""
    packed = pack_planes(planes)  # [bits, N, ceil(K4/2)]
    bits, n, k4 = planes.shape
    k = 4 * k4
    offsets, total = tile_offsets(bits, n, k, n_chunk, k_chunk)
    blobs = []
    for (ni, ki), pos in offsets.items():
        k0 = ki * k_chunk
        kr = min(k_chunk, k - k0)
        blobs.append(np.ascontiguousarray(packed[:, ni * n_chunk:(ni + 1) * n_chunk,
                                                 k0 // 8:k0 // 8 + (kr // 4 + 1) // 2]).tobytes())
    blob = b"".join(blobs)
    assert len(blob) == total
    return blob, offsets


def packed_plane_bytes(bits: int, n: int, k: int) -> int:
    """DRAM bytes of a weight's packed planes (what one pass over the weight reads)."""
    return bits * n * ((k // 4 + 1) // 2)


def emit_mpgemm(em, *, tables: int, tscales: int, y: int, m: int, planes_dram: int, offsets: dict,
                scales_dram: int, zeros_dram: int, n: int, k: int, bits: int, group: int, act_group: int,
                form: str, ttype: str, tiling: MpTiling, ws, origin: str, epilogue: str = "array") -> None:
    """Emit one lut.mpgemm with `em` (the Emitter: dma/emit helpers) into workspace `ws`."""
    b = em.b
    blk = L.block_size(group, act_group)
    ncols = k // group
    nag = -(-k // act_group)
    e = isa.FORM_ENTRIES[form]
    tsz = isa.itemsize(ttype)
    tab_row = (k // 4) * e * tsz
    sdiv, tdiv = group // blk, act_group // blk
    acc_type = "f32" if ttype == "f16" else "i32"
    mc, nc, kc = tiling.m_chunk, tiling.n_chunk, tiling.k_chunk
    sizes = tile_buffers(mc, nc, kc, bits=bits, block=blk, ncols=ncols, epilogue=epilogue)
    base = ws.alloc(sum(_al(s) for s in sizes))  # one block: the tiling was sized for it
    addrs = [base + sum(_al(s) for s in sizes[:i]) for i in range(len(sizes))]
    W0, W1, S0, Z0, S1, Z1 = addrs[:6]
    W, SZ = (W0, W1), ((S0, Z0), (S1, Z1))
    if epilogue == "vector":
        A0, A1, U0, U1 = addrs[6:]
        ACC, SUMS = (A0, A1), (U0, U1)
    t = u = 0
    for ni, n0 in enumerate(range(0, n, nc)):
        nr = min(nc, n - n0)
        s_buf, z_buf = SZ[ni % 2]
        em.dma_load(s_buf, scales_dram + n0 * ncols * 4, nr * ncols * 4, "c", origin)
        em.dma_load(z_buf, zeros_dram + n0 * ncols * 4, nr * ncols * 4, "c", origin)
        for ki, k0 in enumerate(range(0, k, kc)):
            kr = min(kc, k - k0)
            kb = (kr // 4 + 1) // 2
            wb = W[t % 2]
            em.dma_load(wb, planes_dram + offsets[ni, ki], bits * nr * kb, "c", origin)
            t += 1
            beta0 = k0 // blk
            for m0 in range(0, m, mc):
                mr = min(mc, m - m0)
                look = dict(tab=tables + m0 * tab_row + (k0 // 4) * e * tsz, tab_stride=tab_row, table_type=ttype,
                            form=form, w=wb, w_row=kb, w_plane=nr * kb, bits=bits, m=mr, n=nr, k=kr, block=blk)
                scale = dict(scales=s_buf + (beta0 // sdiv) * 4, zeros=z_buf + (beta0 // sdiv) * 4,
                             s_stride=ncols * 4, s_div=sdiv, s_phase=beta0 % sdiv,
                             ts=tscales + m0 * nag * 4 + (beta0 // tdiv) * 4, ts_stride=nag * 4, t_div=tdiv,
                             t_phase=beta0 % tdiv, y=em.ref(y + (m0 * n + n0) * 4, n * 4, "f32"), accum=ki > 0)
                if epilogue == "array":
                    em.emit(origin, b.lmma_dq, **look, **scale)
                    continue
                accb, sb = ACC[u % 2], SUMS[u % 2]
                u += 1
                em.emit(origin, b.lmma, **look, acc=accb, sums=sb)
                em.emit(origin, b.dequant, acc=accb, sums=sb, m=mr, n=nr, nb=kr // blk, bits=bits, form=form,
                        acc_type=acc_type, **scale)
