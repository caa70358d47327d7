"""`tensorc bench ltc --quick` runs end to end and its records have the documented fields."""

from __future__ import annotations

import json

from tensorc.tools.bench_ltc import main, mac_baseline
from tensorc.runtime.ltc import LTCConfig


def test_quick_bench_records(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["--quick", "--parts", "a,b,c,d", "--json", str(out)]) == 0
    recs = json.loads(out.read_text())
    for r in recs:
        for key in ("experiment", "case", "cycles", "utilization", "dram_bytes", "energy_nj"):
            assert key in r
    a = [r for r in recs if r["experiment"] == "a"]
    assert a[0]["table_bytes"] == 2 * a[1]["table_bytes"]  # symmetrization halves the tables
    assert a[0]["table_broadcast_bytes"] == 2 * a[1]["table_broadcast_bytes"]
    c_recs = {r["bits"]: r for r in recs if r["experiment"] == "c"}
    assert c_recs[1]["cycles"] < c_recs[2]["cycles"] < c_recs[4]["cycles"]
    assert "## d. MAC baseline" in capsys.readouterr().out
    # b: fusion lowers the share and the overhead; the paper-implied unit reproduces its calibration point
    b = {(r["layer"], r["fused"], r["pre_unit"]): r for r in recs if r["experiment"] == "b"}
    for (layer, fused, unit), r in b.items():
        if not fused:
            f = b[layer, True, unit]
            assert f["precompute_share"] < r["precompute_share"] and f["overhead"] <= r["overhead"]
    assert abs(b["small SwiGLU", False, "paper-implied"]["overhead"] - 0.0842) < 0.002
    # d: the array epilogue (lmma.dq) saves the accumulators' scratchpad traffic
    d = {(r["case"].split(" W")[0], r["bits"]): r for r in recs if r["experiment"] == "d"}
    for bits in (1, 2, 4):
        vec, arr = d["LTC lmma+vdq (vector epilogue)", bits], c_recs[bits]
        assert arr["energy_parts_nj"]["sram"] < vec["energy_parts_nj"]["sram"]


def test_mac_baseline_is_compute_bound_at_batch_64():
    r = mac_baseline(64, 4096, 4096, 2, 128, LTCConfig())
    assert r["mac_cycles"] == 32 * 16 * 1024 and r["cycles"] >= r["mac_cycles"]


def test_bad_part_is_one_line(capsys):
    assert main(["--parts", "z"]) == 2
    assert capsys.readouterr().err.strip() == "error: --parts: unknown part 'z' (a, b, c, d, e)"
