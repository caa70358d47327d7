"""An activation arena for backends that place their own buffers (llvm-cpu's `plan-memory`).

    offsets, size = plan_arena([(nbytes, first, last), ...], align=64)

A drop-in for greedy-by-size: buffers live over [first, last] positions and
must not overlap while both live. The result is never larger than the best
greedy-by-size packing (TFLite's planner, and a few other item orders); where
greedy fragments above the lower bound (the most bytes live at one position),
exact placement by ILP (packing.pack_ilp) searches down towards that bound
within `time_limit` seconds. Sizes are rounded up to `align`, so every offset
is a multiple of it.
"""

from __future__ import annotations

import time

from tensorc.planning import packing


def plan_arena(buffers: list[tuple[int, int, int]], align: int = 1, time_limit: float = 2.0,
               solver: str = "auto") -> tuple[list[int], int]:
    """Offsets for (size, first, last) buffers and the arena size."""
    deadline = time.perf_counter() + time_limit
    items = [packing.Item(i, first, last, -(-max(size, 1) // align) * align) for i, (size, first, last) in
             enumerate(buffers)]
    if not items:
        return [], 0
    best = None
    for order in packing.ORDERS:
        for fit in ("best", "first"):
            offsets, _ = packing.greedy(items, None, order, fit)
            size = packing.arena_size(items, offsets)
            if best is None or size < best[1]:
                best = (offsets, size)
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
        best = (offsets, packing.arena_size(items, offsets))
        hi = best[1] - align
    offsets, size = best
    return [offsets[i] for i in range(len(items))], size
