"""Every pass computes the same numbers before and after, through the reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from tensorc.pipeline import run_passes

PROGRAMS = ["canon", "fold", "shapes", "cse", "convnet"]
# the tg -> tg passes (lowerings leave tg, and their backends test them) and pipelines of them
GRAPH_PASSES = ["canonicalize", "cse", "dce", "fold-constants", "fold-shapes"]
SPECS = [*GRAPH_PASSES, "cleanup", "fold-constants{max-size=4}", "fold-constants{max-size=4 grow-weights=true}"]


def assert_same(before, after):
    assert len(before) == len(after)
    for b, a in zip(before, after):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("name", PROGRAMS)
def test_same_numbers(name, spec, program, inputs, reference):
    prog = program(name)
    xs = inputs(prog)
    before = reference(prog, xs)
    after = reference(run_passes(prog.clone(), spec), xs)
    assert_same(before, after)


@pytest.mark.parametrize("name", PROGRAMS)
def test_cleanup_shrinks_or_keeps(name, program):
    """cleanup never grows a program (a weak check that the passes do something sane)."""
    prog = program(name)
    n_before = len(list(prog.main.body.block.ops))
    after = run_passes(prog.clone(), "cleanup")
    assert len(list(after.main.body.block.ops)) <= n_before


def _small_models():
    small = pytest.importorskip("tensorc.tools.models.small")
    return {"mlp": small.mlp, "convnet": small.convnet, "transformer": small.tiny_transformer_block}


@pytest.mark.parametrize("model", ["mlp", "convnet", "transformer"])
def test_onnx_models_cleanup(model):
    import tensorc

    proto = _small_models()[model]()
    prog = tensorc.import_onnx(proto)
    rng = np.random.default_rng(0)
    feeds = {s.name: rng.standard_normal(s.shape).astype(s.dtype) for s in prog.signature.inputs}
    before = tensorc.compile(prog)(**feeds)
    after = tensorc.compile(tensorc.lower(prog, "cleanup"))(**feeds)
    assert before.keys() == after.keys()
    assert_same(list(before.values()), list(after.values()))
