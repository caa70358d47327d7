"""fold-constants: evaluate ops whose operands are all constants or weights.

Each such op runs once through the reference interpreter; its results become
`tg.constant`s (up to `max-size` elements) or new `tg.weight`s in the
Program's WeightStore. Without a store (e.g. `tensorc opt` on a bare file),
ops that read weights, and results too large for a constant, are left alone.
New weights may not outgrow the operands they replace unless `grow-weights`
is set (see `folding.Folder`).

    -p 'fold-constants{max-size=64}'
    -p 'fold-constants{grow-weights=true}'
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from .folding import Folder
from .weights import current_weights


@dataclass(frozen=True)
class FoldConstants(ModulePass):
    """Replace ops computable at compile time by their values."""

    name = "fold-constants"

    max_size: int = 1024
    """Largest result (in elements) printed inline as a tg.constant; larger ones become weights."""

    grow_weights: bool = False
    """Allow a folded weight to take more bytes than the operands it is computed from."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        Folder(max_size=self.max_size, store=current_weights(), grow_weights=self.grow_weights).run(op)


__all__ = ["FoldConstants"]
