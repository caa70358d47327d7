"""Elementwise ops and casts compiled for llvm-cpu, checked against the reference interpreter.

One graph per (op family, element type): every op of the family is a node on the
same inputs, so one compile covers it. Inputs hold the edge values (NaN, ±inf,
-0.0, rounding ties, subnormals, integer min/max, overflow) next to ordinary ones.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto as TP

from difftest import FLOATS, INTS, NP, Graph, check

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _same_values_in_any_order():
    """Each test draws the same random values whatever runs before it (xdist, -k)."""
    global RNG
    RNG = np.random.default_rng(7)
NAMES = {v: TP.DataType.Name(v).lower() for v in NP}

_EDGE = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, -7.25, 100.0, 1e-3, float("nan"), float("inf"),
         float("-inf"), 0.999, 0.25]
_BIG = {TP.FLOAT: [3e38, -1e30, 1e-40], TP.DOUBLE: [1e300, -1e200, 1e-310], TP.FLOAT16: [60000.0, -65504.0, 1e-7],
        TP.BFLOAT16: [3e38, -1e30, 1e-39]}
_ULP = {TP.FLOAT: 2e-6, TP.DOUBLE: 1e-14, TP.FLOAT16: 2e-3, TP.BFLOAT16: 1.6e-2}


def float_values(t: int, n_random: int = 14) -> np.ndarray:
    v = np.array(_EDGE + _BIG[t] + list(RNG.normal(0, 3, n_random)), dtype=np.float64)
    return v.astype(NP[t])


def int_values(t: int) -> np.ndarray:
    info = np.iinfo(NP[t])
    vals = [0, 1, 2, 3, 7, 100, info.max, info.max - 1, info.min, info.min + 1, 13, 64]
    if info.min < 0:
        vals += [-1, -2, -7, -100, -13]
    return np.array([min(max(v, info.min), info.max) for v in vals], dtype=object).astype(NP[t])


def pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (a[i], b[j]) pairs as two flat arrays."""
    return np.repeat(a, len(b)), np.tile(b, len(a))


