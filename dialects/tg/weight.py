"""`tg.weight @name : tensor<...>`: a reference into the Program's WeightStore.

Weights never print inline, so a dump of a large model stays small and readable.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import builtin as B
from xdsl.irdl import IRDLOperation, irdl_op_definition, opt_attr_def, prop_def, result_def, traits_def
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from tensorc.dialects import dtypes


@irdl_op_definition
class WeightOp(IRDLOperation):
    name = "tg.weight"
    ref = prop_def(B.SymbolRefAttr)
    result = result_def(B.TensorType)
    src = opt_attr_def(B.StringAttr)
    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "$ref attr-dict `:` type($result)"

    def __init__(self, name: str, type_: B.TensorType, src: str | None = None):
        super().__init__(
            properties={"ref": B.SymbolRefAttr(name)},
            result_types=[type_],
            attributes={"src": B.StringAttr(src)} if src else {},
        )

    @property
    def weight_name(self) -> str:
        return self.ref.root_reference.data


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A small constant printed inline (folded shapes, scalars): `tg.constant dense<[1, 2]> : tensor<2xi64>`.

    Large constants live in the WeightStore behind `tg.weight`.
    """

    name = "tg.constant"
    value = prop_def(B.DenseIntOrFPElementsAttr)
    result = result_def(B.TensorType)
    traits = traits_def(Pure(), ConstantLike())

    def __init__(self, value: B.DenseIntOrFPElementsAttr, attributes=None):
        super().__init__(properties={"value": value}, result_types=[value.type], attributes=attributes or {})

    # `tg.constant dense<[1, 2]> : tensor<2xi64>`: the value carries its type
    @classmethod
    def parse(cls, parser: Parser) -> "ConstantOp":
        value = parser.parse_attribute()
        if not isinstance(value, B.DenseIntOrFPElementsAttr):
            parser.raise_error("tg.constant expects a dense<...> value")
        attrs = parser.parse_optional_attr_dict()
        return cls(value, attrs)

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_attribute(self.value)
        printer.print_op_attributes(self.attributes)

    def verify_(self) -> None:
        if self.value.type != self.result.type:
            raise VerifyException(f"tg.constant: value type {self.value.type} != result type {self.result.type}")

    @staticmethod
    def from_array(array: np.ndarray) -> "ConstantOp":
        """The op for `array`; raises UnsupportedDType for types dense<> cannot hold."""
        arr = np.asarray(array)
        elem = dtypes.to_xdsl(arr.dtype)
        if not (isinstance(elem, B.IntegerType) or elem in (B.f32, B.f64, B.f16)):
            raise dtypes.UnsupportedDType(f"tg.constant cannot hold {arr.dtype}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            # xDSL prints inf/nan inside dense<> as hex that parses back as an integer
            raise dtypes.UnsupportedDType("tg.constant cannot hold inf or nan (it would not print and parse back)")
        t = B.TensorType(elem, list(arr.shape))
        flat = arr.reshape(-1)
        values = [bool(v) for v in flat] if arr.dtype == np.bool_ else flat.tolist()
        if arr.dtype == np.bool_:
            values = [int(v) for v in values]
        return ConstantOp(B.DenseIntOrFPElementsAttr.from_list(t, values))

    def to_array(self) -> np.ndarray:
        dt = dtypes.dtype_of(self.result.type)
        shape = dtypes.shape_of(self.result.type)
        vals = self.value.get_values()
        return np.array(vals, dtype=np.float64 if dt.kind == "f" else np.int64).astype(dt).reshape(shape)
