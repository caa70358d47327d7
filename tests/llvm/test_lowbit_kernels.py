"""The llvm-cpu low-bit kernels against the reference interpreter (docs/lut.md §2, §4).

- `tg.matmul_nbits` (the fused dequantize + dot kernel, and the plain kernel for run-time codes):
  every bit width and ternary, GEMV and GEMM, groups that end inside a packed word, row tails.
- `lut.precompute`: every form and table type, f32 and i8 activations, K not a multiple of 4,
  activation groups not dividing K: bit-identical tables and table scales.
- `lut.mpgemm`: every form, b = 1..4 and ternary, i8/i16/f32 tables, integer and float
  activations, on every kernel variant the machine has (AVX-512 with and without VNNI, AVX2,
  `--cpu generic`): bit-identical to the reference (integer tables and i8 tables: the kernels
  follow the contract's order), the integer path also against a direct integer dot product.
- threads 1 and 2 give the same bits; `tensorc.compile(..., lut=True)` takes the LUT path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tensorc
from tensorc.backends.llvm.kernels.lowbit_isa import isa_for
from tensorc.quant import lut as L
from tensorc.quant.lowbit import QuantizedWeight, dequantize, quantize_rtn

sys.path.insert(0, str(Path(__file__).parents[1] / "lowbit"))
from lowbit_programs import matmul_nbits_program  # noqa: E402
from lut_programs import lut_program  # noqa: E402

RNG = np.random.default_rng(20260529)

# (cpu, simd) kernel variants; the ones this machine lacks are skipped
VARIANTS = [("host", "auto"), ("host", "avx512-novnni"), ("host", "avx2"), ("generic", "generic")]


def _variant(cpu: str, simd: str) -> None:
    try:
        isa_for(cpu, simd)
    except ValueError as e:
        pytest.skip(str(e))


def _compile(prog, threads=1, cpu="host", simd="auto", **kw):
    return tensorc.compile(prog, target="llvm-cpu", threads=threads, cpu=cpu, simd=simd, **kw)


def _nmse(y, ref) -> float:
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    return float(np.mean((y - ref) ** 2) / np.mean(ref ** 2))


def _qweight(bits: int, n: int, k: int, group: int, ternary: bool = False) -> QuantizedWeight:
    hi = 3 if ternary else 1 << bits
    codes = RNG.integers(0, hi, size=(n, k), dtype=np.uint8)
    scales = RNG.uniform(0.01, 1.0, size=(n, k // group)).astype(np.float32)
    if ternary:
        zeros = np.ones((n, k // group), np.float32)
    else:  # the contract's conventions: integer, 2^(b-1), (2^b - 1)/2
        choices = np.array([0, 1 << (bits - 1), ((1 << bits) - 1) / 2, (1 << bits) - 1], np.float32)
        zeros = RNG.choice(choices, size=(n, k // group)).astype(np.float32)
    return QuantizedWeight(codes, scales, zeros, bits, group, ternary)


# ---- tg.matmul_nbits: fused dequantize + dot ------------------------------------------------------
# (bits, ternary, N, K, G, x shape): groups ending inside a 32-bit word of codes (3 bits: 10 per
# word; 2 bits with G = 24), N not a multiple of the 64-row tile, GEMV and GEMM (2-D and 3-D x)
NBITS_CASES = [
    (1, False, 70, 128, 64, (1, 128)),
    (2, False, 130, 96, 24, (3, 96)),
    (3, False, 33, 120, 40, (2, 2, 120)),
    (4, False, 64, 64, 16, (5, 64)),
    (2, True, 65, 256, 128, (1, 256)),
]


@pytest.mark.parametrize("bits,ternary,n,k,group,xs", NBITS_CASES)
def test_matmul_nbits_fused_matches_reference(bits, ternary, n, k, group, xs):
    qw = _qweight(bits, n, k, group, ternary)
    prog = matmul_nbits_program(qw, xs)
    x = RNG.standard_normal(xs).astype(np.float32)
    ref = tensorc.compile(prog, target="reference")(x=x)["y"]
    outs = [_compile(prog, threads=t)(x=x)["y"] for t in (1, 2)]
    np.testing.assert_allclose(outs[0], ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_array_equal(outs[0], outs[1])


def test_matmul_nbits_fused_is_the_simd_kernel():
    qw = _qweight(2, 64, 128, 64)
    low = tensorc.lower(matmul_nbits_program(qw, (1, 128)), "cleanup,convert-tg-to-loops")
    text = str(low.module)
    assert "vector.fma" in text and "fc.codes.packed" in text  # the repacked codes, SIMD FMAs


def test_matmul_nbits_runtime_codes_take_the_plain_kernel():
    """Codes that are a program input (not constants): the scalar unpack-dequantize-dot kernel."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Block, Region

    from tensorc.dialects import dtypes
    from tensorc.dialects.tg.lowbit import MatMulNBitsOp
    from tensorc.program import Program, WeightStore, signature_from_main

    for bits, k, group in ((3, 40, 20), (4, 32, 16)):
        qw = _qweight(bits, 9, k, group)
        packed = qw.packed()
        block = Block(arg_types=[dtypes.tensor_type((2, k), np.float32), dtypes.tensor_type(packed.shape, np.uint8),
                                 dtypes.tensor_type(qw.scales.shape, np.float32),
                                 dtypes.tensor_type(qw.zeros.shape, np.float32)])
        mm = MatMulNBitsOp.make(list(block.args), {"K": k, "N": 9, "bits": bits, "block_size": group})
        block.add_ops([mm, func.ReturnOp(mm.outputs[0])])
        main = func.FuncOp("main", ([a.type for a in block.args], [mm.outputs[0].type]), Region(block))
        prog = Program(ModuleOp([main]), WeightStore(), signature_from_main(main, ["x", "c", "s", "z"], ["y"]))
        feeds = dict(x=RNG.standard_normal((2, k)).astype(np.float32), c=packed, s=qw.scales, z=qw.zeros)
        ref = tensorc.compile(prog, target="reference")(**feeds)["y"]
        got = _compile(prog)(**feeds)["y"]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


