"""The machine configuration of the simulated LUT Tensor Core: every parameter in one place.

`LTCConfig()` is the default core (docs/ltc.md §1 explains each number and where it comes from);
`load_config("core.toml")` (or .json) overrides any subset. Unknown keys, wrong types and
impossible values are refused with one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import LTCConfigError


def _p(default, doc, unit=""):
    return field(default=default, metadata={"doc": doc, "unit": unit})


@dataclass(frozen=True)
class LTCConfig:
    # ---- clock
    clock_mhz: float = _p(1000.0, "core clock", "MHz")
    # ---- LMMA array (one table lookup per weight group per cycle, one bit-plane per cycle)
    tile_m: int = _p(2, "array tile rows M (activation rows sharing a weight group)")
    tile_n: int = _p(64, "array tile columns N (weight rows sharing a table entry)")
    tile_k: int = _p(4, "array tile depth K in activations (a multiple of 4: K/4 lookups summed per cycle)")
    arrays: int = _p(4, "LMMA arrays working in parallel on different N tiles")
    lmma_latency: int = _p(8, "pipeline fill + drain of one lmma instruction", "cycles")
    dq_lanes: int = _p(64, "f32 lanes of each array's dequantizing output stage (lmma.dq): outputs it "
                           "scales and adds per cycle")
    dq_latency: int = _p(4, "extra latency of lmma.dq's output stage (R, two f32 multiplies, one add)", "cycles")
    # ---- table precompute unit
    pre_groups_per_cycle: float = _p(4.0, "table groups (4 activations each) the precompute unit builds per "
                                          "cycle (a fraction: one group every 1/x cycles)")
    pre_latency: int = _p(4, "precompute pipeline latency", "cycles")
    # ---- vector unit
    vec_lanes: int = _p(64, "f32 lanes of the vector unit (element-operations per cycle)")
    vec_latency: int = _p(8, "vector pipeline latency", "cycles")
    # ---- scratchpad
    spad_bytes: int = _p(2 * 1024 * 1024, "on-chip scratchpad size", "bytes")
    # ---- DMA / DRAM
    dram_gbps: float = _p(64.0, "DRAM bandwidth", "GB/s (1e9 bytes/s)")
    dram_latency_ns: float = _p(100.0, "DRAM access latency (request to first byte)", "ns")
    dram_burst_bytes: int = _p(64, "DRAM burst: each row of a DMA transfer moves whole bursts", "bytes")
    # ---- front end
    queue_depth: int = _p(8, "instruction queue entries per unit (dispatch stalls when full)")
    # ---- energy (docs/ltc.md §5: Horowitz, ISSCC 2014, 45 nm, 0.9 V; scaled by energy_node_scale)
    energy_node_scale: float = _p(28 / 45, "logic and SRAM energy scale from 45 nm (classical, constant "
                                           "voltage: 28/45 for 28 nm); DRAM is not scaled")
    e_add8_pj: float = _p(0.03, "8-bit integer add (45 nm)", "pJ")
    e_add16_pj: float = _p(0.05, "16-bit integer add (45 nm)", "pJ")
    e_add32_pj: float = _p(0.1, "32-bit integer add (45 nm)", "pJ")
    e_mul8_pj: float = _p(0.2, "8-bit integer multiply (45 nm)", "pJ")
    e_mul32_pj: float = _p(3.1, "32-bit integer multiply (45 nm)", "pJ")
    e_fadd16_pj: float = _p(0.4, "16-bit float add (45 nm)", "pJ")
    e_fadd32_pj: float = _p(0.9, "32-bit float add (45 nm)", "pJ")
    e_fmul16_pj: float = _p(1.1, "16-bit float multiply (45 nm)", "pJ")
    e_fmul32_pj: float = _p(3.7, "32-bit float multiply (45 nm)", "pJ")
    e_sram_8k_pj: float = _p(10.0, "64-bit read of an 8 KB SRAM (45 nm)", "pJ")
    e_sram_1m_pj: float = _p(100.0, "64-bit read of a 1 MB SRAM (45 nm)", "pJ")
    e_dram_pj_per_64b: float = _p(1300.0, "64-bit DRAM access (Horowitz: 1.3–2.6 nJ; the low end)", "pJ")
    static_mw: float = _p(0.0, "static (leakage) power charged per cycle", "mW")

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise LTCConfigError(f"config key '{f.name}': expected a number, got {v!r}")
            if isinstance(f.default, int) and not isinstance(v, int):
                if isinstance(v, float) and v.is_integer():
                    object.__setattr__(self, f.name, int(v))
                else:
                    raise LTCConfigError(f"config key '{f.name}': expected an integer, got {v!r}")
            v = getattr(self, f.name)
            if not math.isfinite(v) or v < 0 or (v == 0 and f.name not in _MAY_BE_ZERO):
                raise LTCConfigError(f"config key '{f.name}': {v!r} must be positive")
        if self.tile_k % 4:
            raise LTCConfigError(f"config key 'tile_k': {self.tile_k} is not a multiple of 4 (one table group "
                                 f"covers 4 activations)")
        if self.spad_bytes > 1 << 24:
            raise LTCConfigError(f"config key 'spad_bytes': {self.spad_bytes} exceeds the ISA's 24-bit "
                                 f"scratchpad addresses (16 MiB)")

    # ---- derived quantities (cycles) ---------------------------------------------------------------

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_gbps * 1e9 / self.clock_hz

    @property
    def dram_latency_cycles(self) -> int:
        return math.ceil(self.dram_latency_ns * self.clock_mhz / 1000 - 1e-9)  # ns × GHz, float fuzz trimmed

    @property
    def tile_macs(self) -> int:
        """Weight-bit × activation products the arrays do per cycle (one bit-plane)."""
        return self.tile_m * self.tile_n * self.tile_k * self.arrays

    def replace(self, **changes) -> "LTCConfig":
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise LTCConfigError(f"unknown config key '{sorted(unknown)[0]}'")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_MAY_BE_ZERO = {"lmma_latency", "dq_latency", "pre_latency", "vec_latency", "dram_latency_ns", "static_mw"} | {
    f.name for f in fields(LTCConfig) if f.name.startswith("e_")}


def config_from_dict(d: dict, source: str = "config") -> LTCConfig:
    if not isinstance(d, dict):
        raise LTCConfigError(f"{source}: expected a table of keys, got {type(d).__name__}")
    known = {f.name for f in fields(LTCConfig)}
    for k in d:
        if k not in known:
            raise LTCConfigError(f"{source}: unknown key '{k}' (known: {', '.join(sorted(known))})")
    try:
        return LTCConfig(**d)
    except LTCConfigError as e:
        raise LTCConfigError(f"{source}: {e}") from None


def load_config(path: str | Path | None) -> LTCConfig:
    """LTCConfig from a .json or .toml file of flat keys (None: the default core)."""
    if path is None:
        return LTCConfig()
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise LTCConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    if p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise LTCConfigError(f"{p}: TOML configs need Python 3.11 (tomllib); use JSON") from None
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise LTCConfigError(f"{p}: not valid TOML: {e}") from None
    else:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise LTCConfigError(f"{p}: not valid JSON: {e.msg} at line {e.lineno}") from None
    return config_from_dict(d, str(p))


def config_doc_table() -> str:
    """The markdown table of docs/ltc.md §1 (kept in sync by a test)."""
    rows = ["| key | default | unit | meaning |", "|---|---|---|---|"]
    for f in fields(LTCConfig):
        d = f.default
        shown = f"{d:.6g}" if isinstance(d, float) else str(d)
        rows.append(f"| `{f.name}` | {shown} | {f.metadata['unit']} | {f.metadata['doc']} |")
    return "\n".join(rows)
