"""`tensorc bench bfp`: dispatch, the quick run and its JSON records."""

from __future__ import annotations

import json

from tensorc.tools import cli

FIELDS = {"model", "format", "block", "rearrange", "k_channel_sqnr_db", "logits_sqnr_db", "zeroed_frac", "cosine",
          "bits_per_elem"}


def test_help(capsys):
    try:
        cli.main(["bench", "bfp", "--help"])
    except SystemExit as e:
        assert e.code == 0
    assert "tensorc bench bfp" in capsys.readouterr().out


def test_quick_run_writes_records(tmp_path, capsys):
    out = tmp_path / "bfp.json"
    assert cli.main(["bench", "bfp", "--quick", "--models", "rope", "--json", str(out)]) == 0
    records = json.loads(out.read_text())
    assert [r["rearrange"] for r in records] == ["none", "weight-norm", "static", "calibration"]
    for r in records:
        assert FIELDS <= set(r) and r["model"] == "rope-decoder" and r["format"] == "bfp12" and r["block"] == 32
        assert r["bits_per_elem"] == 4.25 and r["qk_rel_change"] <= 1e-5
    none, wn, static, cal = records
    assert wn["k_channel_sqnr_db"] > none["k_channel_sqnr_db"]  # K-sort regroups the outlier channels
    assert cal["logits_sqnr_db"] >= none["logits_sqnr_db"]
    assert "| bfp12 | 32 |" in capsys.readouterr().out
