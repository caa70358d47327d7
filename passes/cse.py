"""cse: common subexpression elimination (xDSL's), blind to where ops came from.

xDSL's CSE compares ops by all their attributes, so two identical tg ops
imported from different ONNX nodes (different `src`) would never merge. This
wrapper sets `src` aside during the run and gives it back to the survivors:
the first op of each equivalence class keeps its own `src`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.transforms.common_subexpression_elimination import cse

from tensorc.dialects.tg import SRC


@dataclass(frozen=True)
class Cse(ModulePass):
    """Merge identical pure ops (same name, operands, attributes other than `src`)."""

    name = "cse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        stashed = {}
        for o in op.walk():
            if o.name.startswith("tg.") and SRC in o.attributes:
                stashed[o] = o.attributes.pop(SRC)
        try:
            cse(op)
        finally:
            for o, src in stashed.items():
                if o.parent is not None:  # still in the IR: not merged away
                    o.attributes[SRC] = src


__all__ = ["Cse"]
