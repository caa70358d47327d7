"""The shape of every tg op: tensor operands in, tensor results out, ONNX-style attributes.

A tg op declares its operand and result counts, an attribute schema and a type
inference rule. The verifier checks all three, so a malformed op is caught by
`verify()` wherever it came from (importer, pass, or hand-written .mlir).

Attributes are stored as ordinary (discardable) MLIR attributes and validated
against the schema, so they print compactly: `{axis = 1 : i64}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
from xdsl.dialects import builtin as B
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import IRDLOperation, traits_def, var_operand_def, var_result_def
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from tensorc.dialects import dtypes

# The attribute naming where an op came from (ONNX node name, torch source line).
SRC = "src"

_REQUIRED = object()


@dataclass(frozen=True)
class AttrSpec:
    """One attribute of an op: its kind and its default (ONNX's)."""

    kind: str  # "int" | "float" | "str" | "ints" | "floats"
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def Int(default=_REQUIRED):
    return AttrSpec("int", default)


def Float(default=_REQUIRED):
    return AttrSpec("float", default)


def Str(default=_REQUIRED):
    return AttrSpec("str", default)


def Ints(default=_REQUIRED):
    return AttrSpec("ints", default)


def Floats(default=_REQUIRED):
    return AttrSpec("floats", default)


def to_attr(kind: str, value: Any) -> Attribute:
    """A Python value as the xDSL attribute of the given kind."""
    if kind == "int":
        return B.IntegerAttr(int(value), B.i64)
    if kind == "float":
        return B.FloatAttr(float(value), B.f32)
    if kind == "str":
        return B.StringAttr(str(value))
    if kind == "ints":
        return B.DenseArrayBase.from_list(B.i64, [int(v) for v in value])
    if kind == "floats":
        return B.DenseArrayBase.from_list(B.f32, [float(v) for v in value])
    raise ValueError(kind)


def from_attr(attr: Attribute) -> Any:
    """The Python value of an attribute (the inverse of `to_attr`)."""
    if isinstance(attr, B.IntegerAttr):
        return int(attr.value.data)
    if isinstance(attr, B.FloatAttr):
        return float(attr.value.data)
    if isinstance(attr, B.StringAttr):
        return attr.data
    if isinstance(attr, B.DenseArrayBase):
        return list(attr.get_values())
    raise TypeError(f"not a tg attribute: {attr}")


def _kind_of(attr: Attribute) -> str | None:
    if isinstance(attr, B.IntegerAttr):
        return "int"
    if isinstance(attr, B.FloatAttr):
        return "float"
    if isinstance(attr, B.StringAttr):
        return "str"
    if isinstance(attr, B.DenseArrayBase):
        return "ints" if isinstance(attr.elt_type, B.IntegerType) else "floats"
    return None


class TGOp(IRDLOperation):
    """Base of all tg ops (undecorated: xDSL op classes are final)."""

    inputs = var_operand_def(B.TensorType)
    outputs = var_result_def(B.TensorType)
    traits = traits_def(Pure())
    assembly_format = "`(` $inputs `)` attr-dict `:` functional-type($inputs, $outputs)"

    # (min, max) operand count; max None = variadic
    OPERANDS: ClassVar[tuple[int, int | None]] = (1, 1)
    RESULTS: ClassVar[tuple[int, int | None]] = (1, 1)
    ATTRS: ClassVar[dict[str, AttrSpec]] = {}

    def __init_subclass__(cls, **kwargs):
        # IRDL wants every upper-case constant annotated ClassVar in the class
        # that sets it; do that here so op definitions stay one-liners.
        ann = dict(cls.__dict__.get("__annotations__", {}))
        for key in ("OPERANDS", "RESULTS", "ATTRS"):
            if key in cls.__dict__:
                ann.setdefault(key, ClassVar[Any])
        cls.__annotations__ = ann
        super().__init_subclass__(**kwargs)

    # ---- construction -------------------------------------------------
    @classmethod
    def make(
        cls,
        operands: Sequence[SSAValue | Operation],
        attrs: dict[str, Any] | None = None,
        result_types: Sequence[Attribute] | None = None,
        src: str | None = None,
        num_results: int | None = None,
    ):
        """Build the op; result types are inferred unless given."""
        attributes: dict[str, Attribute] = {}
        for key, value in (attrs or {}).items():
            if value is None:
                continue
            spec = cls.ATTRS.get(key)
            if spec is None:
                raise VerifyException(f"{cls.name}: unknown attribute '{key}'")
            attributes[key] = to_attr(spec.kind, value)
        if src:
            attributes[SRC] = B.StringAttr(src)
        values = [SSAValue.get(o) for o in operands]
        if result_types is None:
            shell = cls.create(operands=values, attributes=attributes, result_types=[])
            try:
                shell._check_operands()
                result_types = shell.infer([v.type for v in values], num_results)
            finally:
                shell.drop_all_references()
        return cls.create(operands=values, attributes=attributes, result_types=list(result_types))

    # ---- access -------------------------------------------------------
    def attr(self, key: str) -> Any:
        """The attribute's Python value, or its ONNX default when absent."""
        if key in self.attributes:
            return from_attr(self.attributes[key])
        spec = self.ATTRS[key]
        return None if spec.required else spec.default

    def has_attr(self, key: str) -> bool:
        return key in self.attributes

    def attr_values(self) -> dict[str, Any]:
        """All schema attributes present on the op, as Python values."""
        return {k: from_attr(v) for k, v in self.attributes.items() if k in self.ATTRS}

    @property
    def src(self) -> str | None:
        a = self.attributes.get(SRC)
        return a.data if isinstance(a, B.StringAttr) else None

    def where(self) -> str:
        """`tg.conv (node 'conv1')`: how errors name this op."""
        return f"{self.name}" + (f" (node '{self.src}')" if self.src else "")

    def in_shapes(self) -> list[tuple[int, ...]]:
        return [dtypes.shape_of(v.type) for v in self.inputs]

    # ---- type inference: subclasses override -------------------------
    def infer(self, ins: list[Attribute], num_results: int | None = None) -> list[Attribute]:
        """Result types from operand types and attributes."""
        raise NotImplementedError(f"{self.name} has no type inference")

    # ---- verification -------------------------------------------------
    def _check_operands(self) -> None:
        lo, hi = self.OPERANDS
        n = len(self.inputs)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else f"{lo}..{'' if hi is None else hi}"
            raise VerifyException(f"{self.where()}: expects {want} operands, got {n}")
        for key, attr in self.attributes.items():
            if key == SRC:
                continue
            spec = self.ATTRS.get(key)
            if spec is None:
                raise VerifyException(f"{self.where()}: unknown attribute '{key}'")
            if _kind_of(attr) != spec.kind:
                raise VerifyException(f"{self.where()}: attribute '{key}' must be {spec.kind}, got {attr}")
        for key, spec in self.ATTRS.items():
            if spec.required and key not in self.attributes:
                raise VerifyException(f"{self.where()}: missing required attribute '{key}'")

    def verify_(self) -> None:
        self._check_operands()
        lo, hi = self.RESULTS
        n = len(self.outputs)
        if n < lo or (hi is not None and n > hi):
            raise VerifyException(f"{self.where()}: expects {lo}..{hi} results, got {n}")
        try:
            expected = self.infer([v.type for v in self.inputs], n)
        except NotImplementedError:
            return
        except VerifyException:
            raise
        except (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError) as e:
            raise VerifyException(f"{self.where()}: {e}") from None
        actual = [r.type for r in self.outputs]
        if list(expected) != actual:
            exp = ", ".join(map(str, expected))
            act = ", ".join(map(str, actual))
            raise VerifyException(f"{self.where()}: result types ({act}) do not match inferred ({exp})")


def fail(op: TGOp, msg: str):
    raise VerifyException(f"{op.where()}: {msg}")


def tt(shape: Sequence[int], elem: Attribute) -> B.TensorType:
    return B.TensorType(elem, [int(d) for d in shape])


def broadcast_shapes(op: TGOp, *shapes: Sequence[int]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        fail(op, "operand shapes " + ", ".join(str(list(s)) for s in shapes) + " do not broadcast")


def norm_axis(op: TGOp, axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        fail(op, f"axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0