# ---- lut.precompute --------------------------------------------------------------------------------
@pytest.mark.parametrize("a_dtype,table_types", [(np.float32, ("f32", "i8")), (np.int8, ("i16", "i8", "f32"))])
@pytest.mark.parametrize("form", ["unsigned", "signed", "half"])
def test_precompute_bit_identical(a_dtype, table_types, form):
    """K = 30 (a zero-padded last table group), act_group 8 (not dividing K): tables and ts exact."""
    k, m = 30, 3
    if a_dtype == np.int8:
        a = RNG.integers(-128, 128, size=(m, k), dtype=np.int8)
        a[0, :4] = -128
    else:
        a = RNG.standard_normal((m, k)).astype(np.float32)
        a[1] = 0.0  # an all-zero row: ts = 1
    for ttype in table_types:
        tables, ts = L.precompute(a, k, form, ttype, 8)
        got = _compile(_precompute_program(a, k, form, ttype, 8))(a=a)
        np.testing.assert_array_equal(got["t"], tables)
        np.testing.assert_array_equal(got["ts"], ts)


def _precompute_program(a, k, form, ttype, act_group):
    """One lut.precompute; both results are outputs."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Block, Region

    from tensorc.dialects import dtypes
    from tensorc.dialects.lut import PrecomputeOp
    from tensorc.program import Program, WeightStore, signature_from_main

    block = Block(arg_types=[dtypes.tensor_type(a.shape, a.dtype)])
    pc = PrecomputeOp.of(block.args[0], k, form, ttype, act_group)
    block.add_ops([pc, func.ReturnOp(pc.tables, pc.tscales)])
    main = func.FuncOp("main", ([block.args[0].type], [pc.tables.type, pc.tscales.type]), Region(block))
    return Program(ModuleOp([main]), WeightStore(), signature_from_main(main, ["a"], ["t", "ts"]))


# ---- lut.mpgemm ------------------------------------------------------------------------------------------
def _layers(n: int, k: int, group: int):
    """One layer per bit width (1..4) and ternary, sharing one precompute."""
    out = []
    for bits, ternary in ((1, False), (2, False), (3, False), (4, False), (2, True)):
        qw = _qweight(bits, n, k, group, ternary)
        out.append((qw.codes, qw.scales, qw.zeros, bits, group))
    return out


def _run_variants(prog, feeds, cpu, simd, threads=(1,)):
    outs = []
    for t in threads:
        res = _compile(prog, threads=t, cpu=cpu, simd=simd)(**feeds)
        outs.append([res[f"y{i}"] for i in range(len(res))])
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            np.testing.assert_array_equal(a, b)
    return outs[0]


# every form on the best kernel; the other variants on `half` (sign handling, table expansion)
INTEGER_CASES = [("host", "auto", form) for form in ("unsigned", "signed", "half")] + \
    [(cpu, simd, "half") for cpu, simd in VARIANTS[1:]]


@pytest.mark.parametrize("cpu,simd,form", INTEGER_CASES)
def test_mpgemm_integer_path_bit_exact(cpu, simd, form):
    """i8 activations, i16 tables (exact) and i8 tables: every bit width, bit-identical to the
    reference; with i16 tables also to the direct integer dot product. N = 70 (a row tail of every
    tile size), K = 72, G = 24 > act_group = 12 (blocks of 12: K not a multiple of any tile)."""
    _variant(cpu, simd)
    m, n, k, group, ag = 2, 70, 72, 24, 12
    layers = _layers(n, k, group)
    a = RNG.integers(-128, 128, size=(m, k), dtype=np.int8)
    a[0, :8] = -128
    for ttype in ("i16", "i8"):
        prog = lut_program((m, k), layers, act_group=ag, form=form, table_type=ttype)
        ref = tensorc.compile(prog, target="reference")(a=a)
        got = _run_variants(prog, {"a": a}, cpu, simd)
        for i, (codes, scales, zeros, bits, g) in enumerate(layers):
            np.testing.assert_array_equal(got[i], ref[f"y{i}"], err_msg=f"{ttype} layer {i} ({bits} bits)")
            if ttype == "i16":
                oracle = L.direct_integer_dot(a, codes, scales, zeros, group=g, act_group=ag)
                np.testing.assert_array_equal(got[i], oracle)


@pytest.mark.parametrize("cpu,simd", VARIANTS)
def test_mpgemm_float_path(cpu, simd):
    """f32 activations, i8 tables (the shuffle kernel): bit-identical to the reference and within
    T-MAC's NMSE bar of dequantize-then-matmul; f32 tables close to the reference."""
    _variant(cpu, simd)
    m, n, k, group, ag = 3, 130, 256, 64, 32
    layers = _layers(n, k, group)
    x = RNG.standard_normal((m, k)).astype(np.float32)
    best = (cpu, simd) == VARIANTS[0]
    configs = (("i8", "half"), ("i8", "unsigned")) + ((("f32", "signed"),) if best else ())
    for ttype, form in configs:
        prog = lut_program((m, k), layers, act_group=ag, form=form, table_type=ttype, a_dtype=np.float32)
        ref = tensorc.compile(prog, target="reference")(a=x)
        got = _run_variants(prog, {"a": x}, cpu, simd, threads=(1, 2) if best and form == "half" else (1,))
        for i, (codes, scales, zeros, bits, g) in enumerate(layers):
            exact = x @ dequantize(codes, scales, zeros, g).T
            assert _nmse(got[i], exact) <= 5e-4
            if ttype == "i8":
                np.testing.assert_array_equal(got[i], ref[f"y{i}"])
            else:
                np.testing.assert_allclose(got[i], ref[f"y{i}"], rtol=1e-4, atol=1e-5 * np.abs(exact).max())


