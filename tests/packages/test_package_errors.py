"""Bad packages and bad inputs: each refused with a one-line error, before any code runs."""

from __future__ import annotations

import ctypes
import zipfile

import numpy as np
import pytest

import tensorc.runtime as rt
from tensorc.diagnostics import BackendError, InputError as CompilerInputError
from tensorc.runtime import cpu_features
from tensorc.runtime import package as rtpkg
from tcpkg_helpers import edit_manifest, rezip


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


@pytest.fixture
def no_code_loaded(monkeypatch, tmp_path):
    """Fail the test if the loader extracts or dlopens a library."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(cache))

    def refuse(*a, **k):
        raise AssertionError("the package's code was loaded")

    class NoCDLL:  # the runtime's view of ctypes, without dlopen
        CDLL = staticmethod(refuse)

        def __getattr__(self, name):
            return getattr(ctypes, name)

    monkeypatch.setattr(rtpkg, "ctypes", NoCDLL())
    monkeypatch.setattr(rtpkg, "_extract_library", refuse)
    yield
    assert not cache.exists() or not any(cache.iterdir())


def test_tampered_weights(built, tmp_path, no_code_loaded):
    b = built("mlp")

    def flip(entries):
        w = bytearray(entries["weights.bin"])
        w[100] ^= 1
        entries["weights.bin"] = bytes(w)

    bad = rezip(b.pkg, tmp_path / "tampered.tcpkg", flip)
    with pytest.raises(rt.ChecksumError) as e:
        rt.load(bad)
    assert "weights.bin" in _one_line(e) and "sha256" in str(e.value)


def test_tampered_library(built, tmp_path, no_code_loaded):
    b = built("mlp")

    def patch(entries):
        lib = bytearray(entries["model.so"])
        lib[-10] ^= 0xFF
        entries["model.so"] = bytes(lib)

    with pytest.raises(rt.ChecksumError) as e:
        rt.load(rezip(b.pkg, tmp_path / "t.tcpkg", patch))
    assert "model.so" in _one_line(e)


def test_truncated_weights(built, tmp_path, no_code_loaded):
    b = built("mlp")

    def cut(entries):
        entries["weights.bin"] = entries["weights.bin"][:-64]

    with pytest.raises(rt.ChecksumError) as e:
        rt.load(rezip(b.pkg, tmp_path / "t.tcpkg", cut))
    assert "weights.bin" in _one_line(e)


def test_corrupt_zip_member(built, tmp_path, no_code_loaded):
    """Bytes changed inside the zip without re-zipping: zip's CRC catches it; still one line."""
    b = built("mlp")
    data = bytearray(b.pkg.read_bytes())
    with zipfile.ZipFile(b.pkg) as z:
        info = z.getinfo("weights.bin")
    data[info.header_offset + 30 + len("weights.bin") + 1000] ^= 1  # inside the stored data
    bad = tmp_path / "crc.tcpkg"
    bad.write_bytes(bytes(data))
    with pytest.raises(rt.ChecksumError) as e:
        rt.load(bad)
    assert "weights.bin" in _one_line(e)


def test_other_format_version(built, tmp_path, no_code_loaded):
    b = built("mlp")
    bad = edit_manifest(b.pkg, tmp_path / "v2.tcpkg", lambda m: m.update(format_version=2))
    with pytest.raises(rt.FormatVersionError) as e:
        rt.load(bad)
    msg = _one_line(e)
    assert "version 2" in msg and "version 1" in msg and str(bad) in msg


def test_not_a_package(tmp_path, no_code_loaded):
    p = tmp_path / "junk.tcpkg"
    p.write_bytes(b"not a zip")
    with pytest.raises(rt.PackageError, match="not a tensorc package"):
        rt.load(p)
    with pytest.raises(rt.PackageError, match="no such file"):
        rt.load(tmp_path / "missing.tcpkg")


