"""Errors users see from the torch frontend, the optional torch dependency, and `tensorc import/run/compile model.pt2`."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import tensorc  # noqa: E402
from tensorc.diagnostics import ImportError_, ShapeError, TensorcError, UnsupportedOpError  # noqa: E402
from tensorc.tools.cli import main as cli  # noqa: E402


class Inner(nn.Module):
    def forward(self, x):
        return torch.special.bessel_j0(x) + 1  # no tg equivalent


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Inner()

    def forward(self, x):
        return self.block(x * 2)


def test_unsupported_op_names_the_op_and_the_source_line():
    with pytest.raises(UnsupportedOpError) as info:
        tensorc.import_torch(Outer(), (torch.randn(3),))
    msg = str(info.value)
    lines, first = inspect.getsourcelines(Inner.forward)
    line = first + 1
    assert "\n" not in msg
    assert msg.startswith("unsupported ATen op aten.special_bessel_j0.default at ")
    assert f"{__file__}:{line}" in msg
    assert "module 'block'" in msg
    assert msg.endswith("return torch.special.bessel_j0(x) + 1  # no tg equivalent")


@pytest.mark.parametrize("fn, why", [
    (lambda x: F.dropout(x, 0.5, training=True), "training mode"),
    (lambda x: F.scaled_dot_product_attention(x, x, x, dropout_p=0.1), "dropout_p=0.1"),
    (lambda x: x[x > 0].sum(), "boolean-mask indexing"),
])
def test_unsupported_forms_say_why(fn, why):
    import re

    class M(nn.Module):
        def forward(self, x):
            return fn(x)

    with pytest.raises(TensorcError) as info:
        tensorc.import_torch(M(), (torch.randn(1, 2, 3, 4),))
    assert "\n" not in str(info.value) and re.search(why, str(info.value)), str(info.value)


def test_export_failure_is_one_line():
    class DataDependent(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # control flow on data: torch.export cannot trace it
                return x
            return -x

    with pytest.raises(ImportError_) as info:
        tensorc.import_torch(DataDependent(), (torch.randn(3),))
    assert str(info.value).startswith("torch.export failed for DataDependent: ") and "\n" not in str(info.value)


def test_module_needs_example_args():
    with pytest.raises(ImportError_, match="example_args"):
        tensorc.import_torch(nn.Linear(2, 2))


def test_without_torch_import_torch_says_how_to_install():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import tensorc\n"
        "try:\n"
        "    tensorc.import_torch(object(), ())\n"
        "except tensorc.TensorcError as e:\n"
        "    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ERR ") and "pip install 'tensorc[torch]'" in out.stdout


# ---- tensorc import/run/compile model.pt2 -------------------------------------------------
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x))).softmax(-1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved ExportedProgram with a dynamic batch, an input and torch's answer."""
    d = tmp_path_factory.mktemp("pt2")
    model = MLP().eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    ep = torch.export.export(model, (torch.randn(3, 16),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(ep, str(d / "mlp.pt2"))
    x = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    np.save(d / "x.npy", x)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    return d, ref


def test_cli_import_pt2(saved, capsys):
    d, _ = saved
    assert cli(["import", str(d / "mlp.pt2"), "--input-shape", "x=2,16"]) == 0
    out = capsys.readouterr().out
    assert "func.func @main(%x: tensor<2x16xf32>) -> tensor<2x4xf32>" in out
    assert "tg.weight @fc1.weight" in out and 'src = "linear in fc1 at test_torch_errors_cli.py:' in out


def test_cli_pt2_dynamic_dimension_must_be_bound(saved, capsys):
    d, _ = saved
    assert cli(["import", str(d / "mlp.pt2")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {d / 'mlp.pt2'}: input 'x' has dynamic dimension") and "--input-shape x=" in err
    assert cli(["import", str(d / "mlp.pt2"), "--input-shape", "x=100,16"]) == 1
    assert "outside its exported range [1, 64]" in capsys.readouterr().err


def test_cli_run_pt2_takes_the_shape_of_the_input(saved, capsys):
    d, ref = saved
    assert cli(["run", str(d / "mlp.pt2"), "--input", f"x={d / 'x.npy'}", "--output-dir", str(d / "out")]) == 0
    np.testing.assert_allclose(np.load(d / "out" / "output.npy"), ref, rtol=1e-5, atol=1e-7)


def test_cli_compile_pt2_and_run_the_package(saved, capsys):
    d, ref = saved
    pkg = d / "mlp.tcpkg"
    assert cli(["compile", str(d / "mlp.pt2"), "--input-shape", "x=5,16", "-o", str(pkg)]) == 0
    assert cli(["run", str(pkg), "--input", f"x={d / 'x.npy'}", "--output-dir", str(d / "pkg-out")]) == 0
    np.testing.assert_allclose(np.load(d / "pkg-out" / "output.npy"), ref, rtol=1e-4, atol=1e-6)


def test_cli_bad_pt2(tmp_path, capsys):
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip")
    assert cli(["import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: not a saved torch.export program") and err.count("\n") == 1
    assert cli(["import", str(tmp_path / "missing.pt2")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_exported_program_input_shapes_must_name_inputs(saved):
    d, _ = saved
    with pytest.raises(ShapeError, match="unknown input 'y'"):
        tensorc.import_torch(os.fspath(d / "mlp.pt2"), input_shapes={"y": (1, 16)})
