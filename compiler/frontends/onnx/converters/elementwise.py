"""Elementwise ONNX ops: unary math and activations, broadcasting binary ops, Cast, Where, Softmax."""

from __future__ import annotations

import numpy as np

from tensorc.dialects import dtypes

from ..importer import NodeContext, converter

UNARY = {
    "Abs": "abs", "Neg": "neg", "Floor": "floor", "Ceil": "ceil", "Round": "round", "Sign": "sign",
    "Reciprocal": "reciprocal", "Sqrt": "sqrt", "Exp": "exp", "Log": "log", "Sin": "sin", "Cos": "cos",
    "Tan": "tan", "Asin": "asin", "Acos": "acos", "Atan": "atan", "Sinh": "sinh", "Cosh": "cosh",
    "Asinh": "asinh", "Acosh": "acosh", "Atanh": "atanh", "Relu": "relu", "Sigmoid": "sigmoid",
    "Tanh": "tanh", "Erf": "erf", "Not": "not", "BitwiseNot": "bitwise_not", "Softplus": "softplus",
    "Softsign": "softsign", "Mish": "mish", "HardSwish": "hard_swish", "IsNaN": "is_nan",
}
# ONNX op → (tg op, ONNX attributes carried over)
UNARY_ATTRS = {
    "LeakyRelu": ("leaky_relu", ["alpha"]), "Elu": ("elu", ["alpha"]), "Selu": ("selu", ["alpha", "gamma"]),
    "Celu": ("celu", ["alpha"]), "HardSigmoid": ("hard_sigmoid", ["alpha", "beta"]),
    "ThresholdedRelu": ("thresholded_relu", ["alpha"]), "Shrink": ("shrink", ["bias", "lambd"]),
    "Gelu": ("gelu", ["approximate"]), "IsInf": ("is_inf", ["detect_negative", "detect_positive"]),
}
BINARY = {
    "Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "PRelu": "prelu",
    "And": "and", "Or": "or", "Xor": "xor", "BitwiseAnd": "bitwise_and", "BitwiseOr": "bitwise_or",
    "BitwiseXor": "bitwise_xor", "Equal": "equal", "Less": "less", "LessOrEqual": "less_or_equal",
    "Greater": "greater", "GreaterOrEqual": "greater_or_equal",
}


@converter(*UNARY)
def unary(ctx: NodeContext):
    return ctx.emit(UNARY[ctx.node.op_type], [ctx.val(0)])


@converter(*UNARY_ATTRS)
def unary_attrs(ctx: NodeContext):
    op, names = UNARY_ATTRS[ctx.node.op_type]
    return ctx.emit(op, [ctx.val(0)], {n: ctx.attr(n) for n in names})


@converter("Identity")
def identity(ctx: NodeContext):
    return [ctx.val(0)]


def legacy_broadcast(ctx: NodeContext, a, b):
    """Opset < 7: `broadcast=1, axis=k` aligns B's dims at axis k of A."""
    if ctx.opset < 7 and ctx.attr("broadcast", 0) and ctx.has_attr("axis"):
        axis = ctx.attr("axis") % a.rank
        trailing = a.rank - axis - b.rank
        if trailing > 0:
            b = ctx.emit1("reshape", [b], {"shape": list(b.shape) + [1] * trailing})
    return b


@converter(*BINARY)
def binary(ctx: NodeContext):
    a, b = ctx.val(0), ctx.val(1)
    return ctx.emit(BINARY[ctx.node.op_type], [a, legacy_broadcast(ctx, a, b)])


@converter("Mod")
def mod(ctx: NodeContext):
    return ctx.emit("mod", [ctx.val(0), ctx.val(1)], {"fmod": ctx.attr("fmod", 0)})


@converter("BitShift")
def bit_shift(ctx: NodeContext):
    return ctx.emit("bit_shift", [ctx.val(0), ctx.val(1)], {"direction": ctx.attr("direction")})


@converter("Sum", "Max", "Min", "Mean")
def variadic(ctx: NodeContext):
    """Variadic ops as chains of binary ones."""
    op = {"Sum": "add", "Mean": "add", "Max": "max", "Min": "min"}[ctx.node.op_type]
    vals = [ctx.val(i) for i in range(ctx.num_inputs) if ctx.has(i)]
    acc = vals[0]
    for v in vals[1:]:
        acc = ctx.emit1(op, [acc, v])
    if ctx.node.op_type == "Mean" and len(vals) > 1:
        acc = ctx.emit1("div", [acc, ctx.const_val(np.array(len(vals), dtype=acc.dtype))])
    return [acc]


@converter("Where")
def where(ctx: NodeContext):
    return ctx.emit("where", [ctx.val(0), ctx.val(1), ctx.val(2)])


@converter("Clip")
def clip(ctx: NodeContext):
    x = ctx.val(0)
    if ctx.opset < 11:
        return ctx.emit("clip", [x], {"min": ctx.attr("min"), "max": ctx.attr("max")})
    lo, hi = ctx.opt(1), ctx.opt(2)
    if (lo is None or lo.const is not None) and (hi is None or hi.const is not None) and x.dtype.kind == "f":
        return ctx.emit("clip", [x], {
            "min": None if lo is None else float(lo.const), "max": None if hi is None else float(hi.const)})
    # run-time bounds, or integer data: exact as max/min
    if lo is not None:
        x = ctx.emit1("max", [x, lo])
    if hi is not None:
        x = ctx.emit1("min", [x, hi])
    return [x]


def cast_to(ctx: NodeContext, x, dtype):
    if x.dtype == np.dtype(dtype):
        return [x]
    return ctx.emit("cast", [x], {"saturate": ctx.attr("saturate", 1)},
                    result_types=[dtypes.tensor_type(x.shape, dtype)])


@converter("Cast")
def cast(ctx: NodeContext):
    return cast_to(ctx, ctx.val(0), dtypes.onnx_to_numpy(ctx.attr("to")))


@converter("CastLike")
def cast_like(ctx: NodeContext):
    return cast_to(ctx, ctx.val(0), ctx.val(1).dtype)


@converter("Softmax", "LogSoftmax", "Hardmax")
def softmax(ctx: NodeContext):
    op = {"Softmax": "softmax", "LogSoftmax": "log_softmax", "Hardmax": "hardmax"}[ctx.node.op_type]
    x = ctx.val(0)
    if ctx.opset >= 13:
        return ctx.emit(op, [x], {"axis": ctx.attr("axis", -1)})
    # before opset 13: the input is coerced to 2-D at `axis` and normalized over the second dim
    axis = ctx.attr("axis", 1) % max(x.rank, 1)
    if axis == x.rank - 1:
        return ctx.emit(op, [x], {"axis": -1})
    rows = int(np.prod(x.shape[:axis]))
    flat = ctx.emit1("reshape", [x], {"shape": [rows, int(np.prod(x.shape[axis:]))]})
    y = ctx.emit1(op, [flat], {"axis": 1})
    return ctx.emit("reshape", [y], {"shape": list(x.shape)})
