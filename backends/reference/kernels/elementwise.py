"""Elementwise kernels: broadcasting binary ops, comparisons, unary math, cast, where."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from . import kernel
from ._common import (
    FLOAT8_SATURATING,
    attr,
    erf,
    fl,
    float_max,
    int_range,
    is_float,
    is_int,
    out_dtype,
    wide,
)


# ---- binary arithmetic -----------------------------------------------------------
def _binary(fn):
    def k(inputs, attrs, outs):
        a, b = (wide(x) for x in inputs[:2])
        return [fn(a, b, attrs)]

    return k


def _idiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncating toward zero (C semantics); x/0 gives 0."""
    if a.dtype.kind == "u" and b.dtype.kind == "u":
        return np.floor_divide(a, b)
    q = np.floor_divide(a, b)
    r = a - q * b
    fix = (r != 0) & ((a < 0) != (b < 0))
    return np.where(fix, q + 1, q)


def _div(a, b, attrs):
    if is_int(a.dtype) and is_int(b.dtype):
        return _idiv(a, b)
    return np.divide(a, b)


def _pow(a, b, attrs):
    # the result has the base's type
    if is_int(a.dtype):
        if is_int(b.dtype):
            ai = a.astype(np.int64) if a.dtype.kind == "i" else a.astype(np.uint64)
            bi = b.astype(np.int64)
            pos = np.power(ai, np.where(bi < 0, 0, bi).astype(ai.dtype))
            # negative exponents: trunc(a ** b) is 1 for a == 1, +-1 for a == -1, 0 otherwise
            af = ai.astype(np.float64)
            neg = np.trunc(np.power(af, bi.astype(np.float64)))
            neg = np.where(np.isfinite(neg), neg, 0)
            return np.where(bi < 0, neg.astype(ai.dtype), pos)
        return np.trunc(np.power(a.astype(np.float64), fl(b)))
    return np.power(fl(a), fl(b).astype(fl(a).dtype))


def _mod(a, b, attrs):
    if int(attr(attrs, "fmod", 0)):
        return np.fmod(a, b)
    return np.mod(a, b)


def _bit_shift(a, b, attrs):
    """BitShift-28: unsigned and signed T; right shifts of signed T are arithmetic; a shift
    amount < 0 or >= the width gives what the sign extension alone gives (-1 for a right
    shift of a negative value, else 0)."""
    left = str(attr(attrs, "direction", "LEFT")).upper() == "LEFT"
    bits = a.dtype.itemsize * 8
    signed = a.dtype.kind == "i"
    bb = b.astype(np.int64)
    oor = (bb < 0) | (bb >= bits)
    udt = np.dtype(f"u{a.dtype.itemsize}")
    s = np.where(oor, 0, bb).astype(udt)
    if left:
        r = np.left_shift(a.view(udt) if signed else a, s)
        r = r.view(a.dtype) if signed else r
        return np.where(oor, np.zeros((), a.dtype), r)
    r = np.right_shift(a, s.astype(a.dtype))
    fill = np.where(a < 0, a.dtype.type(-1), a.dtype.type(0)) if signed else np.zeros((), a.dtype)
    return np.where(oor, fill, r)


def _prelu(x, slope, attrs):
    return np.where(x < 0, x * slope, x)


_BINARY = {
    "add": lambda a, b, at: np.add(a, b),
    "sub": lambda a, b, at: np.subtract(a, b),
    "mul": lambda a, b, at: np.multiply(a, b),
    "div": _div,
    "pow": _pow,
    "mod": _mod,
    "max": lambda a, b, at: np.maximum(a, b),
    "min": lambda a, b, at: np.minimum(a, b),
    "prelu": _prelu,
    "and": lambda a, b, at: np.logical_and(a, b),
    "or": lambda a, b, at: np.logical_or(a, b),
    "xor": lambda a, b, at: np.logical_xor(a, b),
    "bitwise_and": lambda a, b, at: np.bitwise_and(a, b),
    "bitwise_or": lambda a, b, at: np.bitwise_or(a, b),
    "bitwise_xor": lambda a, b, at: np.bitwise_xor(a, b),
    "bit_shift": _bit_shift,
    "equal": lambda a, b, at: np.equal(a, b),
    "less": lambda a, b, at: np.less(a, b),
    "less_or_equal": lambda a, b, at: np.less_equal(a, b),
    "greater": lambda a, b, at: np.greater(a, b),
    "greater_or_equal": lambda a, b, at: np.greater_equal(a, b),
}
for _name, _fn in _BINARY.items():
    kernel(_name)(_binary(_fn))


# ---- unary math ------------------------------------------------------------------
def _unary_native(fn):
    """Ops defined on ints and floats alike (abs, neg, sign, relu)."""

    def k(inputs, attrs, outs):
        return [fn(wide(inputs[0]))]

    return k


def _unary_float(fn):
    """Float math, computed in float32 (float64 for float64 inputs)."""

    def k(inputs, attrs, outs):
        return [fn(fl(inputs[0]))]

    return k


_NATIVE = {
    "abs": np.abs,
    "neg": np.negative,
    "sign": np.sign,
    "not": np.logical_not,
    "bitwise_not": np.invert,
    "floor": lambda x: np.floor(x) if x.dtype.kind == "f" else x,
    "ceil": lambda x: np.ceil(x) if x.dtype.kind == "f" else x,
    "round": lambda x: np.round(x) if x.dtype.kind == "f" else x,
}
_FLOAT = {
    "reciprocal": np.reciprocal,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "erf": lambda x: erf(x).astype(x.dtype),
}
@kernel("identity")
def _identity(inputs, attrs, outs):
    return [inputs[0]]  # the registry copies: results never alias inputs


