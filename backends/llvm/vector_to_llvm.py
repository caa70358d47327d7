"""The vector part of `convert-to-llvm`: xDSL `vector` ops, vector-typed arith/math ops and
the loop-level `cpu` lane/thread ops → llvm dialect.

Kernels keep explicit SIMD in the loop-level IR as `vector<16xf32>` values:
`vector.load/store/maskedload/maskedstore` on static memrefs (unaligned: the
alignment is the element's), `vector.broadcast`, `vector.fma`, `vector.shuffle`,
`vector.extract`, `vector.reduction`, `cpu.lane_mask`, and plain arith/math ops
on vector operands; `cpu.vcast` for the vector casts xDSL's arith verifier refuses. The byte-table ops of the
low-bit kernels (`cpu.vshuffle_bytes`, `cpu.vdot_bytes`, `cpu.vmadd_bytes`, `cpu.vmadd_words`)
become the x86 intrinsics of their vector length (pshufb, vpdpbusd, pmaddubsw, pmaddwd). `cpu.parallel_call` becomes a direct call of its body (one
thread) or a call of the runtime thread pool (`parallel.py`) with a generated thunk.

`to_llvm._FuncTranslator.op` hands an op here first when `handles(op)`.
"""

from __future__ import annotations

from xdsl.dialects import arith, builtin as B, llvm, math, vector
from xdsl.ir import Attribute, Block, Operation, Region

from tensorc.dialects import cpu

PTR = llvm.LLVMPointerType()
I64 = B.i64
I32 = B.i32

_FLOAT_INTRINSIC = {
    arith.MaximumfOp: "maximum", arith.MinimumfOp: "minimum", arith.MaxnumfOp: "maxnum", arith.MinnumfOp: "minnum",
    math.ExpOp: "exp", math.LogOp: "log", math.SqrtOp: "sqrt", math.SinOp: "sin", math.CosOp: "cos",
    math.AbsFOp: "fabs", math.FloorOp: "floor", math.CeilOp: "ceil", math.RoundEvenOp: "roundeven",
    math.RoundOp: "round", math.PowFOp: "pow", math.Exp2Op: "exp2", math.Log2Op: "log2", math.Log10Op: "log10",
    math.TruncOp: "trunc", math.CopySignOp: "copysign", math.FmaOp: "fmuladd",  # fused where the CPU has FMA; mul+add, not a libm call, where not
}
_INT_INTRINSIC = {arith.MaxSIOp: "smax", arith.MinSIOp: "smin", arith.MaxUIOp: "umax", arith.MinUIOp: "umin"}
_FCMP = {"false": "false", "oeq": "oeq", "ogt": "ogt", "oge": "oge", "olt": "olt", "ole": "ole", "one": "one",
         "ord": "ord", "ueq": "ueq", "ugt": "ugt", "uge": "uge", "ult": "ult", "ule": "ule", "une": "une",
         "uno": "uno", "true": "true"}
_ICMP = ["eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge"]


def _elem_suffix(t: Attribute) -> str:
    if isinstance(t, B.Float32Type):
        return "f32"
    if isinstance(t, B.Float64Type):
        return "f64"
    if isinstance(t, B.Float16Type):
        return "f16"
    if isinstance(t, B.IntegerType):
        return f"i{t.width.data}"
    raise NotImplementedError(str(t))


def vsuffix(t: B.VectorType) -> str:
    return f"v{t.get_shape()[0]}{_elem_suffix(t.element_type)}"


def _is_vec(v) -> bool:
    return isinstance(v.type, B.VectorType)


