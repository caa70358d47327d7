"""Real models as packages: resnet18 (random weights) and MiniLM, against onnxruntime,
loaded in a fresh process in which xdsl/onnx/llvmlite cannot be imported.

These are acceptance tests of issue 3 and run by default (~20 s); TENSORC_SKIP_BIG_TESTS=1 skips them.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tcpkg_helpers import check_package

pytestmark = pytest.mark.skipif(os.environ.get("TENSORC_SKIP_BIG_TESTS") == "1", reason="TENSORC_SKIP_BIG_TESTS=1")


def _ort(path, feeds):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def test_resnet18_package(tmp_path):
    resnet = pytest.importorskip("tensorc.tools.models.resnet")
    path = resnet.export_resnet18_onnx(tmp_path / "resnet18.onnx")
    feeds = {"input": np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)}
    pkg, _, times = check_package(path, feeds, tmp_path, oracle=_ort(path, feeds), rtol=1e-4, atol=1e-4,
                                  rebuild=True, name="resnet18")
    print("resnet18", times)


def test_minilm_package(tmp_path):
    minilm = pytest.importorskip("tensorc.tools.models.minilm")
    try:
        path = minilm.minilm_onnx_cached()
    except Exception as e:  # noqa: BLE001 - the trained weights are an optional install
        pytest.skip(f"MiniLM not available: {e}")
    ids, mask = minilm.tokenize(minilm.SENTENCES[:1], max_len=128)  # batch 1, 128 tokens
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    shapes = {k: v.shape for k, v in feeds.items()}
    pkg, _, times = check_package(path, feeds, tmp_path, input_shapes=shapes, oracle=_ort(path, feeds),
                                  rtol=1e-4, atol=1e-4, name="minilm")
    print("minilm", times)
