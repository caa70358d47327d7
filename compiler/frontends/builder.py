"""What every frontend shares: values known at import, and a builder of `func.func @main`.

A frontend walks its source graph and, per source op, calls `GraphBuilder.emit`
with `Val`s. When every operand of an op is a known constant the op is folded
right away with the reference kernels (this is how shape subgraphs, `arange`
positions and masks built from buffers disappear); otherwise a tg op is added
to the block. Constants become SSA values only when a run-time op needs them:
small ones print inline as `tg.constant`, large ones and model parameters are
`tg.weight`s in the WeightStore.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Block, SSAValue

from tensorc.backends.reference import evaluate_op
from tensorc.dialects import dtypes
from tensorc.dialects.tg import ConstantOp, TGOp, WeightOp, op_class
from tensorc.program import WeightStore

# Folded intermediates up to this many elements print inline as tg.constant.
INLINE_CONST_MAX = 64


class Val:
    """A value during import: a known constant, an SSA value, or both.

    `named` marks a model parameter or buffer: it always becomes a `tg.weight`
    under its own `name` (never an inline constant), however small it is.
    """

    __slots__ = ("const", "ssa", "name", "named")

    def __init__(self, name: str, const: np.ndarray | None = None, ssa: SSAValue | None = None, named: bool = False):
        self.name, self.const, self.ssa, self.named = name, const, ssa, named

    @property
    def type(self) -> TensorType:
        if self.ssa is not None:
            return self.ssa.type
        return dtypes.tensor_type(self.const.shape, self.const.dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return dtypes.shape_of(self.type) if self.ssa is not None else tuple(self.const.shape)

    @property
    def dtype(self) -> np.dtype:
        return dtypes.dtype_of(self.type) if self.ssa is not None else self.const.dtype

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        kind = "const" if self.ssa is None else "ssa"
        return f"Val({self.name!r}, {kind}, {self.shape}, {self.dtype})"


class GraphBuilder:
    """The block of `@main` under construction, its weights, and eager folding."""

    def __init__(self):
        self.weights = WeightStore()
        self.block = Block()

    def materialize(self, v: Val, stem: str | None = None, src: str | None = None) -> SSAValue:
        """The SSA value of `v`, creating a tg.constant / tg.weight for a known constant."""
        if v.ssa is not None:
            return v.ssa
        arr = v.const
        if v.named:
            stem = v.name
        op = None
        # inf/nan stay out of line: xDSL 0.75 prints them as hex (`dense<0xff800000>`), which its
        # parser reads back as an integer (-inf → 4.29e9), so the printed IR would not round-trip
        finite = arr.dtype.kind != "f" or bool(np.isfinite(arr).all())
        if arr.size <= INLINE_CONST_MAX and stem is None and finite:
            try:
                op = ConstantOp.from_array(arr)
            except dtypes.UnsupportedDType:
                op = None
        if op is None:
            name = self.weights.add_unique(stem or v.name or "const", arr)
            op = WeightOp(name, dtypes.tensor_type(arr.shape, arr.dtype))
        self.block.add_op(op)
        v.ssa = op.results[0]
        return v.ssa

    def fold(self, cls: type[TGOp], consts: list[np.ndarray | None], attrs, result_types, num_results):
        """Evaluate an op on constant operands with the reference kernels."""
        scratch = Block(arg_types=[dtypes.tensor_type(c.shape, c.dtype) for c in consts if c is not None])
        op = cls.make(list(scratch.args), attrs, result_types=result_types, num_results=num_results)
        try:
            op.verify()
            present = [c for c in consts if c is not None]
            return [r.copy() for r in evaluate_op(op, present)]
        finally:
            op.drop_all_references()

    def emit(
        self,
        op: str,
        operands: Sequence[Val | None],
        attrs: Mapping[str, Any] | None = None,
        result_types: Sequence[TensorType] | None = None,
        num_results: int | None = None,
        src: str | None = None,
    ) -> list[Val]:
        """Add a tg op (or fold it, when all operands are constants) and return its results.

        `None` operands and attributes are dropped (optional ONNX inputs, absent attributes).
        """
        cls = op_class(op)
        operands = [o for o in operands if o is not None]
        attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
        if operands and all(o.const is not None for o in operands):
            results = self.fold(cls, [o.const for o in operands], attrs, result_types, num_results)
            return [Val("", const=r) for r in results]
        ssa = [self.materialize(o) for o in operands]
        new = cls.make(ssa, attrs, result_types=result_types, src=src, num_results=num_results)
        self.block.add_op(new)
        return [Val("", ssa=r) for r in new.results]
