"""Helpers shared by the kernel families."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

_ML_FLOATS = {
    np.dtype(t)
    for t in (
        ml_dtypes.bfloat16,
        ml_dtypes.float8_e4m3fn,
        ml_dtypes.float8_e4m3fnuz,
        ml_dtypes.float8_e5m2,
        ml_dtypes.float8_e5m2fnuz,
        ml_dtypes.float8_e8m0fnu,
        ml_dtypes.float4_e2m1fn,
        ml_dtypes.float6_e2m3fn,
        ml_dtypes.float6_e3m2fn,
    )
}
_ML_INTS = {np.dtype(t) for t in (ml_dtypes.int4, ml_dtypes.uint4, ml_dtypes.int2, ml_dtypes.uint2)}

FLOAT8_SATURATING = {
    np.dtype(t)
    for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz, ml_dtypes.float8_e5m2, ml_dtypes.float8_e5m2fnuz)
}


def attr(attrs: dict[str, Any], name: str, default: Any = None) -> Any:
    """An attribute, or its ONNX default when absent (or None)."""
    v = attrs.get(name)
    return default if v is None else v


def is_float(dt) -> bool:
    dt = np.dtype(dt)
    return dt.kind == "f" or dt in _ML_FLOATS


def is_int(dt) -> bool:
    dt = np.dtype(dt)
    return dt.kind in "iu" or dt in _ML_INTS


def is_lowp_int(dt) -> bool:
    return np.dtype(dt) in _ML_INTS


def int_range(dt) -> tuple[int, int]:
    dt = np.dtype(dt)
    info = ml_dtypes.iinfo(dt) if dt in _ML_INTS else np.iinfo(dt)
    return int(info.min), int(info.max)


def float_max(dt) -> float:
    dt = np.dtype(dt)
    return float(ml_dtypes.finfo(dt).max if dt in _ML_FLOATS else np.finfo(dt).max)


def cdtype(*arrays) -> np.dtype:
    """Compute dtype for float math: float64 if any input is float64, else float32."""
    for a in arrays:
        if a is not None and np.dtype(a.dtype) == np.float64:
            return np.dtype(np.float64)
    return np.dtype(np.float32)


def fl(x: np.ndarray, dt=None) -> np.ndarray:
    """`x` as a float array to compute with: float32/float64 kept, the rest widened
    (float16, bfloat16, float8 -> float32; integers -> float64)."""
    x = np.asarray(x)
    if dt is not None:
        return x.astype(dt, copy=False)
    d = x.dtype
    if d == np.float32 or d == np.float64:
        return x
    if is_float(d):
        return x.astype(np.float32)
    return x.astype(np.float64)


def wide(x: np.ndarray) -> np.ndarray:
    """`x` in a dtype numpy computes well with: low-precision floats to float32,
    int4/int2 to int8/uint8, everything else unchanged."""
    x = np.asarray(x)
    d = x.dtype
    if d in _ML_FLOATS or d == np.float16:
        return x.astype(np.float32)
    if d in _ML_INTS:
        return x.astype(np.int8 if int_range(d)[0] < 0 else np.uint8)
    return x


def norm_axis(axis: int, rank: int) -> int:
    axis = int(axis)
    if axis < 0:
        axis += rank
    if not 0 <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis


def norm_axes(axes, rank: int) -> tuple[int, ...]:
    return tuple(norm_axis(a, rank) for a in axes)


def out_dtype(outs, i: int = 0) -> np.dtype:
    return np.dtype(outs[i][1])


def out_shape(outs, i: int = 0) -> tuple[int, ...]:
    return tuple(int(d) for d in outs[i][0])


# ---- erf without scipy ------------------------------------------------------------
_SQRT_PI = np.sqrt(np.pi)


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorized erf in float64, accurate to a few ulp (checked against math.erf).

    |x| < 2.5: erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))
    (all terms positive, no cancellation; 40 terms reach 1e-15 relative);
    otherwise 1 - erfc(x), erfc from its continued fraction
    erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
    """
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x).ravel()
    res = np.empty_like(ax)
    small = ax < 2.5
    xs = ax[small]
    x2 = xs * xs
    term = xs.copy()
    total = xs.copy()
    for n in range(1, 40):
        term *= (2.0 * x2) / (2 * n + 1)
        total += term
    res[small] = 2.0 / _SQRT_PI * np.exp(-x2) * total
    big = ~small
    xl = np.minimum(ax[big], 30.0)  # erfc(30) underflows: erf = 1; also maps inf (and nan below)
    f = xl.copy()
    for k in range(30, 0, -1):
        f = xl + (k / 2.0) / f
    res[big] = 1.0 - np.exp(-xl * xl) / _SQRT_PI / f
    res = res.reshape(x.shape)
    res = np.where(np.isnan(x), np.nan, res)
    return np.copysign(res, x)