def _elem_bytes(t: Attribute) -> int:
    return max(1, t.bitwidth // 8) if hasattr(t, "bitwidth") else 8


_VECTOR_OPS = (vector.LoadOp, vector.StoreOp, vector.MaskedLoadOp, vector.MaskedStoreOp, vector.BroadcastOp,
               vector.FMAOp, vector.ShuffleOp, vector.ExtractOp, vector.ReductionOp, cpu.LaneMaskOp,
               cpu.ParallelCallOp, cpu.VSelectOp, cpu.VFCmpOp, cpu.VICmpOp,
               cpu.VShuffleBytesOp, cpu.VDotBytesOp, cpu.VMulAddBytesOp, cpu.VMulAddWordsOp, cpu.VCastOp)

# the x86 intrinsics of the byte-table/dot-product ops, by their operand vector length
_PSHUFB = {16: "llvm.x86.ssse3.pshuf.b.128", 32: "llvm.x86.avx2.pshuf.b", 64: "llvm.x86.avx512.pshuf.b.512"}
_VPDPBUSD = {8: "llvm.x86.avx512.vpdpbusd.256", 16: "llvm.x86.avx512.vpdpbusd.512"}
_PMADDUBSW = {16: "llvm.x86.ssse3.pmadd.ub.sw.128", 32: "llvm.x86.avx2.pmadd.ub.sw", 64: "llvm.x86.avx512.pmaddubs.w.512"}
_PMADDWD = {8: "llvm.x86.sse2.pmadd.wd", 16: "llvm.x86.avx2.pmadd.wd", 32: "llvm.x86.avx512.pmaddw.d.512"}


def handles(op: Operation) -> bool:
    if isinstance(op, _VECTOR_OPS):
        return True
    if type(op) in _FLOAT_INTRINSIC or type(op) in _INT_INTRINSIC or isinstance(
            op, (arith.CmpfOp, arith.CmpiOp, arith.SelectOp, math.RsqrtOp)):
        return any(_is_vec(r) for r in op.results) or any(_is_vec(o) for o in op.operands)
    return False


def translate(tr, op: Operation) -> None:  # noqa: C901
    emit, v = tr.emit, tr.v
    if isinstance(op, vector.LoadOp):
        addr = tr.address(op.base, op.indices)
        tr.vmap[op.result] = emit(llvm.LoadOp(addr, op.result.type, alignment=_elem_bytes(op.result.type.element_type)))
    elif isinstance(op, vector.StoreOp):
        addr = tr.address(op.base, op.indices)
        emit(llvm.StoreOp(v(op.vector), addr, alignment=_elem_bytes(op.vector.type.element_type)))
    elif isinstance(op, vector.MaskedLoadOp):
        addr = tr.address(op.base, op.indices)
        vt = op.result.type
        align = emit(llvm.ConstantOp(B.IntegerAttr(_elem_bytes(vt.element_type), I32), I32))
        tr.vmap[op.result] = emit(llvm.CallIntrinsicOp(
            f"llvm.masked.load.{vsuffix(vt)}.p0", [addr, align, v(op.mask), v(op.pass_thru)], [vt]))
    elif isinstance(op, vector.MaskedStoreOp):
        addr = tr.address(op.base, op.indices)
        vt = op.value_to_store.type
        emit(llvm.MaskedStoreOp(v(op.value_to_store), addr, v(op.mask), alignment=_elem_bytes(vt.element_type)))
    elif isinstance(op, vector.BroadcastOp):
        vt = op.vector.type
        tr.vmap[op.vector] = splat(tr, v(op.source), vt)
    elif isinstance(op, vector.FMAOp):
        # fmuladd, not fma: one FMA instruction on hosts that have it (the same result), and a
        # mul + add under `--cpu generic`, where llvm.fma would be a libm call per lane (~250x slower)
        rt = op.res.type
        tr.vmap[op.res] = emit(llvm.CallIntrinsicOp(f"llvm.fmuladd.{vsuffix(rt)}", [v(op.lhs), v(op.rhs), v(op.acc)], [rt]))
    elif isinstance(op, vector.ShuffleOp):
        mask = B.DenseArrayBase.from_list(I32, list(op.mask.get_values()))
        tr.vmap[op.result] = emit(llvm.ShuffleVectorOp(v(op.v1), v(op.v2), mask, op.result.type))
    elif isinstance(op, vector.ExtractOp):
        pos = list(op.static_position.get_values())
        if len(pos) != 1 or op.dynamic_position:
            raise NotImplementedError("convert-to-llvm: vector.extract needs one static position")
        tr.vmap[op.result] = emit(cpu.ExtractElementOp(v(op.vector), pos[0]))
    elif isinstance(op, vector.ReductionOp):
        tr.vmap[op.dest] = _reduce(tr, op)
    elif isinstance(op, cpu.LaneMaskOp):
        n = op.result.type.get_shape()[0]
        # bits = (1 << hi) - (1 << lo), then the low n bits as <n x i1>
        one = tr.const(1)
        hi = emit(llvm.ShlOp(one, v(op.hi)))
        lo = emit(llvm.ShlOp(one, v(op.lo)))
        bits = emit(llvm.SubOp(hi, lo))
        it = B.IntegerType(n)
        if n < 64:
            bits = emit(llvm.TruncOp(bits, it))
        tr.vmap[op.result] = emit(llvm.BitcastOp(bits, op.result.type))
    elif isinstance(op, cpu.ParallelCallOp):
        _parallel_call(tr, op)
    elif isinstance(op, cpu.VSelectOp):  # loop-level vector select/compares: same ops at the llvm level
        tr.vmap[op.result] = emit(cpu.VSelectOp(v(op.cond), v(op.lhs), v(op.rhs)))
    elif isinstance(op, (cpu.VFCmpOp, cpu.VICmpOp)):
        tr.vmap[op.result] = emit(type(op)(v(op.lhs), v(op.rhs), op.predicate.data))
    elif isinstance(op, cpu.VShuffleBytesOp):
        rt = op.result.type
        tr.vmap[op.result] = emit(llvm.CallIntrinsicOp(_PSHUFB[rt.get_shape()[0]], [v(op.table), v(op.idx)], [rt]))
    elif isinstance(op, cpu.VDotBytesOp):  # the intrinsic takes the byte vectors as i32 vectors
        rt = op.result.type
        a = emit(llvm.BitcastOp(v(op.a), rt))
        b = emit(llvm.BitcastOp(v(op.b), rt))
        tr.vmap[op.result] = emit(llvm.CallIntrinsicOp(_VPDPBUSD[rt.get_shape()[0]], [v(op.acc), a, b], [rt]))
    elif isinstance(op, cpu.VMulAddBytesOp):
        rt = op.result.type
        tr.vmap[op.result] = emit(llvm.CallIntrinsicOp(_PMADDUBSW[op.a.type.get_shape()[0]], [v(op.a), v(op.b)], [rt]))
    elif isinstance(op, cpu.VMulAddWordsOp):
        rt = op.result.type
        tr.vmap[op.result] = emit(llvm.CallIntrinsicOp(_PMADDWD[op.a.type.get_shape()[0]], [v(op.a), v(op.b)], [rt]))
    elif isinstance(op, cpu.VCastOp):
        cls = {"sext": llvm.SExtOp, "zext": llvm.ZExtOp, "trunc": llvm.TruncOp, "sitofp": llvm.SIToFPOp,
               "uitofp": cpu.UIToFPOp, "fptosi": cpu.FPToSIOp}[op.kind.data]
        tr.vmap[op.result] = emit(cls(v(op.input), op.result.type))
    elif type(op) in _FLOAT_INTRINSIC or type(op) in _INT_INTRINSIC:
        rt = op.results[0].type
        name = (_FLOAT_INTRINSIC.get(type(op)) or _INT_INTRINSIC[type(op)])
        tr.vmap[op.results[0]] = emit(llvm.CallIntrinsicOp(f"llvm.{name}.{vsuffix(rt)}", [v(x) for x in op.operands], [rt]))
    elif isinstance(op, math.RsqrtOp):
        rt = op.result.type
        sq = emit(llvm.CallIntrinsicOp(f"llvm.sqrt.{vsuffix(rt)}", [v(op.operand)], [rt]))
        one = emit(llvm.ConstantOp(B.DenseIntOrFPElementsAttr.from_list(rt, [1.0] * rt.get_shape()[0]), rt))
        tr.vmap[op.result] = emit(llvm.FDivOp(one, sq))
    elif isinstance(op, arith.CmpfOp):
        pred = arith.CMPF_COMPARISON_OPERATIONS[op.predicate.value.data]
        tr.vmap[op.result] = emit(cpu.VFCmpOp(v(op.lhs), v(op.rhs), _FCMP[pred]))
    elif isinstance(op, arith.CmpiOp):
        pred = _ICMP[op.predicate.value.data]
        tr.vmap[op.result] = emit(cpu.VICmpOp(v(op.lhs), v(op.rhs), pred))
    elif isinstance(op, arith.SelectOp):
        cond = v(op.cond)
        if not isinstance(cond.type, B.VectorType):  # scalar condition, vector operands
            tr.vmap[op.result] = emit(llvm.SelectOp(cond, v(op.lhs), v(op.rhs)))
        else:
            tr.vmap[op.result] = emit(cpu.VSelectOp(cond, v(op.lhs), v(op.rhs)))
    else:  # pragma: no cover
        raise NotImplementedError(op.name)


def splat(tr, scalar, vt: B.VectorType):
    n = vt.get_shape()[0]
    undef = tr.emit(llvm.UndefOp(vt))
    zero = tr.emit(llvm.ConstantOp(B.IntegerAttr(0, I32), I32))
    ins = tr.emit(llvm.InsertElementOp(undef, scalar, zero))
    return tr.emit(llvm.ShuffleVectorOp(ins, undef, B.DenseArrayBase.from_list(I32, [0] * n), vt))


def _reduce(tr, op: vector.ReductionOp):
    """Tree reduction with shuffles (deterministic, log2(n) steps), then lane 0."""
    kind = op.kind.data.value if hasattr(op.kind.data, "value") else str(op.kind.data)
    x = tr.v(op.vector)
    vt = op.vector.type
    n = vt.get_shape()[0]
    fl = not isinstance(vt.element_type, B.IntegerType)
    combine = {
        "add": llvm.FAddOp if fl else llvm.AddOp,
        "mul": llvm.FMulOp if fl else llvm.MulOp,
    }.get(kind)
    while n > 1:
        half = n // 2
        hi_t = B.VectorType(vt.element_type, [half])
        lo = tr.emit(llvm.ShuffleVectorOp(x, x, B.DenseArrayBase.from_list(I32, list(range(half))), hi_t))
        hi = tr.emit(llvm.ShuffleVectorOp(x, x, B.DenseArrayBase.from_list(I32, list(range(half, n))), hi_t))
        if combine is not None:
            x = tr.emit(combine(lo, hi))
        else:
            name = {"maxnumf": "maxnum", "minnumf": "minnum", "maximumf": "maximum", "minimumf": "minimum",
                    "maxsi": "smax", "minsi": "smin"}[kind]
            x = tr.emit(llvm.CallIntrinsicOp(f"llvm.{name}.{vsuffix(hi_t)}", [lo, hi], [hi_t]))
        n = half
    r = tr.emit(cpu.ExtractElementOp(x, 0))
    if op.acc is not None:
        acc = tr.v(op.acc)
        if combine is not None:
            r = tr.emit(combine(acc, r))
        else:
            name = {"maxnumf": "maxnum", "minnumf": "minnum", "maximumf": "maximum", "minimumf": "minimum"}[kind]
            t = op.dest.type
            r = tr.emit(llvm.CallIntrinsicOp(f"llvm.{name}.{_elem_suffix(t)}", [acc, r], [t]))
    return r


# ---- threads ------------------------------------------------------------------------------------
def _parallel_call(tr, op: cpu.ParallelCallOp) -> None:
    """body(args..., lo, hi) over [0, N): directly (one thread), or on the runtime's thread pool
    (`parallel.py`): tc_parallel(@body__thunk, ctx = [args...], N, threads)."""
    callee = op.callee.root_reference.data
    n = op.iterations.value.data
    args = [tr.v(a) for a in op.args]
    threads = getattr(tr, "threads", 1)
    if threads == 1 or n <= 1:
        tr.emit(llvm.CallOp(callee, *args, tr.const(0), tr.const(n)))
        return
    # ctx = alloca [len(args) x 8 bytes]; ctx[i] = args[i] (pointers, or i64 scalars)
    ctx = tr.emit(llvm.AllocaOp(tr.const(max(1, len(args))), PTR, alignment=8))
    for i, a in enumerate(args):  # every slot holds a pointer (i64 scalars as inttoptr)
        slot = tr.emit(llvm.GEPOp(ctx, [i], PTR, inbounds=True))
        if not isinstance(a.type, llvm.LLVMPointerType):
            a = tr.emit(llvm.IntToPtrOp(a))
        tr.emit(llvm.StoreOp(a, slot))
    thunk = tr.parallel_thunks.setdefault(callee, (f"{callee}__thunk", [a.type for a in args]))[0]
    fn = tr.emit(llvm.AddressOfOp(thunk, PTR))
    nthreads = tr.emit(llvm.ConstantOp(B.IntegerAttr(max(threads, 0), I32), I32))
    tr.emit(llvm.CallOp("tc_parallel", fn, ctx, tr.const(n), nthreads))


def parallel_thunks(thunks: dict) -> list[llvm.FuncOp]:
    """`void body__thunk(ptr ctx, i64 lo, i64 hi)`: body(ctx[0], ..., lo, hi); and the pool's
    entry point `tc_parallel` (defined by `parallel.POOL_IR`, linked in by codegen)."""
    out = []
    for callee, (name, arg_types) in sorted(thunks.items()):
        block = Block(arg_types=[PTR, I64, I64])
        ops: list[Operation] = []

        def e(o):
            ops.append(o)
            return o.results[0] if o.results else None

        args = []
        for i, t in enumerate(arg_types):
            slot = e(llvm.GEPOp(block.args[0], [i], PTR, inbounds=True))
            a = e(llvm.LoadOp(slot, PTR))
            args.append(a if isinstance(t, llvm.LLVMPointerType) else e(llvm.PtrToIntOp(a, t)))
        e(llvm.CallOp(callee, *args, block.args[1], block.args[2]))
        e(llvm.ReturnOp())
        block.add_ops(ops)
        out.append(llvm.FuncOp(name, llvm.LLVMFunctionType([PTR, I64, I64], llvm.LLVMVoidType()),
                               linkage=llvm.LinkageAttr("internal"), body=Region(block)))
    if thunks:
        out.append(llvm.FuncOp("tc_parallel", llvm.LLVMFunctionType([PTR, PTR, I64, I32], llvm.LLVMVoidType()),
                               linkage=llvm.LinkageAttr("external")))
    return out
