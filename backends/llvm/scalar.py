"""Scalar semantics of elementwise tg ops as arith/math ops, for fused loop bodies.

`emit_scalar(kb, name, args, attrs, elem, out_elem)` returns the SSA value of
one element. Float ops follow the reference kernels (ONNX semantics); integer
arithmetic covers what shape and index computations need.
"""

from __future__ import annotations

import math as pymath
from typing import Any

from xdsl.dialects import arith, builtin as B, math
from xdsl.ir import Attribute, SSAValue

from .kernel_builder import KernelBuilder


class NotLowerable(Exception):
    """This op/type combination has no scalar lowering (the op stays unsupported)."""


def is_float(t: Attribute) -> bool:
    return isinstance(t, (B.Float16Type, B.Float32Type, B.Float64Type))


def _sel(kb, cond, a, b):
    return kb.op(arith.SelectOp(cond, a, b))


def _cmpf(kb, a, b, pred):
    return kb.op(arith.CmpfOp(a, b, pred))


def _float_unary(kb: KernelBuilder, name: str, x: SSAValue, attrs: dict, t) -> SSAValue:
    c = lambda v: kb.const(v, t)  # noqa: E731
    op = kb.op
    if name == "abs":
        return op(math.AbsFOp(x))
    if name == "neg":
        return op(arith.NegfOp(x))
    if name in ("floor", "ceil", "sqrt", "exp", "log", "sin", "cos", "tan", "tanh", "erf", "atan", "asin",
                "acos", "sinh", "cosh", "asinh", "acosh", "atanh"):
        cls = {"floor": math.FloorOp, "ceil": math.CeilOp, "sqrt": math.SqrtOp, "exp": math.ExpOp,
               "log": math.LogOp, "sin": math.SinOp, "cos": math.CosOp, "tan": math.TanOp, "tanh": math.TanhOp,
               "erf": math.ErfOp, "atan": math.AtanOp, "asin": math.AsinOp, "acos": math.AcosOp,
               "sinh": math.SinhOp, "cosh": math.CoshOp, "asinh": math.AsinhOp, "acosh": math.AcoshOp,
               "atanh": math.AtanhOp}[name]
        return op(cls(x))
    if name == "round":
        return op(math.RoundEvenOp(x))
    if name == "reciprocal":
        return op(arith.DivfOp(c(1.0), x))
    if name == "relu":
        return op(arith.MaxnumfOp(x, c(0.0)))
    if name == "sigmoid":
        return op(arith.DivfOp(c(1.0), op(arith.AddfOp(c(1.0), op(math.ExpOp(op(arith.NegfOp(x))))))))
    if name == "sign":
        pos = _sel(kb, _cmpf(kb, x, c(0.0), "ogt"), c(1.0), c(0.0))
        return _sel(kb, _cmpf(kb, x, c(0.0), "olt"), c(-1.0), pos)
    if name == "leaky_relu":
        return _sel(kb, _cmpf(kb, x, c(0.0), "oge"), x, op(arith.MulfOp(x, c(attrs.get("alpha", 0.01)))))
    if name == "elu":
        em1 = op(arith.SubfOp(op(math.ExpOp(x)), c(1.0)))
        return _sel(kb, _cmpf(kb, x, c(0.0), "oge"), x, op(arith.MulfOp(em1, c(attrs.get("alpha", 1.0)))))
    if name == "selu":
        a, g = attrs.get("alpha", 1.67326319217681884765625), attrs.get("gamma", 1.05070102214813232421875)
        neg = op(arith.MulfOp(c(a), op(arith.SubfOp(op(math.ExpOp(x)), c(1.0)))))
        return op(arith.MulfOp(c(g), _sel(kb, _cmpf(kb, x, c(0.0), "ogt"), x, neg)))
    if name == "hard_sigmoid":
        y = op(arith.AddfOp(op(arith.MulfOp(x, c(attrs.get("alpha", 0.2)))), c(attrs.get("beta", 0.5))))
        return op(arith.MinnumfOp(op(arith.MaxnumfOp(y, c(0.0))), c(1.0)))
    if name == "hard_swish":
        y = op(arith.AddfOp(op(arith.MulfOp(x, c(1.0 / 6.0))), c(0.5)))
        return op(arith.MulfOp(x, op(arith.MinnumfOp(op(arith.MaxnumfOp(y, c(0.0))), c(1.0)))))
    if name == "softplus":
        return op(math.Log1pOp(op(math.ExpOp(x))))
    if name == "softsign":
        return op(arith.DivfOp(x, op(arith.AddfOp(c(1.0), op(math.AbsFOp(x))))))
    if name == "gelu":
        if attrs.get("approximate", "none") == "tanh":
            inner = op(arith.MulfOp(c(pymath.sqrt(2 / pymath.pi)), op(arith.AddfOp(x, op(arith.MulfOp(c(0.044715), op(arith.MulfOp(x, op(arith.MulfOp(x, x))))))))))
            return op(arith.MulfOp(op(arith.MulfOp(c(0.5), x)), op(arith.AddfOp(c(1.0), op(math.TanhOp(inner))))))
        e = op(math.ErfOp(op(arith.MulfOp(x, c(1 / pymath.sqrt(2))))))
        return op(arith.MulfOp(op(arith.MulfOp(c(0.5), x)), op(arith.AddfOp(c(1.0), e))))
    if name == "clip":
        if attrs.get("min") is not None:
            x = op(arith.MaxnumfOp(x, c(attrs["min"])))
        if attrs.get("max") is not None:
            x = op(arith.MinnumfOp(x, c(attrs["max"])))
        return x
    if name == "identity":
        return x
    if name == "mish":
        return op(arith.MulfOp(x, op(math.TanhOp(op(math.Log1pOp(op(math.ExpOp(x))))))))
    if name == "thresholded_relu":
        return _sel(kb, _cmpf(kb, x, c(attrs.get("alpha", 1.0)), "ogt"), x, c(0.0))
    if name == "celu":
        a = attrs.get("alpha", 1.0)
        neg = op(arith.MulfOp(c(a), op(arith.SubfOp(op(math.ExpOp(op(arith.DivfOp(x, c(a))))), c(1.0)))))
        return op(arith.AddfOp(op(arith.MaxnumfOp(x, c(0.0))), op(arith.MinnumfOp(neg, c(0.0)))))
    raise NotLowerable(name)


