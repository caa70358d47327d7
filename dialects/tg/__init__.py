"""tg — the tensor graph dialect: ONNX-semantics ops on static-shaped tensors.

Ops are grouped by family (elementwise, nn, shape); `OPS` maps each op's short
name (`conv`, `reduce_sum`) to its class; `TG` is the xDSL Dialect.
"""

from xdsl.ir import Dialect

from . import elementwise, lowbit, nn, shape
from .base import SRC, AttrSpec, TGOp, from_attr, to_attr
from .weight import ConstantOp, WeightOp

OPS: dict[str, type[TGOp]] = {**elementwise.OPS, **nn.OPS, **shape.OPS, **lowbit.OPS}

TG = Dialect("tg", [WeightOp, ConstantOp, *OPS.values()], [])


def op_class(name: str) -> type[TGOp]:
    """The tg op class for a short name (`add`) or full name (`tg.add`)."""
    return OPS[name.removeprefix("tg.")]


__all__ = ["TG", "OPS", "SRC", "AttrSpec", "TGOp", "WeightOp", "ConstantOp", "from_attr", "to_attr", "op_class"]
