"""The WeightStore a pass may read and extend, passed beside the IR.

xDSL passes are frozen dataclasses called as `apply(ctx, module)`: there is no
slot for the Program's weights. Passes that need them (constant folding through
`tg.weight`, passes that repack weights) read `current_weights()`, which the
pipeline driver sets with `use_weights(prog.weights)` for the duration of a run.
Outside a run (e.g. `tensorc opt` on a bare .mlir file) it is None, and such
passes must leave weight-dependent IR alone.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Iterator

from xdsl.dialects.builtin import ModuleOp

if TYPE_CHECKING:
    from tensorc.program import WeightStore

_WEIGHTS: ContextVar["WeightStore | None"] = ContextVar("tensorc_weights", default=None)


def current_weights() -> "WeightStore | None":
    """The WeightStore of the program being compiled, or None when there is none."""
    return _WEIGHTS.get()


@contextmanager
def use_weights(store: "WeightStore | None") -> Iterator["WeightStore | None"]:
    """Make `store` the current WeightStore inside the `with` block."""
    token = _WEIGHTS.set(store)
    try:
        yield store
    finally:
        _WEIGHTS.reset(token)


def used_weight_names(module: ModuleOp) -> set[str]:
    """Names of every `tg.weight` still in `module`, and of the weights a lowered
    module's blob layout (`cpu.weights`) places: what `WeightStore.prune` keeps."""
    from tensorc.dialects.tg import WeightOp

    names = {op.weight_name for op in module.walk() if isinstance(op, WeightOp)}
    layout = module.attributes.get("cpu.weights")
    if layout is not None:
        names |= {entry.data[0].data for entry in layout.data}
    return names


def operand_array(v, store: "WeightStore | None"):
    """The array behind a tg.constant / tg.weight operand, or None for a run-time value."""
    import numpy as np

    from tensorc.dialects.tg import ConstantOp, WeightOp

    op = v.owner
    if isinstance(op, ConstantOp):
        return op.to_array()
    if isinstance(op, WeightOp) and store is not None and op.weight_name in store:
        return np.asarray(store[op.weight_name])
    return None