# ---- floats --------------------------------------------------------------------------
# ops whose result is exactly the reference's (same operations in the same precision)
UNARY_EXACT = ["Abs", "Neg", "Floor", "Ceil", "Round", "Sign", "Reciprocal", "Sqrt", "Relu", "Softsign",
               "HardSwish", "IsNaN", "Identity",
               ("LeakyRelu", {"alpha": 0.1}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
               ("ThresholdedRelu", {"alpha": 0.7}), ("Shrink", {"bias": 0.3, "lambd": 0.6}),
               ("IsInf", {}), ("IsInf", {"detect_negative": 0}), ("IsInf", {"detect_positive": 0})]
# libm functions: within a few ulp of numpy's
UNARY_APPROX = ["Exp", "Log", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh",
                "Atanh", "Sigmoid", "Tanh", "Erf", "Softplus", "Mish", "Selu", ("Elu", {"alpha": 0.5}),
                ("Celu", {"alpha": 2.0}), "Gelu", ("Gelu", {"approximate": "tanh"})]
BOOL_RESULT = {"IsNaN", "IsInf"}


def _unary_graph(t: int, ops, x: np.ndarray) -> Graph:
    g = Graph()
    xin = g.input("x", x)
    for i, op in enumerate(ops):
        name, attrs = (op, {}) if isinstance(op, str) else op
        g.node(name, [xin], f"{name.lower()}{i}", TP.BOOL if name in BOOL_RESULT else t, x.shape, **attrs)
    return g


@pytest.mark.parametrize("t", FLOATS, ids=NAMES.get)
def test_float_unary(t):
    x = float_values(t).reshape(5, -1)
    g = _unary_graph(t, UNARY_EXACT, x)
    lo, hi = g.const("lo", np.array(-1.25, NP[t])), g.const("hi", np.array(2.0, NP[t]))
    g.node("Clip", ["x", lo, hi], "clip", t, x.shape)
    g.node("Clip", ["x", "", hi], "clip_hi", t, x.shape)
    check(g)


@pytest.mark.parametrize("t", FLOATS, ids=NAMES.get)
def test_float_transcendental(t):
    x = np.concatenate([float_values(t), RNG.uniform(-1, 1, 9).astype(NP[t])]).reshape(4, -1)
    g = _unary_graph(t, UNARY_APPROX, x)
    tol = (4 * _ULP[t], 1e-7 if t != TP.DOUBLE else 1e-15)
    # gelu = 0.5 x (1 + erf(x / sqrt 2)) in float32 (vectorizable erf) against the reference's float64:
    # 1 + erf cancels where gelu is tiny (x < -3.7)
    gelu = {n: (tol[0], 1e-6 if t != TP.DOUBLE else 1e-15) for n, *_ in g.outputs if n.startswith("gelu")}
    check(g, tol=gelu, default=tol)


BINARY_EXACT = ["Add", "Sub", "Mul", "Div", "Max", "Min", "PRelu", ("Mod", {"fmod": 1}), ("Mod", {"fmod": 0})]
COMPARE = ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"]


@pytest.mark.parametrize("t", FLOATS, ids=NAMES.get)
def test_float_binary(t):
    a, b = pairs(float_values(t, 4), float_values(t, 3))
    g = Graph()
    g.input("a", a)
    g.input("b", b)
    for i, op in enumerate(BINARY_EXACT + COMPARE):
        name, attrs = (op, {}) if isinstance(op, str) else op
        g.node(name, ["a", "b"], f"{name.lower()}{i}", TP.BOOL if name in COMPARE else t, a.shape, **attrs)
    g.node("Pow", ["a", "b"], "pow", t, a.shape)
    # broadcasting, and a fused chain ((a + row) * a, then where, then a cast)
    g.input("row", float_values(t, 4)[:7])
    m = g.input("m", a[:49].reshape(7, 7))
    g.node("Add", [m, "row"], "bc_add", t, [7, 7])
    s = g.node("Add", [m, "row"], "s", t, [7, 7], graph_output=False)
    s2 = g.node("Mul", [s, m], "s2", t, [7, 7], graph_output=False)
    g.node("Greater", [s2, m], "gt", TP.BOOL, [7, 7], graph_output=False)
    g.node("Where", ["gt", "s2", m], "chain", t, [7, 7])
    check(g, tol={"pow": (4 * _ULP[t], 0.0)})


@pytest.mark.parametrize("t", [TP.FLOAT, TP.FLOAT16, TP.DOUBLE, TP.BFLOAT16], ids=NAMES.get)
def test_pow_exponent_types(t):
    base = np.array([2.0, -2.0, 0.5, 0.0, -0.0, 3.0, -1.5, np.nan, np.inf, 10.0, 1.0, -1.0]).astype(NP[t])
    g = Graph()
    g.input("x", base)
    for et in (TP.INT32, TP.INT64, TP.UINT8, TP.FLOAT, TP.FLOAT16):
        e = np.array([0, 1, 2, 3, 5, 7, 4, 2, 3, 2, 100, 3]).astype(NP[et])
        if et in (TP.INT32, TP.INT64):
            e[[1, 6, 10]] = [-1, -2, -3]
        g.input(f"e_{NAMES[et]}", e)
        g.node("Pow", ["x", f"e_{NAMES[et]}"], f"pow_{NAMES[et]}", t, base.shape)
    check(g, default=(4 * _ULP[t], 0.0))


# ---- integers ------------------------------------------------------------------------
INT_BINARY = ["Add", "Sub", "Mul", "Max", "Min", "BitwiseAnd", "BitwiseOr", "BitwiseXor"]


@pytest.mark.parametrize("t", INTS, ids=NAMES.get)
def test_int_ops(t):
    dt = NP[t]
    a, b = pairs(int_values(t), int_values(t))
    nz = np.where(b == 0, dt(1), b).astype(dt)
    g = Graph()
    g.input("a", a)
    g.input("b", b)
    g.input("nz", nz)
    for op in INT_BINARY:
        g.node(op, ["a", "b"], op.lower(), t, a.shape)
    for op in COMPARE:
        g.node(op, ["a", "b"], op.lower(), TP.BOOL, a.shape)
    g.node("Div", ["a", "nz"], "div", t, a.shape)
    g.node("Mod", ["a", "nz"], "mod", t, a.shape, fmod=0)
    g.node("Mod", ["a", "nz"], "fmod", t, a.shape, fmod=1)
    shifts = (np.arange(a.size) % (8 * dt().itemsize + 3)).astype(dt)
    if np.iinfo(dt).min < 0:
        shifts[::11] = -1
    g.input("s", shifts)
    g.node("BitShift", ["a", "s"], "shl", t, a.shape, direction="LEFT")
    g.node("BitShift", ["a", "s"], "shr", t, a.shape, direction="RIGHT")
    for op in ("Abs", "Neg", "Sign", "BitwiseNot", "Relu", "Floor", "Identity"):
        g.node(op, ["a"], op.lower(), t, a.shape)
    lo = g.const("lo", np.array(-5 if np.iinfo(dt).min < 0 else 2, dt))
    hi = g.const("hi", np.array(90, dt))
    g.node("Clip", ["a", lo, hi], "clip", t, a.shape)
    g.input("c", RNG.integers(0, 2, a.size).astype(bool))
    g.node("Where", ["c", "a", "b"], "where", t, a.shape)
    # Pow with integer exponents (negative ones too), and with a float exponent
    e = (np.arange(a.size) % 9).astype(np.int64)
    e[::7] = -1
    e[::13] = -2
    g.input("e", e)
    g.node("Pow", ["a", "e"], "pow", t, a.shape)
    g.input("pb", (np.arange(a.size) % 8).astype(dt))  # results in range: float → int overflow is undefined
    g.input("fe", (np.arange(a.size) % 5 * 0.5).astype(np.float32))
    g.node("Pow", ["pb", "fe"], "pow_f", t, a.shape)
    check(g)


def test_bool_ops():
    a, b = pairs(np.array([False, True]), np.array([False, True]))
    g = Graph()
    g.input("a", a)
    g.input("b", b)
    for op in ("And", "Or", "Xor", "Equal"):
        g.node(op, ["a", "b"], op.lower(), TP.BOOL, a.shape)
    g.node("Not", ["a"], "not", TP.BOOL, a.shape)
    g.node("Where", ["a", "b", "a"], "where", TP.BOOL, a.shape)
    check(g)


@pytest.mark.parametrize("t", [TP.BFLOAT16, TP.FLOAT16, TP.INT8, TP.UINT64, TP.FLOAT8E4M3FN], ids=NAMES.get)
def test_where_any_type(t):
    x = np.arange(12).astype(np.float32).astype(NP[t])
    y = (np.arange(12) * 3 + 1).astype(np.float32).astype(NP[t])
    g = Graph()
    g.input("c", RNG.integers(0, 2, 12).astype(bool).reshape(3, 4))
    g.input("x", x.reshape(3, 4))
    g.input("y", y[:4])
    g.node("Where", ["c", "x", "y"], "w", t, [3, 4])
    check(g)


# ---- casts ---------------------------------------------------------------------------
SMALL_FLOATS = (TP.FLOAT8E4M3FN, TP.FLOAT8E4M3FNUZ, TP.FLOAT8E5M2, TP.FLOAT8E5M2FNUZ, TP.FLOAT4E2M1, TP.FLOAT8E8M0)
SUB_BYTE = (TP.INT4, TP.UINT4, TP.INT2, TP.UINT2)
ALL = FLOATS + SMALL_FLOATS + INTS + SUB_BYTE + (TP.BOOL,)
# ties and overflow of the small formats (464 = e4m3fn's NaN threshold, 61440 = e5m2's inf, 5 = a float4
# tie, ...), their subnormals, bfloat16/float16 ties, e8m0's range, NaN and infinities
_CAST_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, -2.5, 3.5, 7.5, -8.6, 5.0, 6.5, 0.25, 0.26, 0.75, 100.4,
                240.0, 250.0, 448.0, 464.0, 470.0, 500.0, -1e5, 57344.0, 61440.0, 1e6, 0.0019, 0.00098, 1e-9,
                -1e-9, 3e-5, 65520.0, 1.00390625, 1.01171875, 1.0625 + 2 ** -20, float("nan"), float("inf"),
                float("-inf"), 2.0 ** -127, 3.0 * 2.0 ** 100, 1e38, 0.3, -17.0]


