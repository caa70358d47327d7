"""KernelBuilder with explicit SIMD (xDSL `vector` ops) and outlined parallel loops.

`convert-tg-to-loops` builds every kernel with this builder; kernels that do
not use the extra methods see a plain KernelBuilder.

- `vt(elem)`: the vector type of one SIMD register (`vector<16xf32>` on
  AVX-512; `LANES` elements of 32 bits).
- `vload/vstore/vmload/vmstore`: (masked) unaligned vector loads and stores
  at a memref index; `bcast`, `fma`, `vconst`, `lane_mask`.
- `with kb.vector_mode(vt):` makes `const(v, t)` return splat vectors, so the
  scalar semantics of elementwise ops (`scalar.emit_scalar`) build vector code
  (fused epilogues of matmul/conv).
- `parallel_for(n, bufs, body)`: outlines `body(kb, bufs, lo, hi)` into a
  private function and emits `cpu.parallel_call` (run on the thread pool).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Sequence

from xdsl.dialects import arith, builtin as B, func, scf, vector
from xdsl.ir import Attribute, Block, Region, SSAValue
from xdsl.rewriter import InsertPoint

from tensorc.dialects import cpu

from .kernel_builder import INDEX, KernelBuilder

#: SIMD register width in bits (AVX-512); the vector kernels assume it.
VECTOR_BITS = 512
#: below this much work (flops, or elements touched × ops per element) a kernel stays on one thread
MIN_PARALLEL_WORK = 100_000


def lanes_for(elem: Attribute) -> int:
    return VECTOR_BITS // elem.bitwidth


class VectorKernelBuilder(KernelBuilder):
    def __init__(self, entry: Block, name: str = "kernel", sink: Callable | None = None):
        super().__init__(entry)
        self.name = name
        self.sink = sink  # adds a func.func to the module (outlined parallel bodies)
        self._outlined = 0
        self._vector_mode: B.VectorType | None = None

    def op(self, op):
        """As KernelBuilder.op; an arith.select on a vector condition (xDSL's arith.select takes
        an i1 only) becomes `cpu.vselect`, so scalar semantics (`scalar.py`) work on vectors."""
        if isinstance(op, arith.SelectOp) and isinstance(op.cond.type, B.VectorType):
            op = cpu.VSelectOp(op.cond, op.lhs, op.rhs)
        elif isinstance(op, (arith.CmpfOp, arith.CmpiOp)):
            op = vector_cmp(op)
        return super().op(op)

    # ---- types and constants -------------------------------------------------------------
    @staticmethod
    def vt(elem: Attribute, n: int | None = None) -> B.VectorType:
        return B.VectorType(elem, [n or lanes_for(elem)])

    def const(self, v, t: Attribute) -> SSAValue:
        if isinstance(t, B.VectorType):
            return self.vconst(v, t)
        if self._vector_mode is not None and not isinstance(t, B.IndexType):
            return self.vconst(v, B.VectorType(t, self._vector_mode.get_shape()))
        return super().const(v, t)

    def vconst(self, v, vt: B.VectorType) -> SSAValue:
        n = vt.get_shape()[0]
        if isinstance(vt.element_type, B.IntegerType):
            attr = B.DenseIntOrFPElementsAttr.from_list(vt, [int(v)] * n)
            key = ("vi", int(v), vt)
        else:
            attr = B.DenseIntOrFPElementsAttr.from_list(vt, [float(v)] * n)
            key = ("vf", float(v), vt)
        return self._entry_const(key, lambda: arith.ConstantOp(attr, vt))

    @contextmanager
    def vector_mode(self, vt: B.VectorType):
        saved, self._vector_mode = self._vector_mode, vt
        try:
            yield
        finally:
            self._vector_mode = saved

    # ---- vector memory ---------------------------------------------------------------------
    def vload(self, buf: SSAValue, index: Sequence[SSAValue], vt: B.VectorType) -> SSAValue:
        return self.op(vector.LoadOp(buf, list(index), vt))

    def vstore(self, value: SSAValue, buf: SSAValue, index: Sequence[SSAValue]) -> None:
        self.op(vector.StoreOp(value, buf, list(index)))

    def vmload(self, buf: SSAValue, index: Sequence[SSAValue], mask: SSAValue, vt: B.VectorType) -> SSAValue:
        return self.op(vector.MaskedLoadOp(buf, list(index), mask, self.vconst(0.0 if not isinstance(
            vt.element_type, B.IntegerType) else 0, vt), vt))

    def vmstore(self, value: SSAValue, buf: SSAValue, index: Sequence[SSAValue], mask: SSAValue) -> None:
        self.op(vector.MaskedStoreOp(buf, list(index), mask, value))

    def lane_mask(self, lo, hi, n: int) -> SSAValue:
        """Lanes lo <= l < hi (ints or index values)."""
        lo = self.idx(lo) if isinstance(lo, int) else lo
        hi = self.idx(hi) if isinstance(hi, int) else hi
        return self.op(cpu.LaneMaskOp(lo, hi, n))

    # ---- vector arithmetic -----------------------------------------------------------------
    def bcast(self, scalar: SSAValue, vt: B.VectorType) -> SSAValue:
        return self.op(vector.BroadcastOp(scalar, vt))

    def fma(self, a: SSAValue, b: SSAValue, c: SSAValue) -> SSAValue:
        return self.op(vector.FMAOp(a, b, c))

    def addf(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.op(arith.AddfOp(a, b))

    def mulf(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.op(arith.MulfOp(a, b))

    def hsum(self, v: SSAValue) -> SSAValue:
        """Horizontal sum of a vector (a shuffle tree)."""
        return self.op(vector.ReductionOp.create(
            operands=[v], result_types=[v.type.element_type],
            properties={"kind": vector.CombiningKindAttr(vector.CombiningKindFlag.ADD),
                        "fastmath": arith.FastMathFlagsAttr("none")}))

    def hmax(self, v: SSAValue) -> SSAValue:
        return self.op(vector.ReductionOp.create(
            operands=[v], result_types=[v.type.element_type],
            properties={"kind": vector.CombiningKindAttr(vector.CombiningKindFlag.MAXIMUMF),
                        "fastmath": arith.FastMathFlagsAttr("none")}))

    # ---- index helpers ---------------------------------------------------------------------
    def ix(self, v) -> SSAValue:
        return self.idx(v) if isinstance(v, int) else v

    def sub(self, a, b) -> SSAValue:
        if isinstance(b, int) and b == 0:
            return self.ix(a)
        return self.op(arith.SubiOp(self.ix(a), self.ix(b)))

    def divu(self, a, b: int) -> SSAValue:
        return a if b == 1 else self.op(arith.DivUIOp(self.ix(a), self.idx(b)))

    def remu(self, a, b: int) -> SSAValue:
        return self.op(arith.RemUIOp(self.ix(a), self.idx(b)))

    def min_(self, a, b) -> SSAValue:
        return self.op(arith.MinSIOp(self.ix(a), self.ix(b)))

    def max_(self, a, b) -> SSAValue:
        return self.op(arith.MaxSIOp(self.ix(a), self.ix(b)))

    @contextmanager
    def if_(self, cond: SSAValue):
        """`with kb.if_(c) as orelse:` then-part in the block; `with orelse():` the else-part."""
        then_b, else_b = Block(), Block()
        self.b.insert(scf.IfOp(cond, [], Region(then_b), Region(else_b)))
        saved = self.b.insertion_point

        @contextmanager
        def orelse():
            inner = self.b.insertion_point
            self.b.insertion_point = InsertPoint.at_end(else_b)
            try:
                yield
            finally:
                self.b.insertion_point = inner

        self.b.insertion_point = InsertPoint.at_end(then_b)
        try:
            yield orelse
        finally:
            self.b.insertion_point = saved
            then_b.add_op(scf.YieldOp())
            else_b.add_op(scf.YieldOp())

    def cmpi(self, a, b, pred: str) -> SSAValue:
        return self.op(arith.CmpiOp(self.ix(a), self.ix(b), pred))

    # ---- shared functions ------------------------------------------------------------------
    def dyn_view(self, buf: SSAValue) -> SSAValue:
        """The buffer as a flat `memref<?xT>` (zero-copy), for shared functions of any shape."""
        t = buf.type
        if isinstance(t, B.MemRefType) and list(t.get_shape()) == [B.DYNAMIC_INDEX]:
            return buf
        return self.op(cpu.ViewOp(buf, 0, B.MemRefType(t.element_type, [B.DYNAMIC_INDEX])))

    def call_shared(self, name: str, args: Sequence[SSAValue],
                    build: Callable[["VectorKernelBuilder", list[SSAValue]], None]) -> None:
        """Call the private function `name(args)`, built by `build(kb, arguments)` the first time
        any kernel of the module asks for it: code that depends only on a few static
        parameters (encoded in the name) is emitted once, its sizes passed at run time."""
        shared = getattr(self.sink, "shared", None)
        if shared is None:  # no module to put it in: inline
            build(self, list(args))
            return
        if name not in shared:
            shared.add(name)
            types = [a.type for a in args]
            block = Block(arg_types=types)
            kb = VectorKernelBuilder(block, name, self.sink)
            build(kb, list(block.args))
            block.add_op(func.ReturnOp())
            fn = func.FuncOp.from_region(name, types, [], Region(block))
            fn.sym_visibility = B.StringAttr("private")
            self.sink(fn)
        self.op(func.CallOp(name, list(args), []))

    # ---- threads ---------------------------------------------------------------------------
    def parallel_for(self, n: int, bufs: Sequence[SSAValue],
                     body: Callable[["VectorKernelBuilder", list[SSAValue], SSAValue, SSAValue], None],
                     work: float | None = None) -> None:
        """Run body(kb, bufs, lo, hi) over chunks of [0, n) on the runtime's threads.

        The body becomes a private function `<kernel>_par<i>(bufs..., lo, hi)`. With
        less than MIN_PARALLEL_WORK (flop-like units, ~a few µs) of `work`, one
        iteration, or no sink, it is emitted inline as the single chunk [0, n): a
        fork-join costs about half a microsecond plus waking the workers."""
        if self.sink is None or n <= 1 or (work is not None and work < MIN_PARALLEL_WORK):
            body(self, list(bufs), self.idx(0), self.idx(n))
            return
        name = f"{self.name}_par{self._outlined}"
        self._outlined += 1
        types = [b.type for b in bufs] + [INDEX, INDEX]
        block = Block(arg_types=types)
        kb = VectorKernelBuilder(block, name, self.sink)
        kb._vector_mode = None
        body(kb, list(block.args[: len(bufs)]), block.args[-2], block.args[-1])
        block.add_op(func.ReturnOp())
        fn = func.FuncOp.from_region(name, types, [], Region(block))
        fn.sym_visibility = B.StringAttr("private")
        self.sink(fn)
        self.op(cpu.ParallelCallOp(name, list(bufs), n))


def vector_cmp(op):
    """arith.cmpf/cmpi on vectors → `cpu.vfcmp`/`cpu.vicmp` (xDSL's arith compares yield i1 only)."""
    t = op.lhs.type
    if not isinstance(t, B.VectorType):
        return op
    if isinstance(op, arith.CmpfOp):
        return cpu.VFCmpOp(op.lhs, op.rhs, arith.CMPF_COMPARISON_OPERATIONS[op.predicate.value.data])
    return cpu.VICmpOp(op.lhs, op.rhs, arith.CMPI_COMPARISON_OPERATIONS[op.predicate.value.data])
