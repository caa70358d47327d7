"""Phase 1 of the decomposition: which tensors stay resident, under a fixed order, by ILP.

With the order fixed and addresses left to phase 2, the COSMA model
simplifies without losing optimality (for the traffic objective):
  - a tensor must be resident at its creation step and at each step that
    uses it; between two such consecutive steps (a *gap*) it is either kept
    (preserved throughout) or released and retrieved exactly at the next use
    — retrieving earlier, or keeping part of a gap, only occupies room for
    the same traffic;
  - a released activation needs one spill (`spill once`), unless DRAM has it
    already (graph inputs, weights, outputs written back at creation).
So per gap one binary K (keep), per activation one binary D (spilled):
    minimise   sum size*(1 - K)  +  sum size*D
    subject to D[a] >= 1 - K[a,g]                      for every gap g of a
               work(t) + sum size*K[a,g] <= cap(t)     for every step t,
                          (gaps whose interior contains t)
where work(t) is the working set of the operator at step t. This is the
create/preserve/spill/retrieve model of the paper (constraints 1-8) with the
dominated choices removed; adjacent-step gaps have no interior and are kept
unless phase 2 asks to split them (to let a tensor move).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pulp

from tensorc.planning import solver as S
from tensorc.planning.graph import Graph


@dataclass
class Gap:
    tensor: int
    a: int  # step where the tensor is last present before the gap
    b: int  # next step that needs it

    @property
    def interior(self) -> range:
        return range(self.a + 1, self.b)


@dataclass
class Residency:
    """Phase-1 result: per tensor, the use steps and which gaps are kept."""

    order: list[int]
    uses: list[list[int]]
    keep: dict[tuple[int, int], bool]  # (tensor, gap index) -> kept
    traffic: int
    status: str
    solve_s: float

    def intervals(self) -> list[tuple[int, int, int]]:
        """(tensor, start, end) runs of residency."""
        out = []
        for a, steps in enumerate(self.uses):
            if not steps:
                continue
            start = steps[0]
            for g in range(len(steps) - 1):
                if not self.keep[(a, g)]:
                    out.append((a, start, steps[g]))
                    start = steps[g + 1]
            out.append((a, start, steps[-1]))
        return out


def gaps_of(graph: Graph, order: list[int]) -> tuple[list[list[int]], list[tuple[int, int, Gap]]]:
    uses = graph.use_steps(order)
    gaps = [(a, g, Gap(a, s[g], s[g + 1])) for a, s in enumerate(uses) for g in range(len(s) - 1)]
    return uses, gaps


def solve_residency(
    graph: Graph,
    order: list[int],
    capacity: int | list[int],
    time_limit: float | None = 10.0,
    warm: dict[tuple[int, int], bool] | None = None,
    split: set[tuple[int, int]] = frozenset(),
    solver: str = "auto",
) -> Residency | None:
    """Optimal keep/release decisions under `order` (None when no solution was found in time).

    capacity: one number, or one per step (phase 2 lowers it where packing failed).
    warm: keep decisions of a known valid plan (a warm start).
    split: gaps that must be released even if they have no interior (to let the tensor move).
    """
    t0 = time.perf_counter()
    T = len(order)
    caps = [capacity] * T if isinstance(capacity, int) else list(capacity)
    uses, gaps = gaps_of(graph, order)
    work = [graph.working_set(op) for op in order]
    tensors = graph.tensors

    prob = pulp.LpProblem("residency", pulp.LpMinimize)
    K: dict[tuple[int, int], pulp.LpVariable | int] = {}
    load: list[list[tuple[int, pulp.LpVariable]]] = [[] for _ in range(T)]
    objective = []
    for a, g, gap in gaps:
        if (a, g) in split:
            K[(a, g)] = 0
        elif not gap.interior:
            K[(a, g)] = 1  # no interior: keeping costs no room
        else:
            v = prob.add_variable(f"K_{a}_{g}", cat="Binary")
            K[(a, g)] = v
            for t in gap.interior:
                load[t].append((tensors[a].size, v))
    const_cost = 0
    for (a, g), v in K.items():
        size = tensors[a].size
        if isinstance(v, int):
            const_cost += size * (1 - v)
        else:
            objective.append(size * (1 - v))
    # one spill per released activation that DRAM does not already hold
    for a, steps in enumerate(uses):
        t = tensors[a]
        if t.in_dram_at_start or t.is_output or len(steps) < 2:
            continue
        ks = [K[(a, g)] for g in range(len(steps) - 1)]
        if all(k == 1 for k in ks):
            continue
        if any(k == 0 for k in ks):
            const_cost += t.size
            continue
        d = prob.add_variable(f"D_{a}", cat="Binary")
        objective.append(t.size * d)
        for k in ks:
            if not isinstance(k, int):
                prob += d >= 1 - k
        if warm is not None:
            d.setInitialValue(0 if all(warm.get((a, g), True) for g in range(len(steps) - 1)) else 1)
    for t in range(T):
        room = caps[t] - work[t]
        if room < 0:
            return None  # cannot happen at capacity >= M_R
        if load[t] and sum(s for s, _ in load[t]) > room:
            prob += pulp.lpSum(s * v for s, v in load[t]) <= room, f"cap_{t}"
    prob += pulp.lpSum(objective) + const_cost
    if warm is not None:
        for key, v in K.items():
            if not isinstance(v, int):
                v.setInitialValue(1 if warm.get(key, True) else 0)
    if not objective:
        status, seconds = S.OPTIMAL, time.perf_counter() - t0
    else:
        res = S.solve(prob, time_limit, warm=warm is not None, solver=solver)
        if not res.has_solution:
            return None
        status, seconds = res.status, time.perf_counter() - t0
    keep = {key: (v if isinstance(v, int) else round(v.varValue or 0)) == 1 for key, v in K.items()}
    traffic = _traffic(graph, uses, keep)
    return Residency(order, uses, keep, traffic, status, seconds)


def _traffic(graph: Graph, uses, keep) -> int:
    """Non-compulsory bytes of keep decisions: a retrieve per released gap, a spill per released activation."""
    total = 0
    for a, steps in enumerate(uses):
        t = graph.tensors[a]
        released = sum(1 for g in range(len(steps) - 1) if not keep[(a, g)])
        total += released * t.size
        if released and not (t.in_dram_at_start or t.is_output):
            total += t.size
    return total


def keep_from_intervals(graph: Graph, order: list[int], intervals) -> dict[tuple[int, int], bool]:
    """Keep decisions implied by a valid plan's residency intervals (for warm starts)."""
    uses, gaps = gaps_of(graph, order)
    res: dict[int, list[tuple[int, int]]] = {}
    for iv in intervals:
        res.setdefault(iv.tensor, []).append((iv.start, iv.end))
    keep = {}
    for a, g, gap in gaps:
        keep[(a, g)] = any(s <= gap.a and gap.b <= e for s, e in res.get(a, []))
    return keep