def test_malformed_manifest(built, tmp_path, no_code_loaded):
    b = built("mlp")

    def garble(entries):
        entries["manifest.json"] = b"{ not json"

    with pytest.raises(rt.PackageError, match="manifest.json is not valid JSON"):
        rt.load(rezip(b.pkg, tmp_path / "m.tcpkg", garble))
    no_lib = rezip(b.pkg, tmp_path / "nolib.tcpkg", lambda e: e.pop("model.so"))
    with pytest.raises(rt.PackageError, match="has no model.so"):
        rt.load(no_lib)
    no_key = edit_manifest(b.pkg, tmp_path / "nokey.tcpkg", lambda m: m["weights"].pop("sha256"))
    with pytest.raises(rt.PackageError, match="no 'weights.sha256'"):
        rt.load(no_key)


def _absent_feature() -> str:
    flags = cpu_features.host_flags()
    assert flags is not None, "this test needs /proc/cpuinfo"
    return next(f for f, flag in sorted(cpu_features.CPUINFO_FLAG.items()) if flag not in flags)


def test_missing_cpu_feature_refused_before_code_loads(built, tmp_path, no_code_loaded):
    b = built("mlp")
    feat = _absent_feature()
    bad = edit_manifest(b.pkg, tmp_path / "feat.tcpkg",
                        lambda m: m["target"]["required_cpu_features"].append(feat))
    with pytest.raises(rt.UnsupportedCPUError) as e:
        rt.load(bad)
    msg = _one_line(e)
    assert f"lacks feature(s) the package was compiled for: {feat}" in msg


def test_unknown_cpu_feature_refused(built, tmp_path, no_code_loaded):
    b = built("mlp")
    bad = edit_manifest(b.pkg, tmp_path / "fake.tcpkg",
                        lambda m: m["target"]["required_cpu_features"].append("tc-fake-feature"))
    with pytest.raises(rt.UnsupportedCPUError, match="cannot check .* tc-fake-feature"):
        rt.load(bad)


def test_other_architecture_refused(built, tmp_path, no_code_loaded):
    b = built("mlp")
    other = "aarch64-unknown-linux-gnu" if not b.exe.target_info.triple.startswith("aarch64") else "x86_64-unknown-linux-gnu"
    bad = edit_manifest(b.pkg, tmp_path / "arch.tcpkg", lambda m: m["target"].update(triple=other))
    with pytest.raises(rt.UnsupportedCPUError, match=f"compiled for {other}"):
        rt.load(bad)


def test_wrong_inputs_at_call_time(built):
    """Same one-line messages as the JIT: unknown name, shape, dtype, missing, too many."""
    b = built("mlp")
    model = rt.load(b.pkg)
    x = b.feeds["x"]
    cases = [
        ((), {"z": x}),
        ((), {"x": x[:2]}),
        ((), {"x": x.astype(np.float64)}),
        ((), {}),
        ((x, x), {}),
        ((x,), {"x": x}),
    ]
    for args, kwargs in cases:
        with pytest.raises(rt.InputError) as got:
            model(*args, **kwargs)
        with pytest.raises(CompilerInputError) as jit:
            b.exe(*args, **kwargs)
        assert _one_line(got) == str(jit.value)
    assert isinstance(got.value, ValueError)


def test_missing_linker(built, tmp_path, monkeypatch):
    from tensorc.package import compile_package

    b = built("mlp")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CC", raising=False)
    out = tmp_path / "nolinker.tcpkg"
    with pytest.raises(BackendError) as e:
        compile_package(b.prog, out)
    assert _one_line(e) == (
        "no C compiler/linker found (looked for cc, gcc, clang on PATH): install gcc "
        "(Debian/Ubuntu: apt-get install gcc; Fedora: dnf install gcc) or point CC at one"
    )
    assert not out.exists()
    monkeypatch.setenv("CC", "no-such-cc")
    with pytest.raises(BackendError, match="CC=no-such-cc is not an executable"):
        b.exe.save(out)
    assert not out.exists()


def test_guard_itself_catches_loading(built, no_code_loaded):
    """The `no_code_loaded` guard above does notice a load (so the tests using it mean something)."""
    with pytest.raises(AssertionError, match="code was loaded"):
        rt.load(built("mlp").pkg)