def source_values(t: int) -> tuple[np.ndarray, np.ndarray]:
    """(values for float/bool targets, values in range for integer targets)."""
    dt = NP[t]
    if t in FLOATS or t in SMALL_FLOATS:
        with np.errstate(all="ignore"):
            full = np.array(_CAST_FLOATS + list(RNG.normal(0, 50, 12)), dtype=np.float64).astype(dt)
            if t in SMALL_FLOATS:  # every bit pattern
                full = np.arange(16 if t == TP.FLOAT4E2M1 else 256, dtype=np.uint8).view(dt)
            f = full.astype(np.float64)
            ints = full[np.isfinite(f) & (f >= 0) & (f < 2.0 ** 62)]  # uint64 targets: no negatives
            ints_signed = full[np.isfinite(f) & (np.abs(f) < 2.0 ** 62)]
        return full, (ints, ints_signed)
    if t == TP.BOOL:
        v = np.array([False, True, True, False])
        return v, (v, v)
    if t in SUB_BYTE:
        info = ml_dtypes.iinfo(dt)
        v = np.arange(info.min, info.max + 1).astype(dt)
        return v, (v, v)
    v = int_values(t)
    return v, (v, v)


def _ml_dtypes_lacks(src: int, dst: int) -> bool:
    """Casts the reference (ml_dtypes) cannot do."""
    try:
        np.zeros(1, NP[src]).astype(NP[dst])
        return False
    except TypeError:
        return True