for _name, _fn in _NATIVE.items():
    kernel(_name)(_unary_native(_fn))
for _name, _fn in _FLOAT.items():
    kernel(_name)(_unary_float(_fn))


@kernel("is_nan")
def _is_nan(inputs, attrs, outs):
    return [np.isnan(fl(inputs[0]))]


@kernel("is_inf")
def _is_inf(inputs, attrs, outs):
    x = fl(inputs[0])
    neg = int(attr(attrs, "detect_negative", 1))
    pos = int(attr(attrs, "detect_positive", 1))
    return [(np.isposinf(x) & bool(pos)) | (np.isneginf(x) & bool(neg))]


@kernel("where")
def _where(inputs, attrs, outs):
    c, x, y = inputs
    return [np.where(c.astype(bool), x, y)]


@kernel("clip")
def _clip(inputs, attrs, outs):
    x = wide(inputs[0])
    lo, hi = attrs.get("min"), attrs.get("max")
    if is_float(x.dtype):
        x = fl(x)

    def bound(v):
        if x.dtype.kind == "f":
            return np.asarray(v).astype(x.dtype)
        lo_t, hi_t = int_range(x.dtype) if x.dtype != np.bool_ else (0, 1)
        v = max(min(v, hi_t), lo_t)  # exact int/float comparison in Python
        return np.asarray(int(v), dtype=x.dtype)

    # clip(x, lo, hi) = min(max(x, lo), hi): hi wins when lo > hi; NaN stays NaN
    if lo is not None:
        b = bound(lo)
        x = np.where(x < b, b, x)
    if hi is not None:
        b = bound(hi)
        x = np.where(x > b, b, x)
    return [x]


# ---- cast ------------------------------------------------------------------------
def _to_float8e8m0(x: np.ndarray, saturate: bool, round_mode: str) -> np.ndarray:
    """float -> float8e8m0 (exponent-only), as ONNX Cast-24 (round_mode up/down/nearest)."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32)
    exponent = ((bits >> 23) & 0xFF).astype(np.uint16)
    special = exponent == 0xFF
    if round_mode == "nearest":
        g = (bits & 0x400000) > 0
        r = (bits & 0x200000) > 0
        s = (bits & 0x1FFFFF) > 0
        lsb = exponent > 0
        up = g & (r | s | lsb) & ~special
    elif round_mode == "up":
        up = ((bits & 0x7FFFFF) > 0) & ~special
    elif round_mode == "down":
        up = np.zeros(bits.shape, bool)
    else:
        raise ValueError(f"unsupported round_mode {round_mode!r}")
    if saturate:
        up &= exponent != 0xFE
    exponent = exponent + up.astype(np.uint16)
    out = np.where(special, 0xFF, np.minimum(exponent, 0xFF)).astype(np.uint8)
    return out.view(ml_dtypes.float8_e8m0fnu)


def cast_array(x: np.ndarray, dt: np.dtype, saturate: bool = True, round_mode: str = "up") -> np.ndarray:
    """ONNX Cast of `x` to numpy dtype `dt`."""
    dt = np.dtype(dt)
    x = np.asarray(x)
    if x.dtype == dt:
        return x
    if dt.kind in "US" or dt == object:
        return x.astype(str).astype(dt)
    if x.dtype.kind in "US" or x.dtype == object:
        return np.asarray(x, dtype=str).astype(np.float64).astype(dt)
    if dt == np.bool_:
        return x.astype(np.float64 if is_float(x.dtype) else np.int64) != 0
    if dt == np.dtype(ml_dtypes.float8_e8m0fnu) and is_float(x.dtype):
        return _to_float8e8m0(x.astype(np.float32), saturate, round_mode)
    if dt in FLOAT8_SATURATING and saturate:
        src = x if x.dtype in (np.float32, np.float64) else x.astype(np.float32 if is_float(x.dtype) else np.float64)
        m = float_max(dt)
        src = np.where(src > m, m, np.where(src < -m, -m, src)).astype(src.dtype)
        return src.astype(dt)
    if dt.kind in "iu" and is_float(x.dtype):
        # out of range is undefined in ONNX; go through int64 to keep in-range values exact
        src = x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)
        if dt == np.uint64:
            return src.astype(np.uint64)
        return np.trunc(src).astype(np.int64).astype(dt)
    if dt.kind in "iu" and x.dtype in _ML_INT_SRC:
        return x.astype(np.int64).astype(dt)
    return x.astype(dt)


_ML_INT_SRC = {np.dtype(t) for t in (ml_dtypes.int4, ml_dtypes.uint4, ml_dtypes.int2, ml_dtypes.uint2)}


@kernel("cast")
def _cast(inputs, attrs, outs):
    return [
        cast_array(
            inputs[0],
            out_dtype(outs),
            saturate=bool(int(attr(attrs, "saturate", 1))),
            round_mode=str(attr(attrs, "round_mode", "up")),
        )
    ]


def saturate_int(x: np.ndarray, dt: np.dtype) -> np.ndarray:
    lo, hi = int_range(dt)
    return np.clip(x, lo, hi).astype(dt)
