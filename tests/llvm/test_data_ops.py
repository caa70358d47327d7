"""Data-movement and indexing ops compiled for llvm-cpu, checked against the reference
interpreter: transpose/concat/split/slice/expand/tile/pad/depth-space/trilu/reverse_sequence
for every storage kind (floats, bf16, f8, ints, int4, bool), gathers and scatters (negative
indices, every reduction), one_hot, compress, top_k (ties), einsum, resize, quantization, det."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto as TP

import tensorc
from difftest import NP, Graph, check

RNG = np.random.default_rng(7)
NAMES = {v: TP.DataType.Name(v).lower() for v in NP}


def _values(t, shape):
    dt = np.dtype(NP[t])
    if t == TP.BOOL:
        return RNG.integers(0, 2, shape).astype(bool)
    if t in (TP.INT4, TP.UINT4):
        lo = -8 if t == TP.INT4 else 0
        return RNG.integers(lo, lo + 16, shape).astype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return RNG.integers(max(info.min, -100), min(info.max, 100), shape).astype(dt)
    return RNG.normal(0, 2, shape).astype(dt)


def _i64(name, g, v):
    return g.const(name, np.array(v, np.int64))


@pytest.mark.parametrize("t", [TP.FLOAT, TP.BFLOAT16, TP.INT8, TP.INT64, TP.BOOL, TP.INT4],
                         ids=NAMES.get)
def test_layout_ops(t):
    x = _values(t, (2, 3, 4))
    x4 = _values(t, (1, 8, 2, 3))
    g = Graph()
    g.input("x", x)
    g.input("y", _values(t, (2, 1, 4)))
    g.input("x4", x4)
    g.node("Transpose", ["x"], "transpose", t, [4, 2, 3], perm=[2, 0, 1])
    g.node("Concat", ["x", "y"], "concat", t, [2, 4, 4], axis=1)
    g.nodes.append(__import__("onnx").helper.make_node("Split", ["x", _i64("sp", g, [1, 3])], ["s0", "s1"], axis=-1))
    g.outputs += [("s0", t, [2, 3, 1]), ("s1", t, [2, 3, 3])]
    sl = [_i64("st", g, [-1, 3]), _i64("en", g, [-100, 0]), _i64("ax", g, [2, 1]), _i64("stp", g, [-2, -1])]
    g.node("Slice", ["x"] + sl, "slice_neg", t, [2, 3, 2])
    sl2 = [_i64("st2", g, [1]), _i64("en2", g, [2**62]), _i64("ax2", g, [0]), _i64("stp2", g, [1])]
    g.node("Slice", ["x"] + sl2, "slice_pos", t, [1, 3, 4])
    g.node("Expand", ["y", _i64("es", g, [3, 2, 2, 4])], "expand", t, [3, 2, 2, 4])
    g.node("Tile", ["x", _i64("rep", g, [2, 1, 3])], "tile", t, [4, 3, 12])
    for mode in ("constant", "edge", "reflect", "wrap"):
        pads = _i64(f"p_{mode}", g, [1, 0, 3, 0, 2, -1])
        ins = ["x", pads]
        if mode == "constant" and t not in (TP.BOOL,):
            ins.append(g.const("cv", np.array(1, NP[t])))
        g.node("Pad", ins, f"pad_{mode}", t, [3, 5, 6], mode=mode)
    g.node("Pad", ["x", _i64("p_big", g, [0, 0, 5, 0, 0, 6])], "pad_reflect_big", t, [2, 3, 15], mode="reflect")
    for mode in ("DCR", "CRD"):
        g.node("DepthToSpace", ["x4"], f"d2s_{mode}", t, [1, 2, 4, 6], blocksize=2, mode=mode)
        g.node("SpaceToDepth", [f"d2s_{mode}"], f"s2d_{mode}", t, [1, 8, 2, 3], blocksize=2, mode=mode)
    for upper in (0, 1):
        for k in (-1, 2):
            g.node("Trilu", ["x", g.const(f"k{upper}{k}", np.array(k, np.int64))], f"trilu_{upper}_{k}", t, [2, 3, 4],
                   upper=upper)
    g.node("ReverseSequence", ["x", _i64("lens", g, [3, 1, 2])], "revseq", t, [2, 3, 4], batch_axis=1, time_axis=2)
    g.node("Gather", ["x", _i64("gi", g, [[0, -1], [2, 1]])], "gather", t, [2, 2, 2, 4], axis=1)
    g.node("Gather", ["x", g.const("gi32", np.array([-4, 3], np.int32))], "gather32", t, [2, 3, 2], axis=-1)
    gei = RNG.integers(-4, 4, (2, 3, 2))
    g.node("GatherElements", ["x", _i64("gei", g, gei)], "gather_el", t, [2, 3, 2], axis=2)
    g.node("GatherND", ["x", _i64("gnd", g, [[[1, -1]], [[0, 0]]])], "gather_nd_b0", t, [2, 1, 4])
    g.node("GatherND", ["x", _i64("gnd1", g, [[2, 3], [0, -1]])], "gather_nd_b1", t, [2], batch_dims=1)
    g.node("Compress", ["x", g.const("cond", np.array([True, False, True]))], "compress", t, [2, 2, 4], axis=1)
    g.node("Compress", ["x", g.const("condf", np.array([0, 1, 1, 0, 1], bool))], "compress_flat", t, [3])
    check(g)


@pytest.mark.parametrize("t", [TP.FLOAT, TP.FLOAT16, TP.INT32, TP.UINT8, TP.BOOL], ids=NAMES.get)
def test_scatter(t):
    data = _values(t, (3, 4))
    g = Graph()
    g.input("d", data)
    upd_e = _values(t, (2, 4))
    g.input("ue", upd_e)
    g.input("un", _values(t, (3, 4)))
    idx_e = _i64("ie", g, [[1, -3, 2, 0], [1, 1, -1, 0]])  # duplicates: reductions accumulate
    idx_n = _i64("in", g, [[0], [-1], [0]])
    reds = ["none", "add", "mul", "max", "min"] if t != TP.BOOL else ["none", "add", "mul"]
    for red in reds:
        e_idx = idx_e if red != "none" else _i64("ie_u", g, [[1, 0, 2, 0], [0, 1, 1, 2]])
        g.node("ScatterElements", ["d", e_idx, "ue"], f"se_{red}", t, [3, 4], axis=0, reduction=red)
        n_idx = idx_n if red != "none" else _i64("in_u", g, [[2], [0], [1]])
        g.node("ScatterND", ["d", n_idx, "un"], f"snd_{red}", t, [3, 4], reduction=red)
    g.node("ScatterElements", ["d", _i64("ie2", g, [[3, -1]]), g.input("u2", _values(t, (1, 2)))], "se_axis1", t,
           [3, 4], axis=1)
    # float16 reductions round after each update (the reference accumulates in float32)
    check(g, default={TP.FLOAT: (1e-6, 1e-6), TP.FLOAT16: (2e-3, 1e-3)}.get(t, (0.0, 0.0)))


def test_one_hot_and_top_k():
    g = Graph()
    g.input("idx", np.array([[0, -1, 5], [2, 3, -7]], np.int64))
    g.input("fidx", np.array([1.7, -1.2, 2.0], np.float32))
    g.node("OneHot", ["idx", g.const("depth", np.array(4, np.int64)), g.const("vals", np.array([-2.0, 5.0], np.float32))],
           "onehot", TP.FLOAT, [2, 4, 3], axis=1)
    g.node("OneHot", ["fidx", g.const("depth2", np.array(3, np.float32)), g.const("vals2", np.array([0, 9], np.int32))],
           "onehot_f", TP.INT32, [3, 3])
    x = RNG.integers(0, 4, (3, 6)).astype(np.float32)  # ties: the lower index first
    g.input("x", x)
    g.input("xi", RNG.integers(-5, 5, (4, 3)).astype(np.int32))
    g.input("xu", RNG.integers(0, 255, (7,)).astype(np.uint8))
    import onnx

    for name, inp, k, axis, largest, shape, t in [
        ("tk_l", "x", 4, -1, 1, [3, 4], TP.FLOAT), ("tk_s", "x", 6, 1, 0, [3, 6], TP.FLOAT),
        ("tk_i", "xi", 2, 0, 1, [2, 3], TP.INT32), ("tk_u", "xu", 3, 0, 0, [3], TP.UINT8),
        ("tk_ul", "xu", 7, 0, 1, [7], TP.UINT8),
    ]:
        g.nodes.append(onnx.helper.make_node("TopK", [inp, _i64(f"k_{name}", g, [k])], [f"{name}_v", f"{name}_i"],
                                             axis=axis, largest=largest))
        g.outputs += [(f"{name}_v", t, shape), (f"{name}_i", TP.INT64, shape)]
    check(g)


@pytest.mark.parametrize("t", [TP.FLOAT, TP.INT32], ids=NAMES.get)
def test_einsum(t):
    g = Graph()
    a = g.input("a", _values(t, (2, 3, 4)))
    b = g.input("b", _values(t, (2, 4, 5)))
    m = g.input("m", _values(t, (3, 3)))
    v = g.input("v", _values(t, (3,)))
    e = g.input("e", _values(t, (2, 1, 3)))
    for name, eq, ins, shape in [
        ("bmm", "bij,bjk->bik", [a, b], [2, 3, 5]), ("trace", "ii", [m], []), ("diag", "ii->i", [m], [3]),
        ("outer", "i,j->ij", [v, v], [3, 3]), ("implicit", "ij,jk", [m, m], [3, 3]), ("sum", "bij->", [a], []),
        ("transpose", "bij->jib", [a], [3, 2, 4]), ("ellipsis", "...ij,...jk->...ik", [a, b], [2, 3, 5]),
        ("ell_bcast", "...j,j->...", [e, v], [2, 1]), ("three", "i,ij,j->", [v, m, v], []),
    ]:
        g.node("Einsum", ins, f"einsum_{name}", t, shape, equation=eq)
    check(g, default=(1e-5, 1e-5) if t == TP.FLOAT else (0.0, 0.0))


def test_resize():
    x = RNG.normal(0, 1, (1, 2, 4, 5)).astype(np.float32)
    xu = RNG.integers(0, 255, (1, 1, 3, 4)).astype(np.uint8)
    g = Graph()
    g.input("x", x)
    g.input("xu", xu)
    empty = g.const("roi0", np.zeros((0,), np.float32))
    up = g.const("up", np.array([1, 1, 1.5, 2.0], np.float32))
    down = g.const("down", np.array([1, 1, 0.6, 0.5], np.float32))
    n = 0
    for mode, ctm, nm, scales, extra in [
        ("nearest", "half_pixel", "round_prefer_floor", up, {}), ("nearest", "asymmetric", "floor", down, {}),
        ("nearest", "align_corners", "round_prefer_ceil", up, {}), ("nearest", "half_pixel", "ceil", down, {}),
        ("linear", "half_pixel", None, up, {}), ("linear", "align_corners", None, down, {}),
        ("linear", "pytorch_half_pixel", None, down, {}), ("linear", "half_pixel_symmetric", None, up, {}),
        ("linear", "half_pixel", None, down, {"antialias": 1}), ("cubic", "half_pixel", None, up, {}),
        ("cubic", "asymmetric", None, down, {"cubic_coeff_a": -0.5, "exclude_outside": 1}),
        ("cubic", "half_pixel", None, down, {"antialias": 1}),
    ]:
        attrs = dict(mode=mode, coordinate_transformation_mode=ctm, **extra)
        if nm:
            attrs["nearest_mode"] = nm
        s = [1, 2, 6, 10] if scales is up else [1, 2, 2, 2]
        g.node("Resize", ["x", empty, scales], f"resize_{n}_{mode}_{ctm}", TP.FLOAT, s, **attrs)
        n += 1
    roi = g.const("roi", np.array([0, 0, 0.2, 0.3, 1, 1, 1.2, 0.9], np.float32))
    g.node("Resize", ["x", roi, empty, _i64("sz", g, [1, 2, 3, 3])], "resize_crop", TP.FLOAT, [1, 2, 3, 3],
           mode="linear", coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=7.0)
    g.node("Resize", ["x", roi, empty, _i64("sz2", g, [1, 2, 3, 4])], "resize_crop_nearest", TP.FLOAT, [1, 2, 3, 4],
           mode="nearest", coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-1.0)
    g.node("Resize", ["xu", empty, g.const("upu", np.array([1, 1, 2, 1.5], np.float32))], "resize_u8", TP.UINT8,
           [1, 1, 6, 6], mode="linear")
    g.node("Resize", ["xu", empty, empty, _i64("szc", g, [1, 1, 5, 3])], "resize_u8_cubic", TP.UINT8, [1, 1, 5, 3],
           mode="cubic")
    check(g, default=(1e-5, 1e-5))


def test_quantize():
    x = (RNG.normal(0, 40, (2, 3, 4))).astype(np.float32)
    x[0, 0, :3] = [2.5, 3.5, -2.5]  # round half to even
    g = Graph()
    g.input("x", x)
    g.input("xh", x.astype(np.float16))
    s_t = g.const("s_t", np.array(0.5, np.float32))
    s_ax = g.const("s_ax", np.array([0.5, 1.0, 2.0], np.float32))
    s_blk = g.const("s_blk", RNG.uniform(0.2, 2, (2, 3, 2)).astype(np.float32))
    z_u8 = g.const("z_u8", np.array(128, np.uint8))
    z_i8 = g.const("z_i8", np.array([-3, 0, 4], np.int8))
    z_i4 = g.const("z_i4", np.array(1, ml_dtypes.int4))
    z_u16 = g.const("z_u16", np.array(1000, np.uint16))
    z_f8 = g.const("z_f8", np.array(0, ml_dtypes.float8_e4m3fn))
    z_blk = g.const("z_blk", RNG.integers(-5, 5, (2, 3, 2)).astype(np.int8))
    g.node("QuantizeLinear", ["x", s_t, z_u8], "q_u8", TP.UINT8, [2, 3, 4])
    g.node("QuantizeLinear", ["x", s_ax, z_i8], "q_i8_axis", TP.INT8, [2, 3, 4], axis=1)
    g.node("QuantizeLinear", ["x", s_t, z_i4], "q_i4", TP.INT4, [2, 3, 4])
    g.node("QuantizeLinear", ["xh", g.const("s_h", np.array(0.25, np.float16)), z_u16], "q_u16", TP.UINT16, [2, 3, 4])
    g.node("QuantizeLinear", ["x", s_t, z_f8], "q_f8", TP.FLOAT8E4M3FN, [2, 3, 4])
    g.node("QuantizeLinear", ["x", g.const("s_tiny", np.array(0.01, np.float32)), z_f8], "q_f8_nosat",
           TP.FLOAT8E4M3FN, [2, 3, 4], saturate=0)
    g.node("QuantizeLinear", ["x", s_blk, z_blk], "q_blk", TP.INT8, [2, 3, 4], axis=2, block_size=2)
    for name, t in [("q_u8", TP.UINT8), ("q_i4", TP.INT4), ("q_f8", TP.FLOAT8E4M3FN)]:
        zp = {"q_u8": z_u8, "q_i4": z_i4, "q_f8": z_f8}[name]
        g.node("DequantizeLinear", [name, s_t, zp], f"dq_{name}", TP.FLOAT, [2, 3, 4])
    g.node("DequantizeLinear", ["q_i8_axis", s_ax, z_i8], "dq_axis", TP.FLOAT, [2, 3, 4], axis=1)
    g.node("DequantizeLinear", ["q_blk", s_blk, z_blk], "dq_blk", TP.FLOAT, [2, 3, 4], axis=-1, block_size=2)
    g.node("DequantizeLinear", ["q_u16", g.const("s_h2", np.array(0.25, np.float16)), z_u16], "dq_f16", TP.FLOAT16,
           [2, 3, 4])
    g.node("DequantizeLinear", ["q_i8_axis", s_ax], "dq_nozp", TP.FLOAT, [2, 3, 4], axis=1)
    check(g, default=(1e-6, 1e-6))


def test_det():
    g = Graph()
    m = RNG.normal(0, 1, (2, 3, 4, 4)).astype(np.float32)
    m[0, 1] = [[0, 1, 2, 3], [0, 4, 5, 6], [1, 2, 3, 4], [2, 0, 1, 1]]  # a zero first pivot
    m[1, 2, 3] = m[1, 2, 0]  # singular
    g.input("m", m)
    g.input("m2", RNG.normal(0, 1, (2, 2)).astype(np.float64))
    g.node("Det", ["m"], "det4", TP.FLOAT, [2, 3])
    g.node("Det", ["m2"], "det2", TP.DOUBLE, [])
    check(g, default=(1e-4, 1e-5))


def test_range():
    """tg.range with run-time operands (the importer folds constant ones)."""
    from tensorc.ir_text import parse_module
    from tensorc.program import Program, signature_from_main

    text = """
    func.func @main(%s: tensor<f32>, %l: tensor<f32>, %d: tensor<f32>, %a: tensor<i32>, %b: tensor<i32>,
                    %c: tensor<i32>) -> (tensor<10xf32>, tensor<7xi32>) {
      %r = tg.range(%s, %l, %d) : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<10xf32>
      %q = tg.range(%a, %b, %c) : (tensor<i32>, tensor<i32>, tensor<i32>) -> tensor<7xi32>
      func.return %r, %q : tensor<10xf32>, tensor<7xi32>
    }"""
    prog = Program(parse_module(text))
    prog.signature = signature_from_main(prog.main)
    args = [np.array(v, dt) for v, dt in [(0.5, np.float32), (3.5, np.float32), (0.3, np.float32),
                                          (9, np.int32), (-10, np.int32), (-3, np.int32)]]
    ref = tensorc.compile(prog, target="reference")(*args)
    got = tensorc.compile(prog, target="llvm-cpu")(*args)
    for k in ref:
        np.testing.assert_array_equal(ref[k], got[k])
