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
