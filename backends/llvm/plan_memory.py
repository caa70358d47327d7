"""Pass `plan-memory{planner=min-peak|greedy time-limit=S}`: the order of @main's kernel calls
and a fixed offset for every intermediate buffer in one activation arena.

`greedy` is the TFLite arena planner on the program order: liveness in
positions of `@main`'s body (a buffer lives from its alloc to the last op that
uses it or a view of it), largest buffers first, each at the lowest offset
that overlaps no placed buffer with an intersecting lifetime.

`min-peak` (the default) takes COSMA's min-peak plan (`tensorc.planning`,
docs/cosma.md) on the kernel calls of `@main`:

  1. the calls become a planning graph: operators are the calls, tensors the
     arena buffers (sizes in 64-byte granules, so every planned offset is
     aligned), and every ordering the calls need is an edge — read after
     write, write after read and write after write on any buffer, found from
     which arguments each kernel function may write (its stores, traced to its
     arguments, through the shared functions it calls);
  2. a min-peak order (beam search over the topological orders of that
     graph) against the program order, each packed by the best of several
     greedy orders and, within `time-limit` seconds, exact placement by ILP
     down towards the peak of live bytes;
  3. the smallest arena wins, and the greedy plan on the program order is
     always a candidate, so the arena is never larger than `greedy`'s. The
     chosen plan is replayed by the independent checker
     (`tensorc.planning.checker`) before the calls are reordered.

When @main holds something the reordering does not understand (an op with
effects other than a call, a call with results), the program order is kept
and only the placement is planned.

Module attributes: `cpu.arena_size` (bytes), `cpu.arena_planner` (`greedy` or
`min-peak`: which plan was used) and `cpu.arena_plan` (the greedy arena, the
peak of live bytes under the chosen order, the order and placement that won).
Allocs become `cpu.view`s of a new trailing `%arena` argument.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import builtin as B, func, memref
from xdsl.ir import Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.traits import MemoryEffectKind, get_effects

from tensorc.diagnostics import PassError
from tensorc.dialects.cpu import ParallelCallOp, ViewOp

ALIGN = 64
PLANNERS = ("min-peak", "greedy")
BEAM_WORK = 32000  # beam width x calls


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


# ---- which arguments a kernel may write ----------------------------------------------------------

# ops xDSL gives no memory effects but that only read their memref operands
_READ_ONLY = {"vector.load", "vector.maskedload", "vector.gather", "vector.transfer_read", "memref.dim"}


class _Unknown(Exception):
    """A memref whose origin the analysis cannot follow: every argument may be written."""


class WrittenArgs:
    """For a function symbol, the indices of the memref arguments it may write (None: any of them)."""

    def __init__(self, module: B.ModuleOp):
        self.funcs = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp)}
        self.memo: dict[str, frozenset[int] | None] = {}

    def __call__(self, name: str) -> frozenset[int] | None:
        if name not in self.memo:
            self.memo[name] = None  # a recursive call sees "unknown"
            try:
                self.memo[name] = self._analyse(name)
            except _Unknown:
                pass
        return self.memo[name]

    def _analyse(self, name: str) -> frozenset[int]:
        fn = self.funcs.get(name)
        if fn is None or not fn.body.blocks:
            raise _Unknown(name)
        entry = fn.body.block
        written: set[int] = set()
        for op in fn.walk():
            if op is fn:
                continue
            if isinstance(op, (func.CallOp, ParallelCallOp)):
                inner = self(op.callee.string_value())
                targets = [v for i, v in enumerate(op.operands) if inner is None or i in inner]
            elif op.name in _READ_ONLY:
                continue
            else:
                effects = get_effects(op)
                if effects is not None and not any(e.kind == MemoryEffectKind.WRITE for e in effects):
                    continue
                targets = list(op.operands)
            for v in targets:
                if isinstance(v.type, B.MemRefType):
                    written |= _arg_roots(v, entry)
        return frozenset(written)


def _arg_roots(v: SSAValue, entry: Block) -> set[int]:
    """The entry-block arguments memref `v` may point into (empty for local allocations)."""
    if isinstance(v, BlockArgument):
        if v.block is entry:
            return {v.index}
        raise _Unknown("a memref block argument inside a region")
    op = v.owner
    if isinstance(op, (memref.AllocOp, memref.AllocaOp)):
        return set()
    roots: set[int] = set()
    for o in op.operands:
        if isinstance(o.type, B.MemRefType):
            roots |= _arg_roots(o, entry)
    return roots


# ---- @main as a graph of kernel calls ---------------------------------------------------------------


@dataclass
class CallGraph:
    """@main's kernel calls as a planning graph (see the module docstring)."""

    graph: object  # tensorc.planning.graph.Graph
    calls: list[func.CallOp]
    allocs: list[memref.AllocOp]  # tensor i (< len(allocs)) is allocs[i]; the rest are size-0 edges
    reorderable: bool  # False: @main holds ops the reordering does not understand


