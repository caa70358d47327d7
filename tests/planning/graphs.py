"""Small graphs for the planning tests: hand-made ones with known answers, and random NAS-like cells."""

from __future__ import annotations

import random

from tensorc.planning.graph import Graph


def skip_graph() -> Graph:
    """x -> a -> b (wide) -> c (wide) -> d, e = a + d: at M_R the skip tensor `a` must leave."""
    return Graph.synthetic(
        [("relu", ["x"], ["a"]), ("fc1", ["a"], ["b"]), ("act", ["b"], ["c"]), ("fc2", ["c"], ["d"]),
         ("add", ["a", "d"], ["e"])],
        {"x": 64, "a": 64, "b": 256, "c": 256, "d": 64, "e": 64},
        inputs=["x"], outputs=["e"],
    )


def branches_graph() -> Graph:
    """Two independent branches joined by an add; the order decides the peak (72 vs 64)."""
    return Graph.synthetic(
        [("s", ["y"], ["s"]), ("p", ["x"], ["p"]), ("q", ["p"], ["q"]), ("r", ["q"], ["r"]), ("o", ["s", "r"], ["o"])],
        {"x": 8, "y": 8, "s": 8, "p": 32, "q": 32, "r": 8, "o": 8},
        inputs=["x", "y"], outputs=["o"],
    )


def cell_graph(n_ops: int = 12, seed: int = 0, reach: int = 3, weights: bool = False) -> Graph:
    """A NAS-cell-like random DAG: each operator reads one or two of the last `reach` tensors."""
    rnd = random.Random(seed)
    sizes = {"x": rnd.randint(4, 16)}
    names = ["x"]
    edges = []
    ws = []
    for i in range(n_ops):
        k = 1 if i == 0 else rnd.choice([1, 1, 2])
        pool = names[-reach:]
        ins = rnd.sample(pool, min(k, len(pool)))
        if weights and rnd.random() < 0.5:
            w = f"w{i}"
            sizes[w] = rnd.randint(1, 12)
            ws.append(w)
            ins.append(w)
        out = f"t{i}"
        sizes[out] = rnd.randint(2, 16)
        edges.append((f"op{i}", ins, [out]))
        names.append(out)
    return Graph.synthetic(edges, sizes, inputs=["x"], outputs=[names[-1]], weights=ws)
