"""Per-instruction cost: which unit runs it, for how many cycles, and the energy it spends.

Cycles (docs/ltc.md §4). Each unit is pipelined: an instruction occupies its unit for `occupancy`
cycles (its throughput cost), and its results are visible `latency` cycles after that.
- dma:  every row moves whole DRAM bursts; occupancy = ceil(bursts · burst / bytes-per-cycle),
        latency = the DRAM latency.
- pre:  ceil(M · K4 / pre_groups_per_cycle) (×2 for i8 tables: the group max, then the scaling).
- lmma: ceil(M / tile_m) · ceil(ceil(N / tile_n) / arrays) · ceil(K / tile_k) · bits — one
        bit-plane of one tile per array per cycle; padding rows/columns cost like real ones.
        lmma.dq: the same per block, or the output stage's ceil(tile_m · tile_n / dq_lanes) cycles
        per block if longer; latency + dq_latency.
- vec:  passes · rows · ceil(cols / vec_lanes), passes per operation in `VEC_PASSES`; vdq does
        2 passes per block; vmm does min(M·N·ceil(K/L), M·K·ceil(N/L)) cycles (L lanes).
- a fused pre adds max(0, its table cycles at vec_lanes/4 groups per cycle − the vector op's
        cycles) to the occupancy of the vector instruction it follows, and pre_latency to its latency.

Energy (docs/ltc.md §5): operation counts × per-operation energies from Horowitz (ISSCC 2014,
45 nm) scaled by `energy_node_scale`; SRAM energy per 64-bit access fitted as a power law
through Horowitz's 8 KB (10 pJ) and 1 MB (100 pJ) points at the scratchpad's size; DRAM per byte
from the 64-bit access energy, counted on the bursts actually moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import isa
from .config import LTCConfig
from .isa import FORM_ENTRIES, Instr

#: vector passes (cycles per lane-vector) and per-element f32 (adds, multiplies) of each operation
VEC_PASSES = {
    "add": 1, "sub": 1, "mul": 1, "div": 4, "max": 1, "min": 1,
    "copy": 1, "neg": 1, "abs": 1, "relu": 1, "square": 1, "gelu": 4, "gelu_tanh": 4, "silu": 4,
    "sigmoid": 4, "tanh": 4, "exp": 4, "sqrt": 2, "rsqrt": 2, "recip": 2,
    "vsa": 1, "layernorm": 3, "rmsnorm": 2, "vsoftmax": 6, "vquant": 2, "vdq": 2,
}
VEC_OPS = {  # (f32 adds, f32 multiplies) per element
    "add": (1, 0), "sub": (1, 0), "mul": (0, 1), "div": (2, 4), "max": (1, 0), "min": (1, 0),
    "copy": (0, 0), "neg": (0, 0), "abs": (0, 0), "relu": (1, 0), "square": (0, 1),
    "gelu": (8, 9), "gelu_tanh": (8, 9), "silu": (8, 9), "sigmoid": (8, 8), "tanh": (8, 8), "exp": (7, 7),
    "sqrt": (2, 4), "rsqrt": (2, 4), "recip": (2, 4),
    "vsa": (1, 1), "layernorm": (3, 3), "rmsnorm": (1, 3), "vsoftmax": (9, 8), "vquant": (1, 1),
    "vdq": (2, 2), "vmm": (1, 1),
}


class Energy:
    """Per-operation energies in pJ at the configured node."""

    def __init__(self, cfg: LTCConfig):
        s = cfg.energy_node_scale
        self.add = {8: cfg.e_add8_pj * s, 16: cfg.e_add16_pj * s, 32: cfg.e_add32_pj * s}
        self.fadd = {16: cfg.e_fadd16_pj * s, 32: cfg.e_fadd32_pj * s}
        self.fmul = {16: cfg.e_fmul16_pj * s, 32: cfg.e_fmul32_pj * s}
        alpha = math.log(cfg.e_sram_1m_pj / cfg.e_sram_8k_pj) / math.log(128)
        self.sram_per_64b = cfg.e_sram_8k_pj * (cfg.spad_bytes / 8192) ** alpha * s
        self.sram_per_byte = self.sram_per_64b / 8
        self.dram_per_byte = cfg.e_dram_pj_per_64b / 8
        self.static_pj_per_cycle = cfg.static_mw * 1e-3 / cfg.clock_hz * 1e12

    def lookup(self, ttype: str) -> float:
        """One table-entry select (an 8:1 or 16:1 mux of one entry): assumed to cost as much as an
        add of the entry's width — Horowitz gives no multiplexer figure."""
        return self.add[8] if ttype == "i8" else self.add[16]

    def accumulate(self, ttype: str) -> float:
        return self.fadd[32] if ttype == "f16" else self.add[32]


