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

# Loop-level float remainder (C fmod: sign of the dividend), which xDSL's arith lacks; → LLVM `frem`.
from xdsl.dialects.arith import FloatingPointLikeBinaryOperation  # noqa: E402


@irdl_op_definition
class RemFOp(FloatingPointLikeBinaryOperation):
    name = "cpu.remf"
    traits = traits_def(Pure())


# ---- vector lanes and threads (the performance kernels) ----------------------------------
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, StringAttr, SymbolRefAttr, VectorType  # noqa: E402
from xdsl.irdl import ParsePropInAttrDict, var_operand_def  # noqa: E402


@irdl_op_definition
class LaneMaskOp(IRDLOperation):
    """`cpu.lane_mask %lo, %hi : vector<16xi1>`: lanes l with lo <= l < hi are set (loop level)."""

    name = "cpu.lane_mask"
    lo = operand_def(B.IndexType)
    hi = operand_def(B.IndexType)
    result = result_def(VectorType)
    traits = traits_def(Pure())
    assembly_format = "$lo `,` $hi attr-dict `:` type($result)"

    def __init__(self, lo: SSAValue, hi: SSAValue, lanes: int):
        super().__init__(operands=[lo, hi], result_types=[VectorType(B.i1, [lanes])])


@irdl_op_definition
class ParallelCallOp(IRDLOperation):
    """`cpu.parallel_call @body(%args) {iterations = N}`: run `body(args..., lo, hi)` on chunks
    [lo, hi) that cover [0, N), on the runtime's threads (loop level; `convert-to-llvm` picks
    the threading: a plain call for one thread, libgomp's GOMP_parallel otherwise)."""

    name = "cpu.parallel_call"
    callee = prop_def(SymbolRefAttr)
    iterations = prop_def(IntegerAttr)
    args = var_operand_def()
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$callee `(` $args `)` attr-dict `:` type($args)"

    def __init__(self, callee: str, args, iterations: int):
        super().__init__(operands=[list(args)],
                         properties={"callee": SymbolRefAttr(callee), "iterations": IntegerAttr(iterations, B.i64)})


@irdl_op_definition
class VFCmpOp(IRDLOperation):
    """LLVM-level `fcmp <pred>` on vectors (xDSL's llvm.fcmp is scalar only)."""

    name = "cpu.vfcmp"
    lhs = operand_def(VectorType)
    rhs = operand_def(VectorType)
    predicate = prop_def(StringAttr)
    result = result_def(VectorType)
    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue, rhs: SSAValue, predicate: str):
        n = SSAValue.get(lhs).type.get_shape()[0]
        super().__init__(operands=[lhs, rhs], properties={"predicate": StringAttr(predicate)},
                         result_types=[VectorType(B.i1, [n])])


@irdl_op_definition
class VICmpOp(IRDLOperation):
    """LLVM-level `icmp <pred>` on vectors."""

    name = "cpu.vicmp"
    lhs = operand_def(VectorType)
    rhs = operand_def(VectorType)
    predicate = prop_def(StringAttr)
    result = result_def(VectorType)
    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue, rhs: SSAValue, predicate: str):
        n = SSAValue.get(lhs).type.get_shape()[0]
        super().__init__(operands=[lhs, rhs], properties={"predicate": StringAttr(predicate)},
                         result_types=[VectorType(B.i1, [n])])


@irdl_op_definition
class VSelectOp(IRDLOperation):
    """LLVM-level `select` with a vector condition."""

    name = "cpu.vselect"
    cond = operand_def(VectorType)
    lhs = operand_def(VectorType)
    rhs = operand_def(VectorType)
    result = result_def(VectorType)
    traits = traits_def(Pure())

    def __init__(self, cond: SSAValue, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[cond, lhs, rhs], result_types=[SSAValue.get(lhs).type])


@irdl_op_definition
class ExtractElementOp(IRDLOperation):
    """LLVM-level `extractelement` at a static lane (xDSL's exporter lacks it)."""

    name = "cpu.extractelement"
    vector = operand_def(VectorType)
    lane = prop_def(IntegerAttr)
    result = result_def()
    traits = traits_def(Pure())

    def __init__(self, vector: SSAValue, lane: int):
        t = SSAValue.get(vector).type
        super().__init__(operands=[vector], properties={"lane": IntegerAttr(lane, B.i64)},
                         result_types=[t.element_type])


CPU = Dialect("cpu", [ViewOp, FPToSIOp, FPToUIOp, UIToFPOp, RemFOp,
                      LaneMaskOp, ParallelCallOp, VFCmpOp, VICmpOp, VSelectOp, ExtractElementOp], [])
