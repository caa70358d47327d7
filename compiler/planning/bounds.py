"""A lower bound on the non-compulsory traffic of any plan, over every order.

While operator o runs, its working set W(o) fills W(o) bytes of the
scratchpad, so at most C − W(o) bytes of anything else can stay. Some tensors
are *live across o in every topological order*:

  - an activation whose producer is an ancestor of o and which some
    descendant of o consumes (o itself does not use it);
  - a graph input or weight that an ancestor of o has already read and a
    descendant of o reads again.

If those tensors total more than C − W(o), at least that excess leaves the
scratchpad around o, whatever the order. A tensor that leaves at least once
costs at least: an activation a spill and a retrieve (2 × size; only the
retrieve if it is a graph output, which DRAM already holds), an input or
weight one more read (1 × size). So with y[a] = 1 for the tensors that ever
leave while live across such an op,

    minimise Σ cost[a] · y[a]   s.t.   Σ_{a live across o} size[a] · y[a] ≥ excess(o)  for every o

is a lower bound on the non-compulsory traffic of every plan (one binary per
tensor, one row per tight operator: small). HiGHS solves it with a zero gap; if
it stops early, its dual bound is used. Without a solver answer the bound falls
back to cheapest covers of single operators whose live-across sets are
disjoint (they charge different tensors, so they add up).

A plan whose traffic equals the bound is optimal over all orders.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorc.planning.graph import Graph


@dataclass
class TrafficBound:
    bytes: int
    tight_ops: list[int]  # operators whose live-across tensors exceed the room their working set leaves
    how: str  # "ilp" (proven), "ilp dual bound" or "disjoint covers"


def _closure(graph: Graph) -> tuple[list[int], list[int]]:
    """Bitmasks of strict ancestors and strict descendants of every operator."""
    order = graph.default_order()  # the program order is topological
    n = graph.n_ops
    anc, desc = [0] * n, [0] * n
    for v in order:
        for p in graph.preds[v]:
            anc[v] |= anc[p] | (1 << p)
    for v in reversed(order):
        for s in graph.succs[v]:
            desc[v] |= desc[s] | (1 << s)
    return anc, desc


def traffic_lower_bound(graph: Graph, capacity: int, time_limit: float = 5.0, solver: str = "auto") -> TrafficBound:
    """The bound described in the module docstring, for a scratchpad of `capacity` bytes."""
    n = graph.n_ops
    if n == 0:
        return TrafficBound(0, [], "empty")
    anc, desc = _closure(graph)
    across: list[list[int]] = [[] for _ in range(n)]  # op -> tensors live across it in every order
    for t in graph.tensors:
        if not t.consumers or t.size == 0:
            continue
        after = 0  # ops that some consumer follows
        for c in t.consumers:
            after |= anc[c]
        if t.producer is not None:
            before = desc[t.producer]
        else:
            before = 0  # ops after some (first) read
            for c in t.consumers:
                before |= desc[c]
        users = sum(1 << c for c in t.consumers)
        mask = before & after & ~users
        while mask:
            low = mask & -mask
            across[low.bit_length() - 1].append(t.id)
            mask ^= low

    tight = {}  # op -> excess bytes
    for o in range(n):
        excess = sum(graph.tensors[a].size for a in across[o]) - (capacity - graph.working_set(o))
        if excess > 0:
            tight[o] = excess
    if not tight:
        return TrafficBound(0, [], "no tight operator")
    cost = {a: graph.tensors[a].size * (1 if graph.tensors[a].in_dram_at_start or graph.tensors[a].is_output else 2)
            for o in tight for a in across[o]}
    ilp = _cover_ilp(graph, tight, across, cost, time_limit, solver)
    if ilp is not None:
        return TrafficBound(ilp[0], sorted(tight), ilp[1])
    return TrafficBound(_disjoint_covers(graph, tight, across, cost), sorted(tight), "disjoint covers")


def _cover_ilp(graph: Graph, tight: dict[int, int], across, cost: dict[int, int], time_limit: float, solver: str):
    import math

    import pulp

    from tensorc.planning import solver as S

    prob = pulp.LpProblem("traffic_bound", pulp.LpMinimize)
    y = {a: prob.add_variable(f"y{a}", 0, 1, cat="Binary") for a in sorted(cost)}
    prob += pulp.lpSum(cost[a] * y[a] for a in y)
    for o, excess in tight.items():
        prob += pulp.lpSum(graph.tensors[a].size * y[a] for a in across[o]) >= excess
    res = S.solve(prob, time_limit, solver=solver, gap_rel=0.0)
    if res.status == S.OPTIMAL and res.objective is not None:
        # integral costs: a proven optimum within the solver's tolerances rounds to the integer below
        return math.floor(res.objective + 0.5), "ilp"
    if res.status == S.FEASIBLE and res.objective is not None and res.gap is not None:
        return max(0, math.floor(res.objective * (1 - res.gap))), "ilp dual bound"
    return None


def _disjoint_covers(graph: Graph, tight: dict[int, int], across, cost: dict[int, int]) -> int:
    """Per tight op, the fractional cheapest cover of its excess; summed over ops with disjoint sets."""
    bounds = []
    for o, excess in tight.items():
        items = sorted((cost[a] / graph.tensors[a].size, graph.tensors[a].size) for a in across[o])
        total, left = 0.0, excess
        for per_byte, size in items:
            take = min(size, left)
            total += per_byte * take
            left -= take
            if left == 0:
                break
        bounds.append((int(total), o))
    total, used = 0, set()
    for b, o in sorted(bounds, key=lambda x: (-x[0], x[1])):
        if used.isdisjoint(across[o]):
            used.update(across[o])
            total += b
    return total
