"""A small builder for loop-level kernels: index constants, loop nests, loads, stores, arithmetic.

Kernels are `func.func` bodies of scf.for loops over memrefs with static
shapes. The builder keeps kernel code short: `with kb.loops([n, m]) as (i, j):`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

from xdsl.builder import Builder
from xdsl.dialects import arith, builtin as B, memref, scf
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.rewriter import InsertPoint

INDEX = B.IndexType()


class KernelBuilder:
    def __init__(self, entry: Block):
        self.entry = entry
        self.b = Builder(InsertPoint.at_end(entry))
        self._consts: dict[tuple, SSAValue] = {}

    # ---- plumbing ------------------------------------------------------
    def op(self, op: Operation) -> SSAValue | None:
        self.b.insert(op)
        return op.results[0] if op.results else None

    def _entry_const(self, key, make) -> SSAValue:
        """Constants are created once, at the top of the kernel."""
        if key not in self._consts:
            op = make()
            first = self.entry.first_op
            if first is None:
                self.entry.add_op(op)
            else:
                self.entry.insert_op_before(op, first)
            self._consts[key] = op.results[0]
        return self._consts[key]

    def idx(self, v: int) -> SSAValue:
        return self._entry_const(("idx", int(v)), lambda: arith.ConstantOp(B.IntegerAttr(int(v), INDEX)))

    def const(self, v, t: Attribute) -> SSAValue:
        if isinstance(t, B.IntegerType):
            return self._entry_const(("i", v, t), lambda: arith.ConstantOp(B.IntegerAttr(int(v), t)))
        return self._entry_const(("f", float(v), t), lambda: arith.ConstantOp(B.FloatAttr(float(v), t)))

    # ---- loops ---------------------------------------------------------
    @contextmanager
    def loop(self, lb, ub, step=1, iter_args: Sequence[SSAValue] = ()) -> Iterator[tuple]:
        """One scf.for; yields (iv, *iter_args). With iter_args, call `self.yield_(...)` inside."""
        lb, ub, step = (self.idx(x) if isinstance(x, int) else x for x in (lb, ub, step))
        body = Block(arg_types=[INDEX, *[a.type for a in iter_args]])
        for_op = scf.ForOp(lb, ub, step, list(iter_args), body)
        self.b.insert(for_op)
        saved = self.b.insertion_point
        self.b.insertion_point = InsertPoint.at_end(body)
        try:
            yield (body.args[0], *body.args[1:]) if iter_args else body.args[0]
            if not iter_args:
                self.b.insert(scf.YieldOp())
        finally:
            self.b.insertion_point = saved
        self.last_loop = for_op

    def yield_(self, *values: SSAValue) -> None:
        self.b.insert(scf.YieldOp(*values))

    @contextmanager
    def loops(self, bounds: Sequence[int]) -> Iterator[list[SSAValue]]:
        """A perfect nest over `bounds` (outermost first); yields the induction variables."""
        ivs: list[SSAValue] = []
        stack = []
        for ub in bounds:
            cm = self.loop(0, ub)
            ivs.append(cm.__enter__())
            stack.append(cm)
        try:
            yield ivs
        finally:
            for cm in reversed(stack):
                cm.__exit__(None, None, None)

    # ---- memory --------------------------------------------------------
    def load(self, buf: SSAValue, index: Sequence[SSAValue]) -> SSAValue:
        return self.op(memref.LoadOp.get(buf, list(index)))

    def store(self, value: SSAValue, buf: SSAValue, index: Sequence[SSAValue]) -> None:
        self.op(memref.StoreOp.get(value, buf, list(index)))

    # ---- index arithmetic ----------------------------------------------
    def add(self, a: SSAValue, b: SSAValue | int) -> SSAValue:
        if isinstance(b, int):
            if b == 0:
                return a
            b = self.idx(b)
        return self.op(arith.AddiOp(a, b))

    def mul(self, a: SSAValue, b: SSAValue | int) -> SSAValue:
        if isinstance(b, int):
            if b == 1:
                return a
            b = self.idx(b)
        return self.op(arith.MuliOp(a, b))

    def fold(self, bounds: Sequence[int], inits: Sequence[SSAValue], body) -> list[SSAValue]:
        """Accumulate over a loop nest: `body(ivs, accs) -> new accs`; returns the final accs."""
        accs, cms, ivs = list(inits), [], []
        for ub in bounds:
            cm = self.loop(0, ub, iter_args=accs)
            iv, *accs = cm.__enter__()
            cms.append(cm)
            ivs.append(iv)
        new = list(body(ivs, accs))
        for cm in reversed(cms):
            self.yield_(*new)
            cm.__exit__(None, None, None)
            new = list(self.last_loop.results)
        return new
