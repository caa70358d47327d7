"""Fused elementwise loop nests, and plain copies."""

from __future__ import annotations

from xdsl.ir import SSAValue

from tensorc.dialects.tg import TGOp

from ..kernel_builder import KernelBuilder
from ..scalar import NotLowerable, emit_scalar, load_elem, storage_view, store_elem
from . import UnsupportedKernel, kernel


def broadcast_index(kb: KernelBuilder, shape, out_ivs: list[SSAValue]) -> list[SSAValue]:
    """Index into an operand of `shape` broadcast (numpy rules) to the loop's shape."""
    off = len(out_ivs) - len(shape)
    return [kb.idx(0) if d == 1 else out_ivs[off + i] for i, d in enumerate(shape)]


def elementwise_group_body(kb: KernelBuilder, group: list[TGOp], ins: list[SSAValue], in_bufs, out_buf) -> None:
    """One loop nest over the group's result shape; each op's scalar semantics in `scalar.py`.
    Values are kept in their register representation (bf16 as i16 bits, ...) between ops."""
    last = group[-1].outputs[0]
    shape = list(last.type.get_shape())
    with kb.loops(shape) as ivs:
        vals: dict[SSAValue, SSAValue] = {}
        for v, buf in zip(ins, in_bufs):
            vals[v] = load_elem(kb, buf, broadcast_index(kb, list(v.type.get_shape()), ivs), v.type.element_type)
        for op in group:
            args = [vals[v] for v in op.inputs]
            in_types = [v.type.element_type for v in op.inputs]
            try:
                r = emit_scalar(kb, op.name.removeprefix("tg."), args, op.attr_values(), in_types,
                                op.outputs[0].type.element_type)
            except NotLowerable as e:
                raise UnsupportedKernel(f"{op.where()}: no CPU lowering ({e})") from None
            vals[op.outputs[0]] = r
        store_elem(kb, vals[last], out_buf, ivs, last.type.element_type)


@kernel("copy")
def copy(kb: KernelBuilder, ins, outs, op) -> None:
    """Element copy between buffers of the same element count (shapes may differ)."""
    src, dst = storage_view(kb, ins[0]), storage_view(kb, outs[0])
    s_shape, d_shape = list(src.type.get_shape()), list(dst.type.get_shape())
    if s_shape != d_shape:
        raise UnsupportedKernel("copy between different shapes")
    with kb.loops(d_shape) as ivs:
        kb.store(kb.load(src, ivs), dst, ivs)
