"""bfp.pack / bfp.unpack / bfp.matmul and the bfp-pack pass, on the reference interpreter and llvm-cpu.

* >= 1M values per format through the compiled CPU kernels: the packed bytes equal the reference
  kernel's (tensorc.quant.packing) and the unpacked values equal the independent integer oracle
  bit for bit (edge cases, NaN/inf blocks, subnormals, ties, short last blocks included);
* bfp.matmul (Q·Kᵀ read from packed K) against float64 Q·quantize(K), tiles and tails included;
* the pass: which reads fuse, which unpack, formats left alone, values unchanged, and the
  compiled models (llvm-cpu pipeline) against the reference interpreter.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import tensorc
from bfp_gen import mixed
from bfp_oracle import quantize_bits
from tensorc.ir_text import parse_module
from tensorc.passes import bfp_pack
from tensorc.program import Program, signature_from_main
from tensorc.quant import parse_format, quantize
from tensorc.quant.packing import exponent_codes, pack, packed_shape


def _t(shape, elem="f32"):
    return "tensor<" + "x".join(map(str, shape)) + f"x{elem}>"


def _pack_program(shape, fmt: str, axis: int) -> Program:
    ps = packed_shape(shape, fmt, axis)
    text = f"""
func.func @main(%k: {_t(shape)}) -> ({_t(ps, "ui8")}, {_t(shape)}) {{
  %p = bfp.pack(%k) {{axis = {axis} : i64, format = "{fmt}"}} : ({_t(shape)}) -> {_t(ps, "ui8")}
  %u = bfp.unpack(%p) {{axis = {axis} : i64, format = "{fmt}", length = {shape[axis]} : i64}} : ({_t(ps, "ui8")}) -> {_t(shape)}
  func.return %p, %u : {_t(ps, "ui8")}, {_t(shape)}
}}"""
    prog = Program(parse_module(text))
    prog.signature = signature_from_main(prog.main)
    return prog


@pytest.mark.parametrize("fmt,shape,axis", [
    ("bfp12_16", (62500, 16), 1),     # 1M values, one block per row
    ("bfp16_16", (62500, 16), 1),
    ("mxint8_rna", (31250, 32), 1),
    ("bfp12_7", (100, 1001, 11), 1),  # odd block (a half-used last byte), short last block, middle axis
])
def test_compiled_pack_unpack_bit_exact(fmt, shape, axis):
    f = parse_format(fmt)
    rng = np.random.default_rng(zlib.crc32(fmt.encode()))
    size = int(np.prod(shape))
    x = mixed(rng, f, size + 4096)[:size]
    if axis != len(shape) - 1:  # keep the generator's blocks contiguous along the blocked axis
        x = np.moveaxis(x.reshape(shape[:axis] + shape[axis + 1:] + (shape[axis],)), -1, axis)
    x = np.ascontiguousarray(x.reshape(shape))
    assert x.size >= 1_000_000
    prog = _pack_program(shape, fmt, axis)
    want_bytes = pack(x, f, axis)
    want = np.moveaxis(quantize_bits(np.moveaxis(x, axis, -1).reshape(-1, shape[axis]), f)
                       .reshape(np.moveaxis(x, axis, -1).shape), -1, axis)
    ref = tensorc.compile(prog)(x)
    cpu = tensorc.compile(prog, target="llvm-cpu")(x)
    for out in (ref, cpu):
        np.testing.assert_array_equal(out["out0"], want_bytes)
        np.testing.assert_array_equal(out["out1"].view(np.uint32), want)
    assert np.isnan(cpu["out1"]).any() and (exponent_codes(want_bytes, axis) == 0).any()  # NaN, E = -127 blocks


@pytest.mark.parametrize("fmt,a_shape,k_shape", [
    ("bfp12_16", (2, 3, 5, 40), (2, 3, 40, 150)),  # D = 40: a short last block; T = 150: two tiles and a tail
    ("bfp16_8", (4, 7, 24), (1, 24, 9)),          # broadcast batch
    ("bfp12_32_rna", (3, 32), (32, 70)),
])
def test_compiled_packed_matmul(fmt, a_shape, k_shape):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(a_shape).astype(np.float32)
    k = (rng.standard_normal(k_shape) * np.where(rng.random(k_shape[-2:-1]) < 0.1, 30, 1)[:, None]).astype(np.float32)
    out_shape = np.matmul(a, k).shape
    ps = packed_shape(k_shape, fmt, len(k_shape) - 2)
    text = f"""
