"""The PyTorch frontend imports e3nn modules as eqv ops (one node each, e3nn's normalizations):
compared with e3nn's own eager output on the reference interpreter and llvm-cpu, then
cg-to-gaunt on the imported graph. Skipped when e3nn is not installed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")

import tensorc  # noqa: E402
from tensorc.diagnostics import TensorcError  # noqa: E402
from tensorc.passes.cg_to_gaunt import LAST_REPORT  # noqa: E402


def _eqv_ops(prog):
    return [op.name for op in prog.main.body.block.ops if op.name.startswith("eqv.")]


def _close(got, want, tol=1e-5):
    np.testing.assert_allclose(got, want, atol=tol * max(1.0, float(np.abs(want).max())), rtol=0)


class ShTpLinear(torch.nn.Module):
    """spherical harmonics of the edge vectors → FullyConnectedTensorProduct with the node
    features → Linear (with biases): the core of an e3nn message-passing layer."""

    def __init__(self):
        super().__init__()
        self.sh_irreps = o3.Irreps.spherical_harmonics(2)
        self.tp = o3.FullyConnectedTensorProduct("4x0e+4x1o+2x2e", self.sh_irreps, "4x0e+4x1o+4x2e")
        self.lin = o3.Linear("4x0e+4x1o+4x2e", "3x0e+2x1o+1x2e", biases=True)
        with torch.no_grad():
            self.lin.bias.normal_()

    def forward(self, feats, vec):
        sh = o3.spherical_harmonics(self.sh_irreps, vec, normalize=True, normalization="component")
        return self.lin(self.tp(feats, sh))


@pytest.fixture
def model():
    torch.manual_seed(0)
    return ShTpLinear()


def test_model_matches_e3nn_on_reference_and_llvm(model):
    feats, vec = torch.randn(7, model.tp.irreps_in1.dim), torch.randn(7, 3)
    prog = tensorc.import_torch(model, (feats, vec))
    # one eqv op per e3nn module, the weights under the modules' names
    assert _eqv_ops(prog) == ["eqv.spherical_harmonics", "eqv.cg_tp", "eqv.linear"]
    assert {"tp.weight", "lin.weight", "lin.bias"} <= set(prog.weights)
    want = model(feats, vec).detach().numpy()
    for target in ("reference", "llvm-cpu"):
        got = tensorc.compile(prog, target=target)(feats=feats.numpy(), vec=vec.numpy())["output"]
        _close(got, want)


def test_cg_to_gaunt_on_the_imported_graph(model):
    """The FCTP (its in1 mixes multiplicities) is refused with its reason; a 'uuu' product
    whose weights make it a Gaunt product is rewritten, and still equals e3nn."""
    feats, vec = torch.randn(5, model.tp.irreps_in1.dim), torch.randn(5, 3)
    prog = tensorc.import_torch(model, (feats, vec))
    low = tensorc.lower(prog, "cg-to-gaunt{report=true}")
    assert len(LAST_REPORT) == 1, LAST_REPORT
    # the report names the op by its torch node and says why
    assert "node 'tensor_product in tp at test_eqv_torch_e3nn.py" in LAST_REPORT[0]
    assert "refuse: in1 (4x0e+4x1o+2x2e) has entries of different multiplicities" in LAST_REPORT[0]
    assert _eqv_ops(low) == _eqv_ops(prog)

    from tensorc.eqv.builder import gaunt_equivalent_weights

    irr = o3.Irreps("3x0e+3x1o+3x2e")
    ins = [(a, b, c, "uuu", True) for a in range(3) for b in range(3) for c in range(3)
           if abs(a - b) <= c <= a + b and (a + b + c) % 2 == 0]
    tp = o3.TensorProduct(irr, irr, irr, ins)
    rng = np.random.default_rng(3)
    abc = [rng.uniform(0.5, 1.5, (3, 3)) for _ in range(3)]
    with torch.no_grad():
        tp.weight.copy_(torch.tensor(gaunt_equivalent_weights(str(irr), ins, *abc)))
    x, y = torch.randn(6, irr.dim), torch.randn(6, irr.dim)
    prog = tensorc.import_torch(tp, (x, y))
    low = tensorc.lower(prog, "cg-to-gaunt{force=true report=true}")
    assert LAST_REPORT[0].split("]: ", 1)[1].startswith("gaunt rank 1"), LAST_REPORT
    assert "eqv.gaunt_tp" in _eqv_ops(low) and "eqv.cg_tp" not in _eqv_ops(low)
    want = tp(x, y).detach().numpy()
    for target in ("reference", "llvm-cpu"):
        _close(tensorc.compile(low, target=target)(x=x.numpy(), y=y.numpy())["output"], want)


@pytest.mark.parametrize("kind", ["full", "elementwise", "uvu-external-weights", "path-norm"])
def test_tensor_product_variants(kind):
    torch.manual_seed(1)
    i1, i2 = o3.Irreps("2x0e+2x1o+1x2e"), o3.Irreps("1x0e+1x1o+1x2e")
    w = None
    if kind == "full":
        tp = o3.FullTensorProduct(i1, i2)
    elif kind == "elementwise":
        tp = o3.ElementwiseTensorProduct("2x0e+2x1o", "2x1o+2x1e")
        i1, i2 = tp.irreps_in1, tp.irreps_in2
    elif kind == "uvu-external-weights":
        io = o3.Irreps("2x0e+2x1o+2x1e+2x2e")
        ins = [(a, b, c, "uvu", True) for a, e1 in enumerate(i1) for b, e2 in enumerate(i2)
               for c, eo in enumerate(io) if eo.ir in e1.ir * e2.ir and e1.mul == eo.mul]
        tp = o3.TensorProduct(i1, i2, io, ins, internal_weights=False, shared_weights=True)
        w = torch.randn(tp.weight_numel)
    else:
        tp = o3.FullyConnectedTensorProduct(i1, i2, "3x0e+2x1o", path_normalization="path", irrep_normalization="norm")
    x, y = torch.randn(4, i1.dim), torch.randn(4, i2.dim)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tp = tp

        def forward(self, x, y):
            return self.tp(x, y, w) if w is not None else self.tp(x, y)

    m = Wrap()
    prog = tensorc.import_torch(m, (x, y))
    assert _eqv_ops(prog) == ["eqv.cg_tp"]
    got = tensorc.compile(prog, target="reference")(**{s.name: a.numpy() for s, a in zip(prog.signature.inputs, (x, y))})
    _close(got["output"], m(x, y).detach().numpy())


@pytest.mark.parametrize("normalization,normalize,ls", [("integral", True, [0, 1, 2, 3]), ("norm", False, [1, 3]),
                                                        ("component", True, [2, 0])])
def test_spherical_harmonics_module(normalization, normalize, ls):
    sh = o3.SphericalHarmonics(ls, normalize, normalization)
    v = torch.randn(9, 3)
    prog = tensorc.import_torch(sh, (v,))
    assert _eqv_ops(prog) == ["eqv.spherical_harmonics"]
    _close(tensorc.compile(prog, target="reference")(x=v.numpy())["output"], sh(v).numpy())


def test_linear_without_biases_and_custom_instructions():
    torch.manual_seed(2)
    lin = o3.Linear("3x0e+2x1o+2x0e", "2x0e+3x1o", instructions=[(0, 0), (2, 0), (1, 1)], path_normalization="path")
    x = torch.randn(5, lin.irreps_in.dim)
    prog = tensorc.import_torch(lin, (x,))
    assert _eqv_ops(prog) == ["eqv.linear"]
    _close(tensorc.compile(prog, target="reference")(features=x.numpy())["output"], lin(x).detach().numpy())


def test_saved_program_imports_without_the_model(model, tmp_path):
    """The custom ops carry their configuration: a .pt2 saved while exporting imports alone."""
    from tensorc.frontends.torch.e3nn_modules import as_leaf_ops

    feats, vec = torch.randn(3, model.tp.irreps_in1.dim), torch.randn(3, 3)
    with as_leaf_ops(model):
        ep = torch.export.export(model.eval(), (feats, vec))
    torch.export.save(ep, tmp_path / "m.pt2")
    prog = tensorc.import_torch(str(tmp_path / "m.pt2"))
    assert _eqv_ops(prog) == ["eqv.spherical_harmonics", "eqv.cg_tp", "eqv.linear"]
    _close(tensorc.compile(prog, target="reference")(feats=feats.numpy(), vec=vec.numpy())["output"],
           model(feats, vec).detach().numpy())


@pytest.mark.parametrize("case,message", [
    ("per-sample", "e3nn o3.FullyConnectedTensorProduct 'tp': per-sample weights (shared_weights=False)"),
    ("uvu<v", "e3nn o3.TensorSquare 'tp': connection mode 'uvu<v' is not supported"),
    ("pseudovector", "e3nn o3.SphericalHarmonics 'tp': spherical harmonics of a pseudovector"),
])
def test_unsupported_configurations_name_the_module(case, message):
    if case == "per-sample":
        tp = o3.FullyConnectedTensorProduct("2x0e", "2x0e", "2x0e", shared_weights=False)
        args = (torch.randn(3, 2), torch.randn(3, 2), torch.randn(3, tp.weight_numel))
    elif case == "uvu<v":
        tp = o3.TensorSquare("2x0e+1x1o")  # its pairs u < v
        args = (torch.randn(3, 5),)
    else:
        tp = o3.SphericalHarmonics("1x0e+1x1e", True, irreps_in="1e")
        args = (torch.randn(3, 3),)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tp = tp

        def forward(self, *a):
            return self.tp(*a)

    with pytest.raises(TensorcError) as e:
        tensorc.import_torch(Wrap(), args)
    text = str(e.value)
    assert message in text and "\n" not in text, text


@pytest.mark.parametrize("case", ["full", "cross"])
def test_imported_e3nn_products_the_pass_must_refuse(case):
    """Acceptance: e3nn's own FullTensorProduct (equal weights) and a product with the cross
    product path 1o x 1o -> 1e, imported from e3nn, are left alone with the reason."""
    if case == "full":
        tp = o3.FullTensorProduct("1x0e+1x1o+1x2e", "1x0e+1x1o+1x2e")
    else:
        tp = o3.TensorProduct("2x0e+2x1o", "2x0e+2x1o", "2x0e+2x1o+2x1e",
                              [(0, 0, 0, "uuu", True), (1, 1, 0, "uuu", True), (1, 1, 2, "uuu", True)])
    x, y = torch.randn(3, tp.irreps_in1.dim), torch.randn(3, tp.irreps_in2.dim)
    prog = tensorc.import_torch(tp, (x, y))
    # (hybrid=true may still keep the odd path as a residual CG next to a Gaunt product: exact too)
    for spec in ("cg-to-gaunt{hybrid=false}", "cg-to-gaunt{force=true hybrid=false}"):
        low = tensorc.lower(prog, spec)
        assert "eqv.gaunt_tp" not in _eqv_ops(low), spec
        line = LAST_REPORT[0].split("]: ", 1)[1]
        assert line.startswith("refuse") and "1o x 1o -> 1e" in line and "antisymmetric" in line, line
