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


# ---- byte-table lookups and small-integer dot products (the low-bit kernels) -------------
# Loop-level SIMD ops on integer vectors with x86 SSSE3/AVX2/AVX-512 semantics; `convert-to-llvm`
# maps them to the x86 intrinsic of their width. A kernel emits them only when the target has the
# feature (`kernels/lut_isa.py`); `--cpu generic` kernels never do.
def _vec(elem, n: int) -> VectorType:
    return VectorType(elem, [n])


def _lanes(v: SSAValue) -> int:
    return SSAValue.get(v).type.get_shape()[0]


def _check_int_vec(op, v, width: int, what: str) -> int:
    t = SSAValue.get(v).type
    if not isinstance(t, VectorType) or not isinstance(t.element_type, B.IntegerType) or \
            t.element_type.width.data != width:
        raise VerifyException(f"{op.name}: {what} must be a vector of i{width}, got {t}")
    return t.get_shape()[0]


@irdl_op_definition
class VShuffleBytesOp(IRDLOperation):
    """`cpu.vshuffle_bytes %table, %idx : vector<Nxi8>` (N = 16, 32, 64): a 16-entry byte table
    lookup in each 128-bit lane (x86 `pshufb`): r[i] = idx[i] & 0x80 ? 0 : table[16·⌊i/16⌋ + (idx[i] & 15)].
    One instruction looks up N bytes; with the same table in every lane, N independent 4-bit indices."""

    name = "cpu.vshuffle_bytes"
    table = operand_def(VectorType)
    idx = operand_def(VectorType)
    result = result_def(VectorType)
    traits = traits_def(Pure())

    def __init__(self, table: SSAValue, idx: SSAValue):
        super().__init__(operands=[table, idx], result_types=[SSAValue.get(table).type])

    def verify_(self) -> None:
        n = _check_int_vec(self, self.table, 8, "table")
        if n not in (16, 32, 64) or _check_int_vec(self, self.idx, 8, "idx") != n:
            raise VerifyException(f"cpu.vshuffle_bytes: table and idx must both be vector<16|32|64 x i8>")


@irdl_op_definition
class VDotBytesOp(IRDLOperation):
    """`cpu.vdot_bytes %acc, %a, %b : vector<Nxi32>` (N = 8, 16): r[i] = acc[i] +
    Σ_{t<4} zext(a[4i+t]) · sext(b[4i+t]) with a, b vector<4N x i8> (x86 `vpdpbusd`, AVX512-VNNI;
    wrapping i32 add). Four u8·i8 products summed and accumulated in one instruction."""

    name = "cpu.vdot_bytes"
    acc = operand_def(VectorType)
    a = operand_def(VectorType)
    b = operand_def(VectorType)
    result = result_def(VectorType)
    traits = traits_def(Pure())

    def __init__(self, acc: SSAValue, a: SSAValue, b: SSAValue):
        super().__init__(operands=[acc, a, b], result_types=[SSAValue.get(acc).type])

    def verify_(self) -> None:
        n = _check_int_vec(self, self.acc, 32, "acc")
        if n not in (8, 16) or _check_int_vec(self, self.a, 8, "a") != 4 * n or _check_int_vec(self, self.b, 8, "b") != 4 * n:
            raise VerifyException("cpu.vdot_bytes: acc vector<8|16 x i32>, a and b vector<32|64 x i8>")


@irdl_op_definition
class VMulAddBytesOp(IRDLOperation):
    """`cpu.vmadd_bytes %a, %b : vector<2N x i8> -> vector<N x i16>` (N = 8, 16, 32):
    r[i] = sat16(zext(a[2i])·sext(b[2i]) + zext(a[2i+1])·sext(b[2i+1])) (x86 `pmaddubsw`)."""

    name = "cpu.vmadd_bytes"
    a = operand_def(VectorType)
    b = operand_def(VectorType)
    result = result_def(VectorType)
    traits = traits_def(Pure())

    def __init__(self, a: SSAValue, b: SSAValue):
        super().__init__(operands=[a, b], result_types=[_vec(B.i16, _lanes(a) // 2)])

    def verify_(self) -> None:
        n = _check_int_vec(self, self.a, 8, "a")
        if n not in (16, 32, 64) or _check_int_vec(self, self.b, 8, "b") != n:
            raise VerifyException("cpu.vmadd_bytes: a and b must both be vector<16|32|64 x i8>")


@irdl_op_definition
class VMulAddWordsOp(IRDLOperation):
    """`cpu.vmadd_words %a, %b : vector<2N x i16> -> vector<N x i32>` (N = 4, 8, 16):
    r[i] = a[2i]·b[2i] + a[2i+1]·b[2i+1] in i32 (x86 `pmaddwd`)."""

    name = "cpu.vmadd_words"
    a = operand_def(VectorType)
    b = operand_def(VectorType)
    result = result_def(VectorType)
    traits = traits_def(Pure())

    def __init__(self, a: SSAValue, b: SSAValue):
        super().__init__(operands=[a, b], result_types=[_vec(B.i32, _lanes(a) // 2)])

    def verify_(self) -> None:
        n = _check_int_vec(self, self.a, 16, "a")
        if n not in (8, 16, 32) or _check_int_vec(self, self.b, 16, "b") != n:
            raise VerifyException("cpu.vmadd_words: a and b must both be vector<8|16|32 x i16>")


_VCAST_KINDS = ("sext", "zext", "trunc", "sitofp", "uitofp", "fptosi")


@irdl_op_definition
class VCastOp(IRDLOperation):
    """`cpu.vcast %x {kind = "sitofp"} : vector<NxA> -> vector<NxB>`: an elementwise vector cast
    (xDSL's arith casts accept scalars only): sext, zext, trunc (integers), sitofp, uitofp, fptosi."""

    name = "cpu.vcast"
    input = operand_def(VectorType)
    kind = prop_def(StringAttr)
    result = result_def(VectorType)
    traits = traits_def(Pure())

    def __init__(self, x: SSAValue, kind: str, elem):
        super().__init__(operands=[x], properties={"kind": StringAttr(kind)},
                         result_types=[_vec(elem, _lanes(x))])

    def verify_(self) -> None:
        src, dst = self.input.type, self.result.type
        kind = self.kind.data
        if kind not in _VCAST_KINDS:
            raise VerifyException(f"cpu.vcast: kind '{kind}' is not one of {', '.join(_VCAST_KINDS)}")
        if src.get_shape() != dst.get_shape():
            raise VerifyException("cpu.vcast: source and result lane counts differ")
        si, di = isinstance(src.element_type, B.IntegerType), isinstance(dst.element_type, B.IntegerType)
        want = {"sext": (True, True), "zext": (True, True), "trunc": (True, True), "sitofp": (True, False),
                "uitofp": (True, False), "fptosi": (False, True)}[kind]
        if (si, di) != want:
            raise VerifyException(f"cpu.vcast {kind}: wrong element types {src.element_type} -> {dst.element_type}")


CPU = Dialect("cpu", [ViewOp, FPToSIOp, FPToUIOp, UIToFPOp, RemFOp,
                      LaneMaskOp, ParallelCallOp, VFCmpOp, VICmpOp, VSelectOp, ExtractElementOp,
                      VShuffleBytesOp, VDotBytesOp, VMulAddBytesOp, VMulAddWordsOp, VCastOp], [])
