"""Elementwise ATen ops: math, activations, arithmetic with torch's type promotion, comparisons, where, casts.

Arithmetic operands are cast to the result dtype torch computed for the node
(so `int_tensor / 2` divides in float32, `x + 1` adds a float32 1); comparisons
promote their operands to their common dtype first.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..importer import OpContext, Val, aten, np_dtype, torch_dtype

# ATen op → tg op, for ops with the same meaning and no arguments but the input
UNARY = {
    "abs": "abs", "neg": "neg", "exp": "exp", "log": "log", "sqrt": "sqrt", "sin": "sin", "cos": "cos",
    "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan", "sinh": "sinh", "cosh": "cosh",
    "asinh": "asinh", "acosh": "acosh", "atanh": "atanh", "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu",
    "erf": "erf", "reciprocal": "reciprocal", "sign": "sign", "sgn": "sign", "hardswish": "hard_swish",
    "mish": "mish",
}


def _float_input(cx: OpContext, x) -> Val:
    """The input in the result's dtype (`exp` of an int tensor computes in float)."""
    return cx.tensor(x, cx.out_dtype)


@aten(*UNARY)
def unary(cx: OpContext):
    op = UNARY[cx.op.split(".")[1]]
    return cx.emit1(op, [_float_input(cx, cx["self"])])


@aten("floor", "ceil", "round.default", "trunc", "fix")
def rounding(cx: OpContext):
    x = cx.tensor(cx["self"])
    if x.dtype.kind in "iub":
        return x  # integers are already whole
    name = cx.op.split(".")[1]
    if name in ("floor", "ceil", "round"):
        return cx.emit1(name, [x])
    neg = cx.emit1("less", [x, cx.tensor(0, x.dtype)])
    return cx.emit1("where", [neg, cx.emit1("ceil", [x]), cx.emit1("floor", [x])])


@aten("round.decimals")
def round_decimals(cx: OpContext):
    x, d = cx.tensor(cx["self"]), int(cx.get("decimals", 0))
    s = cx.tensor(10.0 ** d, x.dtype)
    return cx.emit1("div", [cx.emit1("round", [cx.emit1("mul", [x, s])]), s])


@aten("rsqrt")
def rsqrt(cx: OpContext):
    return cx.emit1("reciprocal", [cx.emit1("sqrt", [_float_input(cx, cx["self"])])])


@aten("square")
def square(cx: OpContext):
    x = _float_input(cx, cx["self"])
    return cx.emit1("mul", [x, x])


@aten("log1p", "expm1", "log2", "log10", "exp2")
def log_exp_variants(cx: OpContext):
    x = _float_input(cx, cx["self"])
    one = cx.tensor(1, x.dtype)
    name = cx.op.split(".")[1]
    if name == "log1p":
        return cx.emit1("log", [cx.emit1("add", [x, one])])
    if name == "expm1":
        return cx.emit1("sub", [cx.emit1("exp", [x]), one])
    if name == "exp2":
        return cx.emit1("pow", [cx.tensor(2, x.dtype), x])
    base = math.log(2.0) if name == "log2" else math.log(10.0)
    return cx.emit1("div", [cx.emit1("log", [x]), cx.tensor(base, x.dtype)])


@aten("isnan")
def isnan(cx: OpContext):
    return cx.emit1("is_nan", [cx["self"]])


@aten("isinf")
def isinf(cx: OpContext):
    return cx.emit1("is_inf", [cx["self"]])


@aten("silu")
def silu(cx: OpContext):
    x = _float_input(cx, cx["self"])
    return cx.emit1("mul", [x, cx.emit1("sigmoid", [x])])


@aten("gelu")
def gelu(cx: OpContext):
    return cx.emit1("gelu", [cx["self"]], {"approximate": cx.get("approximate", "none")})


@aten("hardsigmoid")
def hardsigmoid(cx: OpContext):
    return cx.emit1("hard_sigmoid", [cx["self"]], {"alpha": 1.0 / 6.0, "beta": 0.5})


@aten("leaky_relu")
def leaky_relu(cx: OpContext):
    return cx.emit1("leaky_relu", [cx["self"]], {"alpha": float(cx.get("negative_slope", 0.01))})


@aten("elu")
def elu(cx: OpContext):
    """scale * (x if x > 0 else alpha * (exp(input_scale * x) - 1)); selu and celu decompose to it."""
    alpha, scale, in_scale = (float(cx.get(k, 1.0)) for k in ("alpha", "scale", "input_scale"))
    x = cx["self"]
    if in_scale != 1.0:
        raise cx.unsupported(f"input_scale={in_scale}")
    if scale == 1.0:
        return cx.emit1("elu", [x], {"alpha": alpha})
    return cx.emit1("selu", [x], {"alpha": alpha, "gamma": scale})


