"""Pass `convert-tg-to-loops`: tg on tensors → kernels of scf loops on memrefs.

Each tg op (or a fused group of elementwise ops) becomes a call of a private
kernel function whose body is a loop nest; identical kernels are emitted once.
`func.func @main` becomes a sequence of calls on buffers:

- inputs and outputs are `memref` arguments (outputs written in place),
- weights are `cpu.view`s into one weight blob argument at fixed offsets
  (the layout is recorded on the module as `cpu.weights`),
- intermediates are `memref.alloc`s, placed into the arena by `plan-memory`,
- reshapes are zero-copy `cpu.view`s of their operand.

Matmul/gemm/conv/softmax/layer norm/max pool groups go to the SIMD perf kernels
(`kernels/microkernel.py`) when they apply: their constant operands are repacked
at compile time into the layout the kernel wants (stored in the WeightStore under
`<name>.packed`, the original dropped when nothing else reads it), scratch buffers
they ask for are arena allocations, and the functions they outline (parallel
bodies, shared microkernels) are added to the module. A weight gets its blob
view on first use, so an unused original layout takes no space.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import builtin as B, func, memref
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from tensorc.backends.llvm import fusion
from tensorc.backends.llvm.kernels import KERNELS, UnsupportedKernel
from tensorc.backends.llvm.kernels.microkernel import perf_kernel_for
from tensorc.backends.llvm.vector_builder import VectorKernelBuilder
from tensorc.dialects import dtypes
from tensorc.dialects.cpu import ViewOp
from tensorc.dialects.tg import ConstantOp, TGOp, WeightOp
from tensorc.passes.weights import current_weights

WEIGHT_ALIGN = 64
VIEW_OPS = {"tg.reshape", "tg.flatten", "tg.squeeze", "tg.unsqueeze", "tg.identity"}


def signless(t: Attribute) -> Attribute:
    """Loop-level IR uses signless integers (arith requires them); signedness lives in the kernels."""
    if isinstance(t, B.IntegerType) and t.signedness.data != B.Signedness.SIGNLESS:
        return B.IntegerType(t.width.data)
    return t


def memref_of(t: B.TensorType) -> B.MemRefType:
    return B.MemRefType(signless(t.element_type), list(t.get_shape()))


class LoweringError(Exception):
    pass


@dataclass(frozen=True)
class ConvertTgToLoops(ModulePass):
    """tg tensors → scf loops on memrefs, one kernel function per op or fused group."""

    name = "convert-tg-to-loops"

    fuse: bool = True
    # the target the kernels are built for (host | generic) and a cap on the SIMD level of the
    # low-bit kernels (auto | avx512 | avx2 | generic): kernels/lowbit_isa.py
    cpu: str = "host"
    simd: str = "auto"

    def apply(self, ctx: Context, module: B.ModuleOp) -> None:
        from tensorc.backends.llvm.kernels.lowbit_isa import isa_for, use_isa

        main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
        weights = current_weights()
        try:
            isa = isa_for(self.cpu, self.simd)
        except ValueError as e:
            raise LoweringError(f"convert-tg-to-loops: {e}") from None
        with use_isa(isa):
            _Lowering(module, main, weights, self.fuse).run()


class _Lowering:
    def __init__(self, module: B.ModuleOp, main: func.FuncOp, weights, fuse: bool):
        self.module, self.old, self.weights, self.fuse = module, main, weights, fuse
        self.kernels: dict[str, str] = {}  # kernel key → function name
        self.layout: list[tuple[str, int, int]] = []  # (weight name, offset, nbytes)
        self.weight_offsets: dict[str, int] = {}
        self.blob_size = 0
        # weights and constants get their blob view on first use (a weight only ever read
        # pre-packed by a perf kernel is not placed in its original layout at all)
        self.pending: dict[SSAValue, tuple] = {}
        self.sink = _FunctionSink(module)
        self.packed: dict[tuple, tuple] = {}  # (weight name, layout info) → (packed name, array)

    # ---- weights -------------------------------------------------------
    def _place_weight(self, name: str, nbytes: int) -> int:
        if name not in self.weight_offsets:
            off = -(-self.blob_size // WEIGHT_ALIGN) * WEIGHT_ALIGN
            self.weight_offsets[name] = off
            self.layout.append((name, off, nbytes))
            self.blob_size = off + nbytes
        return self.weight_offsets[name]

    def _constant_name(self, op: ConstantOp) -> str:
        arr = op.to_array()
        if self.weights is None:
            raise LoweringError("tg.constant needs a weight store to be lowered")
        return self.weights.add_unique("__const", arr)

    # ---- driver --------------------------------------------------------
    def run(self) -> None:
        old = self.old
        ops = list(old.body.block.ops)
        ret = ops[-1]
        assert isinstance(ret, func.ReturnOp)
        in_types = [memref_of(a.type) for a in old.body.block.args]
        out_types = [memref_of(v.type) for v in ret.operands]
        # the weight blob: its size is known once every weight is placed (module attribute)
        block = Block(arg_types=[*in_types, *out_types, B.MemRefType(B.i8, [B.DYNAMIC_INDEX])])
        for a, old_a in zip(block.args, old.body.block.args):
            a.name_hint = old_a.name_hint
        self.block = block
        self.kb = VectorKernelBuilder(block)
        self.blob = block.args[-1]
        self.blob.name_hint = "weights"
        env: dict[SSAValue, SSAValue] = dict(zip(old.body.block.args, block.args))
        self.env = env

        # Results written straight into the output arguments when they are produced here.
        out_buffers: dict[SSAValue, SSAValue] = {}
        for i, v in enumerate(ret.operands):
            block.args[len(in_types) + i].name_hint = f"out{i}"
            producer = v.owner
            if isinstance(producer, TGOp) and producer.name not in VIEW_OPS and v not in out_buffers:
                out_buffers[v] = block.args[len(in_types) + i]
        self.out_buffers = out_buffers

        groups = fusion.partition(ops[:-1]) if self.fuse else [[op] for op in ops[:-1]]
        for group in groups:
            self._lower_group(group)

        # outputs not written in place (views, weights, inputs, duplicates): copy
        for i, v in enumerate(ret.operands):
            dst = block.args[len(in_types) + i]
            if out_buffers.get(v) is not dst:
                self._call_kernel(("copy",), [self._value(v)], [dst], lambda kb, ins, outs: KERNELS["copy"](kb, ins, outs, None))
        block.add_op(func.ReturnOp())

        old.detach()
        new_main = func.FuncOp.from_region("main", [a.type for a in block.args], [], Region(block))
        new_main.attributes["cpu.entry"] = B.UnitAttr()
        self.module.body.block.add_op(new_main)
        self.module.attributes["cpu.weights"] = B.ArrayAttr(
            [B.ArrayAttr([B.StringAttr(n), B.IntegerAttr(o, B.i64), B.IntegerAttr(s, B.i64)]) for n, o, s in self.layout]
        )
        self.module.attributes["cpu.weights_size"] = B.IntegerAttr(max(self.blob_size, 1), B.i64)
        # kernels and shared microkernels stay out of line (codegen marks them noinline): inlining
        # every kernel into @main makes one huge function that LLVM optimizes super-linearly
        # (DenseNet's @main grew to 35k instructions), for a call per kernel saved
        out_of_line = sorted(set(self.kernels.values()) | self.sink.shared)
        self.module.attributes["cpu.noinline"] = B.ArrayAttr([B.StringAttr(n) for n in out_of_line])

    # ---- one group -----------------------------------------------------
    def _buffer_for(self, v: SSAValue) -> SSAValue:
        if v in self.out_buffers:
            return self.out_buffers[v]
        alloc = memref.AllocOp.get(memref_of(v.type).element_type, shape=list(v.type.get_shape()))
        self.block.add_op(alloc)
        alloc.memref.name_hint = v.name_hint
        return alloc.memref

    def _lower_group(self, group: list[Operation]) -> None:
        env = self.env
        if len(group) == 1:
            op = group[0]
            if isinstance(op, WeightOp):
                self.pending[op.result] = ("weight", op)
                return
            if isinstance(op, ConstantOp):
                self.pending[op.result] = ("constant", op)
                return
            if op.name in VIEW_OPS and op.outputs[0] not in self.out_buffers:
                view = ViewOp(self._value(op.inputs[0]), 0, memref_of(op.outputs[0].type))
                self.block.add_op(view)
                env[op.outputs[0]] = view.result
                return
        if not all(isinstance(op, TGOp) for op in group):
            raise LoweringError(f"cannot lower {group[0].name}")
        if perf_kernel_for(group[0]) is not None:
            self._lower_perf_group(group)
            return
        ins, outs, body = fusion.kernel_signature(group)
        in_bufs = [self._value(v) for v in ins]
        out_bufs = [self._buffer_for(v) for v in outs]
        key = fusion.kernel_key(group, ins, outs)
        self._call_kernel(key, in_bufs, out_bufs, body)
        for v, b in zip(outs, out_bufs):
            env[v] = b

    def _lower_perf_group(self, group: list[Operation]) -> None:
        """A matmul/gemm/conv (+ fused epilogue) on SIMD microkernels; constant operands pre-packed."""
        head = group[0]
        pk = perf_kernel_for(head)
        ins, outs, epilogue = fusion.perf_signature(group)
        in_bufs, packed = [], {}
        for i, v in enumerate(ins):
            buf = None
            if i < len(head.inputs) and v in self.pending:
                name = self._pending_name(v)
                cache_key = (name, head.name, repr(head.attr_values()), str(head.outputs[0].type), i)
                hit = self.packed.get(cache_key)
                if hit is None:
                    res = pk.prepack(head, i, self.weights[name])
                    if res is not None:
                        arr, info = res
                        hit = (self.weights.add_unique(f"{name}.packed", arr), arr, info)
                    else:
                        hit = (None, None, None)
                    self.packed[cache_key] = hit
                pname, arr, info = hit
                if pname is not None:  # the packed array's own element type (f32 panels, int codes)
                    buf = self._weight_view(pname, memref_of(dtypes.tensor_type(arr.shape, arr.dtype)))
                    packed[i] = info
            in_bufs.append(buf if buf is not None else self._value(v))
        out_bufs = [self._buffer_for(v) for v in outs]
        for t in pk.scratch(head):  # scratch lives in the arena for the duration of the call
            alloc = memref.AllocOp.get(t.element_type, shape=list(t.get_shape()))
            self.block.add_op(alloc)
            alloc.memref.name_hint = "scratch"
            out_bufs.append(alloc.memref)
        key = ("perf", fusion.kernel_key(group, ins, outs), tuple(sorted(packed.items())))
        self._call_kernel(key, in_bufs, out_bufs,
                          lambda kb, i, o: pk.emit(kb, i, o, head, packed, epilogue))
        self.env[outs[0]] = out_bufs[0]

    def _pending_name(self, v: SSAValue) -> str:
        kind, op = self.pending[v]
        if kind == "constant":
            name = self._constant_name(op)
            self.pending[v] = ("weight-name", name)
            return name
        return op.weight_name if kind == "weight" else op

    def _value(self, v: SSAValue) -> SSAValue:
        """The buffer of tg value `v` (weights and constants: a blob view, made on first use)."""
        if v not in self.env and v in self.pending:
            self.env[v] = self._weight_view(self._pending_name(v), v.type)
        return self.env[v]

    def _weight_view(self, name: str, t) -> SSAValue:
        if self.weights is None or name not in self.weights:
            raise LoweringError(f"weight '{name}' is not in the weight store")
        arr = self.weights[name]
        off = self._place_weight(name, arr.nbytes)
        view = ViewOp(self.blob, off, t if isinstance(t, B.MemRefType) else memref_of(t))
        self.block.add_op(view)
        view.result.name_hint = None
        return view.result

    def _call_kernel(self, key, in_bufs, out_bufs, body) -> None:
        skey = repr((key, [b.type for b in in_bufs], [b.type for b in out_bufs]))
        name = self.kernels.get(skey)
        if name is None:
            name = f"k{len(self.kernels)}_{_kernel_label(key)}"
            self.kernels[skey] = name
            kblock = Block(arg_types=[b.type for b in [*in_bufs, *out_bufs]])
            kb = VectorKernelBuilder(kblock, name, self.sink)
            n = len(in_bufs)
            try:
                body(kb, list(kblock.args[:n]), list(kblock.args[n:]))
            except UnsupportedKernel as e:
                raise LoweringError(str(e)) from None
            kblock.add_op(func.ReturnOp())
            kfn = func.FuncOp.from_region(name, [b.type for b in [*in_bufs, *out_bufs]], [], Region(kblock))
            kfn.sym_visibility = B.StringAttr("private")
            self.module.body.block.add_op(kfn)
        self.block.add_op(func.CallOp(name, [*in_bufs, *out_bufs], []))


class _FunctionSink:
    """Where kernels put the functions they outline (parallel bodies, shared microkernels)."""

    def __init__(self, module: B.ModuleOp):
        self.module = module
        self.shared: set[str] = set()

    def __call__(self, fn: func.FuncOp) -> None:
        self.module.body.block.add_op(fn)


def _kernel_label(key) -> str:
    """A readable part of a kernel's name: the op names of its key (`matmul_add_relu`)."""
    names = []

    def walk(k):
        if isinstance(k, str):
            if k.startswith("tg.") and len(names) < 4:
                names.append(k.removeprefix("tg."))
        elif isinstance(k, tuple) and len(names) < 4:
            for x in k:
                walk(x)

    walk(key)
    if not names:
        first = key[0] if isinstance(key, tuple) else key
        names = [str(first)]
    label = "_".join(dict.fromkeys(names))
    return "".join(c if c.isalnum() or c == "_" else "_" for c in label)[:32]


