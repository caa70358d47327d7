"""Pass `plan-memory`: every intermediate buffer gets a fixed offset in one activation arena.

Liveness is measured in positions of `@main`'s body (a buffer lives from its
alloc to the last op that uses it or a view of it); offsets come from
greedy-by-size packing (the TFLite arena planner): largest buffers first, each
at the lowest offset that overlaps no placed buffer with an intersecting
lifetime. Allocs become `cpu.view`s of a new trailing `%arena` argument.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import builtin as B, func, memref
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass

from tensorc.dialects.cpu import ViewOp

ALIGN = 64


def nbytes(t: B.MemRefType) -> int:
    n = 1
    for d in t.get_shape():
        n *= d
    return n * max(1, t.element_type.bitwidth // 8) if hasattr(t.element_type, "bitwidth") else n * 8


def greedy_by_size(buffers: list[tuple[int, int, int]]) -> tuple[list[int], int]:
    """buffers: (size, first, last) → (offsets, arena size). Same-step lifetimes conflict."""
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i][0], buffers[i][1]))
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets = [0] * len(buffers)
    for i in order:
        size, first, last = buffers[i]
        size = -(-max(size, 1) // ALIGN) * ALIGN
        busy = sorted((o, e) for o, e, f, l in placed if not (l < first or last < f))
        off = 0
        for o, e in busy:
            if off + size <= o:
                break
            off = max(off, e)
        offsets[i] = off
        placed.append((off, off + size, first, last))
    return offsets, max((e for _, e, _, _ in placed), default=0)


@dataclass(frozen=True)
class PlanMemory(ModulePass):
    """Place intermediate buffers in one arena (liveness + greedy by size)."""

    name = "plan-memory"

    def apply(self, ctx: Context, module: B.ModuleOp) -> None:
        main = next(op for op in module.ops if isinstance(op, func.FuncOp) and "cpu.entry" in op.attributes)
        block = main.body.block
        ops = list(block.ops)
        pos = {op: i for i, op in enumerate(ops)}
        allocs = [op for op in ops if isinstance(op, memref.AllocOp)]

        def last_use(v: SSAValue) -> int:
            last = pos[v.owner] if v.owner in pos else 0
            for use in v.uses:
                user = use.operation
                last = max(last, pos.get(user, last))
                if isinstance(user, ViewOp):
                    last = max(last, last_use(user.result))
            return last

        buffers = [(nbytes(a.memref.type), pos[a], last_use(a.memref)) for a in allocs]
        offsets, size = greedy_by_size(buffers)
        arena = block.insert_arg(B.MemRefType(B.i8, [B.DYNAMIC_INDEX]), len(block.args))
        arena.name_hint = "arena"
        main.function_type = B.FunctionType.from_lists([a.type for a in block.args], [])
        for a, off in zip(allocs, offsets):
            view = ViewOp(arena, off, a.memref.type)
            block.insert_op_before(view, a)
            a.memref.replace_all_uses_with(view.result)
            view.result.name_hint = a.memref.name_hint
            block.erase_op(a)
        module.attributes["cpu.arena_size"] = B.IntegerAttr(max(size, 1), B.i64)
