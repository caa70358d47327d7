"""A cost model for CG and Gaunt tensor products as the eqv → tg lowering computes them.

Costs are in 'FMA-equivalents per batch row': multiply-adds of the matmuls plus
`MOVE` per element the lowering copies, transposes or gathers (memory-bound work).
The constants were fitted to `tensorc bench gaunt` timings of the llvm-cpu backend
(docs/eqv.md); the model ranks alternatives, it does not predict milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorc.eqv import fourier
from tensorc.eqv.irreps import Irreps

MOVE = 4.0  # one element copied/transposed/gathered/broadcast, in FMAs (fitted, docs/eqv.md)


@dataclass
class Cost:
    fma: float
    moved: float
    ops: int

    @property
    def total(self) -> float:
        return self.fma + MOVE * self.moved

    def __add__(self, o: "Cost") -> "Cost":
        return Cost(self.fma + o.fma, self.moved + o.moved, self.ops + o.ops)

    def __str__(self) -> str:
        return f"{self.total:,.0f} (fma {self.fma:,.0f}, moved {self.moved:,.0f}, {self.ops} ops)"


def cg_cost(i1, i2, io, paths) -> Cost:
    """The CG lowering: per (in1 entry, in2 entry) pair one outer product and one matmul onto all its outputs."""
    i1, i2, io = Irreps(i1), Irreps(i2), Irreps(io)
    pairs: dict[tuple[int, int], list] = {}
    for p in paths:
        pairs.setdefault((p.i1, p.i2), []).append(p)
    fma = moved = 0.0
    ops = 0
    for (a, b), ps in pairs.items():
        ea, eb = i1[a], i2[b]
        moved += max(ea.mul, eb.mul) * ea.ir.dim * eb.ir.dim  # the outer product of the pair's blocks
        for p in ps:
            eo = io[p.io]
            mode = p.mode
            if mode in ("uuu", "uvu", "uvv", "uuw") and (ea.mul == eb.mul or 1 in (ea.mul, eb.mul)):
                rows = max(ea.mul, eb.mul)
            else:  # uvw / uvuv: all (u, v) channel pairs
                rows = ea.mul * eb.mul
            d12 = ea.ir.dim * eb.ir.dim
            fma += rows * d12 * eo.ir.dim
            moved += rows * eo.ir.dim * 2  # per-path scaling and accumulation
            if mode == "uvw":
                fma += rows * eo.ir.dim * eo.mul
            ops += 4
    return Cost(fma, moved, ops)


def gaunt_cost(i1, i2, io, rank: int, C: int, c1: int, c2: int, families: int = 1) -> Cost:
    """The sample-major grid lowering of a rank-`rank` Gaunt product on C channels; the inputs
    enter the transforms with c1 and c2 channels (1 when broadcast and scaled channel-independently)."""
    i1, i2, io = Irreps(i1), Irreps(i2), Irreps(io)
    L1, L2, Lo = i1.lmax, i2.lmax, io.lmax
    nt, nph = fourier.grid_sizes(L1, L2, Lo)
    fma = moved = 0.0
    ops = 0
    for L, cin, irr in ((L1, c1, i1), (L2, c2, i2)):
        rows = rank * cin
        m = 2 * L + 1
        k = len({e.ir.l for e in irr})  # the degrees, padded to the same count for every m
        fma += rows * (m * k * nt + m * nt * nph)  # batched θ transform, then m → φ
        moved += rows * m * k + (irr.dim * rank if cin > 1 else 0)  # the gather (and the scaling of x)
        ops += 4
    rows = rank * C
    mo = 2 * Lo + 1
    ko = len({e.ir.l for e in io})
    fma += rows * nt * nph  # pointwise product
    fma += rows * (mo * nph * nt + mo * nt * ko)
    moved += rank * io.dim * 2  # the gather into the output layout, the c scaling
    ops += 5
    return Cost(fma * families, moved * families, ops * families)
