"""Which tg ops share a kernel: chains of elementwise ops fuse into one loop nest.

An elementwise op joins its producer's group when the producer is elementwise,
has no other use, and has the same shape; operands from outside the group are
read with broadcasting. Each group is emitted at the position of its last op,
which is legal because the ops it absorbed feed nothing else.
"""

from __future__ import annotations


from xdsl.ir import Operation, SSAValue

from tensorc.dialects import tg
from tensorc.dialects.tg import TGOp

from .kernels import KERNELS, UnsupportedKernel
from .kernels.elementwise import elementwise_group_body

ELEMENTWISE = {f"tg.{n}" for n in tg.elementwise.OPS}


def is_elementwise(op: Operation) -> bool:
    return isinstance(op, TGOp) and op.name in ELEMENTWISE


def partition(ops: list[Operation]) -> list[list[Operation]]:
    group_of: dict[Operation, list[Operation]] = {}
    last_index: dict[int, int] = {}
    groups: list[list[Operation]] = []
    for i, op in enumerate(ops):
        target = None
        if is_elementwise(op):
            for v in op.operands:
                p = v.owner
                if (
                    is_elementwise(p)
                    and p in group_of
                    and group_of[p][-1] is p
                    and p.results[0].has_one_use()
                    and p.results[0].type.get_shape() == op.results[0].type.get_shape()
                ):
                    target = group_of[p]
                    break
        if target is None:
            target = []
            groups.append(target)
        target.append(op)
        group_of[op] = target
        last_index[id(target)] = i
    return sorted(groups, key=lambda g: last_index[id(g)])


def kernel_signature(group: list[Operation]):
    """(external inputs, outputs, body builder) of a group."""
    if len(group) == 1 and not is_elementwise(group[0]):
        op = group[0]
        short = op.name.removeprefix("tg.")
        fn = KERNELS.get(short)
        if fn is None:
            raise UnsupportedKernel(f"{op.where()}: no CPU kernel for {op.name}")
        return list(op.inputs), list(op.outputs), lambda kb, ins, outs: fn(kb, ins, outs, op)
    members = set(group)
    ins: list[SSAValue] = []
    for op in group:
        for v in op.operands:
            if v.owner not in members and v not in ins:
                ins.append(v)
    outs = [group[-1].results[0]]
    return ins, outs, lambda kb, in_bufs, out_bufs: elementwise_group_body(kb, group, ins, in_bufs, out_bufs[0])


def kernel_key(group: list[Operation], ins: list[SSAValue], outs: list[SSAValue]):
    """Two groups with equal keys (and buffer types) can share one kernel function."""
    pos = {v: ("in", i) for i, v in enumerate(ins)}
    parts = []
    for j, op in enumerate(group):
        for r in op.results:
            pos[r] = ("op", j)
        attrs = tuple(sorted((k, repr(v)) for k, v in op.attr_values().items()))
        parts.append((op.name, attrs, tuple(pos[v] for v in op.operands), tuple(str(r.type) for r in op.results)))
    return tuple(parts)