@pytest.mark.parametrize("src", ALL, ids=NAMES.get)
def test_cast_from(src):
    full, (ints, ints_signed) = source_values(src)
    g = Graph()
    g.input("x", full)
    g.input("xu", ints)
    g.input("xs", ints_signed)
    for dst in ALL:
        if dst == src or _ml_dtypes_lacks(src, dst):
            continue
        to_int = dst in INTS or dst in SUB_BYTE
        # float → int: in range of int64 (and of uint64 for uint64: below 0 is undefined); narrower
        # targets wrap (through int64, as the reference)
        x = "xu" if dst == TP.UINT64 else ("xs" if to_int else "x")
        arr = {"x": full, "xu": ints, "xs": ints_signed}[x]
        g.node("Cast", [x], f"to_{NAMES[dst]}", dst, arr.shape, to=dst)
        if dst in SMALL_FLOATS:
            g.node("Cast", [x], f"nosat_{NAMES[dst]}", dst, arr.shape, to=dst, saturate=0)
    check(g)


def test_cast_double_to_half_rounding():
    """float64 → float16 rounds once (the JIT has no `__truncdfhf2`: round-to-odd through float32)."""
    x = np.array([1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519.99, 65520.0, 2.0 ** -25 + 2 ** -60,
                  2.0 ** -25, -(2.0 ** -24) * 1.5, 1e300, -1e-300, float("nan")], np.float64)
    g = Graph()
    g.input("x", x)
    g.node("Cast", ["x"], "h", TP.FLOAT16, x.shape, to=TP.FLOAT16)
    g.node("Relu", ["x"], "r", TP.DOUBLE, x.shape)
    check(g)


def test_vector_epilogue_semantics():
    """The same scalar semantics on vector<16xf32>, as fused into a MatMul's epilogue (selects
    and compares on vectors: leaky/thresholded relu, clip, sigmoid, gelu, elu)."""
    a = RNG.normal(0, 1.5, (16, 24)).astype(np.float32)
    g = Graph()
    g.input("a", a)
    g.const("w", RNG.normal(0, 1, (24, 32)).astype(np.float32))
    lo, hi = g.const("lo", np.array(-0.5, np.float32)), g.const("hi", np.array(0.75, np.float32))
    ops = [("LeakyRelu", [], {"alpha": 0.1}), ("ThresholdedRelu", [], {"alpha": 0.3}), ("Clip", [lo, hi], {}),
           ("Sigmoid", [], {}), ("Gelu", [], {}), ("Elu", [], {"alpha": 0.5}), ("HardSigmoid", [], {})]
    for i, (op, extra, attrs) in enumerate(ops):
        m = g.node("MatMul", ["a", "w"], f"mm{i}", TP.FLOAT, [16, 32], graph_output=False)
        g.node(op, [m, *extra], f"{op.lower()}{i}", TP.FLOAT, [16, 32], **attrs)
    check(g, default=(1e-5, 1e-6))
