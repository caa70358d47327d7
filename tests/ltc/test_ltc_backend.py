"""The ltc backend: lut programs compiled to .ltc and simulated, against the reference interpreter.

Integer path (i8 activations, i16 tables): bit-exact for GEMV and GEMM at 1-4 bits and ternary, in
every table form; the DRAM bytes the simulator counts equal what the memory plan predicts; the
binary stream and the assembly round-trip every compiled instruction.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tensorc.backends.ltc import compile_ltc
from tensorc.backends.reference import run_function
from tensorc.dialects.ltc import module_to_stream
from tensorc.ir_text import parse_module, print_module
from tensorc.ltc import assemble, disassemble
from tensorc.quant import lut as L
from tensorc.runtime.ltc import LTCConfig, isa, program_from_bytes, simulate

sys.path.insert(0, str(Path(__file__).parents[1] / "lowbit"))
from lut_programs import lut_program  # noqa: E402


def weight(rng, n, k, bits, group, ternary=False):
    codes = rng.integers(0, 3 if ternary else 1 << bits, size=(n, k), dtype=np.uint8)
    scales = rng.uniform(0.05, 2, size=(n, k // group)).astype(np.float32)
    if ternary:
        zeros = np.ones((n, k // group), np.float32)
    else:
        zeros = rng.integers(0, 1 << bits, size=(n, k // group)).astype(np.float32)
    return codes, scales, zeros


def check_traffic(c, rep):
    """The simulator's DRAM counters equal the plan's prediction, class by class."""
    t, d = c.traffic, rep["dram_bytes"]
    assert d["read"]["retrieve"] == t["read_retrieve"]
    assert d["write"]["spill"] == t["write_spill"]
    assert d["write"]["compulsory"] == t["write_compulsory"]
    assert d["read"]["compulsory"] == t["read_compulsory_activations"] + t["read_weights"]
    assert d["total"] == t["total"]
    # the plan's non-compulsory traffic is its spills and re-reads
    assert t["read_retrieve"] + t["write_spill"] == c.program.meta["plan"]["traffic_non_compulsory"]


def check_round_trips(c):
    prog = c.program
    # binary: encode → decode is the identity on every instruction
    again = program_from_bytes(prog.to_bytes())
    assert again.instrs == prog.instrs
    # text: disassemble → assemble gives the same bytes
    assert assemble(disassemble(prog, data=True)).to_bytes() == prog.to_bytes()
    # the ltc dialect prints and parses back to the same stream
    assert module_to_stream(parse_module(print_module(c.stream))) == prog.instrs


CASES = [(1, False), (2, False), (3, False), (4, False), (2, True)]


@pytest.mark.parametrize("bits,ternary", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("m", [1, 6], ids=["gemv", "gemm"])
@pytest.mark.parametrize("form", ["unsigned", "signed", "half"])
def test_integer_path_bit_exact(bits, ternary, m, form):
    rng = np.random.default_rng(bits * 10 + m + len(form))
    k, n, group, ag = 256, 192, 64, 32
    codes, scales, zeros = weight(rng, n, k, bits, group, ternary)
    prog = lut_program((m, k), [(codes, scales, zeros, bits, group)], act_group=ag, form=form, table_type="i16")
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    want = run_function(prog.main, [a], prog.weights)[0]
    # both epilogues see every bit width, GEMV and GEMM: the vector one (lmma + vdq) on the signed form
    epilogue = "vector" if form == "signed" else "array"
    c = compile_ltc(prog, time_limit=2, epilogue=epilogue)
    assert ("lmma.dq" in {i.op for i in c.program.instrs}) == (epilogue == "array")
    res = simulate(c.program, {"a": a})
    np.testing.assert_array_equal(res.outputs["y0"].view(np.int32), want.view(np.int32))
    # and the reference itself is the exact integer dot (the oracle of docs/lut.md)
    direct = L.direct_integer_dot(a, codes, scales, zeros, group=group, act_group=ag)
    np.testing.assert_array_equal(want.view(np.int32), direct.view(np.int32))
    check_traffic(c, res.report)
    check_round_trips(c)


def test_int8_tables_and_shared_precompute_bit_exact():
    """i8 tables (quantized per activation group) shared by two matmuls of different bit widths."""
    rng = np.random.default_rng(3)
    k = 128
    layers = [(*weight(rng, 64, k, 2, 32), 2, 32), (*weight(rng, 96, k, 4, 64), 4, 64)]
    prog = lut_program((3, k), layers, act_group=32, form="half", table_type="i8")
    a = rng.integers(-128, 128, size=(3, k), dtype=np.int8)
    want = run_function(prog.main, [a], prog.weights)
    c = compile_ltc(prog, time_limit=2)
    res = simulate(c.program, {"a": a})
    for i in range(2):
        np.testing.assert_array_equal(res.outputs[f"y{i}"].view(np.int32), want[i].view(np.int32))
    check_traffic(c, res.report)
    check_round_trips(c)
    assert sum(ins.op == "pre" for ins in c.program.instrs) == 1


@pytest.mark.parametrize("epilogue", ["array", "vector"])
def test_small_workspace_tiles_n_and_k_and_stays_exact(epilogue):
    """A workspace too small for the whole weight: N and K chunks, double-buffered tiles."""
    rng = np.random.default_rng(4)
    m, k, n = 4, 512, 512
    codes, scales, zeros = weight(rng, n, k, 3, 128)
    prog = lut_program((m, k), [(codes, scales, zeros, 3, 128)], act_group=64, form="signed", table_type="i16")
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    want = run_function(prog.main, [a], prog.weights)[0]
    cfg = LTCConfig(spad_bytes=96 * 1024)
    c = compile_ltc(prog, config=cfg, workspace=16 * 1024, time_limit=2, epilogue=epilogue)
    look = [i for i in c.program.instrs if i.op == {"array": "lmma.dq", "vector": "lmma"}[epilogue]]
    outs = [i for i in c.program.instrs if i.op == {"array": "lmma.dq", "vector": "vdq"}[epilogue]]
    assert len({i["tab"] for i in look}) >= 2 and len({i["y"] for i in outs}) >= 2  # K chunks, N chunks
    res = simulate(c.program, {"a": a}, cfg)
    np.testing.assert_array_equal(res.outputs["y0"].view(np.int32), want.view(np.int32))
    check_traffic(c, res.report)
    check_round_trips(c)
    # every weight byte is read from DRAM exactly once
    assert c.traffic["read_weights"] == 3 * n * k // 8 + 2 * n * (k // 128) * 4


def test_dialect_ops_are_the_isa():
    from tensorc.dialects.ltc import OPS, op_name

    assert set(OPS) == set(isa.OPS)
    for name, cls in OPS.items():
        assert cls.name == op_name(name)


def test_compiling_twice_gives_the_same_bytes():
    rng = np.random.default_rng(9)
    codes, scales, zeros = weight(rng, 128, 128, 2, 64)
    prog = lut_program((2, 128), [(codes, scales, zeros, 2, 64)], act_group=32, form="half", table_type="i16")
    a = compile_ltc(prog, time_limit=2).program.to_bytes()
    b = compile_ltc(prog, time_limit=2).program.to_bytes()
    assert a == b
