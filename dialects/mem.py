"""The `mem` dialect: a memory plan made explicit in the IR.

After the `cosma` pass the body of `@main` runs in plan order, and values
live in one of two places:
  - DRAM: function arguments, weights, and the results of `mem.spill` and
    `mem.store`;
  - the scratchpad: results of tg operators and of `mem.retrieve`, each at
    the offset the plan gives it.
A scratchpad value is resident from its definition to its last use, at one
offset; a tensor that leaves the scratchpad and comes back is a new value
(a new `mem.retrieve`), so "preserved tensors do not move" holds by
construction.

    %x = mem.retrieve %arg0 {offset = 0 : i64, step = 0 : i64} : tensor<1x3x8x8xf32>
    %r0 = tg.relu(%x) : (tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
    mem.place %r0 {offsets = array<i64: 192>, step = 0 : i64} : tensor<1x3x8x8xf32>
    %d = mem.spill %r0 {offset = 192 : i64, step = 4 : i64} : tensor<1x3x8x8xf32>
    %r0_1 = mem.retrieve %d {offset = 0 : i64, step = 7 : i64} : tensor<1x3x8x8xf32>
    %o = mem.store %r9 {offset = 64 : i64, step = 9 : i64} : tensor<1x10xf32>
    func.return %o : tensor<1x10xf32>

Ops:
  mem.retrieve  DRAM -> scratchpad copy (a DMA read) before the operator of `step`
  mem.spill     scratchpad -> DRAM copy that releases the scratchpad copy (a DMA write)
  mem.store     scratchpad -> DRAM write-back of a graph output; the scratchpad copy stays
  mem.place     the offsets at which the operator of `step` wrote its results
The plan's summary (capacity, mode, traffic, bounds, solver status) is the
`mem.plan` dictionary attribute of the function.

None of these ops is Pure: they are copies with effects, which DCE and CSE
must leave alone.
"""

from __future__ import annotations

from xdsl.dialects import builtin as B
from xdsl.ir import Dialect
from typing import ClassVar

from xdsl.irdl import (
    IRDLOperation,
    VarConstraint,
    attr_def,
    base,
    irdl_op_definition,
    operand_def,
    result_def,
    var_operand_def,
)
from xdsl.utils.exceptions import VerifyException


def _i64(v: int) -> B.IntegerAttr:
    return B.IntegerAttr(int(v), B.i64)


class _CopyOp(IRDLOperation):
    """A copy between DRAM and the scratchpad: same tensor type in and out (undecorated base)."""

    T: ClassVar = VarConstraint("T", base(B.TensorType))  # the copy keeps the type
    source = operand_def(T)
    result = result_def(T)
    offset = attr_def(B.IntegerAttr)  # scratchpad byte offset (of the destination or the source)
    step = attr_def(B.IntegerAttr)  # the plan step before whose operator the copy happens
    assembly_format = "$source attr-dict `:` type($result)"

    def __init__(self, source, offset: int, step: int):
        from xdsl.ir import SSAValue

        v = SSAValue.get(source)
        super().__init__(operands=[v], result_types=[v.type], attributes={"offset": _i64(offset), "step": _i64(step)})

    def verify_(self) -> None:
        if self.source.type != self.result.type:
            raise VerifyException(f"{self.name}: result type {self.result.type} differs from source type {self.source.type}")
        if self.offset.value.data < 0 or self.step.value.data < 0:
            raise VerifyException(f"{self.name}: offset and step must be >= 0")


@irdl_op_definition
class RetrieveOp(_CopyOp):
    """Read a tensor from DRAM into the scratchpad at `offset`."""

    name = "mem.retrieve"


@irdl_op_definition
class SpillOp(_CopyOp):
    """Write a scratchpad tensor (at `offset`) to DRAM and release its room."""

    name = "mem.spill"


@irdl_op_definition
class StoreOp(_CopyOp):
    """Write a graph output (at `offset`) back to DRAM; it stays resident."""

    name = "mem.store"


@irdl_op_definition
class PlaceOp(IRDLOperation):
    """The scratchpad offsets of the values an operator of the plan just produced."""

    name = "mem.place"
    values = var_operand_def(B.TensorType)
    offsets = attr_def(B.DenseArrayBase)
    step = attr_def(B.IntegerAttr)
    assembly_format = "$values attr-dict `:` type($values)"

    def __init__(self, values, offsets: list[int], step: int):
        super().__init__(
            operands=[list(values)],
            attributes={"offsets": B.DenseArrayBase.from_list(B.i64, [int(o) for o in offsets]), "step": _i64(step)},
        )

    def offset_list(self) -> list[int]:
        return [int(v) for v in self.offsets.get_values()]

    def verify_(self) -> None:
        if len(self.offset_list()) != len(self.values):
            raise VerifyException(f"mem.place: {len(self.values)} values but {len(self.offset_list())} offsets")
        if any(o < 0 for o in self.offset_list()):
            raise VerifyException("mem.place: offsets must be >= 0")


MEM = Dialect("mem", [RetrieveOp, SpillOp, StoreOp, PlaceOp], [])

__all__ = ["MEM", "RetrieveOp", "SpillOp", "StoreOp", "PlaceOp"]
