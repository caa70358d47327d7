"""`tensorc compile / run / inspect` on packages; errors are one line `error: ...`, exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from tensorc.tools.cli import main
from tensorc.tools.models import small
from tcpkg_helpers import edit_manifest


@pytest.fixture(scope="module")
def onnx_mlp(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "mlp.onnx"
    onnx.save(small.mlp(None), path)
    return path


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_compile_run_inspect(onnx_mlp, tmp_path, capsys):
    pkg = tmp_path / "m.tcpkg"
    assert main(["compile", str(onnx_mlp), "--input-shape", "x=3,256", "-o", str(pkg)]) == 0
    assert f"wrote {pkg}" in capsys.readouterr().out

    # the same build in another process (other hash seed): byte-identical
    other = tmp_path / "other.tcpkg"
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    proc = subprocess.run([sys.executable, "-m", "tensorc.tools.cli", "compile", str(onnx_mlp),
                           "--input-shape", "x=3,256", "-o", str(other)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert other.read_bytes() == pkg.read_bytes()

    x = np.random.default_rng(0).standard_normal((3, 256)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(pkg), "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    y = np.load(tmp_path / "out" / "y.npy")
    assert main(["run", str(onnx_mlp), "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path / "ref")]) == 0
    np.testing.assert_allclose(y, np.load(tmp_path / "ref" / "y.npy"), rtol=1e-4, atol=1e-5)

    assert main(["inspect", str(pkg)]) == 0
    text = capsys.readouterr().out
    for needle in ("format    tcpkg version 1", "runs here yes", "checksum  weights.bin: ok",
                   "checksum  model.so: ok", "  x: 3x256 float32", "  y: 3x256 float32", "arena"):
        assert needle in text, text
    assert main(["inspect", "--json", str(pkg)]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"][0]["shape"] == [3, 256]


def test_compile_generic_cpu(onnx_mlp, tmp_path, capsys):
    pkg = tmp_path / "g.tcpkg"
    assert main(["compile", str(onnx_mlp), "--input-shape", "x=1,256", "--cpu", "generic", "-o", str(pkg)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(pkg)]) == 0
    assert "requires  no CPU features" in capsys.readouterr().out
    np.save(tmp_path / "x.npy", np.ones((1, 256), np.float32))
    assert main(["run", str(pkg), "--input", f"x={tmp_path / 'x.npy'}"]) == 0
    assert capsys.readouterr().out.startswith("y: 1x256 float32")


def test_cli_errors_are_one_line(built, onnx_mlp, tmp_path, capsys, monkeypatch):
    b = built("mlp")  # x: 4x256 float32
    np.save(tmp_path / "bad.npy", np.ones((4, 256), np.int32))
    assert main(["run", str(b.pkg), "--input", f"x={tmp_path / 'bad.npy'}"]) == 1
    assert "expected dtype float32, got int32" in _err(capsys)

    v2 = edit_manifest(b.pkg, tmp_path / "v2.tcpkg", lambda m: m.update(format_version=2))
    np.save(tmp_path / "x.npy", b.feeds["x"])
    assert main(["run", str(v2), "--input", f"x={tmp_path / 'x.npy'}"]) == 1
    assert "package format version 2, but this runtime reads version 1" in _err(capsys)
    assert main(["inspect", str(v2)]) == 0
    assert "cannot load" in capsys.readouterr().out

    feat = edit_manifest(b.pkg, tmp_path / "f.tcpkg", lambda m: m["target"]["required_cpu_features"].append("tc-fake"))
    assert main(["run", str(feat), "--input", f"x={tmp_path / 'x.npy'}"]) == 1
    assert "tc-fake" in _err(capsys)

    assert main(["run", str(tmp_path / "nope.tcpkg")]) == 1
    assert "no such file" in _err(capsys)
    assert main(["run", str(b.pkg), "--input-shape", "x=1,256"]) == 1
    assert "does not apply to a compiled package" in _err(capsys)

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    assert main(["compile", str(onnx_mlp), "--input-shape", "x=1,256", "-o", str(tmp_path / "n.tcpkg")]) == 1
    assert "no C compiler/linker found" in _err(capsys)
