"""Pass `convert-to-llvm`: func/arith/math/cf/memref/cpu → xDSL's llvm dialect.

xDSL has no conversion of these dialects to llvm (it delegates to mlir-opt), so
this pass is ours. It translates each function op by op with a value map:
static-shaped memrefs become bare pointers (`memref.load %m[%i, %j]` is a GEP on
the linearized index — the shapes are static, so no descriptors are needed),
`index` becomes i64, math ops become LLVM intrinsics or libm calls.

Kernels get internal linkage (so LLVM inlines and specializes them) and
`noalias` pointer arguments (the memory plan never hands a kernel overlapping
input and output buffers). The entry point is `tc_entry(ptr args)`, reading the
buffer pointers from an array: inputs, outputs, weights, arena.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, builtin as B, cf, func, llvm, math, memref
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from tensorc.dialects import cpu

from . import vector_to_llvm

PTR = llvm.LLVMPointerType()
I64 = B.i64
ENTRY = "tc_entry"


def llvm_type(t: Attribute) -> Attribute:
    if isinstance(t, B.MemRefType):
        return PTR
    if isinstance(t, B.IndexType):
        return I64
    return t


_INT_BIN = {
    arith.AddiOp: llvm.AddOp, arith.SubiOp: llvm.SubOp, arith.MuliOp: llvm.MulOp, arith.DivSIOp: llvm.SDivOp,
    arith.DivUIOp: llvm.UDivOp, arith.RemSIOp: llvm.SRemOp, arith.RemUIOp: llvm.URemOp, arith.AndIOp: llvm.AndOp,
    arith.OrIOp: llvm.OrOp, arith.XOrIOp: llvm.XOrOp, arith.ShLIOp: llvm.ShlOp, arith.ShRUIOp: llvm.LShrOp,
    arith.ShRSIOp: llvm.AShrOp,
}
_FLOAT_BIN = {arith.AddfOp: llvm.FAddOp, arith.SubfOp: llvm.FSubOp, arith.MulfOp: llvm.FMulOp, arith.DivfOp: llvm.FDivOp}
# ops that become `llvm.<name>.<type>` intrinsic calls
_INTRINSIC = {
    arith.MaximumfOp: "maximum", arith.MinimumfOp: "minimum", arith.MaxnumfOp: "maxnum", arith.MinnumfOp: "minnum",
    arith.MaxSIOp: "smax", arith.MinSIOp: "smin", arith.MaxUIOp: "umax", arith.MinUIOp: "umin",
    math.ExpOp: "exp", math.LogOp: "log", math.SqrtOp: "sqrt", math.SinOp: "sin", math.CosOp: "cos",
    math.AbsFOp: "fabs", math.FloorOp: "floor", math.CeilOp: "ceil", math.RoundEvenOp: "roundeven",
    math.RoundOp: "round", math.PowFOp: "pow", math.Exp2Op: "exp2", math.Log2Op: "log2", math.Log10Op: "log10",
    math.TruncOp: "trunc", math.CopySignOp: "copysign", math.FmaOp: "fmuladd",  # fused where the CPU has FMA; mul+add, not a libm call, where not
}
# ops that become calls of C math library functions (no LLVM intrinsic)
_LIBM = {
    math.TanhOp: "tanh", math.ErfOp: "erf", math.TanOp: "tan", math.AtanOp: "atan", math.AsinOp: "asin",
    math.AcosOp: "acos", math.SinhOp: "sinh", math.CoshOp: "cosh", math.AsinhOp: "asinh", math.AcoshOp: "acosh",
    math.AtanhOp: "atanh", math.Log1pOp: "log1p", math.ExpM1Op: "expm1", math.Atan2Op: "atan2",
}
_ICMP = {"eq": 0, "ne": 1, "slt": 2, "sle": 3, "sgt": 4, "sge": 5, "ult": 6, "ule": 7, "ugt": 8, "uge": 9}


_suffix = vector_to_llvm._elem_suffix  # intrinsic name suffix of a scalar type (one definition)


class _FuncTranslator:
    def __init__(self, module: B.ModuleOp, libm: set):
        self.module, self.libm = module, libm

    def translate(self, fn: func.FuncOp) -> llvm.FuncOp:
        old_blocks = list(fn.body.blocks)
        blocks = [Block(arg_types=[llvm_type(a.type) for a in b.args]) for b in old_blocks]
        self.bmap = dict(zip(old_blocks, blocks))
        self.vmap: dict[SSAValue, SSAValue] = {}
        for ob, nb in zip(old_blocks, blocks):
            for oa, na in zip(ob.args, nb.args):
                self.vmap[oa] = na
                na.name_hint = oa.name_hint
        for ob, nb in zip(old_blocks, blocks):
            self.block = nb
            for op in ob.ops:
                self.op(op)
        is_entry = "cpu.entry" in fn.attributes
        ft = llvm.LLVMFunctionType([llvm_type(t) for t in fn.function_type.inputs], llvm.LLVMVoidType())
        new = llvm.FuncOp(fn.sym_name.data, ft, linkage=llvm.LinkageAttr("internal"), body=Region(blocks))
        ptr_args = [i for i, t in enumerate(fn.function_type.inputs) if isinstance(t, B.MemRefType)]
        # the plan never passes a kernel overlapping buffers it writes: noalias is sound
        new.arg_attrs = B.ArrayAttr([
            B.DictionaryAttr({"llvm.noalias": B.UnitAttr()} if (i in ptr_args and not is_entry) else {})
            for i in range(len(fn.function_type.inputs))
        ])
        return new

    def emit(self, op: Operation) -> SSAValue | None:
        self.block.add_op(op)
        return op.results[0] if op.results else None

    def v(self, x: SSAValue) -> SSAValue:
        return self.vmap[x]

    def const(self, value: int, t=I64) -> SSAValue:
        return self.emit(llvm.ConstantOp(B.IntegerAttr(value, t), t))

    def address(self, mem: SSAValue, indices) -> SSAValue:
        """GEP to mem[indices] (row-major, static shape)."""
        mt: B.MemRefType = mem.type
        shape = list(mt.get_shape())
        if not indices:
            return self.v(mem)
        lin = None
        stride = 1
        strides = []
        for d in reversed(shape):
            strides.append(stride)
            stride *= d if d != B.DYNAMIC_INDEX else 1
        strides.reverse()
        for idx, s in zip(indices, strides):
            term = self.v(idx) if s == 1 else self.emit(llvm.MulOp(self.v(idx), self.const(s)))
            lin = term if lin is None else self.emit(llvm.AddOp(lin, term))
        return self.emit(llvm.GEPOp(self.v(mem), [llvm.GEP_USE_SSA_VAL], mt.element_type, ssa_indices=[lin], inbounds=True))

    def op(self, op: Operation) -> None:  # noqa: C901  (one dispatch table, kept flat on purpose)
        if vector_to_llvm.handles(op):  # vector types, lane masks, threads: vector_to_llvm.py
            vector_to_llvm.translate(self, op)
            return
        t = type(op)
        res = lambda: llvm_type(op.results[0].type)  # noqa: E731
        if isinstance(op, arith.ConstantOp):
            val = op.value
            rt = res()
            if isinstance(val, B.IntegerAttr):
                val = B.IntegerAttr(val.value.data, rt)
            self.vmap[op.result] = self.emit(llvm.ConstantOp(val, rt))
        elif t in _INT_BIN:
            self.vmap[op.results[0]] = self.emit(_INT_BIN[t](self.v(op.operands[0]), self.v(op.operands[1])))
        elif t in _FLOAT_BIN:
            self.vmap[op.results[0]] = self.emit(_FLOAT_BIN[t](self.v(op.operands[0]), self.v(op.operands[1])))
        elif isinstance(op, cpu.RemFOp):
            self.vmap[op.result] = self.emit(llvm.FRemOp(self.v(op.lhs), self.v(op.rhs)))
        elif isinstance(op, arith.NegfOp):
            self.vmap[op.result] = self.emit(llvm.FNegOp(self.v(op.operand)))
        elif t in _INTRINSIC:
            rt = res()
            name = f"llvm.{_INTRINSIC[t]}.{_suffix(rt)}"
            self.vmap[op.results[0]] = self.emit(llvm.CallIntrinsicOp(name, [self.v(x) for x in op.operands], [rt]))
        elif t in _LIBM:
            rt = res()
            fname = _LIBM[t] + ("f" if isinstance(rt, B.Float32Type) else "")
            self.libm.add((fname, len(op.operands), rt))
            self.vmap[op.results[0]] = self.emit(llvm.CallOp(fname, *[self.v(x) for x in op.operands], return_type=rt))
        elif isinstance(op, math.RsqrtOp):
            rt = res()
            sq = self.emit(llvm.CallIntrinsicOp(f"llvm.sqrt.{_suffix(rt)}", [self.v(op.operand)], [rt]))
            one = self.emit(llvm.ConstantOp(B.FloatAttr(1.0, rt), rt))
            self.vmap[op.result] = self.emit(llvm.FDivOp(one, sq))
        elif isinstance(op, arith.CmpiOp):
            pred = B.IntegerAttr(op.predicate.value.data, I64)
            self.vmap[op.result] = self.emit(llvm.ICmpOp(self.v(op.lhs), self.v(op.rhs), pred))
        elif isinstance(op, arith.CmpfOp):
            pred = B.IntegerAttr(op.predicate.value.data, I64)
            self.vmap[op.result] = self.emit(llvm.FCmpOp(self.v(op.lhs), self.v(op.rhs), pred))
        elif isinstance(op, arith.SelectOp):
            self.vmap[op.result] = self.emit(llvm.SelectOp(*[self.v(x) for x in op.operands]))
        elif isinstance(op, arith.IndexCastOp):
            src, dst = llvm_type(op.input.type), res()
            self.vmap[op.result] = self._int_resize(self.v(op.input), src, dst, signed=True)
        elif isinstance(op, (arith.ExtSIOp, arith.ExtUIOp, arith.TruncIOp)):
            src, dst = op.input.type, res()
            self.vmap[op.result] = self._int_resize(self.v(op.input), src, dst, signed=isinstance(op, arith.ExtSIOp))
        elif isinstance(op, arith.ExtFOp):
            self.vmap[op.result] = self.emit(llvm.FPExtOp(self.v(op.input), res()))
        elif isinstance(op, arith.TruncFOp):
            self.vmap[op.result] = self.emit(llvm.FPTruncOp(self.v(op.input), res()))
        elif isinstance(op, arith.SIToFPOp):
            self.vmap[op.result] = self.emit(llvm.SIToFPOp(self.v(op.input), res()))
        elif isinstance(op, arith.UIToFPOp):
            self.vmap[op.result] = self.emit(cpu.UIToFPOp(self.v(op.input), res()))
        elif isinstance(op, arith.FPToSIOp):
            self.vmap[op.result] = self.emit(cpu.FPToSIOp(self.v(op.input), res()))
        elif isinstance(op, arith.FPToUIOp):
            self.vmap[op.result] = self.emit(cpu.FPToUIOp(self.v(op.input), res()))
        elif isinstance(op, arith.BitcastOp):
            self.vmap[op.result] = self.emit(llvm.BitcastOp(self.v(op.input), res()))
        elif isinstance(op, memref.LoadOp):
            addr = self.address(op.memref, op.indices)
            self.vmap[op.res] = self.emit(llvm.LoadOp(addr, op.res.type))
        elif isinstance(op, memref.AllocaOp):  # kernel scratch (static shape, at the kernel's entry)
            n = 1
            for d in op.memref.type.get_shape():
                n *= d
            elem = op.memref.type.element_type
            self.vmap[op.memref] = self.emit(llvm.AllocaOp(self.const(n), elem, alignment=64))
        elif isinstance(op, memref.StoreOp):
            addr = self.address(op.memref, op.indices)
            self.emit(llvm.StoreOp(self.v(op.value), addr))
        elif isinstance(op, cpu.ViewOp):
            if op.byte_offset == 0:
                self.vmap[op.result] = self.v(op.base)
            else:
                # an i64 SSA index: xDSL stores constant GEP indices as i32, which wraps past 2 GiB
                off = self.const(op.byte_offset)
                self.vmap[op.result] = self.emit(
                    llvm.GEPOp(self.v(op.base), [llvm.GEP_USE_SSA_VAL], B.i8, ssa_indices=[off], inbounds=True))
        elif isinstance(op, cf.BranchOp):
            self.emit(llvm.BrOp(self.bmap[op.successor], *[self.v(x) for x in op.arguments]))
        elif isinstance(op, cf.ConditionalBranchOp):
            self.emit(llvm.CondBrOp(
                self.v(op.cond), self.bmap[op.then_block], [self.v(x) for x in op.then_arguments],
                self.bmap[op.else_block], [self.v(x) for x in op.else_arguments]))
        elif isinstance(op, func.CallOp):
            self.emit(llvm.CallOp(op.callee.root_reference.data, *[self.v(x) for x in op.arguments]))
        elif isinstance(op, func.ReturnOp):
            self.emit(llvm.ReturnOp())
        else:
            raise NotImplementedError(f"convert-to-llvm: no lowering for {op.name}")

    def _int_resize(self, x, src, dst, signed):
        ws, wd = src.width.data, dst.width.data
        if ws == wd:
            return x
        if wd < ws:
            return self.emit(llvm.TruncOp(x, dst))
        return self.emit(llvm.SExtOp(x, dst) if signed else llvm.ZExtOp(x, dst))


@dataclass(frozen=True)
class ConvertToLLVM(ModulePass):
    """func/arith/math/cf/memref/cpu → llvm dialect, plus the `tc_entry` wrapper."""

    name = "convert-to-llvm"

    # threads for `cpu.parallel_call`: 1 = plain calls; N = the runtime thread pool with N
    # threads; 0 (default) = the pool with one thread per online CPU of the running machine
    threads: int = 0

    def apply(self, ctx: Context, module: B.ModuleOp) -> None:
        libm: set = set()
        tr = _FuncTranslator(module, libm)
        tr.threads, tr.parallel_thunks = self.threads, {}
        funcs = [op for op in module.ops if isinstance(op, func.FuncOp)]
        entry = next(f for f in funcs if "cpu.entry" in f.attributes)
        n_args = len(entry.function_type.inputs)
        for f in funcs:
            new = tr.translate(f)
            module.body.block.insert_op_before(new, f)
            module.body.block.erase_op(f)
        for name, arity, rt in sorted(libm, key=lambda x: x[0]):
            decl = llvm.FuncOp(name, llvm.LLVMFunctionType([rt] * arity, rt), linkage=llvm.LinkageAttr("external"))
            module.body.block.add_op(decl)
        module.body.block.add_ops(vector_to_llvm.parallel_thunks(tr.parallel_thunks))
        module.body.block.add_op(_entry_wrapper(entry.sym_name.data, n_args))


def _entry_wrapper(main: str, n_args: int) -> llvm.FuncOp:
    """void tc_entry(ptr args): main(args[0], ..., args[n-1])."""
    block = Block(arg_types=[PTR])
    ptrs = []
    for i in range(n_args):
        slot = llvm.GEPOp(block.args[0], [i], PTR, inbounds=True)
        load = llvm.LoadOp(slot, PTR)
        block.add_ops([slot, load])
        ptrs.append(load.dereferenced_value if hasattr(load, "dereferenced_value") else load.results[0])
    block.add_op(llvm.CallOp(main, *ptrs))
    block.add_op(llvm.ReturnOp())
    return llvm.FuncOp(ENTRY, llvm.LLVMFunctionType([PTR], llvm.LLVMVoidType()),
                       linkage=llvm.LinkageAttr("external"), body=Region(block))