@aten("softplus")
def softplus(cx: OpContext):
    x, beta = cx["self"], float(cx.get("beta", 1.0))
    # torch returns x itself above `threshold`; log1p(exp(x)) differs from x by < 1e-8 there
    if beta == 1.0:
        return cx.emit1("softplus", [x])
    b = cx.tensor(beta, x.dtype)
    return cx.emit1("div", [cx.emit1("softplus", [cx.emit1("mul", [x, b])]), b])


@aten("prelu")
def prelu(cx: OpContext):
    x, w = cx["self"], cx["weight"]
    if x.rank >= 2 and w.rank == 1 and w.shape[0] > 1:  # one slope per channel (dim 1)
        w = cx.reshape(w, [w.shape[0]] + [1] * (x.rank - 2))
    return cx.emit1("prelu", [x, w])


# ---- clamps ----------------------------------------------------------------------
def _clamp(cx: OpContext, x: Val, lo, hi) -> Val:
    x = cx.tensor(x, cx.out_dtype)
    scalar = not isinstance(lo, Val) and not isinstance(hi, Val)
    if scalar and x.dtype.kind == "f":
        return cx.emit1("clip", [x], {"min": None if lo is None else float(lo), "max": None if hi is None else float(hi)})
    if lo is not None:
        x = cx.emit1("max", [x, cx.tensor(lo, x.dtype)])
    if hi is not None:
        x = cx.emit1("min", [x, cx.tensor(hi, x.dtype)])
    return x


@aten("clamp")
def clamp(cx: OpContext):
    return _clamp(cx, cx["self"], cx["min"], cx["max"])


@aten("clamp_min")
def clamp_min(cx: OpContext):
    return _clamp(cx, cx["self"], cx["min"], None)


@aten("clamp_max")
def clamp_max(cx: OpContext):
    return _clamp(cx, cx["self"], None, cx["max"])


@aten("hardtanh")
def hardtanh(cx: OpContext):
    return _clamp(cx, cx["self"], cx.get("min_val", -1.0), cx.get("max_val", 1.0))


@aten("relu6")
def relu6(cx: OpContext):
    return _clamp(cx, cx["self"], 0.0, 6.0)


# ---- binary arithmetic ------------------------------------------------------------
def common_dtype(*xs) -> np.dtype:
    """torch's type promotion of tensors (Vals: 0-d ones rank below dimensioned ones) and Python scalars."""
    probes = []
    for x in xs:
        if isinstance(x, Val):
            probes.append(torch.empty((0,) if x.rank else (), dtype=torch_dtype(x.dtype)))
        elif x is not None:
            probes.append(x)
    tensors = [p for p in probes if isinstance(p, torch.Tensor)]
    if not tensors:
        return np.dtype(np.float32)
    acc = tensors[0]
    for p in probes:
        if p is not acc:
            acc = torch.empty((0,) if acc.dim() or (isinstance(p, torch.Tensor) and p.dim()) else (),
                              dtype=torch.result_type(acc, p))
    return np_dtype(acc.dtype)


def _binary(cx: OpContext, op: str, a, b, dtype=None) -> Val:
    dt = dtype or cx.out_dtype
    return cx.emit1(op, [cx.tensor(a, dt), cx.tensor(b, dt)])


def _scaled(cx: OpContext, other, alpha):
    if alpha is None or alpha == 1:
        return other
    if isinstance(other, Val):
        return cx.emit1("mul", [cx.tensor(other, cx.out_dtype), cx.tensor(alpha, cx.out_dtype)])
    return other * alpha


@aten("add")
def add(cx: OpContext):
    return _binary(cx, "add", cx["self"], _scaled(cx, cx["other"], cx.get("alpha")))


@aten("sub")
def sub(cx: OpContext):
    return _binary(cx, "sub", cx["self"], _scaled(cx, cx["other"], cx.get("alpha")))


@aten("rsub")
def rsub(cx: OpContext):
    return _binary(cx, "sub", cx["other"], _scaled(cx, cx["self"], cx.get("alpha")))


@aten("mul")
def mul(cx: OpContext):
    dt = cx.out_dtype
    if dt == np.bool_:
        return _binary(cx, "and", cx["self"], cx["other"])
    return _binary(cx, "mul", cx["self"], cx["other"])


@aten("div.Tensor", "div.Scalar", "true_divide")
def div(cx: OpContext):
    return _binary(cx, "div", cx["self"], cx["other"])


def _trunc(cx: OpContext, q: Val) -> Val:
    neg = cx.emit1("less", [q, cx.tensor(0, q.dtype)])
    return cx.emit1("where", [neg, cx.emit1("ceil", [q]), cx.emit1("floor", [q])])


@aten("div.Tensor_mode", "div.Scalar_mode", "floor_divide")
def div_mode(cx: OpContext):
    mode = "floor" if cx.op.startswith("aten.floor_divide") else cx.get("rounding_mode")
    dt = cx.out_dtype
    if mode is None:
        return _binary(cx, "div", cx["self"], cx["other"])
    work = dt if dt.kind == "f" else np.dtype(np.float64)  # integer division through float64 (exact to 2^53)
    q = _binary(cx, "div", cx["self"], cx["other"], work)
    q = cx.emit1("floor", [q]) if mode == "floor" else _trunc(cx, q)
    return cx.cast(q, dt)


