"""The cosma pass: the plan in the IR (mem dialect), numerics unchanged, errors, the plan tool."""

import json

import numpy as np
import pytest
from xdsl.dialects import func

import tensorc
from tensorc.backends.reference.interpreter import evaluate_op
from tensorc.context import make_context
from tensorc.dialects import mem
from tensorc.ir_text import parse_module, print_module
from tensorc.passes.cosma import Cosma
from tensorc.planning.cosma import ScratchpadTooSmall
from tensorc.tools.models.small import convnet, tiny_transformer_block

SKIP_IR = """
func.func @main(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %w1 = tg.weight @w1 : tensor<16x64xf32>
  %w2 = tg.weight @w2 : tensor<64x16xf32>
  %a = tg.relu(%x) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %b = tg.matmul(%a, %w1) : (tensor<4x16xf32>, tensor<16x64xf32>) -> tensor<4x64xf32>
  %c = tg.relu(%b) : (tensor<4x64xf32>) -> tensor<4x64xf32>
  %d = tg.matmul(%c, %w2) : (tensor<4x64xf32>, tensor<64x16xf32>) -> tensor<4x16xf32>
  %e = tg.add(%a, %d) {src = "residual"} : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  func.return %e : tensor<4x16xf32>
}
"""


def _context():
    ctx = make_context()
    if "mem" not in ctx.registered_dialect_names:
        ctx.register_dialect("mem", lambda: mem.MEM)
    return ctx


def _run_planned(fn: func.FuncOp, args, weights):
    """Execute a planned function: mem copies are identities, tg ops run on the reference kernels."""
    env = dict(zip(fn.body.block.args, args))
    for op in fn.body.block.ops:
        if isinstance(op, func.ReturnOp):
            return [env[v] for v in op.operands]
        if isinstance(op, mem.PlaceOp):
            continue
        if isinstance(op, (mem.RetrieveOp, mem.SpillOp, mem.StoreOp)):
            env[op.result] = env[op.source]
            continue
        for r, v in zip(op.results, evaluate_op(op, [env[o] for o in op.operands], weights)):
            env[r] = v
    raise AssertionError("no func.return")


def _plan(prog, **options):
    module = prog.module.clone()
    Cosma(**options).apply(_context(), module)
    module.verify()
    return module


@pytest.mark.parametrize("model,feeds", [
    (convnet, {"x": (1, 3, 32, 32)}),
    (tiny_transformer_block, None),
])
@pytest.mark.parametrize("options", [
    {"scratchpad": "auto:MR"},
    {"scratchpad": "auto:MR", "weights": True},
    {"mode": "min-peak"},
    {"mode": "fixed-schedule", "scratchpad": "auto:MH"},
])
def test_planned_program_computes_the_same(model, feeds, options):
    prog = tensorc.lower(tensorc.import_onnx(model()), "cleanup")
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s.shape).astype(s.dtype) for s in prog.signature.inputs]
    want = list(tensorc.compile(prog)(**{s.name: a for s, a in zip(prog.signature.inputs, args)}).values())
    module = _plan(prog, time_limit=5, **options)
    fn = next(o for o in module.ops if isinstance(o, func.FuncOp))
    got = _run_planned(fn, args, prog.weights)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    assert fn.attributes["mem.plan"].data["mode"].data == options.get("mode", "traffic")


def test_plan_in_ir_is_explicit_and_round_trips():
    prog = tensorc.Program(parse_module(SKIP_IR), tensorc.WeightStore())
    module = _plan(prog, scratchpad="auto:MR", time_limit=5)
    text = print_module(module)
    assert text.count("mem.spill") == 1 and text.count("mem.retrieve") == 2  # %x, and %a back
    assert "traffic = 128 : i64" in text and 'status = "optimal"' in text
    from xdsl.parser import Parser

    again = Parser(_context(), text).parse_module()
    again.verify()
    assert print_module(again) == text
    generic = print_module(module, generic=True)
    assert print_module(Parser(_context(), generic).parse_module()) == text


def test_scratchpad_below_m_r_is_one_line():
    prog = tensorc.Program(parse_module(SKIP_IR), tensorc.WeightStore())
    with pytest.raises(ScratchpadTooSmall) as e:
        _plan(prog, scratchpad=500)
    msg = str(e.value)
    assert "\n" not in msg and "M_R = 512 bytes" in msg and "tg.relu" in msg
    assert isinstance(e.value, tensorc.TensorcError)


def test_plan_tool_writes_json(tmp_path, capsys):
    from tensorc.tools.plan import main

    path = tmp_path / "convnet.onnx"
    import onnx

    onnx.save(convnet(), path)
    out = tmp_path / "plan.json"
    assert main([str(path), "--scratchpad", "auto:MR", "--mode", "traffic", "--json", str(out), "--time-limit", "5"]) == 0
    doc = json.loads(out.read_text())
    assert doc["bounds"]["M_R"] == doc["capacity"] and doc["status"] in ("optimal", "feasible")
    assert len(doc["plan"]["steps"]) == doc["graph"]["operators"] == len(doc["plan"]["order"])
    assert {b["method"] for b in doc["baselines"]} == {"tflite-default-belady", "tflite-default-greedy",
                                                       "tflite-min-peak-belady", "tflite-min-peak-greedy"}
    assert "M_R =" in capsys.readouterr().out
    assert main([str(path), "--scratchpad", "10"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: scratchpad of 10 bytes is smaller than M_R") and "\n" not in err


def test_reorder_only_for_targets_with_their_own_arena():
    prog = tensorc.lower(tensorc.import_onnx(tiny_transformer_block()), "cleanup")
    module = _plan(prog, mode="min-peak", explicit=False, time_limit=5)
    text = print_module(module)
    assert "mem.plan" in text and "mem.retrieve" not in text and "mem.place" not in text
    fn = next(o for o in module.ops if isinstance(o, func.FuncOp))
    rng = np.random.default_rng(1)
    args = [rng.standard_normal(s.shape).astype(s.dtype) for s in prog.signature.inputs]
    want = tensorc.compile(prog)(**{s.name: a for s, a in zip(prog.signature.inputs, args)})
    for g, w in zip(_run_planned(fn, args, prog.weights), want.values()):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
