"""cpu — the few ops the loop-level CPU IR needs beyond memref/scf/arith/math.

`cpu.view %base[offset] : memref<...> -> memref<...>` reinterprets bytes of a
buffer at a static byte offset as a new static-shaped memref. It expresses the
activation arena (views into one buffer, placed by the memory plan), the weight
blob (views at each weight's offset) and zero-copy reshapes.
"""

from __future__ import annotations

from xdsl.dialects import builtin as B
from xdsl.ir import Dialect, SSAValue
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, prop_def, result_def, traits_def
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException


@irdl_op_definition
class ViewOp(IRDLOperation):
    name = "cpu.view"
    base = operand_def(B.MemRefType)
    offset = prop_def(B.IntegerAttr)
    result = result_def(B.MemRefType)
    traits = traits_def(Pure())
    assembly_format = "$base `[` $offset `]` attr-dict `:` type($base) `->` type($result)"

    def __init__(self, base: SSAValue, offset: int, result_type: B.MemRefType):
        super().__init__(operands=[base], properties={"offset": B.IntegerAttr(offset, B.i64)}, result_types=[result_type])

    @property
    def byte_offset(self) -> int:
        return self.offset.value.data

    def verify_(self) -> None:
        if self.byte_offset < 0:
            raise VerifyException("cpu.view: negative offset")




# LLVM casts that xDSL's llvm dialect lacks; the exporter teaches its translator these names.
from xdsl.dialects.llvm import GenericCastOp  # noqa: E402


@irdl_op_definition
class FPToSIOp(GenericCastOp):
    name = "cpu.fptosi"


@irdl_op_definition
class FPToUIOp(GenericCastOp):
    name = "cpu.fptoui"


@irdl_op_definition
class UIToFPOp(GenericCastOp):
    name = "cpu.uitofp"


LLVM_CASTS = {FPToSIOp: "fptosi", FPToUIOp: "fptoui", UIToFPOp: "uitofp"}

CPU = Dialect("cpu", [ViewOp, FPToSIOp, FPToUIOp, UIToFPOp], [])