def _root(v: SSAValue) -> SSAValue:
    while isinstance(v.owner, ViewOp):
        v = v.owner.base
    return v


def call_graph(module: B.ModuleOp, main: func.FuncOp) -> CallGraph:
    from tensorc.planning.graph import ACTIVATION, Graph, Operator, Tensor

    ops = list(main.body.block.ops)
    calls = [op for op in ops if isinstance(op, func.CallOp)]
    allocs = [op for op in ops if isinstance(op, memref.AllocOp)]
    reorderable = all(not c.results for c in calls) and all(
        isinstance(op, (func.CallOp, memref.AllocOp, func.ReturnOp)) or get_effects(op) == set() for op in ops)
    written = WrittenArgs(module)

    # accesses of each root buffer (an alloc or an argument of @main), in program order
    accesses: dict[SSAValue, list[tuple[int, bool]]] = {}
    for i, c in enumerate(calls):
        writes = written(c.callee.string_value())
        mine: dict[SSAValue, bool] = {}
        for k, v in enumerate(c.operands):
            if isinstance(v.type, B.MemRefType):
                r = _root(v)
                mine[r] = mine.get(r, False) or writes is None or k in writes
        for r, w in mine.items():
            accesses.setdefault(r, []).append((i, w))

    # ordering edges: read after write, write after write, write after read
    edges: set[tuple[int, int]] = set()
    for r, acc in accesses.items():
        last_write, reads = None, []
        for i, w in acc:
            if last_write is not None:
                edges.add((last_write, i))
            if w:
                edges.update((j, i) for j in reads)
                last_write, reads = i, []
            else:
                reads.append(i)

    tensors: list[Tensor] = []
    for a in allocs:
        acc = accesses.get(a.memref, [])
        users = [i for i, _ in acc]
        # the first access creates the buffer (an unused alloc is "created" by no call: size 0, no lifetime)
        tensors.append(Tensor(len(tensors), a.memref.name_hint or f"buf{len(tensors)}",
                              -(-nbytes(a.memref.type) // ALIGN) if users else 0, ACTIVATION,
                              users[0] if users else None, users[1:]))
        edges.update((users[0], j) for j in users[1:])
    covered = {(t.producer, c) for t in tensors for c in t.consumers}
    for u, v in sorted(edges - covered):  # orderings no arena buffer carries: zero-byte tensors
        tensors.append(Tensor(len(tensors), f"dep{u}_{v}", 0, ACTIVATION, u, [v]))
    graph_ops = [Operator(i, c.callee.string_value(), None, [], []) for i, c in enumerate(calls)]
    for t in tensors:
        if t.producer is None:
            continue
        graph_ops[t.producer].outputs.append(t.id)
        for c in t.consumers:
            graph_ops[c].inputs.append(t.id)
    for t in tensors:
        t.consumers = sorted(set(t.consumers))
    return CallGraph(Graph(graph_ops, tensors, name=main.sym_name.data), calls, allocs, reorderable)


# ---- the plans --------------------------------------------------------------------------------------


@dataclass
class ArenaPlan:
    planner: str  # "greedy" | "min-peak"
    order: list[int]  # call indices in execution order
    offsets: list[int]  # byte offset of each alloc
    size: int  # arena bytes
    how: str  # order and placement that produced it


def main_of(module: B.ModuleOp) -> func.FuncOp:
    return next(op for op in module.ops if isinstance(op, func.FuncOp) and "cpu.entry" in op.attributes)


def plan_greedy(main: func.FuncOp) -> ArenaPlan:
    """Greedy by size on liveness in positions of @main's body (allocs to last uses, views included)."""
    ops = list(main.body.block.ops)
    pos = {op: i for i, op in enumerate(ops)}

    def last_use(v: SSAValue) -> int:
        last = pos[v.owner] if v.owner in pos else 0
        for use in v.uses:
            user = use.operation
            last = max(last, pos.get(user, last))
            if isinstance(user, ViewOp):
                last = max(last, last_use(user.result))
        return last

    allocs = [op for op in ops if isinstance(op, memref.AllocOp)]
    offsets, size = greedy_by_size([(nbytes(a.memref.type), pos[a], last_use(a.memref)) for a in allocs])
    n_calls = sum(1 for op in ops if isinstance(op, func.CallOp))
    return ArenaPlan("greedy", list(range(n_calls)), offsets, size, "program order, greedy by size")


def plan_min_peak(cg: CallGraph, greedy: ArenaPlan, time_limit: float) -> tuple[ArenaPlan, dict]:
    """The smaller of the greedy plan and COSMA's min-peak plan (checked), and figures for the record."""
    from tensorc.planning.arena import place_arena
    from tensorc.planning.checker import check_plan
    from tensorc.planning.orders import min_peak_order
    from tensorc.planning.plan import Interval, Plan

    g = cg.graph
    n_alloc = len(cg.allocs)
    default = g.default_order()
    orders = {"program": default}
    if cg.reorderable and g.n_ops > 1:
        # the beam costs ~width x calls x ready calls: narrower on big graphs keeps the pass to
        # about a second (a fixed width, not a deadline, so the order does not depend on load)
        beam = min_peak_order(g, width=max(4, min(64, BEAM_WORK // g.n_ops)))
        if beam != default:
            orders["min-peak"] = beam
    deadline = time.perf_counter() + time_limit
    best = greedy
    info = {"greedy_size": greedy.size}
    for k, (oname, order) in enumerate(orders.items()):
        lts = g.lifetimes(order)
        live = [i for i in range(n_alloc) if lts[i] is not None]
        peak = g.peak(order) * ALIGN
        info[f"peak_{oname}_order"] = peak
        if peak >= best.size:
            continue  # no placement under this order can beat the best plan
        share = max(0.0, deadline - time.perf_counter()) / (len(orders) - k)
        res = place_arena([(g.tensors[i].size, *lts[i]) for i in live], time_limit=share)
        if res.size * ALIGN < best.size:
            offsets = [0] * n_alloc
            for i, o in zip(live, res.offsets):
                offsets[i] = o * ALIGN
            how = f"{oname} order, {res.method} placement" + (" at the peak bound" if res.at_bound else "")
            best = ArenaPlan("min-peak", order, offsets, res.size * ALIGN, how)

    # the independent checker replays the chosen plan on the call graph (granules; size-0 edges at 0)
    lts = g.lifetimes(best.order)
    ivs = [Interval(t.id, *lts[t.id], best.offsets[t.id] // ALIGN if t.id < n_alloc else 0)
           for t in g.tensors if lts[t.id] is not None]
    cap = -(-best.size // ALIGN)
    check_plan(g, Plan.from_intervals(g, best.order, ivs, cap))
    info["peak"] = g.peak(best.order) * ALIGN
    return best, info


@dataclass(frozen=True)
class PlanMemory(ModulePass):
    """Order the kernel calls and place intermediate buffers in one arena."""

    name = "plan-memory"

    planner: str = "min-peak"
    time_limit: float | int = 2  # seconds of exact placement (ILP); 0: greedy placements only

    def apply(self, ctx: Context, module: B.ModuleOp) -> None:
        if self.planner not in PLANNERS:
            raise PassError(f"plan-memory: unknown planner '{self.planner}' (expected {' or '.join(PLANNERS)})")
        if self.time_limit < 0:
            raise PassError(f"plan-memory: time-limit must be >= 0, got {self.time_limit}")
        main = main_of(module)
        block = main.body.block
        allocs = [op for op in block.ops if isinstance(op, memref.AllocOp)]
        plan = plan_greedy(main)
        record: dict = {"greedy_size": plan.size}
        if self.planner == "min-peak" and allocs:
            cg = call_graph(module, main)
            plan, record = plan_min_peak(cg, plan, float(self.time_limit))
            if plan.order != cg.graph.default_order():
                _reorder(block, [cg.calls[i] for i in plan.order])

        arena = block.insert_arg(B.MemRefType(B.i8, [B.DYNAMIC_INDEX]), len(block.args))
        arena.name_hint = "arena"
        main.function_type = B.FunctionType.from_lists([a.type for a in block.args], [])
        for a, off in zip(allocs, plan.offsets):
            view = ViewOp(arena, off, a.memref.type)
            block.insert_op_before(view, a)
            a.memref.replace_all_uses_with(view.result)
            view.result.name_hint = a.memref.name_hint
            block.erase_op(a)
        module.attributes["cpu.arena_size"] = B.IntegerAttr(max(plan.size, 1), B.i64)
        module.attributes["cpu.arena_planner"] = B.StringAttr(plan.planner)
        module.attributes["cpu.arena_plan"] = B.DictionaryAttr(
            {"how": B.StringAttr(plan.how), **{k: B.IntegerAttr(v, B.i64) for k, v in sorted(record.items())}})


def _reorder(block: Block, calls: list[func.CallOp]) -> None:
    """Run `calls` in the given order; every other op moves to just before its first user."""
    ret = block.last_op
    placed: set[Operation] = set()
    body = [op for op in block.ops if op is not ret]
    for op in body:
        op.detach()

    def place(op: Operation) -> None:
        if op in placed:
            return
        placed.add(op)
        for v in op.operands:
            if isinstance(v.owner, Operation) and v.owner not in placed and v.owner.parent is None:
                place(v.owner)
        block.insert_op_before(op, ret)

    for c in calls:
        place(c)
    for op in body:  # ops no call needs keep their relative order at the end
        place(op)
