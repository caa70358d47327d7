"""cosma: schedule, scratchpad allocation and tensor replacement (COSMA), written into the IR.

    -p 'cosma{scratchpad="auto:MR" mode=traffic time-limit=30 weights=false elem-bytes=1}'

Plans `@main` (see tensorc.planning) and rewrites it with the `mem` dialect:
operators in plan order, explicit `mem.spill` / `mem.retrieve` copies between
DRAM and the scratchpad, `mem.place` offsets, `mem.store` for outputs, and the
plan's summary in the function's `mem.plan` attribute. The plan has passed the
independent checker before it touches the IR.

A scratchpad smaller than M_R fails with one line naming M_R and the operator
whose working set needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from tensorc.diagnostics import PassError


@dataclass(frozen=True)
class Cosma(ModulePass):
    """Plan execution order, scratchpad offsets and spills (COSMA ILP); make copies explicit (mem)."""

    name = "cosma"

    scratchpad: str | int = "auto:MR"
    """Scratchpad bytes (e.g. 1048576, "512KiB") or "auto:MR", "auto:MH", "auto:MP" (quoted: `:` is pipeline syntax)."""

    mode: str = "traffic"
    """traffic (fewest spill/retrieve bytes), min-peak (no spills, smallest arena) or fixed-schedule."""

    time_limit: float | int = 30
    """Seconds for planning; the best valid plan found by then is used."""

    weights: bool = False
    """Count weights as tensors that must be read into the scratchpad."""

    elem_bytes: int = 1
    """Bytes per tensor element (1: the paper's 8-bit sizes; 0: each tensor's own dtype)."""

    solver: str = "auto"
    """MILP solver: auto (HiGHS, else CBC), highs or cbc."""

    explicit: bool = True
    """false: only put the operators in plan order (and record mem.plan), no copy ops; for
    targets that place their own buffers, e.g. llvm-cpu's arena with mode=min-peak."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from tensorc.planning.cosma import PlanningError, plan_graph
        from tensorc.planning.graph import Graph
        from tensorc.planning.ir import attach_plan, reorder

        fn = _main(op)
        if "mem.plan" in fn.attributes:
            raise PassError("cosma: @main already carries a memory plan")
        if self.elem_bytes < 0:
            raise PlanningError("cosma: elem-bytes must be >= 0")
        graph = Graph.from_func(fn, elem_bytes=self.elem_bytes or None, weights=self.weights)
        result = plan_graph(graph, scratchpad=self.scratchpad, mode=self.mode,
                            time_limit=float(self.time_limit), solver=self.solver)
        if self.explicit:
            attach_plan(fn, graph, result)
        else:
            reorder(fn, graph, result)


def _main(module: ModuleOp) -> func.FuncOp:
    funcs = [o for o in module.ops if isinstance(o, func.FuncOp)]
    for f in funcs:
        if f.sym_name.data == "main":
            return f
    if len(funcs) == 1:
        return funcs[0]
    raise PassError("cosma: the module has no func.func @main")


__all__ = ["Cosma"]
