"""`tensorc bench ltc --quick` runs end to end and its records have the documented fields."""

from __future__ import annotations

import json

from tensorc.tools.bench_ltc import main, mac_baseline
from tensorc.runtime.ltc import LTCConfig


def test_quick_bench_records(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["--quick", "--parts", "a,c,d", "--json", str(out)]) == 0
    recs = json.loads(out.read_text())
    for r in recs:
        for key in ("experiment", "case", "cycles", "utilization", "dram_bytes", "energy_nj"):
            assert key in r
    a = [r for r in recs if r["experiment"] == "a"]
    assert a[0]["table_bytes"] == 2 * a[1]["table_bytes"]  # symmetrization halves the tables
    assert a[0]["table_broadcast_bytes"] == 2 * a[1]["table_broadcast_bytes"]
    c = {r["bits"]: r["cycles"] for r in recs if r["experiment"] == "c"}
    assert c[1] < c[2] < c[4]
    assert "## d. MAC baseline" in capsys.readouterr().out


def test_mac_baseline_is_compute_bound_at_batch_64():
    r = mac_baseline(64, 4096, 4096, 2, 128, LTCConfig())
    assert r["mac_cycles"] == 32 * 16 * 1024 and r["cycles"] >= r["mac_cycles"]


def test_bad_part_is_one_line(capsys):
    assert main(["--parts", "z"]) == 2
    assert capsys.readouterr().err.strip() == "error: --parts: unknown part 'z' (a, b, c, d, e)"
