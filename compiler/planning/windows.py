"""Rescheduling windows of a large plan with the full COSMA ILP.

The two-phase planner keeps the order it is given. Here, runs of `width`
consecutive steps around the remaining traffic are handed to the full ILP
(schedule + residency, capacity as a byte constraint) with the state at the
window's boundary taken from the current plan: which tensors are resident
when the window starts, which DRAM already holds, which are needed after it.
When the ILP finds a different order for the window, the whole plan is
re-solved under the new order by the two phases and kept if it moves fewer
bytes. Windows are tried hottest first (most bytes moved at their centre)
until the time limit.
"""

from __future__ import annotations

import time

from tensorc.planning import ilp
from tensorc.planning.checker import PlanCheckError, check_plan
from tensorc.planning.decompose import plan_fixed_order
from tensorc.planning.graph import Graph
from tensorc.planning.plan import Plan


def window_state(graph: Graph, plan: Plan, s: int, e: int) -> ilp.Window:
    """The boundary state of steps s..e (inclusive) in `plan`."""
    ops = plan.order[s:e + 1]
    inside = set(ops)
    pos = graph.positions(plan.order)
    before = plan.steps[s - 1].resident if s > 0 else {}
    in_dram = set()
    for t in range(s):
        st = plan.steps[t]
        in_dram.update(st.spill)
        in_dram.update(st.store)
    win = ilp.Window(list(ops))
    for a, t in enumerate(graph.tensors):
        made_before = t.producer is not None and pos[t.producer] < s
        if not (made_before or t.in_dram_at_start):
            continue
        used_in = any(c in inside for c in t.consumers)
        used_after = any(pos[c] > e for c in t.consumers)
        if not (used_in or used_after):
            continue
        if a in before:
            win.resident_at_start.add(a)
        if t.in_dram_at_start or a in in_dram:
            win.dram_at_start.add(a)
        if used_after:
            win.needed_after.add(a)
        if not used_in and a in before:
            win.passing.add(a)
    for o in ops:
        for a in graph.ops[o].outputs:
            if any(pos[c] > e for c in graph.tensors[a].consumers):
                win.needed_after.add(a)
    return win


def hot_steps(plan: Plan, graph: Graph) -> list[int]:
    """Steps with spills or retrieves, most bytes first."""
    heat = {}
    for t, st in enumerate(plan.steps):
        b = sum(graph.tensors[a].size for a in st.spill) + sum(graph.tensors[a].size for a, _ in st.retrieve
                                                                if not graph.tensors[a].in_dram_at_start)
        if b:
            heat[t] = b
    return sorted(heat, key=lambda t: (-heat[t], t))


def improve_by_windows(graph: Graph, plan: Plan, capacity: int, deadline: float, solver: str = "auto",
                       log: list[str] | None = None, width: int = 12) -> Plan:
    """A plan with no more traffic than `plan`, from rescheduled windows (plan itself if none helps)."""
    best = plan
    tried: set[tuple[tuple[int, ...]]] = set()
    n = graph.n_ops
    while time.perf_counter() < deadline - 0.2:
        candidates = []
        for h in hot_steps(best, graph):
            for s in (h - width // 2, h - width + 2, h - 1):
                s = max(0, min(s, n - width))
                key = tuple(best.order[s:s + width])
                if key not in tried:
                    candidates.append((s, key))
        if not candidates:
            break
        s, key = candidates[0]
        tried.add(key)
        e = min(n - 1, s + width - 1)
        win = window_state(graph, best, s, e)
        left = deadline - time.perf_counter()
        r = ilp.solve_ilp(graph, capacity, mode=ilp.TRAFFIC, window=win, addresses=False,
                          time_limit=min(left, 5.0), warm=best, warm_offset=s, solver=solver)
        if r is None or r.order == best.order[s:e + 1]:
            continue
        order = best.order[:s] + r.order + best.order[e + 1:]
        left = deadline - time.perf_counter()
        if left <= 0.1:
            break
        p = plan_fixed_order(graph, order, capacity, min(left, 5.0), solver=solver)
        if p is None or p.traffic >= best.traffic:
            continue
        try:
            check_plan(graph, p)
        except PlanCheckError:
            continue
        if log is not None:
            log.append(f"window steps {s}-{e} rescheduled: {best.traffic} -> {p.traffic} B")
        p.info["how"] = "windows"
        best = p
    return best
