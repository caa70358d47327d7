"""The eqv dialect: attributes and ops print, parse and verify (selection rules)."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.utils.exceptions import VerifyException

from tensorc.eqv import Irreps
from tensorc.eqv.builder import Builder
from tensorc.ir_text import parse_module, print_module


def test_irreps_parse_and_layout():
    irr = Irreps("32x0e + 1o+ 4x2y")
    assert str(irr) == "32x0e+1x1o+4x2e" and irr.dim == 32 + 3 + 20
    assert [s.start for s in irr.slices()] == [0, 32, 35]
    with pytest.raises(ValueError):
        Irreps("3x1q")


def test_roundtrip_custom_and_generic(rng):
    bd = Builder("float32")
    x, y = bd.input("x", "2x0e+2x1o", (3,)), bd.input("y", "2x0e+2x1o", (3,))
    v = bd.input("v", 3, (3,))
    z = bd.tensor_product(x, y, "2x0e+2x1o+2x1e", [(0, 0, 0, "uuu", True), (1, 1, 0, "uuu", True), (1, 1, 2, "uuu", True)],
                          rng.standard_normal(6))
    sh = bd.spherical_harmonics(v, 2)
    g = bd.gaunt_tensor_product(x, y, "2x0e+2x1o", *(rng.standard_normal((1, 2, 2)) for _ in range(3)))
    bd.output("z", z)
    bd.output("sh", sh)
    bd.output("g", g)
    bd.output("l", bd.linear(x, "1x0e+3x1o", rng.standard_normal(2 + 6)))
    prog = bd.build()
    for generic in (False, True):
        text = print_module(prog.module, generic=generic)
        again = parse_module(text)
        again.verify()
        assert print_module(again, generic=generic) == text
    text = print_module(prog.module)
    assert '#eqv.irreps<"2x0e+2x1o+2x1e">' in text and '#eqv.path<1, 1, 2, "uuu", true, ' in text


BAD = {
    "triangle": ('[#eqv.path<0, 0, 0, "uvw", false, 1.0>]', '"1x0e"', '"1x2e"', "violates the triangle rule"),
    "parity": ('[#eqv.path<0, 0, 0, "uvw", false, 1.0>]', '"1x1o"', '"1x0o"', "violates parity"),
    "mode": ('[#eqv.path<0, 0, 0, "uuu", false, 1.0>]', '"2x1o"', '"1x0e"', "needs mul_out == mul_in1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_selection_rules(case):
    paths, i, o, msg = BAD[case]
    di = Irreps(i.strip('"')).dim
    do = Irreps(o.strip('"')).dim
    text = f"""
func.func @main(%x: tensor<2x{di}xf32>) -> tensor<2x{do}xf32> {{
  %z = eqv.cg_tp(%x, %x) {{irreps_in1 = #eqv.irreps<{i}>, irreps_in2 = #eqv.irreps<{i}>, irreps_out = #eqv.irreps<{o}>, paths = {paths}}} : (tensor<2x{di}xf32>, tensor<2x{di}xf32>) -> tensor<2x{do}xf32>
  func.return %z : tensor<2x{do}xf32>
}}"""
    with pytest.raises(VerifyException, match=msg):
        parse_module(text).verify()


def test_gaunt_tp_shape_rules():
    text = """
func.func @main(%x: tensor<2x8xf32>, %a: tensor<1x2x2xf32>, %c: tensor<1x3x2xf32>) -> tensor<2x8xf32> {
  %z = eqv.gaunt_tp(%x, %x, %a, %a, %c) {irreps_in1 = #eqv.irreps<"2x0e+2x1o">, irreps_in2 = #eqv.irreps<"2x0e+2x1o">, irreps_out = #eqv.irreps<"2x0e+2x1o">} : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<1x2x2xf32>, tensor<1x2x2xf32>, tensor<1x3x2xf32>) -> tensor<2x8xf32>
  func.return %z : tensor<2x8xf32>
}"""
    with pytest.raises(VerifyException, match="do not broadcast"):
        parse_module(text).verify()
