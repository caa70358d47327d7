"""tensorc sim / disasm / asm: outputs, reports, round trips and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ltc_helpers import linear_program

from tensorc.quant import lut as L
from tensorc.tools.cli import main


@pytest.fixture
def files(tmp_path):
    prog, (codes, scales, zeros), _ = linear_program(2, 128, 128, bits=2, group=64, act_group=64, form="half",
                                                     table_type="i16")
    prog.save(tmp_path / "m.ltc")
    x = np.random.default_rng(0).integers(-128, 128, (2, 128)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    ref = L.direct_integer_dot(x, codes, scales, zeros, group=64, act_group=64)
    return tmp_path, ref


def test_sim_outputs_and_json_report(files, capsys):
    d, ref = files
    (d / "core.toml").write_text("dram_gbps = 16\n")
    rc = main(["sim", str(d / "m.ltc"), "--input", f"x={d / 'x.npy'}", "--ltc-config", str(d / "core.toml"),
               "--json", str(d / "r.json"), "--output-dir", str(d / "out")])
    assert rc == 0
    assert np.array_equal(np.load(d / "out" / "y.npy"), ref)
    rep = json.loads((d / "r.json").read_text())
    assert rep["config"]["dram_gbps"] == 16 and rep["cycles"] > 0 and rep["functional"] is True
    for key in ("utilization", "busy_fraction"):
        assert 0 < rep["array"][key] <= 1
    assert rep["dram_bytes"]["read"]["compulsory"] > 0 and rep["energy_nj"]["total"] > 0
    out = capsys.readouterr().out
    assert "cycles" in out and "DRAM read" in out and "energy" in out


def test_disasm_asm_round_trip(files, capsys):
    d, _ = files
    assert main(["disasm", str(d / "m.ltc"), "--data", "-o", str(d / "m.s")]) == 0
    assert main(["asm", str(d / "m.s"), "-o", str(d / "m2.ltc")]) == 0
    assert (d / "m.ltc").read_bytes() == (d / "m2.ltc").read_bytes()
    assert main(["disasm", str(d / "m.ltc")]) == 0
    assert "lmma.dq " in capsys.readouterr().out


@pytest.mark.parametrize("argv, msg", [
    (["sim", "{d}/m.ltc"], "error: input 'x' is missing"),
    (["sim", "{d}/m.ltc", "--input", "z={d}/x.npy"], "error: input 'z' is not an input of the program"),
    (["sim", "{d}/m.ltc", "--input", "x={d}/x.npy", "--ltc-config", "{d}/bad.json"],
     "error: {d}/bad.json: unknown key 'warp'"),
    (["sim", "{d}/trunc.ltc", "--input", "x={d}/x.npy"], "error: {d}/trunc.ltc: truncated instruction stream"),
    (["disasm", "{d}/nope.ltc"], "error: {d}/nope.ltc: cannot read"),
    (["asm", "{d}/bad.s"], "error: {d}/bad.s:2: unknown instruction 'lmmx'"),
])
def test_errors_are_one_line(files, capsys, argv, msg):
    d, _ = files
    (d / "bad.json").write_text('{"warp": 1}')
    (d / "bad.s").write_text("# x\nlmmx m=1\n")
    (d / "trunc.ltc").write_bytes((d / "m.ltc").read_bytes()[:-16])
    rc = main([a.format(d=d) for a in argv])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith(msg.format(d=d)) and err.count("\n") == 1, err
