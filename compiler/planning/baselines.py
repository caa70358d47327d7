"""Baseline planners: TFLite's arena allocator with a replacement policy.

Under a given order:
  1. TFLite's offline arena: every tensor resident over its whole lifetime,
     offsets by greedy-by-size (packing.greedy). If the arena fits the
     scratchpad, that is the plan, with no traffic.
  2. Otherwise the same allocator runs online, step by step: the tensors an
     operator needs (missing inputs, then its outputs) are placed largest
     first in the best-fitting free gap; when nothing fits, a victim not used
     by this operator is evicted — spilled if it is needed later and DRAM has
     no copy, else dropped — and the search repeats. The victim is chosen by
       belady: the tensor whose next use is farthest away (never used again first);
       greedy:  the largest tensor (frees the most room per eviction).
If only tensors of the current operator are left and its working set still
does not fit (fragmentation), the already resident inputs are evicted too and
retrieved again at fresh offsets; since the scratchpad is at least M_R an
empty scratchpad always takes the whole working set.

The four baselines of the paper are {default, min-peak order} x {belady, greedy}.
"""

from __future__ import annotations

import time

from tensorc.planning import packing
from tensorc.planning.graph import Graph
from tensorc.planning.plan import Interval, Plan

REPLACEMENTS = ("belady", "greedy")


def arena_plan(graph: Graph, order: list[int], capacity: int | None = None) -> tuple[Plan | None, int]:
    """TFLite's offline arena under `order`: (plan if it fits capacity else None, arena bytes)."""
    items = [packing.Item(t.id, lt[0], lt[1], t.size) for t, lt in zip(graph.tensors, graph.lifetimes(order)) if lt]
    offsets, _ = packing.greedy(items)
    arena = packing.arena_size(items, offsets)
    if capacity is not None and arena > capacity:
        return None, arena
    ivs = [Interval(it.key, it.start, it.end, offsets[it.key]) for it in items]
    return Plan.from_intervals(graph, order, ivs, capacity if capacity is not None else arena), arena


def online_plan(graph: Graph, order: list[int], capacity: int, replacement: str = "belady",
                wanted: set[tuple[int, int]] | None = None) -> Plan:
    """Step-by-step placement with eviction by `replacement` when the scratchpad is full.

    wanted: (tensor, step) pairs some other planner wants resident (COSMA's
    phase 1); a tensor not wanted at a step is released there. This turns the
    allocator into phase 2's fallback: it keeps what phase 1 decided and evicts
    only when fragmentation leaves no gap.
    """
    if replacement not in REPLACEMENTS:
        raise ValueError(f"unknown replacement '{replacement}'")
    tensors = graph.tensors
    uses = graph.use_steps(order)  # creation and use steps, ascending
    resident: dict[int, tuple[int, int]] = {}  # tensor -> (offset, step it became resident)
    intervals: list[Interval] = []

    def release(a: int, t: int) -> None:
        off, since = resident.pop(a)
        intervals.append(Interval(a, since, t - 1, off))

    def next_use(a: int, t: int) -> float:
        for u in uses[a]:
            if u >= t:
                return u
        return float("inf")

    for t, op in enumerate(order):
        o = graph.ops[op]
        for a in [a for a in resident if next_use(a, t) == float("inf") or (wanted is not None and (a, t) not in wanted)]:
            release(a, t)  # dead (or not wanted): free before anything else
        pinned = set(o.inputs) | set(o.outputs)
        need = sorted((a for a in pinned if a not in resident), key=lambda a: (-tensors[a].size, a))
        while need:
            a = need[0]
            busy = sorted((off, off + tensors[b].size) for b, (off, _) in resident.items() if tensors[b].size)
            off = 0 if tensors[a].size == 0 else packing._find_gap(busy, tensors[a].size, capacity, "best")
            if off is not None:
                resident[a] = (off, t)
                need.pop(0)
                continue
            victims = [b for b in resident if b not in pinned]
            if not victims:
                # fragmentation among this op's own tensors: release the inputs that were
                # already resident and place the whole working set afresh, largest first
                # (into an empty scratchpad >= M_R it always fits)
                for b in [b for b in resident if resident[b][1] < t]:
                    release(b, t)
                    need.append(b)
                for b in list(resident):  # placed at this step: undo, they are placed again
                    del resident[b]
                need = sorted(set(need) | (pinned - set(resident)), key=lambda x: (-tensors[x].size, x))
                continue
            if replacement == "belady":
                victim = max(victims, key=lambda b: (next_use(b, t), tensors[b].size, b))
            else:
                victim = max(victims, key=lambda b: (tensors[b].size, next_use(b, t), b))
            release(victim, t)
    for a in list(resident):
        release(a, len(order))
    return Plan.from_intervals(graph, order, intervals, capacity)


def baseline_plan(graph: Graph, order: list[int], capacity: int, replacement: str, name: str) -> Plan:
    """The arena if it fits, else online placement with replacement."""
    t0 = time.perf_counter()
    plan, arena = arena_plan(graph, order, capacity)
    if plan is None:
        plan = online_plan(graph, order, capacity, replacement)
    plan.method = name
    plan.status = "heuristic"
    plan.solve_s = time.perf_counter() - t0
    plan.info["spill_free_arena"] = arena
    return plan


def all_baselines(graph: Graph, capacity: int, orders: dict[str, list[int]]) -> list[Plan]:
    """The baselines for every (order name, order) x replacement, named `tflite-<order>-<replacement>`."""
    return [
        baseline_plan(graph, order, capacity, rep, f"tflite-{oname}-{rep}")
        for oname, order in orders.items()
        for rep in REPLACEMENTS
    ]
