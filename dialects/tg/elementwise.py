"""Elementwise tg ops: unary math and activations, broadcasting binary ops, where, cast."""

from __future__ import annotations

from xdsl.dialects import builtin as B
from xdsl.irdl import irdl_op_definition

from .base import Float, Int, Str, TGOp, broadcast_shapes, fail, tt


class Unary(TGOp):
    """Same shape and element type out as in."""

    def infer(self, ins, num_results=None):
        return [ins[0]]


class Predicate(TGOp):
    """Same shape in and out, i1 result."""

    def infer(self, ins, num_results=None):
        return [tt(ins[0].get_shape(), B.i1)]


class Binary(TGOp):
    """Numpy/ONNX multidirectional broadcasting; operands share an element type."""

    OPERANDS = (2, 2)

    def result_elem(self, ins):
        return ins[0].element_type

    def infer(self, ins, num_results=None):
        a, b = ins
        if a.element_type != b.element_type:
            fail(self, f"operand element types differ: {a.element_type} vs {b.element_type}")
        return [tt(broadcast_shapes(self, a.get_shape(), b.get_shape()), self.result_elem(ins))]


class Compare(Binary):
    def result_elem(self, ins):
        return B.i1


def _define(base, name: str, **extra):
    cls_name = "".join(p.capitalize() for p in name.split("_")) + "Op"
    return irdl_op_definition(type(cls_name, (base,), {"name": f"tg.{name}", **extra}))


UNARY_NAMES = """abs neg floor ceil round sign reciprocal sqrt exp log sin cos tan asin acos atan
sinh cosh asinh acosh atanh relu sigmoid tanh erf not bitwise_not softplus softsign mish
hard_swish identity""".split()

UNARY_WITH_ATTRS = {
    "leaky_relu": {"alpha": Float(0.01)},
    "elu": {"alpha": Float(1.0)},
    "selu": {"alpha": Float(1.67326319217681884765625), "gamma": Float(1.05070102214813232421875)},
    "celu": {"alpha": Float(1.0)},
    "hard_sigmoid": {"alpha": Float(0.2), "beta": Float(0.5)},
    "thresholded_relu": {"alpha": Float(1.0)},
    "shrink": {"bias": Float(0.0), "lambd": Float(0.5)},
    "gelu": {"approximate": Str("none")},
    "clip": {"min": Float(None), "max": Float(None)},
}

BINARY_NAMES = """add sub mul div max min prelu and or xor bitwise_and bitwise_or bitwise_xor""".split()
BINARY_WITH_ATTRS = {"mod": {"fmod": Int(0)}, "bit_shift": {"direction": Str()}}
COMPARE_NAMES = "equal less less_or_equal greater greater_or_equal".split()

OPS: dict[str, type[TGOp]] = {}
for _n in UNARY_NAMES:
    OPS[_n] = _define(Unary, _n)
for _n, _a in UNARY_WITH_ATTRS.items():
    OPS[_n] = _define(Unary, _n, ATTRS=_a)
OPS["is_nan"] = _define(Predicate, "is_nan")
OPS["is_inf"] = _define(Predicate, "is_inf", ATTRS={"detect_negative": Int(1), "detect_positive": Int(1)})
for _n in BINARY_NAMES:
    OPS[_n] = _define(Binary, _n)
for _n, _a in BINARY_WITH_ATTRS.items():
    OPS[_n] = _define(Binary, _n, ATTRS=_a)
for _n in COMPARE_NAMES:
    OPS[_n] = _define(Compare, _n)


class _PowInfer(Binary):
    """ONNX Pow allows a different exponent type; the result has the base's type."""

    def infer(self, ins, num_results=None):
        a, b = ins
        return [tt(broadcast_shapes(self, a.get_shape(), b.get_shape()), a.element_type)]


OPS["pow"] = _define(_PowInfer, "pow")


@irdl_op_definition
class WhereOp(TGOp):
    name = "tg.where"
    OPERANDS = (3, 3)

    def infer(self, ins, num_results=None):
        c, x, y = ins
        if c.element_type != B.i1:
            fail(self, f"condition must be i1, got {c.element_type}")
        if x.element_type != y.element_type:
            fail(self, f"branch element types differ: {x.element_type} vs {y.element_type}")
        return [tt(broadcast_shapes(self, c.get_shape(), x.get_shape(), y.get_shape()), x.element_type)]


@irdl_op_definition
class CastOp(TGOp):
    """Element type conversion; the target type is the result type."""

    name = "tg.cast"
    ATTRS = {"saturate": Int(1)}

    def infer(self, ins, num_results=None):
        if num_results is None and not self.outputs:
            raise NotImplementedError("cast needs its result type")
        out = self.outputs[0].type if self.outputs else None
        if out is not None and list(out.get_shape()) != list(ins[0].get_shape()):
            fail(self, "cast must keep the shape")
        return [out]


OPS["where"] = WhereOp
OPS["cast"] = CastOp
