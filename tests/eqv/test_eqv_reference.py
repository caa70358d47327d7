"""The numpy references: e3nn's conventions (to 1e-12 when e3nn is installed) and the Gaunt identities."""

from __future__ import annotations

import numpy as np
import pytest

from tensorc.eqv import Irreps, fourier, so3
from tensorc.eqv import reference as R


def test_gaunt_integral_identity():
    """∫ Y1 Y2 Y3 = g · wigner_3j on every path up to L = 4 (exact quadrature), g(1,1,2) = 0.69099."""
    L = 4
    t, w = np.polynomial.legendre.leggauss(8)
    phi = np.arange(13) * 2 * np.pi / 13
    Y = so3.sh_grid(L, np.arccos(t), phi)
    W = w[:, None] * np.full(13, 2 * np.pi / 13)[None, :]
    for l1 in range(L + 1):
        for l2 in range(L + 1):
            for l3 in range(abs(l1 - l2), min(l1 + l2, L) + 1):
                blk = lambda l: Y[:, :, l * l : (l + 1) ** 2]
                integral = np.einsum("tp,tpi,tpj,tpk->ijk", W, blk(l1), blk(l2), blk(l3))
                np.testing.assert_allclose(integral, so3.gaunt_factor(l1, l2, l3) * so3.wigner_3j(l1, l2, l3), atol=1e-13)
    assert abs(so3.gaunt_factor(1, 1, 2) - 0.69099) < 1e-5 and so3.gaunt_factor(1, 1, 1) == 0.0


@pytest.mark.parametrize("L", [2, 5])
def test_fourier_and_grid_routes_are_exact(L, rng):
    x = rng.standard_normal((3, (L + 1) ** 2))
    y = rng.standard_normal((3, (L + 1) ** 2))
    direct = R._direct_product(x, L, y, L, L)
    np.testing.assert_allclose(fourier.grid_product(x, L, y, L, L), direct, atol=1e-12)
    np.testing.assert_allclose(fourier.fourier_product(x, L, y, L, L), direct, atol=1e-12)


def test_wigner_D_is_a_representation_and_3j_invariant(rng):
    R1, R2 = so3.random_rotation(rng), so3.random_rotation(rng)
    for l in range(5):
        D1, D2, D12 = so3.wigner_D(l, R1), so3.wigner_D(l, R2), so3.wigner_D(l, R1 @ R2)
        np.testing.assert_allclose(D1 @ D2, D12, atol=1e-12)
        np.testing.assert_allclose(D1 @ D1.T, np.eye(2 * l + 1), atol=1e-12)
    C = so3.wigner_3j(2, 3, 4)
    Ds = [so3.wigner_D(l, R1) for l in (2, 3, 4)]
    np.testing.assert_allclose(np.einsum("ijk,ai,bj,ck->abc", C, *Ds), C, atol=1e-12)


# ---- against e3nn (each test skips when e3nn, part of the torch extra, is not installed) ----


def test_wigner_3j_matches_e3nn_L6():
    torch = pytest.importorskip("torch")
    o3 = pytest.importorskip("e3nn.o3")

    worst = 0.0
    for l1 in range(7):
        for l2 in range(7):
            for l3 in range(abs(l1 - l2), min(l1 + l2, 6) + 1):
                ref = o3.wigner_3j(l1, l2, l3, dtype=torch.float64).numpy()
                worst = max(worst, float(np.abs(so3.wigner_3j(l1, l2, l3) - ref).max()))
    assert worst < 1e-12, worst


@pytest.mark.parametrize("normalization", ["integral", "component", "norm"])
def test_spherical_harmonics_match_e3nn(normalization, rng):
    torch = pytest.importorskip("torch")
    o3 = pytest.importorskip("e3nn.o3")

    v = rng.standard_normal((20, 3))
    for normalize in (True, False):
        ours = so3.spherical_harmonics(list(range(7)), v, normalize, normalization)
        ref = o3.spherical_harmonics(list(range(7)), torch.tensor(v), normalize, normalization=normalization).numpy()
        np.testing.assert_allclose(ours, ref, atol=1e-12 * max(1.0, np.abs(ref).max()))


def _e3nn_case(tp, rng):
    import torch

    i1, i2, io = str(tp.irreps_in1), str(tp.irreps_in2), str(tp.irreps_out)
    raw = [R.Path(i.i_in1, i.i_in2, i.i_out, i.connection_mode, i.has_weight, 1.0) for i in tp.instructions]
    paths = R.e3nn_path_weights(raw, i1, i2, io)
    assert np.allclose([p.path_weight for p in paths], [i.path_weight for i in tp.instructions], rtol=1e-14)
    x = rng.standard_normal((4, Irreps(i1).dim))
    y = rng.standard_normal((4, Irreps(i2).dim))
    w = tp.weight.detach().numpy().copy() if tp.weight_numel else None
    ref = tp(torch.tensor(x), torch.tensor(y)).detach().numpy()
    np.testing.assert_allclose(R.cg_tp(x, y, i1, i2, io, paths, w), ref, atol=1e-12)


def test_cg_tp_matches_e3nn_L6(rng):
    torch = pytest.importorskip("torch")
    o3 = pytest.importorskip("e3nn.o3")

    torch.set_default_dtype(torch.float64)
    try:
        irr = "2x0e+1x1o+1x2e+1x3o+1x4e+1x5o+1x6e"
        _e3nn_case(o3.FullTensorProduct(irr, "1x0e+1x1o+1x6e"), rng)
        _e3nn_case(o3.FullyConnectedTensorProduct("2x0e+3x1o+1x2e", "2x0e+1x1o", "3x0e+2x1o+2x1e+1x2e"), rng)
        ins = [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (1, 0, 1, "uvu", True), (1, 1, 2, "uvu", True)]
        _e3nn_case(o3.TensorProduct("3x0e+3x1o", "1x0e+1x1o", "3x0e+3x1o+3x2e", ins), rng)
        ins = [(0, 0, 0, "uuu", True), (1, 1, 0, "uuu", True), (1, 1, 2, "uuu", True), (1, 1, 3, "uuu", True)]
        _e3nn_case(o3.TensorProduct("3x0e+3x1o", "3x0e+3x1o", "3x0e+3x1o+3x2e+3x1e", ins), rng)
    finally:
        torch.set_default_dtype(torch.float32)


def test_full_tp_layout_matches_e3nn():
    o3 = pytest.importorskip("e3nn.o3")

    from tensorc.eqv.builder import full_tp_instructions

    tp = o3.FullTensorProduct("2x0e+1x1o+1x2e", "1x0e+3x1o")
    io, ins = full_tp_instructions("2x0e+1x1o+1x2e", "1x0e+3x1o")
    assert str(io) == str(tp.irreps_out)
    assert [(a, b, c) for a, b, c, *_ in ins] == [(i.i_in1, i.i_in2, i.i_out) for i in tp.instructions]
