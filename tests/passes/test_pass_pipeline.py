"""run_passes: pipeline parsing, errors, verification, printing, dumps, weights."""

from __future__ import annotations

import io
from dataclasses import dataclass

import ml_dtypes
import numpy as np
import pytest
from xdsl.dialects.builtin import IntegerAttr, i64
from xdsl.passes import ModulePass

from tensorc.diagnostics import PassError
from tensorc.dialects.tg import OPS
from tensorc.ir_text import parse_module, print_module
from tensorc.passes import registry
from tensorc.pipeline import NAMED_PIPELINES, load_dump, load_weights, parse_pipeline_spec, run_passes, save_weights
from tensorc.program import WeightStore

# ---- parsing and its errors -------------------------------------------------------


def test_spec_with_options_and_named_pipelines():
    passes = parse_pipeline_spec("cleanup,fold-constants{max-size=7}")
    names = [p.name for p in passes]
    assert names == NAMED_PIPELINES["cleanup"].split(",") + ["fold-constants"]
    assert passes[-1].max_size == 7


def test_xdsl_passes_are_available():
    assert [p.name for p in parse_pipeline_spec("licm")] == ["licm"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("canonicalise", "unknown pass 'canonicalise' (did you mean 'canonicalize'"),
        ("fold-constant", "did you mean 'fold-constants'"),
        ("cleanup{x=1}", "named pipeline 'cleanup' takes no options"),
        ("fold-constants{max-sise=3}", "pass 'fold-constants' has no option 'max-sise' (did you mean 'max-size'?); options: grow-weights, max-size"),
        ("fold-constants{max-size=big}", "bad option value in fold-constants{max-size=\"big\"}; options: max-size: int = 1024"),
        ("canonicalize{", "cannot parse pipeline 'canonicalize{' at column 14: Expected argument name here"),
    ],
)
def test_spec_errors(spec, message):
    with pytest.raises(PassError) as e:
        parse_pipeline_spec(spec)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_registry():
    assert registry.available() == sorted(registry.PASSES)
    for name in registry.available():
        cls = registry.get_pass(name)
        assert issubclass(cls, ModulePass) and cls.name == name
        assert registry.summary(name)
    with pytest.raises(KeyError, match="did you mean cse"):
        registry.get_pass("cs")


# ---- verification ----------------------------------------------------------------


@dataclass(frozen=True)
class BreakIR(ModulePass):
    """Adds an attribute tg.relu does not have."""

    name = "break-ir"

    def apply(self, ctx, op):
        for o in op.walk():
            if isinstance(o, OPS["relu"]):
                o.attributes["bogus"] = IntegerAttr(1, i64)


@dataclass(frozen=True)
class Crash(ModulePass):
    name = "crash"

    def apply(self, ctx, op):
        raise ZeroDivisionError("oops\nsecond line")


RELU = """
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = tg.relu(%x) {src = "act"} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
"""


def test_pass_that_breaks_the_ir_is_named(program, monkeypatch):
    monkeypatch.setitem(registry.PASSES, "break-ir", lambda: BreakIR)
    with pytest.raises(PassError) as e:
        run_passes(program(RELU), "canonicalize,break-ir,cse")
    assert str(e.value) == "pass 'break-ir' produced invalid IR: tg.relu (node 'act'): unknown attribute 'bogus'"


def test_pass_that_crashes_is_named(program, monkeypatch):
    monkeypatch.setitem(registry.PASSES, "crash", lambda: Crash)
    with pytest.raises(PassError) as e:
        run_passes(program(RELU), "crash")
    assert str(e.value) == "pass 'crash' failed: ZeroDivisionError: oops"
    assert isinstance(e.value.__cause__, ZeroDivisionError)


def test_invalid_input_is_reported_before_any_pass(program):
    prog = program(RELU.replace("{src", "{alpha = 1 : i64, src"))
    with pytest.raises(PassError, match="invalid IR before the first pass: tg.relu"):
        run_passes(prog, "canonicalize")


# ---- printing and dumps --------------------------------------------------------------


def test_print_ir_after_all(program):
    out = io.StringIO()
    run_passes(program("canon"), "canonicalize,cse", print_after_all=True, stream=out)
    text = out.getvalue()
    assert text.count("// -----// IR Dump After ") == 2
    assert "// -----// IR Dump After canonicalize //----- //\nbuiltin.module {" in text
    assert "IR Dump After cse" in text


def test_print_ir_after_one_pass(program):
    out = io.StringIO()
    run_passes(program("canon"), "canonicalize,cse,dce", print_after=["cse"], stream=out)
    assert out.getvalue().count("IR Dump After") == 1 and "IR Dump After cse" in out.getvalue()


def test_print_ir_after_unknown_pass(program):
    with pytest.raises(PassError, match="--print-ir-after: unknown pass 'csee'.*'cse'"):
        run_passes(program("canon"), "cse", print_after=["csee"])


def test_dump_dir(program, tmp_path):
    prog = program("fold")
    snapshots = []

    out = run_passes(prog, "canonicalize,fold-constants{max-size=8},dce", dump_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["00-input.mlir", "01-canonicalize.mlir", "02-fold-constants.mlir", "03-dce.mlir", "weights.npz"]
    # every dump parses back; the last one is the result
    for f in files[:-1]:
        snapshots.append(load_dump(tmp_path / f))
    assert snapshots[-1].is_structurally_equivalent(out.module)
    # the weights file holds every weight any dump refers to (before pruning)
    saved = load_weights(tmp_path / "weights.npz")
    for m in snapshots:
        for op in m.walk():
            if op.name == "tg.weight":
                assert op.weight_name in saved
    for name, arr in out.weights.items():
        np.testing.assert_array_equal(saved[name], arr)


def test_dump_of_input_equals_input(program, tmp_path):
    prog = program("convnet")
    original = prog.module.clone()
    run_passes(prog, "cleanup", dump_dir=tmp_path)
    assert load_dump(tmp_path / "00-input.mlir").is_structurally_equivalent(original)


def test_weights_file_roundtrips_exotic_dtypes(tmp_path):
    store = WeightStore(
        {
            "a/b": np.arange(6, dtype=np.float32).reshape(2, 3),
            "bf": np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16),
            "q": np.array([-8, 7], dtype=ml_dtypes.int4),
            "flag": np.array([True, False]),
            "file": np.zeros(3, np.int64),  # np.savez would take it for its own argument
        }
    )
    save_weights(tmp_path / "w.npz", store)
    back = load_weights(tmp_path / "w.npz")
    assert sorted(back) == sorted(store)
    for name, arr in store.items():
        assert back[name].dtype == arr.dtype
        np.testing.assert_array_equal(back[name].astype(np.float32), arr.astype(np.float32))
    with np.load(tmp_path / "w.npz", allow_pickle=False) as z:  # plain npz: no pickle needed
        assert "a/b" in z.files


# ---- text helpers --------------------------------------------------------------------


@pytest.mark.parametrize("generic", [False, True])
def test_print_parse_roundtrip(program, generic):
    prog = program("convnet")
    text = print_module(prog.module, generic=generic)
    assert text.endswith("\n") and ('"tg.conv"' in text) == generic
    assert parse_module(text).is_structurally_equivalent(prog.module)


def test_empty_pipeline_only_verifies_and_prunes(program):
    prog = program("cse")
    prog.weights.add("stale", np.zeros(2))
    out = run_passes(prog, "")
    assert list(out.weights) == ["w"]
