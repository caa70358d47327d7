"""cg-to-gaunt: every rewrite equals the CG product it replaced (1e-10 f64, 1e-5 f32), is
equivariant, and the refusals say why."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from tensorc.eqv import Irreps, so3
from tensorc.passes.cg_to_gaunt import LAST_REPORT


def _run(prog, x, y, target="reference"):
    return tensorc.compile(prog, target=target)(x=x, y=y)["z"]


def _ops(prog):
    return [op.name for op in prog.main.body.block.ops]


def _inputs(prog, rng):
    sig = prog.signature.inputs
    return [rng.standard_normal(s.shape).astype(s.dtype) for s in sig]


def _check_equivariance(prog, irr1, irr2, irr_out, rng, tol):
    x, y = _inputs(prog, rng)
    for improper in (False, True):
        Rm = so3.random_rotation(rng) * (-1 if improper else 1)
        D1, D2, Do = (so3.irreps_D(i, Rm) for i in (irr1, irr2, irr_out))
        z = _run(prog, x, y)
        zr = _run(prog, (x @ D1.T).astype(x.dtype), (y @ D2.T).astype(y.dtype))
        np.testing.assert_allclose(zr, z @ Do.T, atol=tol * max(1.0, np.abs(z).max()))


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_rank1_rewrite_exact_and_equivariant(helpers, rng, dtype, tol):
    irr = helpers.natural(3, 3)
    ins = helpers.even_uuu(3)
    prog = helpers.program(irr, irr, irr, ins, helpers.gaunt_weights(irr, ins, 1, rng), dtype=dtype)
    new = tensorc.lower(prog, "cg-to-gaunt{force=true}")
    assert "eqv.gaunt_tp" in _ops(new) and "eqv.cg_tp" not in _ops(new)
    assert "gaunt rank 1" in LAST_REPORT[0]
    x, y = _inputs(prog, rng)
    z0 = _run(prog, x, y)
    np.testing.assert_allclose(_run(new, x, y), z0, atol=tol * np.abs(z0).max())
    _check_equivariance(new, irr, irr, irr, rng, tol)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_rank_R_rewrite(helpers, rng, dtype, tol):
    irr = helpers.natural(2, 2)
    ins = helpers.even_uuu(2)
    prog = helpers.program(irr, irr, irr, ins, helpers.gaunt_weights(irr, ins, 2, rng), dtype=dtype)
    new = tensorc.lower(prog, "cg-to-gaunt{force=true}")
    assert "rank 2" in LAST_REPORT[0], LAST_REPORT
    x, y = _inputs(prog, rng)
    z0 = _run(prog, x, y)
    np.testing.assert_allclose(_run(new, x, y), z0, atol=tol * np.abs(z0).max())
    _check_equivariance(new, irr, irr, irr, rng, tol)
    # with max-rank 1 the same op is refused, saying why
    kept = tensorc.lower(prog, "cg-to-gaunt{force=true max-rank=1}")
    assert "eqv.cg_tp" in _ops(kept) and "masked CP rank > 1" in LAST_REPORT[0]


def _hybrid_case(helpers, rng, dtype="float64"):
    """Even uuu paths of a rank-1 Gaunt product plus the cross product 1o x 1o -> 1e."""
    irr = helpers.natural(2, 2)
    out = irr + "2x1e"
    ins = [(a, b, c, "uuu", True) for a, b, c, *_ in helpers.even_uuu(2)] + [(1, 1, 3, "uuu", True)]
    w_even = helpers.gaunt_weights(irr, helpers.even_uuu(2), 1, rng)
    from tensorc.eqv.builder import make_paths

    # even paths keep their Gaunt weights once the 1e output's path joins the normalization
    pe = make_paths(helpers.even_uuu(2), irr, irr, irr)
    pa = make_paths(ins, irr, irr, out)
    w = np.concatenate([w_even.reshape(len(pe), -1) * np.array([p.path_weight / q.path_weight for p, q in zip(pe, pa)])[:, None],
                        rng.standard_normal((1, 2))]).reshape(-1)
    return helpers.program(irr, irr, out, ins, w, dtype=dtype), irr, out


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_hybrid_rewrite(helpers, rng, dtype, tol):
    prog, irr, out = _hybrid_case(helpers, rng, dtype)
    new = tensorc.lower(prog, "cg-to-gaunt{force=true}")
    ops = _ops(new)
    assert "eqv.gaunt_tp" in ops and "eqv.cg_tp" in ops and "tg.add" in ops
    assert LAST_REPORT[0].split("]: ")[1].startswith("hybrid") and "1o x 1o -> 1e" in LAST_REPORT[0]
    x, y = _inputs(prog, rng)
    z0 = _run(prog, x, y)
    np.testing.assert_allclose(_run(new, x, y), z0, atol=tol * np.abs(z0).max())
    _check_equivariance(new, irr, irr, out, rng, tol)


def test_cross_product_path_is_refused(helpers, rng):
    prog, _, _ = _hybrid_case(helpers, rng)
    kept = tensorc.lower(prog, "cg-to-gaunt{hybrid=false}")
    assert "eqv.gaunt_tp" not in _ops(kept)
    assert "refuse" in LAST_REPORT[0] and "odd path 1o x 1o -> 1e (antisymmetric" in LAST_REPORT[0]
    # the cross product alone: nothing a Gaunt product can compute
    from tensorc.eqv.builder import Builder

    bd = Builder("float64")
    x, y = bd.input("x", "4x1o", (3,)), bd.input("y", "4x1o", (3,))
    bd.output("z", bd.tensor_product(x, y, "4x1e", [(0, 0, 0, "uuu", True)], np.ones(4)))
    kept = tensorc.lower(bd.build(), "cg-to-gaunt{force=true}")
    assert "eqv.gaunt_tp" not in _ops(kept)
    assert "odd path 1o x 1o -> 1e" in LAST_REPORT[0] and "no even path" in LAST_REPORT[0]


@pytest.mark.parametrize("irr", ["1x0e+1x1o+1x2e", "1x0e+1x1o+1x2e+1x3o"])
def test_e3nn_default_full_tensor_product_is_refused(irr, rng):
    """e3nn's FullTensorProduct (equal weights, 'uvuv'): odd paths, and K/g is not rank 1."""
    from tensorc.eqv.builder import Builder

    bd = Builder("float64")
    x, y = bd.input("x", irr, (3,)), bd.input("y", irr, (3,))
    bd.output("z", bd.full_tensor_product(x, y))
    prog = bd.build()
    for spec in ("cg-to-gaunt", "cg-to-gaunt{hybrid=false}", "cg-to-gaunt{force=true max-rank=1}"):
        kept = tensorc.lower(prog, spec)
        assert "eqv.gaunt_tp" not in _ops(kept), spec
        line = LAST_REPORT[0].split("]: ")[1]
        assert line.startswith("refuse") and "odd paths 1o x 1o -> 1e" in line, line
    assert "masked CP rank > 1" in LAST_REPORT[0]
    # forced, the even part is a sum of a few Gaunt products (rank 4 at L = 2): still exact
    new = tensorc.lower(prog, "cg-to-gaunt{force=true}")
    if "eqv.gaunt_tp" in _ops(new):
        X, Y = _inputs(prog, rng)
        np.testing.assert_allclose(_run(new, X, Y), _run(prog, X, Y), atol=1e-10)


