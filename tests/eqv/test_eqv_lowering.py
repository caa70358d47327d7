"""lower-eqv: the tg lowering of every eqv op equals the numpy reference; one product of
each kind also runs compiled for llvm-cpu through tensorc.compile."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from tensorc.eqv import Irreps
from tensorc.eqv.builder import Builder, fully_connected_instructions


def _same(prog, inputs, tol=1e-10, target="reference"):
    ref = tensorc.compile(prog, target="reference")(**inputs)
    low = tensorc.lower(prog, "lower-eqv")
    assert not any(op.name.startswith("eqv.") for op in low.main.body.block.ops)
    got = tensorc.compile(low if target == "reference" else prog, target=target)(**inputs)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], atol=tol * max(1.0, np.abs(ref[k]).max()))


@pytest.mark.parametrize("mode", ["uuu", "uvu", "uvw", "uvuv", "uvv", "uuw"])
def test_cg_modes(mode, rng):
    i1, i2 = Irreps("2x0e+2x1o+2x2e"), Irreps("2x0e+2x1o")
    mo = {"uvuv": 4}.get(mode, 2)
    io = Irreps(f"{mo}x0e+{mo}x1o+{mo}x1e+{mo}x2e")
    ins = [(a, b, c, mode, True) for a, e1 in enumerate(i1) for b, e2 in enumerate(i2) for c, eo in enumerate(io) if eo.ir in e1.ir * e2.ir]
    from tensorc.eqv.builder import make_paths
    from tensorc.eqv.reference import weight_numel

    n = weight_numel(make_paths(ins, i1, i2, io), i1, i2, io)
    bd = Builder("float64")
    x, y = bd.input("x", i1, (4,)), bd.input("y", i2, (4,))
    bd.output("z", bd.tensor_product(x, y, io, ins, rng.standard_normal(n)))
    _same(bd.build(), {"x": rng.standard_normal((4, i1.dim)), "y": rng.standard_normal((4, i2.dim))})


@pytest.mark.parametrize("case", ["rank1", "rank2-mixed-families", "broadcast"])
def test_gaunt(case, rng):
    if case == "rank1":
        i1 = i2 = io = Irreps("3x0e+3x1o+3x2e+3x3o")
        R, ca, cb, cc = 1, 3, 3, 3
    elif case == "rank2-mixed-families":
        i1, i2, io = Irreps("2x0e+2x1e+2x1o+2x2e"), Irreps("2x0o+2x1o+2x2e"), Irreps("2x0e+2x0o+2x1o+2x1e+2x2o+2x3e")
        R, ca, cb, cc = 2, 2, 1, 2
    else:
        i1, i2, io = Irreps("3x0e+3x1o+3x2e"), Irreps("1x0e+1x1o+1x2e"), Irreps("3x0e+3x1o+3x2e")
        R, ca, cb, cc = 1, 1, 3, 3
    bd = Builder("float64")
    x, y = bd.input("x", i1, (5,)), bd.input("y", i2, (5,))
    a, b, c = (rng.uniform(0.5, 1.5, (R, k, len(irr))) for k, irr in ((ca, i1), (cb, i2), (cc, io)))
    bd.output("z", bd.gaunt_tensor_product(x, y, io, a, b, c))
    prog = bd.build()
    inputs = {"x": rng.standard_normal((5, i1.dim)), "y": rng.standard_normal((5, i2.dim))}
    _same(prog, inputs)
    # the reference kernel's two methods agree
    from tensorc.eqv import reference as Rf

    np.testing.assert_allclose(Rf.gaunt_tp(inputs["x"], inputs["y"], a, b, c, i1, i2, io, "fft"),
                               Rf.gaunt_tp(inputs["x"], inputs["y"], a, b, c, i1, i2, io, "grid"), atol=1e-12)


@pytest.mark.parametrize("normalize,normalization", [(True, "integral"), (True, "component"), (False, "norm")])
def test_spherical_harmonics_and_linear(normalize, normalization, rng):
    bd = Builder("float64")
    v = bd.input("v", 3, (7,))
    sh = bd.spherical_harmonics(v, 4, normalize, normalization)
    w = rng.standard_normal(1 * 2 * 5)
    bd.output("sh", sh)
    bd.output("lin", bd.linear(sh, "2x0e+2x1o+2x2e+2x3o+2x4e", w))
    _same(bd.build(), {"v": rng.standard_normal((7, 3))})


def test_compiled_llvm_cg_and_gaunt(helpers, rng):
    """tensorc.compile(prog, target='llvm-cpu') runs eqv programs (lower-eqv is in the pipeline)."""
    irr = helpers.natural(4, 2)
    ins = helpers.even_uuu(2)
    prog = helpers.program(irr, irr, irr, ins, helpers.gaunt_weights(irr, ins, 1, rng), batch=16, dtype="float32")
    x, y = (rng.standard_normal((16, irr.dim)).astype(np.float32) for _ in range(2))
    ref = tensorc.compile(prog, target="reference")(x=x, y=y)["z"]
    gaunt = tensorc.lower(prog, "cg-to-gaunt{force=true}")
    for p in (prog, gaunt):
        z = tensorc.compile(p, target="llvm-cpu")(x=x, y=y)["z"]
        np.testing.assert_allclose(z, ref, atol=1e-5 * np.abs(ref).max())
