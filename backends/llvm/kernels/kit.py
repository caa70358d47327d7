"""Small helpers shared by the data-movement, index, normalization, attention and resize kernels.

Values are handled in the register representation of `scalar.py` (bf16 as i16
bits, f8 as i8 bits, bool as i1, signless integers whose signedness comes from
the tg element type). Float math is done in the compute type (f32, or f64 for
f64 tensors) and rounded to the result type once, at the store.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

from xdsl.dialects import arith, builtin as B, memref, scf
from xdsl.ir import Attribute, Block, SSAValue
from xdsl.rewriter import InsertPoint

from ..kernel_builder import INDEX, KernelBuilder
from ..scalar import (
    NotLowerable, cast, compute_type, from_compute, iconst, is_bool, is_float, is_native_float, is_unsigned,
    load_elem, reg_type, store_elem, to_compute,
)
from . import UnsupportedKernel

I1, I64 = B.i1, B.i64

__all__ = [
    "INDEX", "UnsupportedKernel", "NotLowerable", "cast", "compute_type", "from_compute", "iconst", "is_bool",
    "is_float", "is_native_float", "is_unsigned", "load_elem", "reg_type", "store_elem", "to_compute",
]


def etype(v: SSAValue) -> Attribute:
    """The tg element type of a tensor value."""
    return v.type.element_type


def shape(buf: SSAValue) -> list[int]:
    return list(buf.type.get_shape())


def prod(xs) -> int:
    n = 1
    for x in xs:
        n *= int(x)
    return n


# ---- control flow and scratch memory ----------------------------------------------
@contextmanager
def if_(kb: KernelBuilder, cond: SSAValue) -> Iterator[None]:
    """`scf.if cond { ... }` without results."""
    body = Block()
    if_op = scf.IfOp(cond, [], [body])
    kb.b.insert(if_op)
    saved = kb.b.insertion_point
    kb.b.insertion_point = InsertPoint.at_end(body)
    try:
        yield
        kb.b.insert(scf.YieldOp())
    finally:
        kb.b.insertion_point = saved


def scratch(kb: KernelBuilder, elem: Attribute, dims: Sequence[int]) -> SSAValue:
    """A kernel-local buffer (stack), allocated once at the top of the kernel."""
    op = memref.AllocaOp.get(elem, 64, [max(int(d), 1) for d in dims])
    first = kb.entry.first_op
    if first is None:
        kb.entry.add_op(op)
    else:
        kb.entry.insert_op_before(op, first)
    return op.memref


# ---- scalar ops ------------------------------------------------------------------
def sel(kb, c, a, b):
    return kb.op(arith.SelectOp(c, a, b))


def cmpi(kb, a, b, pred):
    return kb.op(arith.CmpiOp(a, b, pred))


def cmpf(kb, a, b, pred):
    return kb.op(arith.CmpfOp(a, b, pred))


def and_(kb, a, b):
    return kb.op(arith.AndIOp(a, b))


def or_(kb, a, b):
    return kb.op(arith.OrIOp(a, b))


def not_(kb, a):
    return kb.op(arith.XOrIOp(a, kb.const(-1, I1)))


def sub(kb, a, b):
    if isinstance(b, int):
        b = kb.idx(b)
    if isinstance(a, int):
        a = kb.idx(a)
    return kb.op(arith.SubiOp(a, b))


def addf(kb, a, b):
    return kb.op(arith.AddfOp(a, b))


def subf(kb, a, b):
    return kb.op(arith.SubfOp(a, b))


def mulf(kb, a, b):
    return kb.op(arith.MulfOp(a, b))


def divf(kb, a, b):
    return kb.op(arith.DivfOp(a, b))


def fc(kb, v, t):
    return kb.const(float(v), t)


def imin(kb, a, b):
    return kb.op(arith.MinSIOp(a, b if not isinstance(b, int) else kb.idx(b)))


def imax(kb, a, b):
    return kb.op(arith.MaxSIOp(a, b if not isinstance(b, int) else kb.idx(b)))


def clamp(kb, i, lo: int, hi: int):
    """min(max(i, lo), hi) on index values."""
    return imin(kb, imax(kb, i, lo), hi)


def in_range(kb, i, lo: int, hi: int):
    """lo <= i < hi on index values."""
    return and_(kb, cmpi(kb, i, kb.idx(lo), "sge"), cmpi(kb, i, kb.idx(hi), "slt"))


def divs(kb, a, b: int):
    """Floor division of an index by a positive constant."""
    if b == 1:
        return a
    q = kb.op(arith.DivSIOp(a, kb.idx(b)))
    r = kb.op(arith.RemSIOp(a, kb.idx(b)))
    neg = cmpi(kb, r, kb.idx(0), "slt")
    return sel(kb, neg, kb.op(arith.SubiOp(q, kb.idx(1))), q)


def mods(kb, a, b: int):
    """Python-style (non-negative) remainder of an index by a positive constant."""
    if b == 1:
        return kb.idx(0)
    r = kb.op(arith.RemSIOp(a, kb.idx(b)))
    neg = cmpi(kb, r, kb.idx(0), "slt")
    return sel(kb, neg, kb.add(r, b), r)


def divu(kb, a, b: int):
    return a if b == 1 else kb.op(arith.DivUIOp(a, kb.idx(b)))


def remu(kb, a, b: int):
    return kb.idx(0) if b == 1 else kb.op(arith.RemUIOp(a, kb.idx(b)))


def delinearize(kb, flat, dims: Sequence[int]) -> list[SSAValue]:
    """Row-major multi-index of a flat (non-negative) index."""
    out = []
    for k in range(len(dims)):
        inner = prod(dims[k + 1:])
        q = divu(kb, flat, inner)
        out.append(remu(kb, q, dims[k]) if k > 0 else q)
    return out


def linearize(kb, ivs, dims: Sequence[int]):
    acc = None
    for iv, d in zip(ivs, dims):
        acc = iv if acc is None else kb.add(kb.mul(acc, d), iv)
    return acc if acc is not None else kb.idx(0)


# ---- values of tg element types ----------------------------------------------------
def zero(kb, t: Attribute) -> SSAValue:
    """The register zero of tg type `t`."""
    rt = reg_type(t) if not is_bool(t) else I1
    if is_native_float(rt):
        return kb.const(0.0, rt)
    return kb.const(0, rt)


def const_of(kb, v: float, t: Attribute) -> SSAValue:
    """The register constant `v` of tg type `t` (ints truncate toward zero, bools are v != 0)."""
    if is_bool(t):
        return kb.const(-1 if v else 0, I1)
    if is_float(t):
        if is_native_float(t):
            return kb.const(float(v), t)
        return from_compute(kb, kb.const(float(v), B.f32), t)
    return iconst(kb, int(v), reg_type(t))


def load_c(kb, buf, idx, t) -> SSAValue:
    """A float element in its compute type."""
    return to_compute(kb, load_elem(kb, buf, idx, t), t)


def store_c(kb, v, buf, idx, t) -> None:
    """Store a compute-type float value, rounded to tg type `t`."""
    if is_float(t):
        v = from_compute(kb, v, t)
    else:
        v = cast(kb, v, v.type, t)
    store_elem(kb, v, buf, idx, t)


def to_f(kb, v, t, ft) -> SSAValue:
    """A register value of any tg type as float `ft` (exact for floats; ints by value)."""
    if is_float(t):
        x = to_compute(kb, v, t)
        if x.type != ft:
            x = kb.op(arith.ExtFOp(x, ft) if ft.bitwidth > x.type.bitwidth else arith.TruncFOp(x, ft))
        return x
    return cast(kb, v, t, ft)


def to_index(kb, v: SSAValue, t: Attribute) -> SSAValue:
    """An integer (or float, truncated) register value of tg type `t` as `index`."""
    if is_float(t):
        v = kb.op(arith.FPToSIOp(to_compute(kb, v, t), I64))
    elif v.type.width.data < 64:
        v = kb.op((arith.ExtUIOp if is_unsigned(t) else arith.ExtSIOp)(v, I64))
    return kb.op(arith.IndexCastOp(v, INDEX))


def load_index(kb, buf, idx, t, axis_size: int | None = None) -> SSAValue:
    """An index-tensor element as `index`; negative values counted from the end of the axis."""
    i = to_index(kb, load_elem(kb, buf, idx, t), t)
    if axis_size is None:
        return i
    neg = cmpi(kb, i, kb.idx(0), "slt")
    return sel(kb, neg, kb.add(i, axis_size), i)


def index_to_i64(kb, i: SSAValue) -> SSAValue:
    return kb.op(arith.IndexCastOp(i, I64))


def greater(kb, a, b, t, strict=True):
    """a > b (a >= b if not strict) for register values of tg type `t` (floats ordered)."""
    if is_float(t):
        return cmpf(kb, to_compute(kb, a, t), to_compute(kb, b, t), "ogt" if strict else "oge")
    u = is_unsigned(t)
    return cmpi(kb, a, b, ("ugt" if strict else "uge") if u else ("sgt" if strict else "sge"))


def less(kb, a, b, t, strict=True):
    return greater(kb, b, a, t, strict)


def ceildiv(kb, a, d: int):
    """ceil(a / d) of an index by a positive constant (a may be negative)."""
    return a if d == 1 else divs(kb, kb.add(a, d - 1), d)


def fold_ranges(kb: KernelBuilder, ranges, inits, body) -> list[SSAValue]:
    """Like `kb.fold` over a nest of [lo, hi) ranges (SSA or int bounds; empty when hi <= lo).
    With no `inits`, a plain loop nest: `body(ivs, [])` returns nothing to carry."""
    if not inits:
        cms, ivs = [], []
        for lo, hi in ranges:
            cm = kb.loop(lo, hi)
            ivs.append(cm.__enter__())
            cms.append(cm)
        body(ivs, [])
        for cm in reversed(cms):
            cm.__exit__(None, None, None)
        return []
    accs, cms, ivs = list(inits), [], []
    for lo, hi in ranges:
        cm = kb.loop(lo, hi, iter_args=accs)
        iv, *accs = cm.__enter__()
        cms.append(cm)
        ivs.append(iv)
    new = list(body(ivs, accs))
    for cm in reversed(cms):
        kb.yield_(*new)
        cm.__exit__(None, None, None)
        new = list(kb.last_loop.results)
    return new


def reshape_view(kb: KernelBuilder, buf: SSAValue, dims: Sequence[int]) -> SSAValue:
    """A zero-copy view of `buf` with another (row-major) shape of the same element count."""
    from tensorc.dialects.cpu import ViewOp

    vt = B.MemRefType(buf.type.element_type, [int(d) for d in dims])
    return kb._entry_const(("reshape", buf, tuple(dims)), lambda: ViewOp(buf, 0, vt))
