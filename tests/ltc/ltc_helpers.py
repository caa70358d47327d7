"""Shared helpers of the LUT Tensor Core tests: random instructions, quantized weights, linear programs."""

from __future__ import annotations

import numpy as np

from tensorc.ltc import ProgramBuilder, emit_lut_linear
from tensorc.runtime.ltc import isa


def random_value(f: isa.Field, rng: np.random.Generator):
    """Any value the field's bits may hold validly (no semantic checks)."""
    if f.kind == "enum":
        return f.names[rng.integers(len(f.names))]
    if f.kind == "f32":
        while True:
            x = float(np.frombuffer(rng.integers(0, 1 << 32, dtype=np.uint64).astype(np.uint32).tobytes(), np.float32)[0])
            if np.isfinite(x):
                return x
    hi = f.max
    # favour the edges: 0/lo, max, and small values, besides uniform
    pick = rng.integers(4)
    if pick == 0:
        return f.lo
    if pick == 1:
        return hi
    if pick == 2:
        return int(rng.integers(f.lo, min(hi, f.lo + 16) + 1))
    return int(rng.integers(f.lo, hi + 1, dtype=np.uint64)) if hi >= 1 << 62 else int(rng.integers(f.lo, hi + 1))


def random_instr(op: str, rng: np.random.Generator) -> isa.Instr:
    spec = isa.OPS[op]
    return isa.Instr.make(op, **{f.name: random_value(f, rng) for f in spec.fields})


def make_weight(rng, n: int, k: int, bits: int, group: int, ternary: bool = False, zero: str = "int"):
    """codes uint8[N, K], scales f32 [N, K/G], zeros f32 [N, K/G] in docs/lut.md's conventions."""
    if ternary:
        codes = rng.integers(0, 3, (n, k)).astype(np.uint8)
        zeros = np.ones((n, k // group), np.float32)
    else:
        codes = rng.integers(0, 1 << bits, (n, k)).astype(np.uint8)
        if zero == "int":
            zeros = rng.integers(0, 1 << bits, (n, k // group)).astype(np.float32)
        else:  # the odd grid: (2^b - 1)/2, a half-integer
            zeros = np.full((n, k // group), ((1 << bits) - 1) / 2, np.float32)
    scales = rng.uniform(0.005, 0.05, (n, k // group)).astype(np.float32)
    return codes, scales, zeros


def linear_program(m, k, n, *, bits, group, act_group, form, table_type, adt="i8", codes=None, scales=None,
                   zeros=None, tiling=None, spad_bytes=None, rng=None, epilogue="array"):
    rng = rng or np.random.default_rng(0)
    if codes is None:
        codes, scales, zeros = make_weight(rng, n, k, bits, group)
    b = ProgramBuilder(spad_bytes)
    x = b.input("x", (m, k), adt)
    y = b.output("y", (m, n), "f32")
    til = emit_lut_linear(b, x=x, y=y, codes=codes, scales=scales, zeros=zeros, bits=bits, group=group,
                          act_group=act_group, form=form, table_type=table_type, tiling=tiling, epilogue=epilogue)
    return b.build(), (codes, scales, zeros), til
