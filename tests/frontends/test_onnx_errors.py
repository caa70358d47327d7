"""Bad input gets one line naming the file / node / input, a non-zero exit, and no traceback."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import tensorc
from tensorc.diagnostics import ImportError_, ShapeError, UnsupportedOpError
from tensorc.tools.cli import main


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def _relu_model(shape=(2, 3)):
    return _model([helper.make_node("Relu", ["x"], ["y"], name="r")], [_vi("x", shape)], [_vi("y", shape)])


def _cli_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


def test_truncated_file(tmp_path, capsys):
    good = _relu_model().SerializeToString()
    path = tmp_path / "trunc.onnx"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ImportError_, match="trunc.onnx"):
        tensorc.import_onnx(path)
    assert "trunc.onnx" in _cli_error(capsys, ["import", str(path)])


def test_garbage_file(tmp_path, capsys):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(bytes(range(256)) * 7)
    assert "garbage.onnx" in _cli_error(capsys, ["import", str(path)])


def test_missing_file(tmp_path, capsys):
    assert "nope.onnx" in _cli_error(capsys, ["import", str(tmp_path / "nope.onnx")])


def test_missing_initializer(tmp_path, capsys):
    m = _model([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], [_vi("x", [2, 3])], [_vi("y", [2, 4])])
    path = tmp_path / "noinit.onnx"
    onnx.save(m, path)
    line = _cli_error(capsys, ["import", str(path)])
    assert "'mm'" in line and "'W'" in line


def test_cycle(tmp_path, capsys):
    m = _model(
        [helper.make_node("Relu", ["b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2")],
        [_vi("x", [2])],
        [_vi("b", [2])],
    )
    path = tmp_path / "cycle.onnx"
    onnx.save(m, path)
    assert "cycle" in _cli_error(capsys, ["import", str(path)])


def test_unknown_op(tmp_path, capsys):
    m = _model([helper.make_node("FancyOp", ["x"], ["y"], name="weird")], [_vi("x", [2])], [_vi("y", [2])])
    with pytest.raises(UnsupportedOpError) as e:
        tensorc.import_onnx(m)
    assert (e.value.node, e.value.op_type, e.value.opset) == ("weird", "FancyOp", 17)
    path = tmp_path / "unknown.onnx"
    onnx.save(m, path)
    line = _cli_error(capsys, ["import", str(path)])
    assert "'weird'" in line and "FancyOp" in line and "opset 17" in line


def test_unbound_dynamic_dimension(tmp_path, capsys):
    m = _relu_model(("batch", 3))
    path = tmp_path / "dyn.onnx"
    onnx.save(m, path)
    with pytest.raises(ShapeError, match="'x'.*'batch'"):
        tensorc.import_onnx(path)
    line = _cli_error(capsys, ["import", str(path)])
    assert "'x'" in line and "--input-shape" in line
    # bound, it imports
    assert tensorc.import_onnx(path, input_shapes={"x": (5, 3)}).signature.inputs[0].shape == (5, 3)
    assert main(["import", str(path), "--input-shape", "x=5,3"]) == 0


def test_input_shape_conflicts_with_declared(tmp_path):
    with pytest.raises(ShapeError, match="x=4,4"):
        tensorc.import_onnx(_relu_model(), input_shapes={"x": (4, 4)})
    with pytest.raises(ShapeError, match="unknown input 'z'"):
        tensorc.import_onnx(_relu_model(), input_shapes={"z": (4, 4)})


def test_input_file_of_wrong_shape(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(_relu_model(), path)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 3), np.float32))
    line = _cli_error(capsys, ["run", str(path), "--input", f"x={x}"])
    assert "'x'" in line and "[2, 3]" in line and "[3, 3]" in line
    np.save(x, np.zeros((2, 3), np.float64))
    assert "dtype" in _cli_error(capsys, ["run", str(path), "--input", f"x={x}"])


def test_wrong_input_name_at_call_time():
    exe = tensorc.compile(tensorc.import_onnx(_relu_model()))
    with pytest.raises(tensorc.TensorcError, match="unknown input 'y'"):
        exe(y=np.zeros((2, 3), np.float32))
    with pytest.raises(tensorc.TensorcError, match="missing input"):
        exe()


def test_debug_shows_traceback(tmp_path, capsys):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ImportError_):  # --debug lets the exception (and its traceback) through
        main(["--debug", "import", str(path)])
