"""Data movement: transpose, concat, slice, split, gather, pad, expand, tile."""

from __future__ import annotations

from xdsl.dialects import arith

from ..kernel_builder import INDEX, KernelBuilder
from . import kernel
from .elementwise import broadcast_index


@kernel("transpose")
def transpose(kb: KernelBuilder, ins, outs, op) -> None:
    perm = op.attr("perm")
    with kb.loops(list(outs[0].type.get_shape())) as ivs:
        src = [None] * len(perm)
        for out_axis, in_axis in enumerate(perm):
            src[in_axis] = ivs[out_axis]
        kb.store(kb.load(ins[0], src), outs[0], ivs)


@kernel("concat")
def concat(kb: KernelBuilder, ins, outs, op) -> None:
    axis = op.attr("axis") % len(outs[0].type.get_shape())
    offset = 0
    for buf in ins:
        shape = list(buf.type.get_shape())
        with kb.loops(shape) as ivs:
            dst = list(ivs)
            dst[axis] = kb.add(ivs[axis], offset)
            kb.store(kb.load(buf, ivs), outs[0], dst)
        offset += shape[axis]


@kernel("split")
def split(kb: KernelBuilder, ins, outs, op) -> None:
    axis = op.attr("axis") % len(ins[0].type.get_shape())
    offset = 0
    for buf in outs:
        shape = list(buf.type.get_shape())
        with kb.loops(shape) as ivs:
            src = list(ivs)
            src[axis] = kb.add(ivs[axis], offset)
            kb.store(kb.load(ins[0], src), buf, ivs)
        offset += shape[axis]


@kernel("slice")
def slice_(kb: KernelBuilder, ins, outs, op) -> None:
    in_shape = list(ins[0].type.get_shape())
    start = [0] * len(in_shape)
    step = [1] * len(in_shape)
    for s, e, a, p in zip(op.attr("starts"), op.attr("ends"), op.attr("axes"), op.attr("steps")):
        a %= len(in_shape)
        start[a] = range(*slice(s, e, p).indices(in_shape[a])).start
        step[a] = p
    with kb.loops(list(outs[0].type.get_shape())) as ivs:
        src = []
        for d, iv in enumerate(ivs):
            if step[d] < 0:
                src.append(kb.op(arith.SubiOp(kb.idx(start[d]), kb.mul(iv, -step[d]))))
            else:
                src.append(kb.add(kb.mul(iv, step[d]), start[d]))
        kb.store(kb.load(ins[0], src), outs[0], ivs)


@kernel("expand")
def expand(kb: KernelBuilder, ins, outs, op) -> None:
    with kb.loops(list(outs[0].type.get_shape())) as ivs:
        kb.store(kb.load(ins[0], broadcast_index(kb, list(ins[0].type.get_shape()), ivs)), outs[0], ivs)


def load_index(kb: KernelBuilder, buf, idx, axis_size: int):
    """An index tensor element as `index`, negative values counted from the end."""
    v = kb.load(buf, idx)
    i = kb.op(arith.IndexCastOp(v, INDEX))
    neg = kb.op(arith.CmpiOp(i, kb.idx(0), "slt"))
    return kb.op(arith.SelectOp(neg, kb.add(i, axis_size), i))


@kernel("gather")
def gather(kb: KernelBuilder, ins, outs, op) -> None:
    data_shape = list(ins[0].type.get_shape())
    idx_rank = len(ins[1].type.get_shape())
    axis = op.attr("axis") % len(data_shape)
    with kb.loops(list(outs[0].type.get_shape())) as ivs:
        j = load_index(kb, ins[1], ivs[axis : axis + idx_rank], data_shape[axis])
        src = ivs[:axis] + [j] + ivs[axis + idx_rank :]
        kb.store(kb.load(ins[0], src), outs[0], ivs)

