"""The bfp dialect: format attribute, ops, reference kernels, bits accounting, and bfp-expand
(the same bits through plain tg arithmetic, on the reference interpreter and on llvm-cpu)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from bfp_gen import edge_blocks, mixed
from tensorc.dialects.bfp import DequantizeOp, FormatAttr, QuantizeOp, bits_per_element, encoding_of, tensor_bits
from tensorc.ir_text import parse_module, print_module
from tensorc.program import Program, signature_from_main
from tensorc.quant import parse_format, quantize


def _program(shape, fmt: str, axis: int) -> Program:
    f = parse_format(fmt)
    t = "x".join(map(str, shape)) + "xf32"
    enc = f"#bfp.format<{f.family}, block = {f.block}, rounding = {f.rounding}>"
    text = f"""
func.func @main(%k: tensor<{t}>) -> tensor<{t}> {{
  %q = bfp.quantize(%k) {{axis = {axis} : i64}} : (tensor<{t}>) -> tensor<{t}, {enc}>
  %d = bfp.dequantize(%q) : (tensor<{t}, {enc}>) -> tensor<{t}>
  func.return %d : tensor<{t}>
}}"""
    prog = Program(parse_module(text))
    prog.signature = signature_from_main(prog.main)
    return prog


def test_format_attribute_roundtrip_and_bits():
    for name in ("bfp12_16", "bfp16_64", "mxfp4", "mxfp8_e5m2_rna", "mxint8"):
        attr = FormatAttr.from_format(name)
        attr.verify()
        assert attr.to_format() == parse_format(name)
        assert attr.bits_per_element() == parse_format(name).bits_per_element()
    prog = _program((2, 3, 32), "bfp12_16", 2)
    text = print_module(prog.module)
    again = parse_module(text)
    assert print_module(again) == text
    q = next(o for o in again.walk() if isinstance(o, QuantizeOp))
    assert q.format.format_name == "bfp12_16" and q.axis == 2
    assert bits_per_element(q.results[0].type) == 4.5
    assert bits_per_element(q.operands[0].type) == 32.0
    assert tensor_bits(q.results[0].type) == 4.5 * 2 * 3 * 32
    assert encoding_of(q.operands[0].type) is None


def test_ops_build_and_verify():
    prog = _program((4, 16), "bfp16_8", 1)
    x = prog.main.body.block.args[0]
    q = QuantizeOp.of(x, "mxfp4", axis=-1)
    d = DequantizeOp.of(q.results[0])
    q.verify()
    d.verify()
    assert d.results[0].type == x.type
    assert q.attr_values() == {"axis": -1, "format": "mxfp4"}


@pytest.mark.parametrize("fmt,axis,shape", [("bfp12_16", 1, (64, 48)), ("mxfp4", 0, (64, 8)),
                                            ("bfp16_8_rna", 1, (32, 20)), ("mxfp6_e3m2", 1, (16, 70))])
def test_reference_kernel_and_expansion_bit_exact(fmt, axis, shape):
    """bfp.quantize (reference kernel) and its bfp-expand lowering give tensorc.quant's bits,
    blocks along any axis, the last block shorter when the axis is not a multiple."""
    f = parse_format(fmt)
    rng = np.random.default_rng(0)
    x = mixed(rng, f, int(np.prod(shape)) + 64)[: int(np.prod(shape))]
    x = rng.permutation(x).reshape(shape)
    x[: 2] = np.resize(edge_blocks(rng, f).reshape(-1), x[:2].shape)
    want = quantize(x, f, axis=axis).view(np.uint32)
    prog = _program(shape, fmt, axis)
    got = tensorc.compile(prog)(x)["out0"].view(np.uint32)
    np.testing.assert_array_equal(got, want)
    low = tensorc.lower(prog, "bfp-expand")
    assert not any(o.name.startswith("bfp.") for o in low.module.walk())
    np.testing.assert_array_equal(tensorc.compile(low)(x)["out0"].view(np.uint32), want)


@pytest.mark.parametrize("fmt", ["bfp12_16", "mxfp4"])
def test_expansion_on_llvm_cpu_bit_exact(fmt):
    f = parse_format(fmt)
    rng = np.random.default_rng(1)
    x = mixed(rng, f, 96 * 64)[: 96 * 64].reshape(96, 64)
    prog = tensorc.lower(_program((96, 64), fmt, 1), "bfp-expand")
    got = tensorc.compile(prog, target="llvm-cpu")(x)["out0"].view(np.uint32)
    np.testing.assert_array_equal(got, quantize(x, f, axis=1).view(np.uint32))