_FLOAT_BIN = {"add": arith.AddfOp, "sub": arith.SubfOp, "mul": arith.MulfOp, "div": arith.DivfOp,
              "max": arith.MaximumfOp, "min": arith.MinimumfOp, "pow": math.PowFOp}
_INT_BIN = {"add": arith.AddiOp, "sub": arith.SubiOp, "mul": arith.MuliOp, "div": arith.DivSIOp,
            "max": arith.MaxSIOp, "min": arith.MinSIOp, "and": arith.AndIOp, "or": arith.OrIOp,
            "xor": arith.XOrIOp, "bitwise_and": arith.AndIOp, "bitwise_or": arith.OrIOp, "bitwise_xor": arith.XOrIOp}
_FCMP = {"equal": "oeq", "less": "olt", "less_or_equal": "ole", "greater": "ogt", "greater_or_equal": "oge"}
_ICMP = {"equal": "eq", "less": "slt", "less_or_equal": "sle", "greater": "sgt", "greater_or_equal": "sge"}


def emit_scalar(kb: KernelBuilder, name: str, args: list[SSAValue], attrs: dict[str, Any], t: Attribute,
                out_t: Attribute) -> SSAValue:
    """One element of tg op `name` on scalar SSA values of element type `t`."""
    if name == "where":
        return kb.op(arith.SelectOp(*args))
    if name == "cast":
        return _cast(kb, args[0], t, out_t)
    if len(args) == 1 and is_float(t):
        return _float_unary(kb, name, args[0], attrs, t)
    if len(args) == 2:
        a, b = args
        if is_float(t):
            if name in _FLOAT_BIN:
                return kb.op(_FLOAT_BIN[name](a, b))
            if name in _FCMP:
                return kb.op(arith.CmpfOp(a, b, _FCMP[name]))
            if name == "prelu":
                return _sel(kb, _cmpf(kb, a, kb.const(0.0, t), "olt"), kb.op(arith.MulfOp(a, b)), a)
        elif isinstance(t, B.IntegerType):
            if name in _INT_BIN:
                return kb.op(_INT_BIN[name](a, b))
            if name in _ICMP:
                return kb.op(arith.CmpiOp(a, b, _ICMP[name]))
    if name == "not" and t == B.i1:
        return kb.op(arith.XOrIOp(args[0], kb.const(1, B.i1)))
    raise NotLowerable(f"{name} on {t}")


def _cast(kb: KernelBuilder, x: SSAValue, t: Attribute, out: Attribute) -> SSAValue:
    if t == out:
        return x
    fi, fo = is_float(t), is_float(out)
    if fi and fo:
        wi, wo = t.bitwidth, out.bitwidth
        return kb.op(arith.ExtFOp(x, out) if wo > wi else arith.TruncFOp(x, out))
    if fi and isinstance(out, B.IntegerType):
        if out.width.data == 1:
            return kb.op(arith.CmpfOp(x, kb.const(0.0, t), "une"))
        return kb.op((arith.FPToUIOp if out.signedness.data == B.Signedness.UNSIGNED else arith.FPToSIOp)(x, out))
    if isinstance(t, B.IntegerType) and fo:
        unsigned = t.signedness.data == B.Signedness.UNSIGNED or t.width.data == 1
        return kb.op((arith.UIToFPOp if unsigned else arith.SIToFPOp)(x, out))
    if isinstance(t, B.IntegerType) and isinstance(out, B.IntegerType):
        wi, wo = t.width.data, out.width.data
        if wo == 1:
            return kb.op(arith.CmpiOp(x, kb.const(0, t), "ne"))
        if wo > wi:
            unsigned = t.signedness.data == B.Signedness.UNSIGNED or wi == 1
            return kb.op((arith.ExtUIOp if unsigned else arith.ExtSIOp)(x, out))
        if wo < wi:
            return kb.op(arith.TruncIOp(x, out))
        return x
    raise NotLowerable(f"cast {t} -> {out}")


