"""The `tensorc` command, run in-process through main(argv)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tensorc
from tensorc.tools.cli import main

RNG = np.random.default_rng(0)
W = RNG.standard_normal((3, 4)).astype(np.float32)  # used transposed: a fold-constants target
B = RNG.standard_normal(3).astype(np.float32)


def _model(batch) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Transpose", ["w"], ["wt"], name="wt", perm=[1, 0]),
        helper.make_node("MatMul", ["x", "wt"], ["mm"], name="mm"),
        helper.make_node("Add", ["mm", "b"], ["pre"], name="add"),
        helper.make_node("Relu", ["pre"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
        [numpy_helper.from_array(W, "w"), numpy_helper.from_array(B, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_model(2), path)
    return str(path)


@pytest.fixture
def dynamic_model(tmp_path):
    path = tmp_path / "dyn.onnx"
    onnx.save(_model("N"), path)
    return str(path)


@pytest.fixture
def x_npy(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, RNG.standard_normal((2, 4)).astype(np.float32))
    return str(path)


def expected(x):
    return np.maximum(x @ W.T + B, 0)


# ---- success paths ---------------------------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"tensorc {tensorc.__version__}"


def test_import_prints_ir(model, capsys):
    assert main(["import", model]) == 0
    out = capsys.readouterr().out
    assert "func.func @main(%x: tensor<2x4xf32>)" in out and "tg.matmul" in out


def test_import_with_pipeline_dumps_and_files(model, tmp_path, capsys):
    out_file, dump, wfile = tmp_path / "o.mlir", tmp_path / "ir", tmp_path / "w.npz"
    rc = main(
        ["import", model, "-p", "cleanup", "--print-ir-after", "fold-constants", "--dump-ir", str(dump),
         "-o", str(out_file), "--save-weights", str(wfile)]
    )
    assert rc == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("IR Dump After") == 1 and "IR Dump After fold-constants" in captured.err
    assert (dump / "00-input.mlir").exists() and (dump / "05-dce.mlir").exists()
    text = out_file.read_text()
    assert "tg.transpose" not in text  # folded into a constant


def test_import_generic(model, capsys):
    assert main(["import", model, "--generic"]) == 0
    assert '"tg.matmul"' in capsys.readouterr().out


def test_run_prints_a_summary(model, x_npy, capsys):
    assert main(["run", model, "--input", f"x={x_npy}"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("y: 2x3 float32  [")


def test_run_output_dir(model, x_npy, tmp_path, capsys):
    outdir = tmp_path / "outs"
    assert main(["run", model, "--input", f"x={x_npy}", "-p", "cleanup", "--output-dir", str(outdir)]) == 0
    y = np.load(outdir / "y.npy")
    np.testing.assert_allclose(y, expected(np.load(x_npy)), rtol=1e-5, atol=1e-6)
    assert capsys.readouterr().out.strip() == f"y: wrote {outdir / 'y.npy'}"


def test_run_binds_dynamic_shapes_from_the_inputs(dynamic_model, tmp_path, capsys):
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    np.save(tmp_path / "x5.npy", x)
    assert main(["run", dynamic_model, "--input", f"x={tmp_path / 'x5.npy'}", "--output-dir", str(tmp_path)]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected(x), rtol=1e-5, atol=1e-6)


def test_run_mlir_with_saved_weights(model, x_npy, tmp_path, capsys):
    ir, wfile = tmp_path / "m.mlir", tmp_path / "w.npz"
    assert main(["import", model, "-o", str(ir), "--save-weights", str(wfile)]) == 0
    assert main(["run", str(ir), "--weights", str(wfile), "--input", f"in0={x_npy}", "--output-dir", str(tmp_path)]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "out0.npy"), expected(np.load(x_npy)), rtol=1e-5, atol=1e-6)


def test_passes_lists_passes_and_pipelines(capsys):
    assert main(["passes"]) == 0
    out = capsys.readouterr().out
    for name in ["canonicalize", "cse", "dce", "fold-constants", "fold-shapes", "cleanup"]:
        assert f"  {name} " in out


def test_opt_is_delegated(tmp_path, capsys):
    src = tmp_path / "a.mlir"
    src.write_text(
        "func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
        "  %a = tg.identity(%x) : (tensor<2xf32>) -> tensor<2xf32>\n"
        "  func.return %a : tensor<2xf32>\n}\n"
    )
    assert main(["opt", str(src), "-p", "canonicalize"]) == 0
    out = capsys.readouterr().out
    assert "tg.identity" not in out and "func.return %x" in out


# ---- errors: one line, exit 1 -------------------------------------------------------------


def _bad_npy(tmp_path):
    p = tmp_path / "bad.npy"
    p.write_text("not numpy")
    return str(p)


def _wrong_shape(tmp_path):
    p = tmp_path / "x3.npy"
    np.save(p, np.zeros((3, 4), np.float32))
    return str(p)


def _invalid_ir(tmp_path):
    p = tmp_path / "bad.mlir"
    p.write_text(
        "func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
        "  %a = tg.add(%x) : (tensor<2xf32>) -> tensor<2xf32>\n"
        "  func.return %a : tensor<2xf32>\n}\n"
    )
    return str(p)


ERRORS = [
    (lambda m, x, t: ["import", str(t / "missing.onnx")], "missing.onnx: no such file"),
    (lambda m, x, t: ["import", m, "-p", "canonicalise"], "unknown pass 'canonicalise' (did you mean 'canonicalize'"),
    (lambda m, x, t: ["import", m, "--input-shape", "nope=1"], "--input-shape names unknown input 'nope'"),
    (lambda m, x, t: ["import", m, "-o", str(t / "no" / "dir" / "o.mlir")], "No such file or directory"),
    (lambda m, x, t: ["run", m, "--input", f"x={_bad_npy(t)}"], "is not a .npy array file"),
    (lambda m, x, t: ["run", m, "--input", f"x={t / 'none.npy'}"], "input 'x': cannot read"),
    (lambda m, x, t: ["run", m, "--input", f"z={x}"], "--input 'z' is not an input of the model (inputs: x)"),
    (lambda m, x, t: ["run", m], "missing input(s): x"),
    (lambda m, x, t: ["run", m, "--input", f"x={_wrong_shape(t)}"], "input 'x': expected shape [2, 4], got [3, 4]"),
    (lambda m, x, t: ["run", m, "--input", f"x={x}", "--target", "tpu"], "unknown target 'tpu'"),
    (lambda m, x, t: ["opt", str(t / "none.mlir")], "none.mlir: No such file or directory"),
    (lambda m, x, t: ["opt", _invalid_ir(t)], "tg.add: expects 2 operands, got 1"),
    (lambda m, x, t: ["opt", _invalid_ir(t), "-p", "cse{x=1}"], "pass 'cse' has no option 'x'"),
]


@pytest.mark.parametrize("argv, message", ERRORS, ids=[m for _, m in ERRORS])
def test_errors_are_one_line(argv, message, model, x_npy, tmp_path, capsys):
    assert main(argv(model, x_npy, tmp_path)) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert message in lines[0]


def test_debug_shows_the_exception(tmp_path):
    with pytest.raises(tensorc.TensorcError):
        main(["--debug", "import", str(tmp_path / "missing.onnx")])
    with pytest.raises(OSError):
        main(["--debug", "opt", str(tmp_path / "missing.mlir")])


@pytest.mark.parametrize(
    "argv",
    [["run"], ["run", "m.onnx", "--input", "x"], ["import", "m.onnx", "--input-shape", "x=1,a"], ["frobnicate"], []],
)
def test_usage_errors_exit_2(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    assert rc == 2


# ---- the installed command --------------------------------------------------------------


def _tensorc_exe():
    exe = os.path.join(os.path.dirname(sys.executable), "tensorc")
    if not os.path.exists(exe):
        pytest.skip("the tensorc console script is not installed next to this Python")
    return exe


def test_console_script():
    r = subprocess.run([_tensorc_exe(), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("tensorc ")


def test_cli_module_imports_lazily():
    """Importing the CLI must not pull in onnx, the importer or the pass machinery."""
    code = (
        "import sys, tensorc.tools.cli\n"
        "heavy = [m for m in ('onnx', 'tensorc.frontends.onnx', 'tensorc.pipeline', 'xdsl.xdsl_opt_main') if m in sys.modules]\n"
        "print(heavy)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
