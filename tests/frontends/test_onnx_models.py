"""Real models through the ONNX importer + reference interpreter, against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import tensorc
from tensorc.context import make_context
from tensorc.tools.models import small
from xdsl.parser import Parser


def _ort(model, feeds):
    data = model if isinstance(model, (str, bytes)) else model.SerializeToString()
    sess = ort.InferenceSession(str(data) if isinstance(data, str) else data, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def _assert_roundtrip(prog):
    """The printed IR parses back to a structurally equal module (custom and generic forms)."""
    from tensorc.pipeline import print_module

    for generic in (False, True):
        text = print_module(prog.module, generic=generic)
        back = Parser(make_context(), text).parse_module()
        assert back.is_structurally_equivalent(prog.module)


def _check(model, feeds, rtol=1e-4, atol=1e-5, input_shapes=None):
    prog = tensorc.import_onnx(model, input_shapes=input_shapes)
    got = tensorc.compile(prog, target="reference")(**feeds)
    ref = _ort(model, feeds)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=rtol, atol=atol, err_msg=name)
    return prog


@pytest.mark.parametrize("builder", [lambda: small.mlp(64), small.convnet, small.tiny_transformer_block])
def test_small_models_match_onnxruntime(builder):
    model = builder()
    rng = np.random.default_rng(0)
    prog = tensorc.import_onnx(model)
    feeds = {s.name: rng.standard_normal(s.shape).astype(s.dtype) for s in prog.signature.inputs}
    _assert_roundtrip(_check(model, feeds))


def test_dynamic_batch_bound_at_import():
    model = small.mlp(None)
    x = np.random.default_rng(1).standard_normal((5, 256)).astype(np.float32)
    prog = _check(model, {"x": x}, input_shapes={"x": (5, 256)})
    assert prog.signature.inputs[0].shape == (5, 256)


def test_minilm_matches_onnxruntime(tmp_path):
    minilm = pytest.importorskip("tensorc.tools.models.minilm")
    path = minilm.minilm_onnx_cached()
    ids, mask = minilm.tokenize(minilm.SENTENCES)
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    prog = tensorc.import_onnx(path, input_shapes={k: v.shape for k, v in feeds.items()})
    got = tensorc.compile(prog)(**feeds)
    ref = _ort(str(path), feeds)
    (name,) = ref
    np.testing.assert_allclose(got[name], ref[name], rtol=1e-4, atol=1e-6)
    # a real embedding: unit rows, the two paraphrases close, unrelated sentences not
    emb = got[name]
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert emb[0] @ emb[1] > 0.8 and emb[0] @ emb[2] < 0.3
    _assert_roundtrip(prog)


def test_resnet18_matches_onnxruntime(tmp_path):
    resnet = pytest.importorskip("tensorc.tools.models.resnet")
    path = resnet.export_resnet18_onnx(tmp_path / "resnet18.onnx")
    x = np.random.default_rng(2).standard_normal((1, 3, 224, 224)).astype(np.float32)
    prog = _check(str(path), {"input": x} if "input" in _input_names(path) else {_input_names(path)[0]: x}, rtol=1e-4, atol=1e-4)
    _assert_roundtrip(prog)


def _input_names(path):
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return [i.name for i in m.graph.input if i.name not in inits]


def test_light_models_pass_and_roundtrip():
    """All 9 `light` real architectures of the onnx wheel, and their IR prints and parses back."""
    from tensorc.tools import conformance

    results = conformance.run_suite("reference", "light")
    assert [r.name for r in results if r.status != "passed"] == []
    assert len(results) == 9
    for case in conformance._load_cases("light")[:2]:
        model, _ = conformance._light_data(case)
        _assert_roundtrip(tensorc.import_onnx(model))
