"""Which SIMD instructions the low-bit kernels (`lowbit.py`, `lut.py`) may use.

The f32 perf kernels write generic `vector<16xf32>` code that LLVM legalizes for any target; the
LUT kernels cannot: a byte shuffle with a run-time index (x86 `pshufb`) has no generic LLVM IR
form, so they emit x86 intrinsics (`cpu.vshuffle_bytes`, `cpu.vdot_bytes`, ...) and must know the
target's features when the kernels are built. `convert-tg-to-loops{cpu=host|generic simd=...}`
sets the level for the duration of the pass:

| level    | vector | needs                 | used for                                         |
|----------|--------|-----------------------|--------------------------------------------------|
| `avx512` | 64 B   | avx512bw (+ avx512vnni: `vpdpbusd`, else `pmaddubsw`+`pmaddwd`) | LUT mpGEMM |
| `avx2`   | 32 B   | avx2 (+ avx512vl & avx512vnni, or avxvnni: 256-bit `vpdpbusd`) | LUT mpGEMM |
| `generic`| —      | nothing               | scalar table lookups (`--cpu generic`)           |

`simd=auto` (the default) takes the best level the CPU has; `simd=avx2` / `simd=generic` force a
lower one, and a `-novnni` suffix (`avx512-novnni`) leaves `vpdpbusd` out (tests run every kernel
variant on one machine).
"""

from __future__ import annotations

import contextvars
import functools
from contextlib import contextmanager
from dataclasses import dataclass

LEVELS = ("avx512", "avx2", "generic")


@dataclass(frozen=True)
class Isa:
    level: str  # avx512 | avx2 | generic
    vnni: bool = False  # vpdpbusd at this vector width

    @property
    def vbytes(self) -> int:
        """Bytes per SIMD register of the LUT kernels (0: scalar)."""
        return {"avx512": 64, "avx2": 32}.get(self.level, 0)


GENERIC = Isa("generic")
_CURRENT: contextvars.ContextVar[Isa | None] = contextvars.ContextVar("lowbit_isa", default=None)


def isa_for(cpu: str = "host", simd: str = "auto") -> Isa:
    """The level for target `cpu` (host | generic), capped by `simd` (auto | avx512 | avx2 | generic).
    ValueError (one line) for an unknown value or a level the CPU lacks."""
    level, novnni = (simd[: -len("-novnni")], True) if simd.endswith("-novnni") else (simd, False)
    if level not in ("auto", *LEVELS) or (novnni and level == "generic"):
        raise ValueError(f"unknown simd level '{simd}' (use auto, {', '.join(LEVELS)}, optionally -novnni)")
    isa = _isa_for(cpu, level)
    return Isa(isa.level, vnni=False) if novnni else isa


@functools.cache
def _isa_for(cpu: str, simd: str) -> Isa:
    from tensorc.backends.llvm.codegen import host_target

    info = host_target(cpu)  # ValueError for an unknown cpu
    feats = {f[1:] for f in info.features.split(",") if f.startswith("+")}
    x86 = info.triple.startswith(("x86_64", "i686", "i386"))
    best = GENERIC
    if x86 and "avx2" in feats:
        best = Isa("avx2", vnni="avxvnni" in feats or {"avx512vl", "avx512vnni"} <= feats)
    if x86 and {"avx512f", "avx512bw"} <= feats:
        best = Isa("avx512", vnni="avx512vnni" in feats)
    if simd == "auto":
        return best
    if LEVELS.index(simd) < LEVELS.index(best.level):
        raise ValueError(f"simd level '{simd}' is not available on cpu '{cpu}' (best: {best.level})")
    if simd == "avx2":
        return Isa("avx2", vnni=best.vnni and ("avxvnni" in feats or {"avx512vl", "avx512vnni"} <= feats))
    return best if simd == best.level else GENERIC


@contextmanager
def use_isa(isa: Isa):
    token = _CURRENT.set(isa)
    try:
        yield isa
    finally:
        _CURRENT.reset(token)


def current_isa() -> Isa:
    """The level set by the running `convert-tg-to-loops`, else the host's best."""
    isa = _CURRENT.get()
    return isa if isa is not None else isa_for("host")
