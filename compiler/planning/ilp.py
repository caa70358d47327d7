"""The COSMA ILP: schedule, residency and scratchpad addresses in one model (PuLP).

Variables (only inside each operator's / tensor's window of possible steps):
  X[o,t]   operator o runs at step t                 (schedule; C[a,t] = X[producer(a),t])
  P[a,t]   tensor a preserved from step t-1
  S[a,t]   tensor a spilled (written to DRAM, released) before step t
  R[a,t]   tensor a retrieved (read from DRAM) before step t
  res[a,t] = C + P + R: resident while step t runs
  L[a,t]   its address, d[a,b,t] which of two resident tensors lies lower (address mode)
Constraints (the paper's numbering, then the gaps the research note lists, closed):
  1  C + P + S + R <= 1
  2  P[a,t] <= res[a,t-1]                      (no P at the first step of a window)
  3  S[a,t] <= C[a,t-1] + P[a,t-1]             (no S at the first step of a window)
  4  R[a,t] <= sum_{k<=t} S[a,k]               (DRAM must hold it: inputs and weights
                                                always do, outputs once created)
  5  X[o,t] <= P[b,t] + R[b,t]                 for every input b of o, weights included
  6  outputs of one operator are created together (they share X)
  7  sum_t X[o,t] = 1,   and one operator per step: sum_o X[o,t] = 1
  8  sum_t S[a,t] <= 1                         (spill once, retrieve many times)
  9  L[a,t] + size(a) <= capacity
  10 resident tensors do not overlap (big-M on d, switched off unless both resident)
  11 P[a,t] = 1  =>  L[a,t] = L[a,t-1]         (no silent moves)
  plus producer-before-consumer on the step numbers (implied by 5; it tightens the LP).
Without addresses, 9-11 become one capacity row per step: sum size*res <= capacity.
Objective: traffic: sum size*(S + R)  (minus the compulsory first reads of inputs);
           min-peak: no spills, inputs read once, minimise the peak of sum size*res.
Mode fixed-schedule fixes X to the given order.

Windows: `Window` restricts the model to a run of operators of a longer plan,
with the state of the tensors that cross its boundary (resident or in DRAM at
the start; needed after the end) given. Leaving a needed tensor out of the
scratchpad at the end costs its size (it will be retrieved later).

Big-M with solver tolerances can let a small tensor overlap another while the
solver reports success; plans from here are decoded to events and go through
the independent checker, and decoding takes addresses only from L rounded to
integers, re-checked by the caller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pulp

from tensorc.planning import solver as S
from tensorc.planning.graph import Graph
from tensorc.planning.plan import Interval, Plan

TRAFFIC, MIN_PEAK, FIXED = "traffic", "min-peak", "fixed-schedule"


@dataclass
class Window:
    """A run of operators of a longer plan, with the boundary state of the tensors crossing it."""

    ops: list[int]  # the window's operators, in their current order
    resident_at_start: set[int] = field(default_factory=set)  # produced earlier, resident before step 0
    dram_at_start: set[int] = field(default_factory=set)  # produced earlier (or inputs), DRAM has them
    needed_after: set[int] = field(default_factory=set)  # used after the window
    passing: set[int] = field(default_factory=set)  # live across the window without a use inside it
    # exact boundary (address mode, for splicing the window back into its plan):
    start_offsets: dict[int, int] = field(default_factory=dict)  # where the resident_at_start tensors sit
    end_offsets: dict[int, int] = field(default_factory=dict)  # must be resident at the end, at this offset
    dram_by_end: set[int] = field(default_factory=set)  # DRAM must hold these when the window ends
    no_spill: set[int] = field(default_factory=set)  # the plan spills these after the window

    @property
    def exact(self) -> bool:
        return bool(self.start_offsets or self.end_offsets or self.dram_by_end or self.no_spill)

    @staticmethod
    def whole(graph: Graph, order: list[int] | None = None) -> "Window":
        return Window(list(order or graph.default_order()))


@dataclass
class IlpResult:
    order: list[int]
    res: dict[int, list[tuple[int, bool]]]  # tensor -> [(step, retrieved at this step)] of resident steps
    offsets: dict[tuple[int, int], int] | None  # (tensor, step) -> address, in address mode
    objective: float
    status: str
    solve_s: float
    build_s: float
    n_vars: int
    n_rows: int


def windows_of(graph: Graph, win: Window):
    """Steps each operator and tensor may occupy inside the window (ASAP/ALAP on the window's DAG)."""
    ops = win.ops
    n = len(ops)
    local = {o: i for i, o in enumerate(ops)}
    sub = graph.dag.subgraph(ops)
    import networkx as nx

    topo = list(nx.topological_sort(sub))
    asap = {o: 0 for o in ops}
    for o in topo:
        for s in sub.successors(o):
            asap[s] = max(asap[s], asap[o] + 1)
    alap = {o: n - 1 for o in ops}
    for o in reversed(topo):
        for p in sub.predecessors(o):
            alap[p] = min(alap[p], alap[o] - 1)
    tensors: dict[int, tuple[int, int]] = {}
    for o in ops:
        op = graph.ops[o]
        for a in op.outputs:
            t = graph.tensors[a]
            users = [c for c in t.consumers if c in local]
            hi = max([alap[c] for c in users], default=alap[o])
            if a in win.needed_after:
                hi = n - 1
            tensors[a] = (asap[o], hi)
        for a in op.inputs:
            if graph.tensors[a].producer in local:
                continue
            users = [c for c in graph.tensors[a].consumers if c in local]
            hi = n - 1 if a in win.needed_after else max(alap[c] for c in users)
            lo = 0 if a in win.resident_at_start else min(asap[c] for c in users)
            tensors[a] = (lo, hi)
    for a in win.passing:
        tensors[a] = (0, n - 1)
    for a in win.end_offsets:
        lo, _ = tensors.get(a, (0, n - 1))
        tensors[a] = (lo, n - 1)
    return asap, alap, tensors


def solve_ilp(
    graph: Graph,
    capacity: int,
    mode: str = TRAFFIC,
    window: Window | None = None,
    addresses: bool = True,
    time_limit: float | None = 30.0,
    warm: Plan | None = None,
    solver: str = "auto",
    warm_offset: int = 0,
) -> IlpResult | None:
    """Solve the COSMA model on `window` (default: the whole graph). None: no solution in time.

    warm: a valid plan to start from; for a window, a plan of the whole graph whose
    steps warm_offset ... warm_offset + len(window.ops) - 1 run the window's operators.
    """
    t0 = time.perf_counter()
    win = window or Window.whole(graph)
    ops = win.ops
    n = len(ops)
    local = {o: i for i, o in enumerate(ops)}
    if mode == FIXED:
        asap = alap = {o: i for i, o in enumerate(ops)}
        _, _, twin = windows_of(graph, win)
        twin = {a: _fixed_window(graph, win, a, local) for a in twin}
    else:
        asap, alap, twin = windows_of(graph, win)
    if addresses and set(win.resident_at_start) - set(win.start_offsets):
        raise ValueError("address mode needs the offsets of the tensors resident at the window's start")
    tensors = graph.tensors
    prob = pulp.LpProblem("cosma", pulp.LpMinimize)
    V = prob.add_variable

    # ---- schedule -----------------------------------------------------------------
    X = {(o, t): V(f"X_{o}_{t}", cat="Binary") for o in ops for t in range(asap[o], alap[o] + 1)}
    for o in ops:
        prob += pulp.lpSum(X[o, t] for t in range(asap[o], alap[o] + 1)) == 1
    for t in range(n):
        prob += pulp.lpSum(X[o, t] for o in ops if (o, t) in X) == 1
    step_of = {o: pulp.lpSum(t * X[o, t] for t in range(asap[o], alap[o] + 1)) for o in ops}
    for o in ops:
        for p in graph.preds[o]:
            if p in local:
                prob += step_of[o] >= step_of[p] + 1

    def C(a: int, t: int):
        p = tensors[a].producer
        return X.get((p, t), 0) if p in local else 0

    # ---- residency -------------------------------------------------------------------
    P, Sv, R = {}, {}, {}
    for a, (lo, hi) in twin.items():
        ta = tensors[a]
        produced_here = ta.producer in local
        in_dram_always = ta.in_dram_at_start or a in win.dram_at_start
        for t in range(lo, hi + 1):
            first = t == lo
            if not first or (a in win.resident_at_start and t == 0):
                P[a, t] = V(f"P_{a}_{t}", cat="Binary")
            if mode != MIN_PEAK and (not first or (a in win.resident_at_start and t == 0)) \
                    and not in_dram_always and not ta.is_output and a not in win.no_spill:
                Sv[a, t] = V(f"S_{a}_{t}", cat="Binary")
            if not produced_here or not first:
                if mode != MIN_PEAK or not produced_here:
                    R[a, t] = V(f"R_{a}_{t}", cat="Binary")

    def res(a, t):
        return C(a, t) + P.get((a, t), 0) + R.get((a, t), 0)

    for a, (lo, hi) in twin.items():
        ta = tensors[a]
        initially = a in win.resident_at_start
        for t in range(lo, hi + 1):
            terms = [C(a, t), P.get((a, t), 0), Sv.get((a, t), 0), R.get((a, t), 0)]
            if sum(1 for x in terms if not isinstance(x, int)) > 1:
                prob += pulp.lpSum(terms) <= 1  # (1)
            prev = res(a, t - 1) if t > lo else (1 if initially else 0)
            prev_cp = (C(a, t - 1) + P.get((a, t - 1), 0)) if t > lo else (1 if initially else 0)
            if (a, t) in P:
                prob += P[a, t] <= prev  # (2)
            if (a, t) in Sv:
                prob += Sv[a, t] <= prev_cp  # (3)
            if (a, t) in R:
                if ta.in_dram_at_start or a in win.dram_at_start:
                    pass  # DRAM holds it from the start
                elif ta.is_output:
                    prob += R[a, t] <= pulp.lpSum(C(a, k) for k in range(lo, t))  # stored at creation
                else:
                    prob += R[a, t] <= pulp.lpSum(Sv.get((a, k), 0) for k in range(lo, t + 1))  # (4)
        spills = [Sv[a, t] for t in range(lo, hi + 1) if (a, t) in Sv]
        if len(spills) > 1:
            prob += pulp.lpSum(spills) <= 1  # (8)
        if a in win.dram_by_end and not (ta.in_dram_at_start or a in win.dram_at_start or ta.is_output):
            prob += pulp.lpSum(spills) >= 1  # the rest of the plan retrieves it
        if a in win.end_offsets:
            prob += res(a, n - 1) == 1  # the rest of the plan preserves it from here
        if mode == MIN_PEAK and (ta.in_dram_at_start or a in win.dram_at_start):
            prob += pulp.lpSum(R.get((a, t), 0) for t in range(lo, hi + 1)) <= 1  # read once, keep it
    for o in ops:  # (5): inputs resident when the operator runs
        for b in graph.ops[o].inputs:
            lo, hi = twin[b]
            for t in range(asap[o], alap[o] + 1):
                if t < lo or t > hi:
                    prob += X[o, t] == 0
                else:
                    prob += X[o, t] <= P.get((b, t), 0) + R.get((b, t), 0)

    # ---- memory: capacity, or addresses --------------------------------------------
    by_step: list[list[int]] = [[] for _ in range(n)]
    for a, (lo, hi) in twin.items():
        for t in range(lo, hi + 1):
            by_step[t].append(a)
    peak = None
    if mode == MIN_PEAK:
        peak = V("peak", 0)
        for t in range(n):
            prob += pulp.lpSum(tensors[a].size * res(a, t) for a in by_step[t]) <= peak
    elif not addresses:
        for t in range(n):
            if sum(tensors[a].size for a in by_step[t]) > capacity:
                prob += pulp.lpSum(tensors[a].size * res(a, t) for a in by_step[t]) <= capacity
    L, D = {}, {}
    if addresses and mode != MIN_PEAK:
        M = capacity
        for a, (lo, hi) in twin.items():
            for t in range(lo, hi + 1):
                L[a, t] = V(f"L_{a}_{t}", 0, max(0, capacity - tensors[a].size))  # (9)
                if (a, t) in P and t > lo:  # (11)
                    prob += L[a, t] - L[a, t - 1] <= M * (1 - P[a, t])
                    prob += L[a, t - 1] - L[a, t] <= M * (1 - P[a, t])
                elif (a, t) in P:  # preserved from before the window: where it already is
                    off = win.start_offsets[a]
                    prob += L[a, t] - off <= M * (1 - P[a, t])
                    prob += off - L[a, t] <= M * (1 - P[a, t])
            if a in win.end_offsets:
                prob += L[a, hi] == win.end_offsets[a]
        for t in range(n):
            here = [a for a in by_step[t] if tensors[a].size]
            for i, a in enumerate(here):
                for b in here[i + 1:]:
                    if tensors[a].size + tensors[b].size <= 0:
                        continue
                    d = D[a, b, t] = V(f"d_{a}_{b}_{t}", cat="Binary")
                    both = 2 - res(a, t) - res(b, t)
                    prob += L[a, t] + tensors[a].size <= L[b, t] + M * (1 - d) + M * both  # (10)
                    prob += L[b, t] + tensors[b].size <= L[a, t] + M * d + M * both

    # ---- objective ------------------------------------------------------------------------
    if mode == MIN_PEAK:
        prob += peak
    else:
        cost = [tensors[a].size * v for (a, t), v in list(Sv.items()) + list(R.items())]
        for a in win.needed_after:  # left out at the end: it will be retrieved later
            if a in twin and not win.exact:
                cost.append(tensors[a].size * (1 - res(a, n - 1)))
        # every graph input and weight is read at least once: compulsory, not counted
        # (in a window the constant is only approximate; it does not change the optimum)
        compulsory = sum(tensors[a].size for a in twin
                         if tensors[a].in_dram_at_start and a not in win.resident_at_start
                         and any(c in local for c in tensors[a].consumers))
        prob += pulp.lpSum(cost) - compulsory
    build_s = time.perf_counter() - t0

    if warm is not None:
        _warm_start(graph, warm, win, X, P, Sv, R, L, D, peak, warm_offset)
    left = None if time_limit is None else max(0.1, time_limit - build_s)
    sol = S.solve(prob, left, warm=warm is not None, solver=solver)
    if not sol.has_solution:
        return None

    # ---- decode -------------------------------------------------------------------------------
    order = [None] * n
    for (o, t), v in X.items():
        if (v.varValue or 0) > 0.5:
            order[t] = o
    val = lambda x: x if isinstance(x, int) else (x.value() or 0)  # noqa: E731
    resident: dict[int, list[tuple[int, bool]]] = {}
    offsets = {} if L else None
    for a, (lo, hi) in twin.items():
        for t in range(lo, hi + 1):
            if val(res(a, t)) > 0.5:
                resident.setdefault(a, []).append((t, val(R.get((a, t), 0)) > 0.5))
                if offsets is not None:
                    offsets[a, t] = int(round(L[a, t].varValue or 0))
    objective = pulp.value(prob.objective) or 0.0
    return IlpResult(order, resident, offsets, objective, sol.status, sol.seconds, build_s,
                     prob.numVariables(), prob.numConstraints())


def _fixed_window(graph: Graph, win: Window, a: int, local: dict[int, int]) -> tuple[int, int]:
    """A tensor's window when the schedule is fixed: creation (or first need) to last use."""
    n = len(win.ops)
    t = graph.tensors[a]
    users = [local[c] for c in t.consumers if c in local]
    if t.producer in local:
        lo = local[t.producer]
    else:
        lo = 0 if a in win.resident_at_start or a in win.passing else min(users)
    hi = n - 1 if a in win.needed_after or a in win.passing else max(users + [lo])
    return lo, hi


def _warm_start(graph, plan: Plan, win: Window, X, P, Sv, R, L, D, peak, s0: int = 0) -> None:
    """Initial values from a valid plan (the best heuristic's); window step t is plan step s0 + t."""
    n = len(win.ops)
    pos = {o: t - s0 for t, o in enumerate(plan.order[s0:s0 + n], start=s0)}
    if sorted(pos) != sorted(win.ops):
        return
    for (o, t), v in X.items():
        v.setInitialValue(1 if pos[o] == t else 0)
    steps = plan.steps
    resident = {(a, t - s0): off for t in range(max(0, s0 - 1), s0 + n) for a, off in steps[t].resident.items()}
    retrieved = {(a, t - s0) for t in range(s0, s0 + n) for a, _ in steps[t].retrieve}
    spilled = {(a, t - s0) for t in range(s0, s0 + n) for a in steps[t].spill}
    for (a, t), v in P.items():
        v.setInitialValue(1 if (a, t) in resident and (a, t - 1) in resident and (a, t) not in retrieved else 0)
    for (a, t), v in R.items():
        v.setInitialValue(1 if (a, t) in retrieved else 0)
    for (a, t), v in Sv.items():
        v.setInitialValue(1 if (a, t) in spilled else 0)
    for (a, t), v in L.items():
        v.setInitialValue(resident.get((a, t), 0))
    for (a, b, t), v in D.items():
        v.setInitialValue(1 if resident.get((a, t), 0) <= resident.get((b, t), 0) else 0)
    if peak is not None:
        peak.setInitialValue(plan.peak_resident(graph))


def plan_from_ilp(graph: Graph, result: IlpResult, capacity: int) -> Plan | None:
    """Events from a whole-graph ILP solution with addresses (None if addresses are missing)."""
    if result.offsets is None:
        return None
    ivs = []
    for a, steps in result.res.items():
        start = prev = None
        for t, retrieved in steps:
            if start is not None and (t != prev + 1 or retrieved or
                                      result.offsets[a, t] != result.offsets[a, start]):
                ivs.append(Interval(a, start, prev, result.offsets[a, start]))
                start = None
            if start is None:
                start = t
            prev = t
        if start is not None:
            ivs.append(Interval(a, start, prev, result.offsets[a, start]))
    return Plan.from_intervals(graph, result.order, ivs, capacity)


def runs_from_ilp(result: IlpResult) -> list[tuple[int, int, int]]:
    """(tensor, start, end) residency runs of a solution without addresses."""
    runs = []
    for a, steps in result.res.items():
        start = prev = None
        for t, retrieved in steps:
            if start is not None and (t != prev + 1 or retrieved):
                runs.append((a, start, prev))
                start = None
            if start is None:
                start = t
            prev = t
        if start is not None:
            runs.append((a, start, prev))
    return runs
