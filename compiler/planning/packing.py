"""Placing residency intervals in one address range (dynamic storage allocation).

Each item is resident over a step range [start, end] and needs `size`
contiguous bytes at one offset for that whole range; two items whose step
ranges intersect must not overlap in memory. This is TFLite's arena problem
and phase 2 of the COSMA decomposition.

`greedy` is TFLite's "greedy by size" planner: items by decreasing size,
each put in the best-fitting gap left by the already placed items that are
live at the same time. The other orderings give the decomposition a few more
tries at fitting under a capacity before it falls back to re-solving.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    key: object
    start: int
    end: int  # inclusive
    size: int


# item orderings tried by `pack_best` (TFLite's is the first)
ORDERS = {
    "size": lambda it: (-it.size, -(it.end - it.start), it.start),
    "area": lambda it: (-it.size * (it.end - it.start + 1), -it.size, it.start),
    "length": lambda it: (-(it.end - it.start), -it.size, it.start),
    "start": lambda it: (it.start, -it.size),
}


def greedy(items: list[Item], capacity: int | None = None, order: str = "size", fit: str = "best"):
    """Offsets for the items, placed one by one in `order`.

    Returns (offsets, failed): `offsets` maps key -> offset for every item
    placed below `capacity` (unbounded when None); `failed` lists the items
    that found no room.
    """
    T = max((it.end for it in items), default=-1) + 1
    at_step: list[list[tuple[int, int]]] = [[] for _ in range(T)]  # step -> [(offset, end offset)]
    offsets: dict = {}
    failed: list[Item] = []
    for it in sorted(items, key=ORDERS[order]):
        if it.size == 0:
            offsets[it.key] = 0
            continue
        busy = sorted({span for s in range(it.start, it.end + 1) for span in at_step[s]})
        off = _find_gap(busy, it.size, capacity, fit)
        if off is None:
            failed.append(it)
            continue
        offsets[it.key] = off
        span = (off, off + it.size)
        for s in range(it.start, it.end + 1):
            at_step[s].append(span)
    return offsets, failed


def _find_gap(busy: list[tuple[int, int]], size: int, capacity: int | None, fit: str) -> int | None:
    """The offset of the best (smallest fitting) or first gap among sorted busy spans."""
    best = None  # (gap size, offset)
    cursor = 0
    for lo, hi in busy:
        if lo - cursor >= size:
            if fit == "first":
                return cursor
            gap = lo - cursor
            if best is None or gap < best[0]:
                best = (gap, cursor)
        cursor = max(cursor, hi)
    if best is not None:
        return best[1]
    if capacity is None or cursor + size <= capacity:
        return cursor
    return None


def arena_size(items: list[Item], offsets: dict) -> int:
    return max((offsets[it.key] + it.size for it in items if it.key in offsets), default=0)


def pack_best(items: list[Item], capacity: int | None):
    """Try every ordering with best and first fit; the first complete packing under capacity wins.

    Returns (offsets, failed) of the best attempt: complete if any attempt fits,
    otherwise the attempt with the fewest failed bytes.
    """
    best = None
    for order in ORDERS:
        for fit in ("best", "first"):
            offsets, failed = greedy(items, capacity, order, fit)
            if not failed:
                return offsets, []
            lost = sum(it.size for it in failed)
            if best is None or lost < best[0]:
                best = (lost, offsets, failed)
    return best[1], best[2]


# ---- exact placement by ILP, around the spots where the greedy orders fail -------------------


def pack_ilp(items: list[Item], capacity: int, time_limit: float, max_pairs: int = 30000, solver: str = "auto"):
    """Offsets for every item below `capacity`, or None if not found within `time_limit` seconds.

    A large-neighbourhood search: start from the best greedy attempt with the
    items it could not place put above the others; take the first step range
    where something overflows, free every item live in that range widened by
    a margin, and solve for their offsets by ILP (a big-M disjunction per pair
    of time-overlapping items, as in the COSMA formulation) with every other
    item fixed. An infeasible neighbourhood is widened (margin 2, 8, 32, ...
    steps, at last the whole plan) until it is solved or has more than
    `max_pairs` pairs; then the next overflow is treated.
    """
    import time

    deadline = time.perf_counter() + time_limit
    offsets, failed = pack_best(items, capacity)
    if not failed:
        return offsets
    for it in failed:  # give the failed items an offset anyway, above capacity
        offsets[it.key] = _lowest_free(it, items, offsets)
    sized = [it for it in items if it.size]
    T = max((it.end for it in items), default=0) + 1
    while True:
        over = sorted((it for it in sized if offsets[it.key] + it.size > capacity), key=lambda it: it.start)
        if not over:
            return offsets
        # the first cluster of overflowing items (step ranges that touch)
        lo, hi = over[0].start, over[0].end
        for it in over[1:]:
            if it.start > hi + 1:
                break
            hi = max(hi, it.end)
        margin, solved = 0, False
        while not solved:
            a, b = max(0, lo - margin), min(T - 1, hi + margin)
            free = [it for it in sized if it.start <= b and a <= it.end]
            if _pairs(free) > max_pairs:
                return None
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            keys = {it.key for it in free}
            new = _solve_offsets(free, [it for it in sized if it.key not in keys], offsets, capacity, left, solver)
            if new is not None:
                offsets.update(new)
                solved = True
            elif a == 0 and b == T - 1:
                return None  # infeasible even with everything free
            else:
                margin = 2 if margin == 0 else margin * 4


def _lowest_free(it: Item, items: list[Item], offsets: dict) -> int:
    busy = sorted((offsets[o.key], offsets[o.key] + o.size) for o in items
                  if o.key in offsets and o.key != it.key and o.start <= it.end and it.start <= o.end)
    return _find_gap(busy, it.size, None, "first")


def _pairs(free: list[Item]) -> int:
    n = 0
    fs = sorted(free, key=lambda it: it.start)
    for i, a in enumerate(fs):
        for b in fs[i + 1:]:
            if b.start > a.end:
                break
            n += 1
    return n


def _solve_offsets(free: list[Item], fixed: list[Item], offsets: dict, capacity: int, time_limit: float, solver: str):
    """Offsets for `free` items below capacity that avoid each other and the `fixed` items."""
    import pulp

    from tensorc.planning import solver as S

    prob = pulp.LpProblem("placement", pulp.LpMinimize)
    L = {it.key: prob.add_variable(f"L{i}", 0, capacity - it.size) for i, it in enumerate(free)}
    fs = sorted(free, key=lambda it: it.start)
    n = 0
    for i, a in enumerate(fs):  # free-free pairs: one binary decides which lies below
        for b in fs[i + 1:]:
            if b.start > a.end:
                break
            z = prob.add_variable(f"z{n}", cat="Binary")
            n += 1
            prob += L[a.key] + a.size <= L[b.key] + capacity * (1 - z)
            prob += L[b.key] + b.size <= L[a.key] + capacity * z
    for a in free:  # free-fixed pairs: below or above the fixed item, whichever is possible
        for f in fixed:
            if f.start > a.end or a.start > f.end:
                continue
            lo, hi = offsets[f.key], offsets[f.key] + f.size
            can_below, can_above = lo - a.size >= 0, hi + a.size <= capacity
            if can_below and can_above:
                z = prob.add_variable(f"z{n}", cat="Binary")
                n += 1
                prob += L[a.key] + a.size <= lo + capacity * (1 - z)
                prob += hi <= L[a.key] + capacity * z
            elif can_below:
                prob += L[a.key] + a.size <= lo
            elif can_above:
                prob += L[a.key] >= hi
            else:
                return None
    prob += 0
    res = S.solve(prob, time_limit, solver=solver)
    if not res.has_solution:
        return None
    # offsets are integral at a vertex of these difference constraints; round, then make sure
    out = {it.key: int(round(L[it.key].varValue or 0)) for it in free}
    placed = [(out[it.key], it) for it in free] + [(offsets[f.key], f) for f in fixed]
    if not _disjoint(placed, capacity):
        return None
    return out


def _disjoint(placed: list[tuple[int, Item]], capacity: int) -> bool:
    """No two time-overlapping items overlap in memory, all below capacity."""
    if any(off < 0 or off + it.size > capacity for off, it in placed):
        return False
    ps = sorted(placed, key=lambda p: p[1].start)
    for i, (oa, a) in enumerate(ps):
        for ob, b in ps[i + 1:]:
            if b.start > a.end:
                break
            if oa < ob + b.size and ob < oa + a.size:
                return False
    return True
