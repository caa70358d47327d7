"""Shared builders for the eqv tests: small products whose CG ↔ Gaunt relation is known."""

from __future__ import annotations

import numpy as np
import pytest

from tensorc.eqv import Irreps, so3


def natural(C: int, L: int) -> Irreps:
    return Irreps([(C, f"{l}{'e' if l % 2 == 0 else 'o'}") for l in range(L + 1)])


def even_uuu(L: int, Lo: int | None = None):
    Lo = L if Lo is None else Lo
    return [
        (l1, l2, l3, "uuu", True)
        for l1 in range(L + 1)
        for l2 in range(L + 1)
        for l3 in range(abs(l1 - l2), min(l1 + l2, Lo) + 1)
        if (l1 + l2 + l3) % 2 == 0
    ]


def gaunt_weights(irr, ins, terms, rng):
    """uuu weights with K/g = Σ_r a_r b_r c_r per channel (masked rank <= terms)."""
    from tensorc.eqv.builder import make_paths

    C = irr[0].mul
    n = len(irr)
    facs = [tuple(rng.uniform(0.5, 1.5, (C, n)) for _ in range(3)) for _ in range(terms)]
    paths = make_paths(ins, irr, irr, irr)
    out = []
    for p in paths:
        g = so3.gaunt_factor(irr[p.i1].ir.l, irr[p.i2].ir.l, irr[p.io].ir.l)
        k = sum(a[:, p.i1] * b[:, p.i2] * c[:, p.io] for a, b, c in facs)
        out.append(g * k / p.path_weight)
    return np.concatenate(out)


def program(irr1, irr2, irr_out, ins, weights, batch=6, dtype="float64"):
    from tensorc.eqv.builder import Builder

    bd = Builder(dtype)
    x = bd.input("x", irr1, (batch,))
    y = bd.input("y", irr2, (batch,))
    bd.output("z", bd.tensor_product(x, y, irr_out, ins, weights))
    return bd.build()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def helpers():
    class H:
        pass

    h = H()
    h.natural, h.even_uuu, h.gaunt_weights, h.program = natural, even_uuu, gaunt_weights, program
    return h