def test_uvu_with_spherical_harmonics_broadcast(helpers, rng):
    """x (C channels) ⊗ Y(r) (mul 1), mode uvu: a channelwise Gaunt product with y broadcast."""
    from tensorc.eqv.builder import Builder, make_paths

    C, L = 3, 2
    irr = helpers.natural(C, L)
    sh = Irreps.spherical_harmonics(L)
    ins = [(a, b, c, "uvu", True) for a, b, c, *_ in helpers.even_uuu(L)]
    paths = make_paths(ins, irr, sh, irr)
    a, c = rng.uniform(0.5, 1.5, (C, L + 1)), rng.uniform(0.5, 1.5, (C, L + 1))
    bsh = rng.uniform(0.5, 1.5, L + 1)
    w = np.concatenate([so3.gaunt_factor(p.i1, p.i2, p.io) * a[:, p.i1] * bsh[p.i2] * c[:, p.io] / p.path_weight for p in paths])
    bd = Builder("float64")
    x, v = bd.input("x", irr, (5,)), bd.input("y", 3, (5,))
    bd.output("z", bd.tensor_product(x, bd.spherical_harmonics(v, L), irr, ins, w))
    prog = bd.build()
    new = tensorc.lower(prog, "cg-to-gaunt{force=true}")
    assert "eqv.gaunt_tp" in _ops(new), LAST_REPORT
    X, V = rng.standard_normal((5, irr.dim)), rng.standard_normal((5, 3))
    z0 = _run(prog, X, V)
    np.testing.assert_allclose(_run(new, X, V), z0, atol=1e-10 * np.abs(z0).max())