@dataclass
class Cost:
    unit: str
    occupancy: int
    latency: int
    energy: dict = field(default_factory=dict)  # component -> pJ
    plane_macs: int = 0  # useful (unpadded) activation × weight-bit products of an lmma
    dram_read: int = 0
    dram_write: int = 0
    dram_burst_bytes: int = 0
    tag: str = ""
    pre_cycles: int = 0  # table-precompute cycles (standalone or the fused addition)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def vec_cycles(cfg: LTCConfig, passes: int, rows: int, cols: int) -> int:
    return passes * rows * _ceil(cols, cfg.vec_lanes)


def pre_table_cycles(cfg: LTCConfig, ins: Instr, groups_per_cycle: float) -> int:
    groups = ins["m"] * isa.table_groups(ins["k"])
    return math.ceil(groups * (2 if ins["ttype"] == "i8" else 1) / groups_per_cycle)


def cost_of(ins: Instr, cfg: LTCConfig, en: Energy) -> Cost:
    g = ins.__getitem__
    op = ins.op
    sram = en.sram_per_byte
    if op == "fence":
        return Cost("ctl", 0, 0)
    if op in ("dma.ld", "dma.st"):
        rows, rb = g("rows"), g("row_bytes")
        burst = cfg.dram_burst_bytes
        moved = rows * _ceil(rb, burst) * burst
        occ = math.ceil(moved / cfg.dram_bytes_per_cycle)
        payload = rows * rb
        c = Cost("ld" if op == "dma.ld" else "st", occ, cfg.dram_latency_cycles, {"dram": moved * en.dram_per_byte, "sram": payload * sram},
                 dram_burst_bytes=moved, tag=g("tag"))
        if op == "dma.ld":
            c.dram_read = payload
        else:
            c.dram_write = payload
        return c
    if op == "pre":
        occ = pre_table_cycles(cfg, ins, cfg.pre_groups_per_cycle)
        return Cost("pre", occ, cfg.pre_latency, pre_energy(ins, en), pre_cycles=occ)
    if op in ("lmma", "lmma.dq"):
        m, n, k, bits, tt = g("m"), g("n"), g("k"), g("bits"), g("ttype")
        mt, nt, kt = _ceil(m, cfg.tile_m), _ceil(n, cfg.tile_n), _ceil(k, cfg.tile_k)
        nb = k // g("block")
        lookups = mt * nt * kt * bits * cfg.tile_m * cfg.tile_n * (cfg.tile_k // 4)
        e_entry = FORM_ENTRIES[g("form")] * isa.itemsize(tt)
        # weight-stationary per (n-tile, k-tile): its weight bits are read once, every m-tile's table
        # entries stream past them
        w_bytes = nt * kt * cfg.tile_n * cfg.tile_k * bits / 8
        t_bytes = nt * kt * mt * cfg.tile_m * (cfg.tile_k // 4) * e_entry
        energy = {"lmma": lookups * (en.lookup(tt) + en.accumulate(tt)) + m * (k // 4) * en.accumulate(tt)}
        if op == "lmma":
            occ = mt * _ceil(nt, cfg.arrays) * kt * bits
            # accumulators and sums written once per block (read too when accumulating)
            a_bytes = (nb * m * n + m * nb) * 4 * (2 if g("accum") else 1)
            energy["sram"] = (w_bytes + t_bytes + a_bytes) * sram
            return Cost("lmma", occ, cfg.lmma_latency, energy, plane_macs=m * n * k * bits)
        # lmma.dq: each tile's block ends in the output stage (tile_m·tile_n outputs at dq_lanes per
        # cycle) while the next block's lookups run; a block costs the longer of the two
        block_cycles = max(_ceil(g("block"), cfg.tile_k) * bits, _ceil(cfg.tile_m * cfg.tile_n, cfg.dq_lanes))
        occ = mt * _ceil(nt, cfg.arrays) * nb * block_cycles
        # the stage reads each column's scale and zero point once per scale column (all m-tiles of a
        # weight-stationary tile share them) and each row's table scales once per n-tile; y stays in
        # the array's output buffer across the K range and is written once (read first with accum)
        scols = isa._cols(nb, g("s_div"), g("s_phase"))
        tcols = isa._cols(nb, g("t_div"), g("t_phase"))
        p_bytes = 2 * n * scols * 4 + nt * m * tcols * 4 + m * n * 4 * (2 if g("accum") else 1)
        energy["sram"] = (w_bytes + t_bytes + p_bytes) * sram
        energy["epilogue"] = nb * m * n * _vec_pj("vdq", en)  # vdq's arithmetic, in the array
        return Cost("lmma", occ, cfg.lmma_latency + cfg.dq_latency, energy, plane_macs=m * n * k * bits)
    # vector unit
    if op == "vdq":
        m, n, nb = g("m"), g("n"), g("nb")
        occ = vec_cycles(cfg, VEC_PASSES["vdq"] * nb, m, n)
        elems = nb * m * n
        nbytes = (elems + m * nb) * 4 + 2 * n * nb * 4 + m * nb * 4 + m * n * 4 * (2 if g("accum") else 1)
        return Cost("vec", occ, cfg.vec_latency, {"vector": elems * _vec_pj("vdq", en), "sram": nbytes * sram})
    if op == "vmm":
        m, n, k = g("m"), g("n"), g("k")
        L = cfg.vec_lanes
        occ = min(m * n * _ceil(k, L), m * k * _ceil(n, L))
        nbytes = m * k * isa.itemsize(g("a_dt")) + k * n * isa.itemsize(g("b_dt")) + m * n * 4 * (2 if g("accum") else 1)
        return Cost("vec", occ, cfg.vec_latency, {"vector": m * n * k * _vec_pj("vmm", en), "sram": nbytes * sram})
    rows, cols = g("rows"), g("cols")
    key = g("func") if op in ("vbin", "vun") else g("kind") if op == "vnorm" else op
    occ = vec_cycles(cfg, VEC_PASSES[key], rows, cols)
    elems = rows * cols
    dsz = 1 if op == "vquant" else isa.itemsize(g("dst_dt"))
    srcs = ("a", "b") if op == "vbin" else ("src",)
    nbytes = elems * dsz + sum(elems * isa.itemsize(g(f"{s}_dt")) for s in srcs)
    return Cost("vec", occ, cfg.vec_latency, {"vector": elems * _vec_pj(key, en), "sram": nbytes * sram})


def _vec_pj(key: str, en: Energy) -> float:
    adds, muls = VEC_OPS[key]
    return adds * en.fadd[32] + muls * en.fmul[32]


def pre_energy(ins: Instr, en: Energy) -> dict:
    """Table building: one add of the entry's width per entry (partial sums shared across entries);
    i8 tables add the group |a| sums (one f32 add per activation) and one f32 multiply per entry."""
    m, k, tt = ins["m"], ins["k"], ins["ttype"]
    k4 = isa.table_groups(k)
    entries = m * k4 * FORM_ENTRIES[ins["form"]]
    add = en.add[16] if ins["adt"] == "i8" else en.fadd[32]
    e = entries * add
    if tt == "i8":
        e += m * k * en.fadd[32] + entries * en.fmul[32]
    nbytes = m * k * isa.itemsize(ins["adt"]) + entries * isa.itemsize(tt) + m * _ceil(k, ins["act_group"]) * 4
    return {"precompute": e, "sram": nbytes * en.sram_per_byte}


def fused_pre_cost(host: Cost, ins: Instr, cfg: LTCConfig, en: Energy) -> Cost:
    """A fused precompute merged into its vector instruction: the table stage runs beside the
    element-wise op at vec_lanes/4 groups per cycle; only the part it does not hide is added.
    Its activations come straight from the vector pipeline (no scratchpad read)."""
    table = pre_table_cycles(cfg, ins, cfg.vec_lanes / 4)
    extra = max(0, table - host.occupancy)
    energy = dict(host.energy)
    pe = pre_energy(ins, en)
    pe["sram"] -= ins["m"] * ins["k"] * isa.itemsize(ins["adt"]) * en.sram_per_byte
    for k_, v in pe.items():
        energy[k_] = energy.get(k_, 0.0) + v
    return Cost("vec", host.occupancy + extra, host.latency + cfg.pre_latency, energy, pre_cycles=extra)
