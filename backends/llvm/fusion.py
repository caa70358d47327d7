"""Which tg ops share a kernel: chains of elementwise ops fuse into one loop nest.

An elementwise op joins its producer's group when the producer is elementwise,
has no other use, and has the same shape; operands from outside the group are
read with broadcasting. Each group is emitted at the position of its last op,
which is legal because the ops it absorbed feed nothing else.

Matmul/gemm/conv (the perf kernels of `kernels/microkernel.py`) head groups too:
a chain of vectorizable f32 elementwise ops on their result (bias, residual add,
relu, gelu, ...) becomes their epilogue, applied in registers before the store.
"""

from __future__ import annotations


from xdsl.ir import Operation, SSAValue

from tensorc.dialects import tg
from tensorc.dialects.tg import TGOp

from .kernels import KERNELS, UnsupportedKernel
from .kernels.elementwise import elementwise_group_body
from .kernels.microkernel import Epilogue, epilogue_ok, perf_kernel_for

ELEMENTWISE = {f"tg.{n}" for n in tg.elementwise.OPS}


def is_elementwise(op: Operation) -> bool:
    return isinstance(op, TGOp) and op.name in ELEMENTWISE


def _can_join(group: list[Operation], op: Operation) -> bool:
    """May elementwise `op` run inside `group`'s loop nest (same iteration space)?"""
    head = group[0]
    shape = op.results[0].type.get_shape()
    if is_elementwise(head):
        return head.results[0].type.get_shape() == shape
    pk = perf_kernel_for(head) if isinstance(head, TGOp) else None
    return (pk is not None and pk.accepts_epilogue(head) and epilogue_ok(op)
            and head.results[0].type.get_shape() == shape)


def partition(ops: list[Operation]) -> list[list[Operation]]:
    """Groups of ops sharing one kernel, in emission order.

    An elementwise op joins the group of one of its operands' producers when it
    runs in the same iteration space (elementwise chains; perf-kernel epilogues).
    Groups may be DAGs (GELU's x·(1+erf(x/√2)) reads x twice); afterwards a group
    is cut after every member whose result is also used outside it, so each
    group has one output, produced by its last op.
    """
    group_of: dict[Operation, list[Operation]] = {}
    groups: list[list[Operation]] = []
    for op in ops:
        target = None
        if is_elementwise(op):
            for v in op.operands:
                g = group_of.get(v.owner)
                if g is not None and _can_join(g, op):
                    target = g
                    break
        if target is None:
            target = []
            groups.append(target)
        target.append(op)
        group_of[op] = target
    # cut after members used outside their group, until none is
    changed = True
    while changed:
        changed = False
        out: list[list[Operation]] = []
        for g in groups:
            members = set(g)
            cut = next((i for i, q in enumerate(g[:-1])
                        if any(use.operation not in members for r in q.results for use in r.uses)), None)
            if cut is None:
                out.append(g)
                continue
            changed = True
            out += [g[: cut + 1], g[cut + 1:]]
        groups = out
    index = {op: i for i, op in enumerate(ops)}
    return sorted(groups, key=lambda g: index[g[-1]])


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


def perf_signature(group: list[Operation]):
    """(inputs, outputs, epilogue) of a group headed by a perf kernel: the head's
    inputs, then the epilogue's external operands."""
    head = group[0]
    epi = Epilogue(head.outputs[0], ops=list(group[1:]))
    produced = {head.outputs[0]} | {op.outputs[0] for op in group[1:]}
    for op in group[1:]:
        for v in op.inputs:
            if v not in produced and v not in epi.operands:
                epi.operands.append(v)
    ins = list(head.inputs) + epi.operands
    return ins, [group[-1].outputs[0]], (epi if epi.ops else None)


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


