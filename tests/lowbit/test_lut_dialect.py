"""The lut dialect: type inference, verifier messages, and the reference interpreter on lut programs."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.ir import Block
from xdsl.utils.exceptions import VerifyException

import tensorc
from lut_programs import integer_lut_program, tensor
from tensorc.dialects import dtypes
from tensorc.dialects.lut import MpGemmOp, PrecomputeOp
from tensorc.ir_text import parse_module, print_module
from tensorc.quant import lut as L


@pytest.mark.parametrize("form", ["unsigned", "signed", "half"])
@pytest.mark.parametrize("bits", [1, 3])
def test_interpreter_runs_lut_ops_bit_exact(form, bits):
    rng = np.random.default_rng(bits)
    n, k, group, ag = 5, 72, 24, 12
    a = rng.integers(-128, 128, size=(2, 3, k), dtype=np.int8)
    codes = rng.integers(0, 1 << bits, size=(n, k), dtype=np.uint8)
    scales = rng.uniform(0.1, 1, size=(n, k // group)).astype(np.float32)
    zeros = rng.integers(0, 1 << bits, size=(n, k // group)).astype(np.float32)
    prog = integer_lut_program(a.shape, codes, scales, zeros, bits=bits, group=group, act_group=ag, form=form)
    y = tensorc.compile(prog, target="reference")(a=a)["y0"]
    assert y.shape == (6, n)
    want = L.direct_integer_dot(a, codes, scales, zeros, group=group, act_group=ag)
    np.testing.assert_array_equal(y.view(np.int32), want.view(np.int32))


def test_printed_ir_parses_back():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(4, 16), dtype=np.uint8)
    prog = integer_lut_program((1, 16), codes, np.ones((4, 2), np.float32), np.ones((4, 2), np.float32), bits=2,
                               group=8, act_group=8, form="half")
    text = print_module(prog.module)
    assert 'lut.precompute(%0) {K = 16 : i64, form = "half", table_type = "i16", act_group = 8 : i64' in text
    assert "-> (tensor<1x4x8xi16>, tensor<1x2xf32>)" in text
    assert "tensor<2x4x4xui8>" in text
    assert print_module(parse_module(text)) == text


def _precompute(x_shape, x_dtype=np.float32, **attrs):
    a = {"K": x_shape[-1], "form": "signed", "table_type": "i8", "act_group": 64, **attrs}
    block = Block(arg_types=[tensor(x_shape, x_dtype)])
    return PrecomputeOp.make([block.args[0]], a)


@pytest.mark.parametrize("attrs,x,dtype,msg", [
    ({"form": "full"}, (2, 64), np.float32, "form 'full' is not one of unsigned, signed, half"),
    ({"table_type": "i4"}, (2, 64), np.float32, "table_type 'i4' is not one of f32, i16, i8"),
    ({"act_group": 6}, (2, 64), np.float32, "act_group = 6 must be a positive multiple of 4"),
    ({"K": 32}, (2, 64), np.float32, r"activation shape \[2, 64\] does not end in K = 32"),
    ({"table_type": "i16"}, (2, 64), np.float32, "table_type i16 needs i8 activations"),
    ({}, (2, 64), np.float16, "activations must be f32 or i8"),
    ({"fuse_producer": 2}, (2, 64), np.float32, "fuse_producer must be 0 or 1"),
])
def test_precompute_verifier(attrs, x, dtype, msg):
    with pytest.raises(VerifyException, match=msg):
        _precompute(x, dtype, **attrs)


def test_precompute_types():
    pc = _precompute((2, 3, 100), K=100, form="half", act_group=64)
    assert [dtypes.shape_of(r.type) for r in pc.results] == [(6, 25, 8), (6, 2)]
    pc = _precompute((100,), np.int8, K=100, table_type="i16", form="unsigned")
    assert [dtypes.shape_of(r.type) for r in pc.results] == [(1, 25, 16), (1, 2)]
    assert dtypes.dtype_of(pc.results[0].type) == np.int16


def _mpgemm(tables=(4, 64, 16), tdt=np.int8, tscales=(4, 4), planes=(2, 32, 64), pdt=np.uint8, scales=(32, 2),
            **attrs):
    a = {"K": 256, "N": 32, "bits": 2, "group": 128, "act_group": 64, "form": "signed", **attrs}
    block = Block(arg_types=[tensor(tables, tdt), tensor(tscales, np.float32), tensor(planes, pdt),
                             tensor(scales, np.float32), tensor(scales, np.float32)])
    return MpGemmOp.make(list(block.args), a)


def test_mpgemm_types():
    assert dtypes.shape_of(_mpgemm().outputs[0].type) == (4, 32)


@pytest.mark.parametrize("kw,msg", [
    ({"bits": 5, "planes": (5, 32, 64)}, "unsupported bit width 5"),
    ({"group": 96, "scales": (32, 2)}, "group size 96 does not divide K = 256"),
    ({"scales": (32, 4)}, r"scales have shape \[32, 4\], expected \[32, 2\]"),
    ({"group": 2, "K": 8, "tables": (4, 2, 16), "tscales": (4, 1), "planes": (2, 32, 2), "scales": (32, 4)},
     "group = 2 must be a multiple of 4"),
    ({"group": 32, "act_group": 12, "scales": (32, 8), "tscales": (4, 22)}, "one must divide the other"),
    ({"tables": (4, 64, 8)}, r"tables have shape \[4, 64, 8\], expected \[M, 64, 16\]"),
    ({"form": "half"}, r"expected \[M, 64, 8\] \(form half"),
    ({"tdt": np.float16}, "tables must be f32, i16 or i8"),
    ({"tscales": (4, 2)}, r"table scales have shape \[4, 2\], expected \[4, 4\]"),
    ({"pdt": np.int8}, "planes must be ui8"),
    ({"planes": (2, 32, 32)}, r"planes have shape \[2, 32, 32\], expected \[2, 32, 64\]"),
])
def test_mpgemm_verifier(kw, msg):
    with pytest.raises(VerifyException, match=msg):
        _mpgemm(**kw)
