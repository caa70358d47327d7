"""COSMA planning end to end: budgets, baselines, the solver strategy, the checked result.

    result = plan_graph(graph, scratchpad="auto:MR", mode="traffic", time_limit=30)
    result.plan       # the chosen Plan, already through the checker
    result.baselines  # the four TFLite-style baselines at the same capacity, checked too
    result.to_dict()  # what `tensorc plan --json` writes

Strategy (mode traffic):
  1. the four baselines; the best one is the incumbent (always valid);
  2. for the default and the min-peak order: phase 1 (residency ILP) + phase 2
     (packing, exact placement where greedy fragments), warm-started from the
     baseline under the same order;
  3. small graphs (<= `full_ilp_ops` operators): the full COSMA ILP with
     schedule and addresses, warm-started from the incumbent;
     larger graphs: windows around the remaining traffic are rescheduled by
     the full ILP (windows.py) and the whole plan re-solved under the new order;
  4. every candidate goes through the independent checker; the best valid
     plan when the time limit is reached is returned, marked optimal only when
     a solver proved it or it meets the lower bound of bounds.py (which holds
     for every order; the search stops there).
Mode fixed-schedule keeps the program order. Mode min-peak builds no-spill
plans and minimises the arena (the CPU backend's activation arena).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from tensorc.diagnostics import TensorcError
from tensorc.planning import ilp, packing
from tensorc.planning.baselines import all_baselines, arena_plan
from tensorc.planning.bounds import TrafficBound, traffic_lower_bound
from tensorc.planning.checker import CheckReport, PlanCheckError, check_plan
from tensorc.planning.decompose import plan_fixed_order
from tensorc.planning.graph import Graph
from tensorc.planning.orders import min_peak_order
from tensorc.planning.plan import Interval, Plan

MODES = ("traffic", "min-peak", "fixed-schedule")


class ScratchpadTooSmall(TensorcError):
    """The scratchpad cannot hold the working set of some operator (capacity < M_R)."""


class PlanningError(TensorcError):
    """Bad planning options."""


@dataclass
class Budgets:
    m_r: int
    m_r_op: str
    m_p: int  # the smallest spill-free peak found (bytes, without fragmentation)
    m_p_exact: bool  # proven minimal (equals M_R, or the min-peak ILP proved it)
    m_p_order: list[int]

    @property
    def m_h(self) -> int:
        return (self.m_r + self.m_p) // 2

    def to_dict(self) -> dict:
        return {"M_R": self.m_r, "M_R_op": self.m_r_op, "M_H": self.m_h, "M_P": self.m_p, "M_P_exact": self.m_p_exact}


def compute_budgets(graph: Graph, time_limit: float = 10.0, solver: str = "auto", exact_ops: int = 24) -> Budgets:
    """M_R, and M_P from the min-peak beam (proven by the min-peak ILP on small graphs)."""
    if graph.n_ops == 0:
        return Budgets(0, "-", 0, True, [])
    default = graph.default_order()
    beam = min_peak_order(graph)
    # ties go to the beam's order: at equal peak it is still the memory-aware one
    order = default if graph.peak(default) < graph.peak(beam) else beam
    m_p = graph.peak(order)
    exact = m_p == graph.m_r
    if not exact and graph.n_ops <= exact_ops:
        warm = arena_plan(graph, order)[0]
        res = ilp.solve_ilp(graph, m_p, mode=ilp.MIN_PEAK, addresses=False, time_limit=time_limit, warm=warm,
                            solver=solver)
        if res is not None and res.objective <= m_p + 0.5:
            exact = res.status == "optimal"
            if round(res.objective) < m_p:
                order, m_p = res.order, graph.peak(res.order)
    return Budgets(graph.m_r, graph.ops[graph.m_r_op].describe(), m_p, exact, order)


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6, "mib": 2**20, "g": 10**9,
          "gb": 10**9, "gib": 2**30}


def resolve_scratchpad(spec, budgets: Budgets, graph: Graph) -> int:
    """Bytes from `1048576`, `512KiB`, `2MB`, `auto:MR`, `auto:MH` or `auto:MP`; at least M_R."""
    if isinstance(spec, int):
        cap = spec
    else:
        text = str(spec).strip()
        auto = {"auto:mr": budgets.m_r, "auto:mh": budgets.m_h, "auto:mp": budgets.m_p}
        if text.lower() in auto:
            cap = auto[text.lower()]
        else:
            m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", text)
            if not m or m.group(2).lower() not in _UNITS:
                raise PlanningError(f"scratchpad '{spec}': expected bytes (e.g. 1048576, 512KiB, 2MB) or auto:MR|auto:MH|auto:MP")
            cap = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if cap < budgets.m_r:
        raise ScratchpadTooSmall(
            f"scratchpad of {cap} bytes is smaller than M_R = {budgets.m_r} bytes, "
            f"the working set (inputs + outputs) of {budgets.m_r_op}"
        )
    return cap


@dataclass
class Checked:
    plan: Plan
    report: CheckReport


@dataclass
class PlanResult:
    graph: Graph
    mode: str
    scratchpad: str
    capacity: int
    budgets: Budgets
    best: Checked
    baselines: list[Checked] = field(default_factory=list)
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)
    lower_bound: TrafficBound | None = None  # traffic modes: no plan moves fewer bytes

    @property
    def plan(self) -> Plan:
        return self.best.plan

    def best_baseline(self) -> Checked | None:
        return min(self.baselines, key=lambda c: c.report.non_compulsory, default=None)

    def to_dict(self, with_steps: bool = True) -> dict:
        g = self.graph
        plan = self.plan.to_dict(g)
        if not with_steps:
            plan.pop("steps")
            plan.pop("order")
        rep = self.best.report
        plan["check"] = {"valid": True, "spill_bytes": rep.spill_bytes, "retrieve_bytes": rep.retrieve_bytes,
                         "store_bytes": rep.store_bytes, "peak_resident": rep.peak_resident, "arena": rep.arena}
        return {
            "format": "tensorc-memory-plan/1",
            "mode": self.mode,
            "scratchpad": self.scratchpad,
            "capacity": self.capacity,
            "bounds": {**self.budgets.to_dict(),
                       **({"traffic_lower_bound": self.lower_bound.bytes, "traffic_lower_bound_how": self.lower_bound.how}
                          if self.lower_bound is not None else {})},
            "graph": g.summary(),
            "traffic_bytes": self.plan.traffic,
            "status": self.plan.status,
            "solve_s": round(self.seconds, 3),
            "plan": plan,
            "baselines": [
                {"method": c.plan.method, "traffic_bytes": c.report.non_compulsory, "status": c.plan.status,
                 "solve_s": round(c.plan.solve_s, 4), "arena_bytes": c.report.arena,
                 "spill_free_arena": c.plan.info.get("spill_free_arena")}
                for c in self.baselines
            ],
            "tensors": [{"name": t.name, "size": t.size, "kind": t.kind, "output": t.is_output} for t in g.tensors],
            "log": self.log,
        }


def plan_graph(
    graph: Graph,
    scratchpad="auto:MR",
    mode: str = "traffic",
    time_limit: float = 30.0,
    solver: str = "auto",
    baselines: bool = True,
    full_ilp_ops: int = 14,
    budgets: Budgets | None = None,
) -> PlanResult:
    """Plan `graph`; every returned plan has passed the checker."""
    if mode not in MODES:
        raise PlanningError(f"unknown mode '{mode}' (expected {', '.join(MODES)})")
    t0 = time.perf_counter()
    deadline = t0 + max(0.0, float(time_limit))
    log: list[str] = []
    if budgets is None:
        budgets = compute_budgets(graph, time_limit=min(5.0, 0.2 * time_limit), solver=solver)
    if mode == "min-peak":
        best, base = _min_peak(graph, budgets, deadline, solver, log)
        res = PlanResult(graph, mode, str(scratchpad), best.plan.capacity, budgets, best, base, log=log)
        res.seconds = time.perf_counter() - t0
        return res
    capacity = resolve_scratchpad(scratchpad, budgets, graph)

    # the min-peak order first: it leaves the most room, so it usually needs the fewest spills
    orders = {}
    if mode == "traffic" and budgets.m_p_order != graph.default_order():
        orders["min-peak"] = budgets.m_p_order
    orders["default"] = graph.default_order()
    base_plans = all_baselines(graph, capacity, {"default": graph.default_order(), "min-peak": budgets.m_p_order})
    checked_base = [Checked(p, check_plan(graph, p)) for p in base_plans]
    usable = [c for c in checked_base if c.plan.order in orders.values()]
    best = min(usable, key=lambda c: c.report.non_compulsory)
    best = Checked(_relabel(best.plan, "cosma", "feasible"), best.report)
    log.append(f"incumbent: {best.plan.info['from']} with {best.plan.traffic} B")
    lower = traffic_lower_bound(graph, capacity, time_limit=min(5.0, 0.1 * time_limit), solver=solver)
    log.append(f"lower bound: {lower.bytes} B ({lower.how}, {len(lower.tight_ops)} tight operators)")
    for c in checked_base:
        _respects_bound(c, lower)

    def consider(plan: Plan | None, how: str) -> None:
        nonlocal best
        if plan is None:
            return
        try:
            rep = check_plan(graph, plan)
        except PlanCheckError as e:  # a solver tolerance or a bug: never return such a plan
            log.append(f"{how}: rejected by the checker: {e}")
            return
        log.append(f"{how}: {rep.non_compulsory} B ({plan.status})")
        _respects_bound(Checked(plan, rep), lower)
        if rep.non_compulsory < best.report.non_compulsory or (
            rep.non_compulsory == best.report.non_compulsory and plan.status == "optimal"
        ):
            best = Checked(_relabel(plan, "cosma", plan.status, how), rep)

    # 2. two phases under each candidate order
    for i, (oname, order) in enumerate(orders.items()):
        left = deadline - time.perf_counter()
        if left <= 0 or best.report.non_compulsory <= lower.bytes:
            break
        # small graphs keep half the time for the full ILP; large ones a third for windows;
        # the program order (usually the worse one) gets less than the min-peak order
        share = left * ((0.5 if graph.n_ops <= full_ilp_ops else 0.4) if i == 0 or len(orders) == 1 else 0.2)
        warm = min((c for c in checked_base if c.plan.order == order), key=lambda c: c.report.non_compulsory).plan
        p = plan_fixed_order(graph, order, capacity, share, warm=warm, solver=solver)
        if p is not None and p.status == "optimal":
            p.info["optimal_for_order"] = True
            if mode == "traffic" and not _unique_order(graph):
                p.status = "feasible"  # other orders might move fewer bytes
        consider(p, f"two-phase ({oname} order)")

    # 3. the full ILP on small graphs, windows on large ones
    left = deadline - time.perf_counter()
    if best.report.non_compulsory > lower.bytes and left > 0.2:
        if graph.n_ops <= full_ilp_ops:
            m = ilp.FIXED if mode == "fixed-schedule" else ilp.TRAFFIC
            r = ilp.solve_ilp(graph, capacity, mode=m, addresses=True, time_limit=left, warm=best.plan, solver=solver)
            if r is not None:
                p = ilp.plan_from_ilp(graph, r, capacity)
                p.status = r.status
                consider(p, f"full ILP ({r.n_vars} variables)")
                if r.status == "optimal" and best.report.non_compulsory == p.traffic:
                    best.plan.status = "optimal"
        elif best.plan.status != "optimal":
            from tensorc.planning.windows import improve_by_windows

            p = improve_by_windows(graph, best.plan, capacity, deadline, solver=solver, log=log,
                                   fixed_schedule=mode == "fixed-schedule")
            if p is not best.plan:
                consider(p, "windows")
    if best.report.non_compulsory <= lower.bytes:
        best.plan.status = "optimal"
        if best.report.non_compulsory > 0:
            best.plan.info["proof"] = f"meets the lower bound ({lower.how})"
    res = PlanResult(graph, mode, str(scratchpad), capacity, budgets, best,
                     checked_base if baselines else [], log=log, lower_bound=lower)
    res.seconds = time.perf_counter() - t0
    best.plan.solve_s = res.seconds
    return res


def _respects_bound(c: Checked, lower: TrafficBound) -> None:
    """A checked plan below the lower bound means the bound or the checker is wrong: never report either."""
    if c.report.non_compulsory < lower.bytes:
        raise PlanCheckError([f"{c.plan.method} moves {c.report.non_compulsory} B, below the lower bound of "
                              f"{lower.bytes} B ({lower.how}): the bound or the checker is wrong"])


def _unique_order(graph: Graph) -> bool:
    """True when the DAG admits one topological order only (then the order is no choice)."""
    order = graph.default_order()
    return all(graph.dag.has_edge(a, b) for a, b in zip(order, order[1:]))


def _relabel(plan: Plan, method: str, status: str, how: str | None = None) -> Plan:
    info = dict(plan.info)
    info["from"] = how or info.get("from", plan.method)
    return Plan(plan.order, plan.steps, plan.capacity, method=method, status=status, solve_s=plan.solve_s,
                traffic=plan.traffic, info=info)


# ---- min-peak: no spills, smallest arena ------------------------------------------------------


def _min_peak(graph: Graph, budgets: Budgets, deadline: float, solver: str, log: list[str]):
    """The smallest spill-free arena over the candidate orders; TFLite's arenas as baselines."""
    orders = {"default": graph.default_order(), "min-peak": budgets.m_p_order}
    base: list[Checked] = []
    best: Checked | None = None
    for oname, order in orders.items():
        p, arena = arena_plan(graph, order)
        p.method, p.status = f"tflite-{oname}-arena", "heuristic"
        p.info["spill_free_arena"] = arena
        c = Checked(p, check_plan(graph, p))
        base.append(c)
        if best is None or c.report.arena < best.report.arena:
            best = c
    best = Checked(_relabel(best.plan, "cosma", "feasible"), best.report)
    for oname, order in orders.items():
        peak = graph.peak(order)
        if peak >= best.report.arena:
            continue
        items = [packing.Item(t.id, lt[0], lt[1], t.size) for t, lt in zip(graph.tensors, graph.lifetimes(order)) if lt]
        # search the arena size between the peak (a lower bound) and the best found
        lo, hi = peak, best.report.arena - 1
        while lo <= hi and time.perf_counter() < deadline:
            mid = lo if lo == peak else (lo + hi) // 2
            offsets = packing.pack_ilp(items, mid, max(0.1, deadline - time.perf_counter()), solver=solver)
            if offsets is None:
                lo = mid + 1
                continue
            ivs = [Interval(it.key, it.start, it.end, offsets[it.key]) for it in items]
            arena = packing.arena_size(items, offsets)
            p = Plan.from_intervals(graph, order, ivs, arena, method="cosma", status="feasible")
            try:
                rep = check_plan(graph, p)
            except PlanCheckError as e:
                log.append(f"min-peak packing rejected by the checker: {e}")
                break
            best = Checked(p, rep)
            p.info["how"] = f"exact placement ({oname} order)"
            hi = arena - 1
            if arena == peak:
                break
    exact = best.report.arena == budgets.m_p and budgets.m_p_exact
    best.plan.status = "optimal" if exact else "feasible"
    best.plan.capacity = best.report.arena
    log.append(f"min-peak arena {best.report.arena} B (peak bound {budgets.m_p} B)")
    return best, base