@aten("remainder")
def remainder(cx: OpContext):
    return cx.emit1("mod", [cx.tensor(cx["self"], cx.out_dtype), cx.tensor(cx["other"], cx.out_dtype)], {"fmod": 0})


@aten("fmod")
def fmod(cx: OpContext):
    return cx.emit1("mod", [cx.tensor(cx["self"], cx.out_dtype), cx.tensor(cx["other"], cx.out_dtype)], {"fmod": 1})


@aten("pow")
def pow_(cx: OpContext):
    base, exp = cx["self"], cx["exponent"]
    dt = cx.out_dtype
    if not isinstance(exp, Val) and exp == 2 and isinstance(base, Val):
        b = cx.tensor(base, dt)
        return cx.emit1("mul", [b, b])
    if not isinstance(exp, Val) and exp == 1 and isinstance(base, Val):
        return cx.tensor(base, dt)
    if not isinstance(exp, Val) and exp == 0.5 and isinstance(base, Val) and dt.kind == "f":
        return cx.emit1("sqrt", [cx.tensor(base, dt)])
    return _binary(cx, "pow", base, exp)


@aten("maximum", "max.other")
def maximum(cx: OpContext):
    return _binary(cx, "max", cx["self"], cx["other"])


@aten("minimum", "min.other")
def minimum(cx: OpContext):
    return _binary(cx, "min", cx["self"], cx["other"])


# ---- logic and comparisons --------------------------------------------------------
COMPARE = {"eq": "equal", "lt": "less", "le": "less_or_equal", "gt": "greater", "ge": "greater_or_equal"}


@aten(*COMPARE, "ne")
def compare(cx: OpContext):
    name = cx.op.split(".")[1]
    a, b = cx["self"], cx["other"]
    dt = common_dtype(a, b)
    if name == "ne":
        return cx.emit1("not", [_binary(cx, "equal", a, b, dt)])
    return _binary(cx, COMPARE[name], a, b, dt)


@aten("logical_not")
def logical_not(cx: OpContext):
    return cx.emit1("not", [cx.tensor(cx["self"], np.bool_)])


@aten("logical_and", "logical_or", "logical_xor")
def logical(cx: OpContext):
    op = cx.op.split(".")[1].removeprefix("logical_")
    return _binary(cx, op, cx["self"], cx["other"], np.dtype(np.bool_))


@aten("bitwise_not")
def bitwise_not(cx: OpContext):
    x = cx["self"]
    return cx.emit1("not" if x.dtype == np.bool_ else "bitwise_not", [x])


@aten("bitwise_and", "bitwise_or", "bitwise_xor")
def bitwise(cx: OpContext):
    name = cx.op.split(".")[1].removeprefix("bitwise_")
    dt = cx.out_dtype
    return _binary(cx, name if dt == np.bool_ else f"bitwise_{name}", cx["self"], cx["other"])


@aten("where.self", "where.ScalarSelf", "where.ScalarOther", "where.Scalar")
def where(cx: OpContext):
    cond = cx.tensor(cx["condition"], np.bool_)
    dt = cx.out_dtype
    return cx.emit1("where", [cond, cx.tensor(cx["self"], dt), cx.tensor(cx["other"], dt)])


@aten("masked_fill")
def masked_fill(cx: OpContext):
    x = cx["self"]
    return cx.emit1("where", [cx.tensor(cx["mask"], np.bool_), cx.tensor(cx["value"], x.dtype), x])


# ---- copies and casts -------------------------------------------------------------
@aten("_to_copy", "to.dtype", "to.dtype_layout", "to.device", "type_as", "_to_dim_order_copy")
def to_copy(cx: OpContext):
    x = cx.tensor(cx["self"])
    return cx.cast(x, cx.out_dtype)


@aten("clone", "alias", "detach", "lift_fresh_copy", "contiguous", "lift")
def identity(cx: OpContext):
    return cx["self"]


@aten("copy")
def copy(cx: OpContext):
    dst, src = cx["self"], cx["src"]
    src = cx.tensor(src, dst.dtype)
    if tuple(src.shape) != tuple(dst.shape):
        src = cx.emit1("expand", [src], {"shape": list(dst.shape)})
    return src


@aten("dropout", "feature_dropout", "alpha_dropout")
def dropout(cx: OpContext):
    if cx.get("train", False):
        raise cx.unsupported("dropout in training mode (random); call module.eval()")
    return cx["input"]


@aten("native_dropout")
def native_dropout(cx: OpContext):
    if cx.get("train", False):
        raise cx.unsupported("dropout in training mode (random); call module.eval()")
    x = cx["input"]
    return [x, cx.tensor(np.ones(x.shape, np.bool_))]
