"""fold-shapes: `tg.shape` / `tg.size` become constants, then the integer code that uses them folds.

Shapes are static in tg, so the shape of any tensor is known at compile time.
Once those are constants, the integer/boolean arithmetic built on them
(ONNX-style `Shape -> Gather -> Concat -> Reshape` chains) is folded like
fold-constants would, but only ops whose results are all integer or boolean:
float math is left for fold-constants, and no new weights are created.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp, TensorType
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from tensorc.dialects.tg import OPS, ConstantOp, TGOp

from .folding import Folder
from .weights import current_weights

ShapeOp = OPS["shape"]
SizeOp = OPS["size"]

# integer results larger than this stay as ops: they are data, not shapes
MAX_SIZE = 1024


def static_value(op: TGOp) -> np.ndarray | None:
    """The value of a tg.shape or tg.size op, known from its operand's type alone."""
    shape = list(op.in_shapes()[0])
    if isinstance(op, ShapeOp):
        return np.array(shape[slice(op.attr("start"), op.attr("end"))], dtype=np.int64)
    if isinstance(op, SizeOp):
        return np.array(int(np.prod(shape)), dtype=np.int64)
    return None


def has_integer_results(op: TGOp) -> bool:
    return all(isinstance(r.type, TensorType) and isinstance(r.type.element_type, IntegerType) for r in op.results)


@dataclass(frozen=True)
class FoldShapes(ModulePass):
    """Replace shape queries by constants and fold the integer subgraph they feed."""

    name = "fold-shapes"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for o in list(op.walk()):
            if isinstance(o, (ShapeOp, SizeOp)):
                const = ConstantOp.from_array(static_value(o))
                if o.src:
                    const.attributes["src"] = o.attributes["src"]
                Rewriter.replace_op(o, const)
        Folder(max_size=MAX_SIZE, store=current_weights(), allow_new_weights=False, accept=has_integer_results).run(op)


__all__ = ["FoldShapes", "static_value"]
