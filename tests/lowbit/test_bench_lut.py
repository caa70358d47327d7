"""`tensorc bench lut` on a tiny configuration: the JSON schema, and every engine computing the same
thing as the dequantize-then-matmul oracle (a benchmark must compare engines that agree)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tensorc.tools import bench_lut

REQUIRED = {"shape", "bits", "batch", "threads", "engine", "median_us", "gbps", "cache"}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Two tiny runs (every bit width, batch 1 and 3): a 64 KiB "LLC" keeps the DRAM rotation
    short, 3 runs in one turn keep it to seconds (most of the time is compiling)."""
    out = []
    for i, (bits, batch) in enumerate((("1,4", "1"), ("2,ternary", "3"))):
        path = tmp_path_factory.mktemp("bench") / f"lut{i}.json"
        rc = bench_lut.main(["--shapes", "48x256", "--bits", bits, "--batches", batch, "--threads", "1",
                             "--part", "kernels", "--runs", "3", "--rounds", "1", "--turn-ms", "0",
                             "--llc-mib", "0.0625", "--json", str(path)])
        assert rc == 0
        out += json.loads(path.read_text())
    return out


def test_schema(records):
    gemv = [r for r in records if r["kind"] == "gemv"]
    env = [r for r in records if r["kind"] == "env"]
    assert len(env) == 2 and all(r["llc_bytes"] == 65536 for r in env)
    stream = [r for r in records if r["kind"] == "stream"]
    assert sorted(r["method"] for r in stream) == ["numpy", "numpy", "tensorc", "tensorc"]
    assert all(r["gbps"] > 0 and r["bytes"] >= 4 * r["llc_bytes"] for r in stream)
    # every (bits, engine) has a dram and a resident record
    assert len(gemv) == 4 * len(bench_lut.ENGINES) * 2
    assert {(r["bits"], r["ternary"], r["batch"]) for r in gemv} == {(1, False, 1), (4, False, 1), (2, False, 3),
                                                                       (2, True, 3)}
    for r in gemv:
        assert REQUIRED <= set(r), r
        assert r["shape"] == [48, 256] and r["threads"] == 1 and r["cache"] in ("dram", "resident")
        if r["median_us"] is None:
            assert r["gbps"] is None and r["note"], r  # an n/a row says why
            continue
        assert r["median_us"] > 0 and r["runs"] >= 3 and r["p10_us"] <= r["median_us"] <= r["p90_us"]
        assert r["gbps"] == pytest.approx(r["weight_bytes"] / r["median_us"] / 1e3)
        assert r["stream_gbps"] > 0
        if r["cache"] == "dram":
            assert r["copies"] >= 2 and r["rotation_bytes"] == r["copies"] * r["weight_bytes"]
        if r["engine"] == "tensorc-lut":
            assert r["precompute_us"] is not None and 0 < r["precompute_us"]


def test_engines_agree_with_oracle(records):
    ran = [r for r in records if r["kind"] == "gemv" and r["median_us"] is not None]
    for r in ran:
        assert r["nmse"] <= bench_lut.NMSE_MAX, r
    measured = {(r["engine"], r["bits"], r["ternary"]) for r in ran}
    for bits, ternary in ((1, False), (2, False), (4, False), (2, True)):
        for engine in ("tensorc-lut", "tensorc-fused", "numpy-dequant", "f32-numpy", "f32-tensorc"):
            assert (engine, bits, ternary) in measured, (engine, bits, ternary)
        # onnxruntime's MatMulNBits takes 2 and 4 bits (ternary as 2-bit codes with zero point 1)
        assert (("onnxruntime", bits, ternary) in measured) == (bits != 1)
    one_bit_ort = [r for r in records if r["kind"] == "gemv" and r["engine"] == "onnxruntime" and r["bits"] == 1]
    assert all("onnxruntime refuses" in r["note"] for r in one_bit_ort)


def test_report(records, tmp_path, capsys):
    path = tmp_path / "all.json"
    path.write_text(json.dumps(records))
    assert bench_lut.main(["--report", str(path)]) == 0
    text = capsys.readouterr().out
    assert "| 48×256 | 1 | 4 | 1 |" in text and "| 48×256 | 3 | ternary | 1 |" in text
    assert "oracle (NMSE ≤ 0.0005): yes." in text


def test_weight_rotation_reads_the_other_copy():
    """One compiled function on another weight blob: a zeroed copy must give zeros."""
    import tensorc

    rng = np.random.default_rng(1)
    w = rng.standard_normal((40, 64)).astype(np.float32)
    x = rng.standard_normal((2, 64)).astype(np.float32)
    exe = tensorc.compile(bench_lut.dense_program(w, 2), target="llvm-cpu", threads=1)
    g = bench_lut.CompiledGemv(exe, [x], 2)
    g.blobs[1][:] = 0
    g.run(0)
    np.testing.assert_allclose(g.outputs[0], x @ w.T, rtol=1e-5, atol=1e-5)
    g.run(1)
    assert not g.outputs[0].any()


def test_numpy_dequant_matches_library_dequantize():
    from tensorc.quant.lowbit import QuantizedWeight

    rng = np.random.default_rng(2)
    for v in map(bench_lut.Variant.parse, ("1", "2", "4", "ternary")):
        qw = bench_lut.random_weight(24, 256, v, 128, rng)
        assert isinstance(qw, QuantizedWeight)
        x = rng.standard_normal((3, 256)).astype(np.float32)
        b = bench_lut.build_numpy_dequant(qw, x, llc=1 << 16)
        b.run(b.copies - 1)
        ref = bench_lut.oracle(x, qw.dequantize())
        assert bench_lut.nmse(b.output(0), ref) < 1e-12


def test_ort_sessions_with_threads():
    """With 2 threads the rotated sessions do not spin and the resident rows get their own session."""
    rng = np.random.default_rng(3)
    qw = bench_lut.random_weight(32, 256, bench_lut.Variant.parse("4"), 128, rng)
    x = rng.standard_normal((2, 256)).astype(np.float32)
    b = bench_lut.build_ort(qw, x, threads=2, llc=1 << 14)
    sessions = b.keep[0]
    assert b.resident == b.copies == len(sessions) - 1 >= 2
    def spins(sess):
        try:
            return sess.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") != "0"
        except RuntimeError:  # not set: onnxruntime's default, spinning
            return True

    assert [spins(s) for s in sessions] == [False] * b.copies + [True]
    ref = bench_lut.oracle(x, qw.dequantize())
    for i in range(b.copies + 1):
        b.run(i)
        assert bench_lut.nmse(b.output(i), ref) <= bench_lut.NMSE_MAX


@pytest.mark.parametrize("argv, message", [
    (["--shapes", "64x100"], "multiple of the group"),
    (["--shapes", "64by128"], "not NxK"),
    (["--bits", "5"], "unknown width"),
    (["--engines", "tensorc-magic"], "unknown engine"),
])
def test_bad_flags(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        bench_lut.main(argv + ["--part", "kernels"])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