def test_runtime_weights_are_refused(helpers, rng):
    from tensorc.dialects.eqv import CGTensorProductOp
    from tensorc.passes.cg_to_gaunt import decide
    from tensorc.eqv.builder import Builder, make_paths

    irr = helpers.natural(2, 1)
    ins = helpers.even_uuu(1)
    bd = Builder("float64")
    x, y, w = bd.input("x", irr, (2,)), bd.input("y", irr, (2,)), bd.input("w", 2 * len(ins))
    from tensorc.dialects.eqv import CGTensorProductOp as Op

    op = Op.make_op([x.ssa, y.ssa, w.ssa], {"irreps_in1": irr, "irreps_in2": irr, "irreps_out": irr,
                                          "paths": make_paths(ins, irr, irr, irr)})
    an = decide(op, None)
    assert an.decision == "refuse" and "not compile-time constants" in an.reasons[0]


def test_uvuv_outer_product_gathers_channels(rng):
    """'uvuv' with mul 2 x 3: output channel (u, v) takes x1[u], x2[v] — a gathered channelwise product."""
    from tensorc.eqv.builder import Builder, make_paths

    i1, i2 = Irreps("2x0e+2x1o+2x2e"), Irreps("3x0e+3x1o")
    io = Irreps("6x0e+6x1o+6x2e")
    ins = [(a, b, c, "uvuv", True) for a, e1 in enumerate(i1) for b, e2 in enumerate(i2) for c, eo in enumerate(io)
           if eo.ir in e1.ir * e2.ir and (e1.ir.l + e2.ir.l + eo.ir.l) % 2 == 0]
    paths = make_paths(ins, i1, i2, io)
    a, b, c = rng.uniform(0.5, 1.5, (2, 3)), rng.uniform(0.5, 1.5, (3, 2)), rng.uniform(0.5, 1.5, (6, 3))
    w = []
    for p in paths:
        g = so3.gaunt_factor(i1[p.i1].ir.l, i2[p.i2].ir.l, io[p.io].ir.l)
        W = np.array([[g * a[u, p.i1] * b[v, p.i2] * c[u * 3 + v, p.io] for v in range(3)] for u in range(2)])
        w.append(W.reshape(-1) / p.path_weight)
    bd = Builder("float64")
    x, y = bd.input("x", i1, (4,)), bd.input("y", i2, (4,))
    bd.output("z", bd.tensor_product(x, y, io, ins, np.concatenate(w)))
    prog = bd.build()
    new = tensorc.lower(prog, "cg-to-gaunt{force=true}")
    assert "eqv.gaunt_tp" in _ops(new) and "tg.gather" in _ops(new), LAST_REPORT
    X, Y = rng.standard_normal((4, i1.dim)), rng.standard_normal((4, i2.dim))
    z0 = _run(prog, X, Y)
    np.testing.assert_allclose(_run(new, X, Y), z0, atol=1e-10 * np.abs(z0).max())
    z1 = tensorc.compile(tensorc.lower(new, "lower-eqv"), target="reference")(x=X, y=Y)["z"]
    np.testing.assert_allclose(z1, z0, atol=1e-10 * np.abs(z0).max())
