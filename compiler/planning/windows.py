"""Re-optimising windows of a large plan with the full COSMA ILP (the paper's divide and conquer).

A window is a run of `width` consecutive steps of the current plan. Its
boundary is fixed from the plan: which tensors are resident when it starts
and where, which must be resident when it ends and where (the rest of the
plan preserves them), which DRAM must hold by then (the rest retrieves them),
which the rest spills (so the window may not). Inside, the full ILP —
schedule, residency and addresses — finds the cheapest way through; its
solution is spliced back into the plan (residency intervals crossing the
boundary are joined, events regenerated) and the result goes through the
checker. Windows are tried hottest first (most bytes moved around them),
each warm-started from the current plan, until the time limit; a window
that cannot improve is not tried again unless the plan around it changes.

This fixes what the two phases cannot see: fragmentation that forces spills
(addresses are in the model) and operator orders that need fewer spills.
"""

from __future__ import annotations

import time

from tensorc.planning import ilp
from tensorc.planning.checker import PlanCheckError, check_plan
from tensorc.planning.graph import Graph
from tensorc.planning.plan import Interval, Plan


def window_state(graph: Graph, plan: Plan, s: int, e: int) -> ilp.Window:
    """The exact boundary of steps s..e (inclusive) of `plan`."""
    ops = plan.order[s:e + 1]
    inside = set(ops)
    pos = graph.positions(plan.order)
    before = plan.steps[s - 1].resident if s > 0 else {}
    in_dram = set()
    for t in range(s):
        in_dram.update(plan.steps[t].spill)
        in_dram.update(plan.steps[t].store)
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
            win.start_offsets[a] = before[a]
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
    if e + 1 < len(plan.steps):
        after = plan.steps[e + 1]
        retrieved_next = {a for a, _ in after.retrieve}
        for a, off in after.resident.items():
            if a not in retrieved_next and not any(a == c for c, _ in after.create):
                win.end_offsets[a] = off  # preserved into step e+1
    for t in range(e + 1, len(plan.steps)):
        st = plan.steps[t]
        for a, _ in st.retrieve:
            if a not in win.dram_at_start and not graph.tensors[a].in_dram_at_start:
                win.dram_by_end.add(a)
        win.no_spill.update(st.spill)
    win.dram_by_end -= set(win.end_offsets) & win.no_spill
    return win


def splice(graph: Graph, plan: Plan, s: int, e: int, r: ilp.IlpResult) -> Plan | None:
    """`plan` with steps s..e replaced by the window solution `r` (None if the ends do not meet)."""
    n = e - s + 1
    if r.offsets is None:
        return None
    order = plan.order[:s] + r.order + plan.order[e + 1:]
    pre, post, keep = {}, {}, []
    for iv in plan.intervals():
        if iv.end < s or iv.start > e:
            keep.append(iv)
            continue
        if iv.start < s:
            pre[iv.tensor] = (iv.start, iv.offset)
        if iv.end > e:
            post[iv.tensor] = (iv.end, iv.offset)
    for a, steps in r.res.items():
        runs = []
        for t, retrieved in steps:
            off = r.offsets[a, t]
            if runs and t == runs[-1][1] + 1 and not retrieved and off == runs[-1][2]:
                runs[-1][1] = t
            else:
                runs.append([t, t, off, retrieved])
        for ls, le, off, retrieved in runs:
            start, end = s + ls, s + le
            if ls == 0 and not retrieved and a in pre:
                pstart, poff = pre.pop(a)
                if poff != off:
                    return None
                start = pstart
            if le == n - 1 and a in post:
                pend, poff = post.pop(a)
                if poff != off:
                    return None
                end = pend
            keep.append(Interval(a, start, end, off))
    for a, (pstart, poff) in pre.items():  # released when the window starts
        keep.append(Interval(a, pstart, s - 1, poff))
    if post:
        return None  # the window did not hand over what the rest of the plan expects
    return Plan.from_intervals(graph, order, keep, plan.capacity)


def hot_steps(plan: Plan, graph: Graph) -> list[int]:
    """Steps with non-compulsory spills or retrieves, most bytes first."""
    heat = {}
    for t, st in enumerate(plan.steps):
        b = sum(graph.tensors[a].size for a in st.spill)
        b += sum(graph.tensors[a].size for a, _ in st.retrieve if not graph.tensors[a].in_dram_at_start)
        if b:
            heat[t] = b
    return sorted(heat, key=lambda t: (-heat[t], t))


def improve_by_windows(graph: Graph, plan: Plan, capacity: int, deadline: float, solver: str = "auto",
                       log: list[str] | None = None, widths: tuple[int, ...] = (5, 8),
                       fixed_schedule: bool = False) -> Plan:
    """A plan with no more traffic than `plan` (plan itself if no window helps).

    Small windows solve in a fraction of a second (HiGHS), so many of them fit in
    the time limit; the widths alternate so that moves needing a longer reach
    are tried too. With `fixed_schedule` the windows keep the order and only
    re-decide residency and addresses.
    """
    best = plan
    tried: set[tuple] = set()
    n = graph.n_ops
    turn = 0
    while time.perf_counter() < deadline - 0.1 and best.traffic > 0:
        pick = None
        for k in range(len(widths)):
            width = min(widths[(turn + k) % len(widths)], n)
            for h in hot_steps(best, graph):
                for s in (h - width // 2, h - 1, h - width + 2):
                    s = max(0, min(s, n - width))
                    key = (s, width, tuple(best.order[s:s + width]), best.traffic)
                    if key not in tried:
                        pick = (s, width, key)
                        break
                if pick:
                    break
            if pick:
                break
        if pick is None:
            break
        turn += 1
        s, width, key = pick
        tried.add(key)
        e = s + width - 1
        win = window_state(graph, best, s, e)
        left = deadline - time.perf_counter()
        try:
            r = ilp.solve_ilp(graph, capacity, mode=ilp.FIXED if fixed_schedule else ilp.TRAFFIC, window=win,
                              addresses=True,
                              time_limit=min(left, 5.0), warm=best, warm_offset=s, solver=solver)
        except ValueError:
            continue
        if r is None:
            continue
        p = splice(graph, best, s, e, r)
        if p is None or p.traffic >= best.traffic:
            continue
        try:
            check_plan(graph, p)
        except PlanCheckError as err:
            if log is not None:
                log.append(f"window steps {s}-{e}: splice rejected by the checker: {err}")
            continue
        if log is not None:
            log.append(f"window steps {s}-{e}: {best.traffic} -> {p.traffic} B")
        p.method, p.status = "cosma", "feasible"
        p.info = dict(best.info, how="windows")
        best = p
    return best