@pytest.mark.parametrize("bits,k", [(2, 1024), (1, 2048)])
def test_mpgemm_long_blocks_widen_int16(bits, k):
    """Blocks of K activations: more table groups than an i16 accumulator holds (86 at 2 bits,
    258 at 1 bit), so the shuffle kernel widens into i32 mid-block — still exact."""
    n = 40
    qw = _qweight(bits, n, k, k)
    a = np.full((1, k), 127, np.int8)  # the worst case for the i16 sums
    a[0, 1::2] = -128
    prog = lut_program((1, k), [(qw.codes, qw.scales, qw.zeros, bits, k)], act_group=k, form="signed",
                       table_type="i8")
    ref = tensorc.compile(prog, target="reference")(a=a)["y0"]
    np.testing.assert_array_equal(_compile(prog)(a=a)["y0"], ref)


def test_generic_cpu_uses_no_x86_intrinsics():
    from tensorc.pipeline import llvm_cpu_pipeline

    qw = _qweight(2, 64, 128, 64)
    prog = matmul_nbits_program(qw, (1, 128))
    for cpu, has in (("generic", False), ("host", isa_for("host").level != "generic")):
        text = str(tensorc.lower(prog, llvm_cpu_pipeline(cpu=cpu, lut=True)).module)
        assert ("llvm.x86" in text) == has, cpu


# ---- the LUT path from tensorc.compile ---------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["w2g64", "w4g128", "ternaryg64"])
def test_compile_lut_option(spec):
    n, k = 96, 256
    w = RNG.standard_normal((n, k)).astype(np.float32)
    qw = quantize_rtn(w, spec)
    prog = matmul_nbits_program(qw, (2, k))
    x = RNG.standard_normal((2, k)).astype(np.float32)
    got = _compile(prog, lut=True)(x=x)["y"]
    exact = x @ qw.dequantize().T
    assert _nmse(got, exact) <= 5e-4
    lowered = str(tensorc.lower(prog, "cleanup,lut,convert-tg-to-loops").module)
    assert "cpu.vshuffle_bytes" in lowered or isa_for("host").level == "generic"


def test_bad_simd_level_is_one_line():
    qw = _qweight(2, 16, 64, 32)
    with pytest.raises(tensorc.TensorcError, match="simd level 'avx9'"):
        _compile(matmul_nbits_program(qw, (1, 64)), simd="avx9")


