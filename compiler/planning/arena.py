"""An activation arena for backends that place their own buffers (llvm-cpu's `plan-memory`).

    offsets, size = plan_arena([(nbytes, first, last), ...], align=64)
    res = place_arena(...)   # the same, with how it was found and the lower bound

A drop-in for greedy-by-size: buffers live over [first, last] positions and
must not overlap while both live. The result is never larger than the best
greedy-by-size packing (TFLite's planner, and a few other item orders); where
greedy fragments above the lower bound (the most bytes live at one position),
exact placement by ILP (packing.pack_ilp) searches down towards that bound
within `time_limit` seconds. Sizes are rounded up to `align`, so every offset
is a multiple of it.

The greedy part is deterministic. The ILP part is too whenever its solves
finish inside the limit (they take a fraction of a second on the models in
BENCHMARKS.md); a solve cut by the limit keeps the best placement found so
far, which can then depend on the machine's load. `time_limit=0` is greedy only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tensorc.planning import packing


@dataclass
class ArenaResult:
    offsets: list[int]
    size: int
    bound: int  # the most bytes live at one position: no placement is smaller
    method: str  # "greedy by <order> (<fit> fit)" or "exact (ILP)"
    timed_out: bool = False  # the ILP search stopped at the time limit above the bound

    @property
    def at_bound(self) -> bool:
        return self.size == self.bound


def place_arena(buffers: list[tuple[int, int, int]], align: int = 1, time_limit: float = 2.0,
                solver: str = "auto") -> ArenaResult:
    """Offsets for (size, first, last) buffers, the arena size, the bound and the method."""
    deadline = time.perf_counter() + time_limit
    items = [packing.Item(i, first, last, -(-max(size, 1) // align) * align) for i, (size, first, last) in
             enumerate(buffers)]
    if not items:
        return ArenaResult([], 0, 0, "empty")
    best = None
    for order in packing.ORDERS:
        for fit in ("best", "first"):
            offsets, _ = packing.greedy(items, None, order, fit)
            size = packing.arena_size(items, offsets)
            if best is None or size < best[1]:
                best = (offsets, size, f"greedy by {order} ({fit} fit)")
    steps = max(it.end for it in items) + 1
    load = [0] * (steps + 1)
    for it in items:
        load[it.start] += it.size
        load[it.end + 1] -= it.size
    bound, run = 0, 0
    for d in load:
        run += d
        bound = max(bound, run)
    lo, hi = bound, best[1] - align
    while lo <= hi and time.perf_counter() < deadline:
        target = lo if lo == bound else lo + (hi - lo) // (2 * align) * align
        offsets = packing.pack_ilp(items, target, max(0.05, deadline - time.perf_counter()), solver=solver)
        if offsets is None or any(o % align for o in offsets.values()):
            lo = target + align
            continue
        best = (offsets, packing.arena_size(items, offsets), "exact (ILP)")
        hi = best[1] - align
    offsets, size, method = best
    return ArenaResult([offsets[i] for i in range(len(items))], size, bound, method, timed_out=lo <= hi)


def plan_arena(buffers: list[tuple[int, int, int]], align: int = 1, time_limit: float = 2.0,
               solver: str = "auto") -> tuple[list[int], int]:
    """Offsets for (size, first, last) buffers and the arena size."""
    res = place_arena(buffers, align, time_limit, solver)
    return res.offsets, res.size
