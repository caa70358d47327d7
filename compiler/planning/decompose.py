"""The scalable COSMA planner: residency by ILP, then addresses by packing, repaired until valid.

Phase 1 (residency.py) decides, under a fixed order, which tensors stay
resident, with the scratchpad capacity as a constraint on bytes. Phase 2
places the resulting residency intervals (packing.py). When packing fails
(fragmentation: enough bytes but no contiguous gap), two things happen:
  - a valid plan is made at once by placing the intervals step by step and
    evicting, Belady-style, only where no gap is left (baselines.online_plan
    with phase 1's residency as the retention policy);
  - the capacity at the steps where packing failed is lowered by the size
    that did not fit and phase 1 is solved again, so it leaves room for
    fragmentation there.
The best valid plan found before the deadline wins. Each round is checked
by the caller's checker, so a packing bug cannot produce an invalid plan.
"""

from __future__ import annotations

import time

from tensorc.planning import packing
from tensorc.planning.baselines import online_plan
from tensorc.planning.graph import Graph
from tensorc.planning.plan import Interval, Plan
from tensorc.planning.residency import keep_from_intervals, solve_residency


def plan_fixed_order(
    graph: Graph,
    order: list[int],
    capacity: int,
    time_limit: float = 10.0,
    warm: Plan | None = None,
    solver: str = "auto",
    max_rounds: int = 40,
) -> Plan | None:
    """The best plan under `order` found within `time_limit` seconds (None if phase 1 never solved)."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    T = len(order)
    work = [graph.working_set(op) for op in order]
    caps = [capacity] * T
    warm_keep = keep_from_intervals(graph, order, warm.intervals()) if warm is not None and warm.order == order else None
    best: Plan | None = warm if warm is not None and warm.order == order else None
    proven = False
    rounds = 0
    while rounds < max_rounds and time.perf_counter() < deadline:
        rounds += 1
        res = solve_residency(graph, order, caps, max(0.1, deadline - time.perf_counter()), warm=warm_keep, solver=solver)
        if res is None:
            break
        runs = res.intervals()
        items = [packing.Item((a, s), s, e, graph.tensors[a].size) for a, s, e in runs]
        offsets, failed = packing.pack_best(items, capacity)
        if failed:  # greedy orders fragment: place exactly around the failures, briefly
            left = deadline - time.perf_counter()
            budget = min(max(0.3, 0.25 * left), 2.0, left)
            exact = packing.pack_ilp(items, capacity, budget, solver=solver) if budget > 0 else None
            if exact is not None:
                offsets, failed = exact, []
        if not failed:
            ivs = [Interval(a, s, e, offsets[(a, s)]) for a, s, e in runs]
            plan = Plan.from_intervals(graph, order, ivs, capacity)
            # proven optimal only when phase 1 was solved at the true capacity everywhere
            proven = res.status == "optimal" and caps == [capacity] * T
        else:
            wanted = {(a, t) for a, s, e in runs for t in range(s, e + 1)}
            plan = online_plan(graph, order, capacity, "belady", wanted=wanted)
        if best is None or plan.traffic < best.traffic or (plan.traffic == best.traffic and proven):
            best = plan
            best.status = "optimal" if proven or plan.traffic == 0 else "feasible"
        if not failed or plan.traffic <= res.traffic:
            break  # packed (or repaired at no extra cost): phase 1's optimum is reached
        # leave room for fragmentation where packing failed, then solve again
        for it in failed:
            for t in range(it.start, it.end + 1):
                caps[t] = max(work[t], caps[t] - it.size)
        warm_keep = keep_from_intervals(graph, order, best.intervals()) if best.order == order else None
    if best is not None:
        best.info["rounds"] = rounds
        best.solve_s = time.perf_counter() - t0
    return best