func.func @main(%a: {_t(a_shape)}, %k: {_t(k_shape)}) -> {_t(out_shape)} {{
  %p = bfp.pack(%k) {{axis = {len(k_shape) - 2} : i64, format = "{fmt}"}} : ({_t(k_shape)}) -> {_t(ps, "ui8")}
  %c = bfp.matmul(%a, %p) {{format = "{fmt}", length = {k_shape[-2]} : i64}} : ({_t(a_shape)}, {_t(ps, "ui8")}) -> {_t(out_shape)}
  func.return %c : {_t(out_shape)}
}}"""
    prog = Program(parse_module(text))
    prog.signature = signature_from_main(prog.main)
    exact = np.matmul(a.astype(np.float64), quantize(k, fmt, axis=-2).astype(np.float64))
    for target in ("reference", "llvm-cpu"):
        got = tensorc.compile(prog, target=target)(a, k)["out0"]
        np.testing.assert_allclose(got, exact, rtol=1e-5, atol=1e-5 * np.abs(exact).max())


def _qkv_program(tmp_path, name):
    import bfp_models

    return {"bert": bfp_models.tiny_bert, "attention": bfp_models.onnx_attention}[name](tmp_path)


@pytest.mark.parametrize("name,fmt,fused,unpacked", [("bert", "bfp12", 2, 0), ("attention", "bfp16", 0, 1)])
def test_pass_packs_and_keeps_values(tmp_path, name, fmt, fused, unpacked):
    prog, inputs, _ = _qkv_program(tmp_path, name)
    q = tensorc.lower(prog, f"bfp-quantize-kv{{format={fmt} block=4}}")
    packed = tensorc.lower(q, "bfp-pack")
    rows = bfp_pack.last_report()
    assert [r["action"] for r in rows] == ["packed"] * len(rows)
    assert sum(r["fused_reads"] for r in rows) == fused and sum(r["unpacked_reads"] for r in rows) == unpacked
    names = [o.name for o in packed.module.walk()]
    assert "bfp.quantize" not in names and names.count("bfp.pack") == len(rows)
    for r in rows:  # BFP12_4: 1 + 2 bytes per 4 values (6 bits/value); BFP16_4: 1 + 4 bytes
        per4 = 3 if fmt == "bfp12" else 5
        assert r["bytes_packed"] * 16 == r["bytes_f32"] * per4
    out_q = tensorc.compile(q)(**inputs)
    out_p = tensorc.compile(packed)(**inputs)
    cpu = tensorc.compile(q, target="llvm-cpu")(**inputs)  # the llvm-cpu pipeline runs bfp-pack itself
    for key in out_q:
        a = out_q[key]
        tol = 1e-5 * np.abs(a).max()
        if unpacked and not fused:  # unpack is bit-exact and the reader is the same op
            np.testing.assert_array_equal(out_p[key], a)
        np.testing.assert_allclose(out_p[key], a, rtol=1e-5, atol=tol)
        np.testing.assert_allclose(cpu[key], a, rtol=1e-4, atol=1e-4 * np.abs(a).max())
    nofuse = tensorc.lower(q, "bfp-pack{fuse=false}")
    assert "bfp.matmul" not in [o.name for o in nofuse.module.walk()]
    for key in out_q:
        np.testing.assert_array_equal(tensorc.compile(nofuse)(**inputs)[key], out_q[key])


def test_small_float_formats_are_left_for_bfp_expand(tmp_path, capsys):
    prog, _, _ = _qkv_program(tmp_path, "bert")
    q = tensorc.lower(prog, "bfp-quantize-kv{format=mxfp4}")
    same = tensorc.lower(q, "bfp-pack{report=true}")
    assert [r["action"] for r in bfp_pack.last_report()] == ["left", "left"]
    assert "left as f32 (small-float elements are not packed)" in capsys.readouterr().err
    assert str(same.module) == str(q.module)  # bfp-expand lowers it on llvm-cpu (tests/bfp/test_bfp_dialect.py)
