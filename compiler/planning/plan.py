"""A memory plan: the execution order and, step by step, what moves where.

Step t runs operator `order[t]`. Before it runs, in this order:
  spill     tensors written to DRAM and released (non-compulsory traffic);
  drop      tensors released without a copy (dead, or already in DRAM);
  retrieve  (tensor, offset): tensors read from DRAM into the scratchpad.
Then the operator runs with every input resident and writes its outputs:
  create    (tensor, offset);
  store     graph outputs written back to DRAM right away (compulsory).
`resident` is the plan's own claim of what is in the scratchpad while the
operator runs (tensor -> offset); the checker recomputes it from the events.

A tensor keeps its offset for as long as it stays resident; it can only move
by being released and retrieved again.

Every planner (baselines and COSMA) produces *residency intervals* — a
tensor, a first and last step, an offset — and `Plan.from_intervals` turns
them into events, so the event logic lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tensorc.planning.graph import Graph


@dataclass
class Step:
    op: int
    spill: list[int] = field(default_factory=list)
    drop: list[int] = field(default_factory=list)
    retrieve: list[tuple[int, int]] = field(default_factory=list)
    create: list[tuple[int, int]] = field(default_factory=list)
    store: list[int] = field(default_factory=list)
    resident: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Interval:
    """Tensor `tensor` resident at `offset` from step `start` to step `end` (inclusive)."""

    tensor: int
    start: int
    end: int
    offset: int


@dataclass
class Plan:
    order: list[int]
    steps: list[Step]
    capacity: int
    method: str = "?"
    status: str = "heuristic"  # optimal | feasible | heuristic
    solve_s: float = 0.0
    traffic: int = 0  # claimed non-compulsory bytes (spills + retrieves beyond the first read of inputs)
    info: dict = field(default_factory=dict)

    @property
    def proven_optimal(self) -> bool:
        return self.status == "optimal"

    # ---- construction ----------------------------------------------------------
    @staticmethod
    def from_intervals(graph: Graph, order: list[int], intervals: list[Interval], capacity: int, **kw) -> "Plan":
        """Events from residency intervals.

        An interval starting at the tensor's producer step begins with `create`,
        any other with `retrieve`. When an interval ends and the tensor is needed
        again later, it is spilled if DRAM has no copy yet, else dropped; after
        its last interval it is dropped.
        """
        pos = graph.positions(order)
        steps = [Step(op) for op in order]
        by_tensor: dict[int, list[Interval]] = {}
        for iv in intervals:
            by_tensor.setdefault(iv.tensor, []).append(iv)
        spilled = retrieved = 0
        first_reads = 0
        T = len(order)
        for tid, ivs in by_tensor.items():
            t = graph.tensors[tid]
            ivs.sort(key=lambda iv: iv.start)
            in_dram = t.in_dram_at_start
            born = pos[t.producer] if t.producer is not None else None
            for k, iv in enumerate(ivs):
                if iv.start == born:
                    steps[iv.start].create.append((tid, iv.offset))
                    if t.is_output:
                        steps[iv.start].store.append(tid)
                        in_dram = True
                else:
                    steps[iv.start].retrieve.append((tid, iv.offset))
                    retrieved += t.size
                    if k == 0 and t.in_dram_at_start:
                        first_reads += t.size
                for s in range(iv.start, iv.end + 1):
                    steps[s].resident[tid] = iv.offset
                if iv.end + 1 < T:
                    later = k + 1 < len(ivs)
                    if later and not in_dram:
                        steps[iv.end + 1].spill.append(tid)
                        spilled += t.size
                        in_dram = True
                    else:
                        steps[iv.end + 1].drop.append(tid)
        for s in steps:  # deterministic event order: by tensor id
            s.spill.sort()
            s.drop.sort()
            s.retrieve.sort()
            s.create.sort()
            s.store.sort()
        plan = Plan(list(order), steps, capacity, **kw)
        plan.traffic = spilled + retrieved - first_reads
        return plan

    def intervals(self) -> list[Interval]:
        """The residency intervals behind the events (inverse of from_intervals)."""
        open_: dict[int, tuple[int, int]] = {}
        out: list[Interval] = []
        for t, st in enumerate(self.steps):
            for a in st.spill + st.drop:
                s, off = open_.pop(a)
                out.append(Interval(a, s, t - 1, off))
            for a, off in st.retrieve + st.create:
                open_[a] = (t, off)
        for a, (s, off) in open_.items():
            out.append(Interval(a, s, len(self.steps) - 1, off))
        return sorted(out, key=lambda iv: (iv.start, iv.tensor))

    # ---- figures -----------------------------------------------------------------
    def arena(self, graph: Graph) -> int:
        """The highest byte any resident tensor reaches (the footprint incl. fragmentation)."""
        top = 0
        for st in self.steps:
            for a, off in st.resident.items():
                top = max(top, off + graph.tensors[a].size)
        return top

    def peak_resident(self, graph: Graph) -> int:
        return max((sum(graph.tensors[a].size for a in st.resident) for st in self.steps), default=0)

    def spill_count(self) -> int:
        return sum(len(s.spill) for s in self.steps)

    def retrieve_count(self) -> int:
        return sum(len(s.retrieve) for s in self.steps)

    # ---- JSON ------------------------------------------------------------------------
    def to_dict(self, graph: Graph) -> dict:
        name = lambda a: graph.tensors[a].name  # noqa: E731
        return {
            "method": self.method,
            "status": self.status,
            "proven_optimal": self.proven_optimal,
            "solve_s": round(self.solve_s, 4),
            "capacity": self.capacity,
            "traffic_bytes": self.traffic,
            "arena_bytes": self.arena(graph),
            "info": self.info,
            "order": [graph.ops[o].describe() for o in self.order],
            "steps": [
                {
                    "step": t,
                    "op": graph.ops[st.op].describe(),
                    "op_index": st.op,
                    "spill": [name(a) for a in st.spill],
                    "drop": [name(a) for a in st.drop],
                    "retrieve": [[name(a), off] for a, off in st.retrieve],
                    "create": [[name(a), off] for a, off in st.create],
                    "store": [name(a) for a in st.store],
                    "resident": {name(a): off for a, off in sorted(st.resident.items(), key=lambda x: x[1])},
                }
                for t, st in enumerate(self.steps)
            ],
        }

    @staticmethod
    def from_dict(graph: Graph, d: dict) -> "Plan":
        ids = {t.name: t.id for t in graph.tensors}
        steps = [
            Step(
                op=s["op_index"],
                spill=[ids[n] for n in s["spill"]],
                drop=[ids[n] for n in s["drop"]],
                retrieve=[(ids[n], int(o)) for n, o in s["retrieve"]],
                create=[(ids[n], int(o)) for n, o in s["create"]],
                store=[ids[n] for n in s["store"]],
                resident={ids[n]: int(o) for n, o in s["resident"].items()},
            )
            for s in d["steps"]
        ]
        return Plan([s.op for s in steps], steps, int(d["capacity"]), method=d.get("method", "?"),
                    status=d.get("status", "?"), solve_s=float(d.get("solve_s", 0.0)),
                    traffic=int(d["traffic_bytes"]), info=dict(d.get("info", {})))
