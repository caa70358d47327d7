"""Packages of the small models: load, run, compare with the JIT and the reference
interpreter; byte-identical rebuilds; a fresh process without the compiler."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import tensorc
import tensorc.runtime as rt
from tcpkg_helpers import assert_compiler_free, read_entries, run_fresh


@pytest.mark.parametrize("name", ["mlp", "convnet", "tiny_transformer_block"])
def test_roundtrip_matches_jit_and_reference(built, name):
    b = built(name)
    model = rt.load(b.pkg)
    got = model(**b.feeds)
    jit = b.exe(**b.feeds)
    ref = tensorc.compile(b.prog, target="reference")(**b.feeds)
    assert list(got) == [s.name for s in b.prog.signature.outputs]
    for k in ref:
        assert got[k].shape == ref[k].shape and got[k].dtype == ref[k].dtype
        np.testing.assert_allclose(got[k], jit[k], rtol=1e-6, atol=1e-6, err_msg=k)
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-5, err_msg=k)
    # positional call, and the same arena every call (no allocation besides outputs)
    arena = model._arena
    again = model(*[b.feeds[s.name] for s in b.prog.signature.inputs])
    assert model._arena is arena
    for k in got:
        np.testing.assert_array_equal(again[k], got[k])


def test_manifest_and_layout(built):
    b = built("mlp")
    entries = read_entries(b.pkg)
    with zipfile.ZipFile(b.pkg) as z:
        infos = z.infolist()
    assert [i.filename for i in infos] == sorted(entries) == ["manifest.json", "model.so", "weights.bin"]
    for i in infos:
        assert i.date_time == (1980, 1, 1, 0, 0, 0) and i.extra == b""
    m = rt.package.read_manifest(b.pkg)
    assert m["format"] == "tcpkg" and m["format_version"] == 1
    assert m["inputs"] == [{"name": "x", "shape": [4, 256], "dtype": "float32"}]
    assert m["outputs"] == [{"name": "y", "shape": [4, 256], "dtype": "float32"}]
    assert m["weights"]["size"] == len(entries["weights.bin"])
    assert m["library"]["size"] == len(entries["model.so"])
    assert m["entry"]["symbol"] == "tc_entry"
    assert m["target"]["triple"] == b.exe.target_info.triple
    # the raw weights are the model's arrays at their recorded offsets (plain binary)
    blob = entries["weights.bin"]
    for t in m["weights"]["tensors"]:
        assert t["offset"] % 64 == 0
        w = np.frombuffer(blob[t["offset"] : t["offset"] + t["nbytes"]], np.float32)
        src = [a for n, a in b.exe._lowered.weights.items() if n == t["name"]][0]
        np.testing.assert_array_equal(w, np.asarray(src).reshape(-1))


def test_directory_package(built, tmp_path):
    b = built("convnet")
    with zipfile.ZipFile(b.pkg) as z:
        z.extractall(tmp_path / "unzipped")
    got = rt.load(tmp_path / "unzipped")(**b.feeds)
    np.testing.assert_array_equal(got["logits"], rt.load(b.pkg)(**b.feeds)["logits"])


def test_byte_identical_rebuild(built, tmp_path):
    from tensorc.package import compile_package

    b = built("tiny_transformer_block")
    first = compile_package(b.prog, tmp_path / "a" / "m.tcpkg")
    second = compile_package(b.prog, tmp_path / "b" / "m.tcpkg")
    data = first.path.read_bytes()
    assert data == second.path.read_bytes()
    assert data == b.pkg.read_bytes()  # exe.save() writes the same package as compile


def test_fresh_process_without_compiler(built, tmp_path):
    """Load + run with xdsl/onnx/llvmlite/torch imports failing, and `tensorc run` on it too."""
    b = built("mlp")
    np.save(tmp_path / "x.npy", b.feeds["x"])
    got, report = run_fresh(b.pkg, b.feeds, tmp_path,
                            cli_args=["run", str(b.pkg), "--input", f"x={tmp_path / 'x.npy'}",
                                      "--output-dir", str(tmp_path / "cli_out")])
    assert_compiler_free(report["modules"])
    assert_compiler_free(report["cli_modules"])
    assert "tensorc.runtime.package" in report["modules"]
    np.testing.assert_allclose(got["y"], b.exe(**b.feeds)["y"], rtol=1e-6, atol=1e-6)
    assert report["cli_rc"] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "cli_out" / "y.npy"), got["y"])
