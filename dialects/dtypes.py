"""Element types: the one mapping between numpy dtypes, ONNX type codes and xDSL types.

Signed integers are signless (`i32`), unsigned ones `ui8`..., booleans `i1`,
as MLIR's tosa/onnx-mlir do. Low-precision floats use ml_dtypes.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from xdsl.dialects import builtin as B
from xdsl.ir import Attribute

_U = B.Signedness.UNSIGNED

# (numpy dtype, xDSL element type, ONNX TensorProto code)
_TABLE: list[tuple[np.dtype, Attribute, int]] = [
    (np.dtype(np.float32), B.f32, 1),
    (np.dtype(np.uint8), B.IntegerType(8, _U), 2),
    (np.dtype(np.int8), B.i8, 3),
    (np.dtype(np.uint16), B.IntegerType(16, _U), 4),
    (np.dtype(np.int16), B.i16, 5),
    (np.dtype(np.int32), B.i32, 6),
    (np.dtype(np.int64), B.i64, 7),
    (np.dtype(np.bool_), B.i1, 9),
    (np.dtype(np.float16), B.f16, 10),
    (np.dtype(np.float64), B.f64, 11),
    (np.dtype(np.uint32), B.IntegerType(32, _U), 12),
    (np.dtype(np.uint64), B.IntegerType(64, _U), 13),
    (np.dtype(ml_dtypes.bfloat16), B.bf16, 16),
    (np.dtype(ml_dtypes.float8_e4m3fn), B.Float8E4M3FNType(), 17),
    (np.dtype(ml_dtypes.float8_e4m3fnuz), B.Float8E4M3FNUZType(), 18),
    (np.dtype(ml_dtypes.float8_e5m2), B.Float8E5M2Type(), 19),
    (np.dtype(ml_dtypes.float8_e5m2fnuz), B.Float8E5M2FNUZType(), 20),
    (np.dtype(ml_dtypes.uint4), B.IntegerType(4, _U), 21),
    (np.dtype(ml_dtypes.int4), B.IntegerType(4), 22),
    (np.dtype(ml_dtypes.float4_e2m1fn), B.Float4E2M1FNType(), 23),
    (np.dtype(ml_dtypes.float8_e8m0fnu), B.Float8E8M0FNUType(), 24),
    (np.dtype(ml_dtypes.uint2), B.IntegerType(2, _U), 25),
    (np.dtype(ml_dtypes.int2), B.IntegerType(2), 26),
]

_NP_TO_X = {np_t: x for np_t, x, _ in _TABLE}
_X_TO_NP = {x: np_t for np_t, x, _ in _TABLE}
_ONNX_TO_NP = {code: np_t for np_t, _, code in _TABLE}


class UnsupportedDType(TypeError):
    pass


def to_xdsl(dtype) -> Attribute:
    try:
        return _NP_TO_X[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise UnsupportedDType(f"unsupported element type {dtype}") from None


def to_numpy(elem: Attribute) -> np.dtype:
    try:
        return _X_TO_NP[elem]
    except KeyError:
        raise UnsupportedDType(f"unsupported element type {elem}") from None


def onnx_to_numpy(code: int) -> np.dtype:
    try:
        return _ONNX_TO_NP[code]
    except KeyError:
        import onnx

        name = onnx.TensorProto.DataType.Name(code) if code in onnx.TensorProto.DataType.values() else code
        raise UnsupportedDType(f"unsupported ONNX element type {name}") from None


def tensor_type(shape, dtype) -> B.TensorType:
    return B.TensorType(to_xdsl(dtype), list(shape))


def shape_of(t: Attribute) -> tuple[int, ...]:
    assert isinstance(t, B.TensorType), t
    return tuple(t.get_shape())


def dtype_of(t: Attribute) -> np.dtype:
    assert isinstance(t, B.TensorType), t
    return to_numpy(t.element_type)


def is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f" or np.dtype(dtype) in (
        np.dtype(ml_dtypes.bfloat16),
    ) or "float" in np.dtype(dtype).name
