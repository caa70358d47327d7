"""Running PuLP models: HiGHS (through highspy) first, CBC as the fallback.

What PuLP does not do for us, done here:
  - warm starts for HiGHS: PuLP's HiGHS class ignores initial values, so the
    subclass hands them to highspy's `setSolution` before the solve;
  - an honest status: PuLP maps HiGHS's time-limit stop to "Optimal" (and CBC
    reports "Optimal" after a time-limit stop too), so the status comes from
    the solver's own model status, and for CBC from the wall time against the
    limit.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import pulp

# Solution statuses reported in plans
OPTIMAL = "optimal"  # the solver proved optimality
FEASIBLE = "feasible"  # a valid solution, optimality not proven (time limit)
INFEASIBLE = "infeasible"
NO_SOLUTION = "no-solution"  # stopped before finding any solution


@dataclass
class SolveResult:
    status: str
    objective: float | None
    seconds: float
    solver: str
    gap: float | None = None

    @property
    def has_solution(self) -> bool:
        return self.status in (OPTIMAL, FEASIBLE)


_BANNER_DONE = False


def _silence_banner() -> None:
    """highspy prints a copyright banner to fd 1 when the first Highs is made: make it in the dark."""
    global _BANNER_DONE
    if _BANNER_DONE:
        return
    _BANNER_DONE = True
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class _WarmHiGHS(pulp.HiGHS):
    """PuLP's HiGHS with MIP warm starts from the variables' initial values."""

    def __init__(self, warm: bool, **kw):
        super().__init__(**kw)
        self.warm = warm

    def callSolver(self, lp):
        if self.warm:
            import numpy as np

            idx, val = [], []
            for var in lp.variables():
                if var.varValue is not None:
                    idx.append(var.index)
                    val.append(float(var.varValue))
            if idx:
                lp.solverModel.setSolution(len(idx), np.array(idx, dtype=np.int32), np.array(val, dtype=np.float64))
        super().callSolver(lp)


def solve(prob: pulp.LpProblem, time_limit: float | None, warm: bool = False, solver: str = "auto",
          gap_rel: float | None = None) -> SolveResult:
    """Solve `prob` in place (variables get their values) within `time_limit` seconds.

    solver: "highs", "cbc" or "auto" (HiGHS when highspy imports, else CBC).
    Warm start: set `var.setInitialValue(v)` on the variables beforehand.
    """
    name = solver
    if name == "auto":
        name = "highs" if pulp.HiGHS().available() else "cbc"
    limit = None if time_limit is None else max(0.05, float(time_limit))
    start = time.perf_counter()
    if name == "highs":
        _silence_banner()
        s = _WarmHiGHS(warm, msg=False, timeLimit=limit, threads=_threads(), gapRel=gap_rel)
        prob.solve(s)
        seconds = time.perf_counter() - start
        import highspy

        hs = prob.solverModel.getModelStatus()
        info = prob.solverModel.getInfo()
        has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
        if hs == highspy.HighsModelStatus.kOptimal:
            status = OPTIMAL
        elif hs == highspy.HighsModelStatus.kInfeasible:
            status = INFEASIBLE
        else:
            status = FEASIBLE if has_sol else NO_SOLUTION
        gap = float(info.mip_gap) if status == FEASIBLE else 0.0 if status == OPTIMAL else None
        obj = pulp.value(prob.objective) if status in (OPTIMAL, FEASIBLE) else None
        return SolveResult(status, obj, seconds, "highs", gap)
    if name == "cbc":
        import warnings

        with warnings.catch_warnings():  # PuLP 3.3 deprecates its bundled CBC; it is still the fallback here
            warnings.simplefilter("ignore", DeprecationWarning)
            s = pulp.PULP_CBC_CMD(msg=False, timeLimit=limit, warmStart=warm, threads=_threads(), gapRel=gap_rel)
        prob.solve(s)
        seconds = time.perf_counter() - start
        st = pulp.LpStatus[prob.status]
        if st == "Infeasible":
            return SolveResult(INFEASIBLE, None, seconds, "cbc")
        if prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            # CBC says "Optimal" after a time-limit stop as well: trust it only well inside the limit
            proven = prob.sol_status == pulp.LpSolutionOptimal and (limit is None or seconds < 0.95 * limit)
            return SolveResult(OPTIMAL if proven else FEASIBLE, pulp.value(prob.objective), seconds, "cbc")
        return SolveResult(NO_SOLUTION, None, seconds, "cbc")
    raise ValueError(f"unknown solver '{solver}' (highs, cbc or auto)")
