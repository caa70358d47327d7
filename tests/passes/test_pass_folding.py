"""fold-constants and fold-shapes with and without a WeightStore."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context

from tensorc.dialects.tg import ConstantOp, WeightOp
from tensorc.passes.fold_constants import FoldConstants
from tensorc.passes.fold_shapes import FoldShapes
from tensorc.passes.weights import current_weights, use_weights
from tensorc.pipeline import run_passes

TRANSPOSED_WEIGHT = """
func.func @main(%x: tensor<3x8xf32>) -> tensor<3x4xf32> {
  %w = tg.weight @fc.weight : tensor<4x8xf32>
  %wt = tg.transpose(%w) {perm = array<i64: 1, 0>, src = "fc/weight:T"} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  %y = tg.matmul(%x, %wt) : (tensor<3x8xf32>, tensor<8x4xf32>) -> tensor<3x4xf32>
  func.return %y : tensor<3x4xf32>
}
"""


def ops_of(prog, cls):
    return [op for op in prog.main.walk() if isinstance(op, cls)]


def test_large_result_becomes_a_weight_named_after_src(program):
    prog = program(TRANSPOSED_WEIGHT)
    w = prog.weights["fc.weight"]
    out = run_passes(prog, "fold-constants{max-size=16}")
    (new,) = ops_of(out, WeightOp)
    # characters that would need quoting in @symbols are replaced
    assert new.weight_name == "fc_weight_T"
    assert new.src.data == "fc/weight:T"
    np.testing.assert_array_equal(out.weights["fc_weight_T"], w.T)
    assert list(out.weights) == ["fc_weight_T"]  # the original was pruned


def test_small_result_becomes_a_constant(program):
    out = run_passes(program(TRANSPOSED_WEIGHT), "fold-constants")
    (const,) = ops_of(out, ConstantOp)
    assert const.result.type.get_shape() == (8, 4)
    assert not ops_of(out, WeightOp) and len(out.weights) == 0


def test_without_a_store_weights_are_left_alone(program):
    prog = program(TRANSPOSED_WEIGHT)
    assert current_weights() is None
    FoldConstants().apply(Context(), prog.module)
    assert len(ops_of(prog, WeightOp)) == 1 and not ops_of(prog, ConstantOp)


def test_folded_names_without_src_and_multiple_results(program):
    prog = program(
        """
func.func @main() -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<4x3xf32>) {
  %w = tg.weight @w : tensor<4x3xf32>
  %s:2 = tg.split(%w) {axis = 0 : i64, split = array<i64: 2, 2>} : (tensor<4x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>)
  %n = tg.neg(%w) : (tensor<4x3xf32>) -> tensor<4x3xf32>
  func.return %s#0, %s#1, %n : tensor<2x3xf32>, tensor<2x3xf32>, tensor<4x3xf32>
}
"""
    )
    w = prog.weights["w"]
    out = run_passes(prog, "fold-constants{max-size=1}")
    assert sorted(out.weights) == ["__folded_0", "__folded_0_0", "__folded_0_1"]
    np.testing.assert_array_equal(out.weights["__folded_0_1"], w[2:])
    np.testing.assert_array_equal(out.weights["__folded_0"], -w)


def test_non_finite_values_go_to_the_store(program):
    prog = program(
        """
func.func @main() -> tensor<2xf32> {
  %a = tg.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %b = tg.log(%a) : (tensor<2xf32>) -> tensor<2xf32>
  func.return %b : tensor<2xf32>
}
"""
    )
    out = run_passes(prog, "fold-constants")
    (w,) = ops_of(out, WeightOp)
    np.testing.assert_array_equal(out.weights[w.weight_name], [-np.inf, 0.0])


def test_packed_weights_are_not_read(program):
    prog = program(TRANSPOSED_WEIGHT)
    prog.weights.add("fc.weight", np.zeros(16, np.uint8))  # e.g. two int4 per byte
    out = run_passes(prog, "fold-constants")
    assert len(ops_of(out, WeightOp)) == 1


def test_interpreter_failure_leaves_the_op(program, monkeypatch):
    import tensorc.backends.reference as ref

    def broken(op, inputs, weights=None):
        raise ref.InterpreterError("no kernel")

    monkeypatch.setattr(ref, "evaluate_op", broken)
    out = run_passes(program(TRANSPOSED_WEIGHT), "fold-constants")
    assert len(ops_of(out, WeightOp)) == 1 and not ops_of(out, ConstantOp)


def test_fold_shapes_never_creates_weights(program):
    prog = program(
        """
func.func @main(%x: tensor<40x40xf32>) -> tensor<1600xi64> {
  %w = tg.weight @idx : tensor<1600xi64>
  %n = tg.neg(%w) : (tensor<1600xi64>) -> tensor<1600xi64>
  func.return %n : tensor<1600xi64>
}
"""
    )
    with use_weights(prog.weights):
        FoldShapes().apply(Context(), prog.module)
    assert len(prog.weights) == 1 and ops_of(prog, WeightOp)


def test_use_weights_nests_and_resets():
    from tensorc.program import WeightStore

    a, b = WeightStore(), WeightStore()
    with use_weights(a):
        with use_weights(b):
            assert current_weights() is b
        assert current_weights() is a
    assert current_weights() is None


@pytest.mark.parametrize("spec", ["fold-constants", "fold-shapes"])
def test_original_program_keeps_its_weights(program, spec):
    """run_passes works on its own copy of the store: a cloned Program's original is untouched."""
    prog = program(TRANSPOSED_WEIGHT)
    names = list(prog.weights)
    run_passes(prog.clone(), spec + ("{max-size=1}" if spec == "fold-constants" else ""))
    assert list(prog.weights) == names


DEQUANTIZE = """
func.func @main(%x: tensor<2x64xf32>) -> tensor<2x64xf32> {
  %q = tg.weight @q : tensor<64xi8>
  %s = tg.constant dense<0.5> : tensor<f32>
  %z = tg.constant dense<0> : tensor<i8>
  %w = tg.dequantize_linear(%q, %s, %z) {axis = 0 : i64} : (tensor<64xi8>, tensor<f32>, tensor<i8>) -> tensor<64xf32>
  %y = tg.mul(%x, %w) : (tensor<2x64xf32>, tensor<64xf32>) -> tensor<2x64xf32>
  func.return %y : tensor<2x64xf32>
}
"""


def test_weights_do_not_grow_unless_asked(program, reference, inputs):
    prog = program(DEQUANTIZE)
    xs = inputs(prog)
    before = reference(prog, xs)
    # the int8 weight would become a 4x larger float32 one: kept low-bit by default
    kept = run_passes(prog.clone(), "fold-constants{max-size=16}")
    assert [op.weight_name for op in ops_of(kept, WeightOp)] == ["q"]
    grown = run_passes(prog.clone(), "fold-constants{max-size=16 grow-weights=true}")
    (w,) = ops_of(grown, WeightOp)
    assert grown.weights[w.weight_name].dtype == np.float32
    np.testing.assert_array_equal(reference(grown, xs)[0], before[0])
