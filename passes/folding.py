"""Evaluating tg ops at compile time: the engine behind fold-constants and fold-shapes.

An op whose operands are all known (`tg.constant`, or `tg.weight` when a
WeightStore is available) is run once through the reference interpreter's
kernels, and its results are put back into the IR as constants:

- a `tg.constant` when the result is small (<= max_size elements), finite,
  and of a dtype `dense<...>` can hold;
- otherwise a new `tg.weight` in the store, when there is a store and the
  caller allows it;
- otherwise the op stays as it is.

Non-finite values never become `tg.constant`: xDSL prints them as hex
literals inside `dense<...>`, which it then parses back as integers, so a
dump would not round-trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.rewriter import Rewriter

from tensorc.dialects import dtypes
from tensorc.dialects.tg import ConstantOp, TGOp, WeightOp
from tensorc.program import WeightStore


def known_value(value: SSAValue, store: WeightStore | None) -> np.ndarray | None:
    """The array `value` always holds, if it is a constant or an available weight."""
    op = value.owner
    if isinstance(op, ConstantOp):
        return op.to_array()
    if isinstance(op, WeightOp) and store is not None and op.weight_name in store:
        arr = store[op.weight_name]
        # low-bit weights are stored packed: only logical-shaped arrays are usable here
        if arr.shape == dtypes.shape_of(op.result.type) and arr.dtype == dtypes.dtype_of(op.result.type):
            return arr
    return None


def evaluate(op: TGOp, inputs: list[np.ndarray]) -> list[np.ndarray] | None:
    """The op's results, or None if the reference interpreter cannot run it.

    Folding is an optimization: an op the interpreter rejects (no kernel, an
    unsupported attribute combination) stays in the IR, and any real problem
    with it surfaces when the program is compiled or run.
    """
    from tensorc.backends.reference import evaluate_op

    try:
        return evaluate_op(op, inputs)
    except Exception:  # noqa: BLE001 - see docstring: never fail a compile over an optimization
        return None


def as_constant(array: np.ndarray, max_size: int) -> ConstantOp | None:
    """A `tg.constant` holding `array`, if it is small, finite and of a dense<>-able dtype."""
    if array.size > max_size:
        return None
    if dtypes.is_float(array.dtype) and not np.all(np.isfinite(array.astype(np.float64))):
        return None
    try:
        return ConstantOp.from_array(array)
    except (dtypes.UnsupportedDType, ValueError, TypeError, OverflowError):
        return None


_SYMBOL_UNSAFE = re.compile(r"[^A-Za-z0-9_.$]")


def new_weight_name(store: WeightStore, src: str | None, index: int | None) -> str:
    """A fresh WeightStore name for a folded value: from the op's `src`, else `__folded_N`.

    `index` tells apart the results of a multi-result op. Characters that would
    need quoting in `@symbol` references are replaced, so dumps stay readable.
    """
    suffix = "" if index is None else f"_{index}"
    if src:
        return _SYMBOL_UNSAFE.sub("_", src) + suffix
    n = 0
    while f"__folded_{n}{suffix}" in store:
        n += 1
    return f"__folded_{n}{suffix}"


@dataclass
class Folder:
    """Folds the ops of a module in program order (so folded results feed later folds).

    max_size: largest result (in elements) inlined as a tg.constant.
    allow_new_weights: whether larger results may become new WeightStore entries.
    grow_weights: whether such new weights may take more bytes than the op's
        operands. Off by default: folding `dequantize_linear(int4 weight)` or an
        `expand` of a constant would multiply the model's size and destroy the
        low-bit weights later passes (lut-mpgemm) look for.
    accept: which ops to try at all.
    """

    max_size: int
    store: WeightStore | None
    allow_new_weights: bool = True
    grow_weights: bool = False
    accept: Callable[[TGOp], bool] = lambda op: True

    def run(self, module: ModuleOp) -> int:
        """Fold every foldable op; returns how many were folded."""
        count = 0
        for op in list(module.walk()):
            if (
                isinstance(op, TGOp)
                and op.parent is not None
                and op.operands
                and all(isinstance(v.owner, (ConstantOp, WeightOp)) for v in op.operands)
                and self.accept(op)
                and self.fold(op)
            ):
                count += 1
        return count

    def fold(self, op: TGOp) -> bool:
        inputs = [known_value(v, self.store) for v in op.operands]
        if any(a is None for a in inputs):
            return False
        results = evaluate(op, inputs)
        if results is None:
            return False
        replacements = self.materialize(op, results, budget=sum(a.nbytes for a in inputs))
        if replacements is None:
            return False
        producers = {v.owner for v in op.operands}
        Rewriter.replace_op(op, replacements, [r.results[0] for r in replacements])
        # constants that only fed this op are dead now; drop them to keep the IR readable
        for p in producers:
            if p.parent is not None and not any(r.uses for r in p.results):
                Rewriter.erase_op(p)
        return True

    def materialize(self, op: TGOp, results: list[np.ndarray], budget: int) -> list[Operation] | None:
        """One constant-like op per result, or None if some result cannot be held."""
        plan: list[ConstantOp | np.ndarray] = []
        for r, res in zip(results, op.results):
            const = as_constant(r, self.max_size)
            if const is not None and const.result.type == res.type:
                plan.append(const)
            elif self.allow_new_weights and self.store is not None:
                plan.append(r)
            else:
                return None
        new_bytes = sum(item.nbytes for item in plan if isinstance(item, np.ndarray))
        if new_bytes > budget and not self.grow_weights:
            return None
        # every result has a home: only now touch the store
        new_ops: list[Operation] = []
        for i, (item, res) in enumerate(zip(plan, op.results)):
            if isinstance(item, ConstantOp):
                if op.src:
                    item.attributes["src"] = op.attributes["src"]
                new_ops.append(item)
            else:
                assert self.store is not None and isinstance(res.type, TensorType)
                name = self.store.add_unique(new_weight_name(self.store, op.src, i if len(op.results) > 1 else None), item)
                new_ops.append(WeightOp(name, res.type, src=op.src))
        return new_ops


__all__ = ["Folder", "known_value", "evaluate", "as_constant", "new_weight_name"]
