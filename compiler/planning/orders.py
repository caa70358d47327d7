"""Execution orders: the program's own, and one that keeps the spill-free footprint low.

`min_peak_order` is a beam search over topological orders (the dynamic
program of Serenity / HMCOS with the frontier pruned to the best `width`
partial schedules): a state is the set of operators run so far; its cost is
the peak of resident bytes so far, then the bytes resident now. States that
ran the same set of operators are merged, keeping the cheaper one, so
branchy graphs (Inception modules, DenseNet blocks) explore their
interleavings without blowing up.
"""

from __future__ import annotations

import heapq

from tensorc.planning.graph import Graph


def min_peak_order(graph: Graph, width: int = 64) -> list[int]:
    """A topological order whose spill-free peak footprint is as low as the beam finds."""
    n = graph.n_ops
    if n == 0:
        return []
    tensors = graph.tensors
    ops = graph.ops
    preds = graph.preds
    succs = graph.succs
    n_uses = [len(t.consumers) for t in tensors]
    pred_mask = [sum(1 << p for p in preds[i]) for i in range(n)]

    # state: (peak, mem, tiebreak, mask, live{tensor: remaining uses}, ready tuple, order)
    # the order is a linked list (last op, rest): extending a state is O(1), not O(steps)
    start_ready = tuple(i for i in range(n) if not preds[i])
    beam = [(0, 0, 0, 0, {}, start_ready, None)]
    for _ in range(n):
        best: dict[int, tuple] = {}
        for peak, mem, _tb, mask, live, ready, order in beam:
            for op in ready:
                o = ops[op]
                step_mem = mem
                for a in o.inputs:
                    if a not in live:
                        step_mem += tensors[a].size
                for a in o.outputs:
                    step_mem += tensors[a].size
                new_peak = max(peak, step_mem)
                new_mask = mask | (1 << op)
                cur = best.get(new_mask)
                if cur is not None and (cur[0], cur[1]) <= (new_peak, step_mem):
                    continue  # an as-good state with the same operators exists (mem after <= step_mem)
                new_live = dict(live)
                freed = 0
                for a in o.inputs:
                    left = new_live.get(a, n_uses[a]) - 1
                    if left == 0:
                        new_live.pop(a, None)
                        freed += tensors[a].size
                    else:
                        new_live[a] = left
                for a in o.outputs:
                    if n_uses[a]:
                        new_live[a] = n_uses[a]
                    else:
                        freed += tensors[a].size
                new_mem = step_mem - freed
                if cur is not None and (cur[0], cur[1]) <= (new_peak, new_mem):
                    continue
                new_ready = [r for r in ready if r != op]
                for s in succs[op]:
                    if pred_mask[s] & ~new_mask == 0:
                        new_ready.append(s)
                best[new_mask] = (new_peak, new_mem, op, new_mask, new_live, tuple(new_ready), (op, order))
        beam = heapq.nsmallest(width, best.values(), key=lambda s: (s[0], s[1], s[2]))
    out, node = [], min(beam, key=lambda s: s[0])[6]
    while node is not None:
        out.append(node[0])
        node = node[1]
    return out[::-1]


def best_spill_free_order(graph: Graph, width: int = 64) -> tuple[list[int], int]:
    """The lower-peak of the default order and the beam's order, with its peak."""
    default = graph.default_order()
    cands = [default, min_peak_order(graph, width)]
    peaks = [graph.peak(o) for o in cands]
    i = min(range(len(cands)), key=lambda k: peaks[k])
    return cands[i], peaks[i]
