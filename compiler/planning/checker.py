"""The independent plan checker: replays a plan step by step and recomputes its traffic.

It trusts nothing the planner computed except the events; it uses only the
graph (ops, tensor sizes, producers, consumers, outputs) and re-derives:
  - the order runs every operator once, after the producers of its inputs;
  - every input of an operator is resident when it runs (a missing retrieve is caught);
  - a retrieve reads a tensor DRAM holds (an input, a weight, a spilled or stored tensor);
  - a tensor is only released without a copy when it is never needed again or DRAM has it;
  - no two resident tensors overlap, and every one fits below the capacity;
  - the plan's claimed residency (`Step.resident`) equals the replayed one, so a
    tensor cannot silently move while it is preserved;
  - each graph output is written back exactly once;
  - the traffic the plan claims equals the traffic of its events.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorc.diagnostics import TensorcError
from tensorc.planning.graph import Graph
from tensorc.planning.plan import Plan


class PlanCheckError(TensorcError):
    """A plan violates a rule of the memory model; `problems` lists every violation found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"invalid memory plan: {problems[0]}{more}")


@dataclass
class CheckReport:
    spill_bytes: int
    retrieve_bytes: int
    store_bytes: int
    non_compulsory: int  # spills + retrieves beyond each input's first read
    peak_resident: int  # most bytes resident at one step
    arena: int  # highest end offset of any resident tensor


def check_plan(graph: Graph, plan: Plan, max_problems: int = 20) -> CheckReport:
    """Replay `plan` on `graph`; raise PlanCheckError listing the violations, else return the figures."""
    problems: list[str] = []

    def bad(msg: str) -> None:
        problems.append(msg)

    T = graph.n_ops
    tensors = graph.tensors
    nm = lambda a: f"'{tensors[a].name}'"  # noqa: E731
    order = plan.order
    if sorted(order) != list(range(T)) or len(plan.steps) != T:
        raise PlanCheckError([f"the order must run each of the {T} operators exactly once"])
    if [s.op for s in plan.steps] != list(order):
        raise PlanCheckError(["steps do not follow the order"])

    # remaining uses of each tensor, by step, to tell dead tensors from live ones
    pos = {op: t for t, op in enumerate(order)}
    uses = [sorted(pos[c] for c in t.consumers) for t in tensors]

    def needed_after(a: int, t: int) -> bool:
        """Is tensor a used at step t or later?"""
        return any(u >= t for u in uses[a])

    resident: dict[int, int] = {}
    in_dram = {t.id for t in tensors if t.in_dram_at_start}
    created: set[int] = set()
    stored: dict[int, int] = {}
    spill_b = retrieve_b = store_b = 0
    first_read: set[int] = set()
    first_read_b = 0
    peak = arena = 0

    for t, st in enumerate(plan.steps):
        op = graph.ops[st.op]
        where = f"step {t} ({op.describe()})"
        for a in st.spill:
            if a not in resident:
                bad(f"{where}: spills {nm(a)}, which is not resident")
                continue
            if a in in_dram:
                bad(f"{where}: spills {nm(a)} again (DRAM already has it; spill once)")
            in_dram.add(a)
            spill_b += tensors[a].size
            del resident[a]
        for a in st.drop:
            if a not in resident:
                bad(f"{where}: drops {nm(a)}, which is not resident")
                continue
            if needed_after(a, t) and a not in in_dram:
                bad(f"{where}: drops {nm(a)} without spilling it, but it is needed later")
            del resident[a]
        for a, off in st.retrieve:
            if a in resident:
                bad(f"{where}: retrieves {nm(a)}, which is already resident")
                continue
            if a not in in_dram:
                bad(f"{where}: retrieves {nm(a)}, which DRAM does not hold (never spilled)")
            if tensors[a].producer is not None and a not in created:
                bad(f"{where}: retrieves {nm(a)} before its producer ran")
            retrieve_b += tensors[a].size
            if tensors[a].in_dram_at_start and a not in first_read:
                first_read.add(a)
                first_read_b += tensors[a].size
            resident[a] = off
        for a in op.inputs:
            if tensors[a].producer is not None and a not in created:
                bad(f"{where}: input {nm(a)} is used before its producer ran")
            elif a not in resident:
                bad(f"{where}: input {nm(a)} is not resident (missing retrieve)")
        made = [a for a, _ in st.create]
        if sorted(made) != sorted(op.outputs):
            bad(f"{where}: creates {[tensors[a].name for a in made]}, the operator's outputs are "
                f"{[tensors[a].name for a in op.outputs]}")
        for a, off in st.create:
            if a in created:
                bad(f"{where}: creates {nm(a)} a second time")
            created.add(a)
            resident[a] = off

        # capacity and overlaps among everything resident while the op runs
        used = 0
        spans = []
        for a, off in resident.items():
            size = tensors[a].size
            used += size
            if off < 0 or off + size > plan.capacity:
                bad(f"{where}: {nm(a)} at [{off}, {off + size}) is outside the scratchpad of {plan.capacity} bytes")
            arena = max(arena, off + size)
            if size > 0:
                spans.append((off, off + size, a))
        spans.sort()
        for (o1, e1, a1), (o2, e2, a2) in zip(spans, spans[1:]):
            if o2 < e1:
                bad(f"{where}: {nm(a1)} at [{o1}, {e1}) overlaps {nm(a2)} at [{o2}, {e2})")
        peak = max(peak, used)

        if st.resident != resident:
            moved = [a for a in st.resident if a in resident and st.resident[a] != resident[a]]
            for a in moved:
                bad(f"{where}: the plan places {nm(a)} at {st.resident[a]} but it is resident at "
                    f"{resident[a]} (a preserved tensor cannot move)")
            extra = set(st.resident) - set(resident)
            missing = set(resident) - set(st.resident)
            if extra or missing:
                bad(f"{where}: claimed residency differs from the replay (claimed only: "
                    f"{sorted(tensors[a].name for a in extra)}, replayed only: {sorted(tensors[a].name for a in missing)})")

        for a in st.store:
            if not tensors[a].is_output:
                bad(f"{where}: stores {nm(a)}, which is not a graph output")
            if a not in resident:
                bad(f"{where}: stores {nm(a)}, which is not resident")
            stored[a] = stored.get(a, 0) + 1
            store_b += tensors[a].size
            in_dram.add(a)
        if len(problems) >= max_problems:
            break

    if len(problems) < max_problems:
        for tn in tensors:
            if tn.is_output and not tn.in_dram_at_start and stored.get(tn.id, 0) != 1:
                bad(f"output {nm(tn.id)} is written back {stored.get(tn.id, 0)} times (must be once)")
    non_compulsory = spill_b + retrieve_b - first_read_b
    if not problems and plan.traffic != non_compulsory:
        bad(f"the plan claims {plan.traffic} bytes of non-compulsory traffic, its events move {non_compulsory}")
    if problems:
        raise PlanCheckError(problems)
    return CheckReport(spill_b, retrieve_b, store_b, non_compulsory, peak, arena)