def test_lowbit_entry_engines():
    """The benchmark entry point: each engine compiles and computes what it claims."""
    from tensorc.backends.llvm.kernels.lowbit_entry import LUT_ACT_GROUP, compile_lowbit

    qw = _qweight(4, 80, 256, 128)
    x = RNG.standard_normal((2, 256)).astype(np.float32)
    exact = x @ qw.dequantize().T
    for engine in ("lut", "dequant-dot"):
        assert _nmse(compile_lowbit(qw, batch=2, engine=engine)(x=x)["y"], exact) <= 5e-4
    out = compile_lowbit(qw, batch=2, engine="precompute")(x=x)
    tables, ts = L.precompute(x, 256, "half", "i8", LUT_ACT_GROUP)
    np.testing.assert_array_equal(out["tables"], tables)
    np.testing.assert_array_equal(out["tscales"], ts)
    with pytest.raises(tensorc.TensorcError, match="unknown low-bit engine"):
        compile_lowbit(qw, engine="fast")


def test_fused_epilogue_bias_relu():
    """A bias add and relu after the quantized matmul run in the kernels' epilogue (both engines)."""
    from xdsl.dialects import func

    from tensorc.dialects.tg import WeightOp
    from tensorc.dialects.tg.elementwise import OPS as EW

    qw = _qweight(2, 100, 128, 64)
    for m in (1, 3):
        prog = matmul_nbits_program(qw, (m, 128))
        main = next(op for op in prog.module.ops if isinstance(op, func.FuncOp))
        block = main.body.block
        ret = block.last_op
        bias = RNG.standard_normal(100).astype(np.float32)
        b = WeightOp(prog.weights.add("fc.bias", bias), tensorc_type(bias))
        add = EW["add"].make([ret.operands[0], b.result], {})
        relu = EW["relu"].make([add.outputs[0]], {})
        block.insert_ops_before([b, add, relu], ret)
        ret.operands = [relu.outputs[0]]
        x = RNG.standard_normal((m, 128)).astype(np.float32)
        ref = tensorc.compile(prog, target="reference")(x=x)["y"]
        exact = np.maximum(x @ qw.dequantize().T + bias, 0)
        np.testing.assert_allclose(_compile(prog)(x=x)["y"], ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
        assert _nmse(_compile(prog, lut=True)(x=x)["y"], exact) <= 5e-4
        for lut in (False, True):
            low = tensorc.lower(prog, "cleanup" + (",lut" if lut else "") + ",convert-tg-to-loops")
            calls = [op for op in low.module.walk() if op.name == "func.call"]
            assert len(calls) == (2 if lut else 1)  # (precompute +) one kernel with the epilogue


def tensorc_type(arr):
    from tensorc.dialects import dtypes

    return dtypes.tensor_type(arr.shape, arr.dtype)


@pytest.mark.parametrize("form", ["signed", "half"])
def test_mpgemm_runtime_operands(form):
    """Planes, scales and zero points as program inputs: the generic kernel on the contract's
    layout (run-time half decoding), bit-identical to the reference on the integer path."""
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Block, Region

    from tensorc.dialects import dtypes
    from tensorc.dialects.lut import MpGemmOp, PrecomputeOp
    from tensorc.program import Program, WeightStore, signature_from_main

    m, n, k, group, ag, bits = 2, 9, 48, 24, 12, 3
    qw = _qweight(bits, n, k, group)
    planes = L.planes_from_codes(qw.codes, bits, form)
    a = RNG.integers(-128, 128, size=(m, k), dtype=np.int8)
    types = [dtypes.tensor_type(a.shape, np.int8), dtypes.tensor_type(planes.shape, np.uint8),
             dtypes.tensor_type(qw.scales.shape, np.float32), dtypes.tensor_type(qw.zeros.shape, np.float32)]
    block = Block(arg_types=types)
    pc = PrecomputeOp.of(block.args[0], k, form, "i16", ag)
    mp = MpGemmOp.of(pc.tables, pc.tscales, *block.args[1:], k=k, n=n, bits=bits, group=group, act_group=ag, form=form)
    block.add_ops([pc, mp, func.ReturnOp(mp.outputs[0])])
    main = func.FuncOp("main", (types, [mp.outputs[0].type]), Region(block))
    prog = Program(ModuleOp([main]), WeightStore(), signature_from_main(main, ["a", "p", "s", "z"], ["y"]))
    feeds = dict(a=a, p=planes, s=qw.scales, z=qw.zeros)
    ref = tensorc.compile(prog, target="reference")(**feeds)["y"]
    np.testing.assert_array_equal(_compile(prog)(**feeds)["y"], ref)
    np.testing.assert_array_equal(ref, L.direct_integer_dot(a, qw.codes, qw.scales, qw.zeros, group=group, act_group=ag))
