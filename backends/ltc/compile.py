"""The ltc target's driver: tg program → `.ltc` program (docs/ltc.md, "Compiler").

    cleanup → lut-mpgemm{table-type=i8},lut-symmetrize (when there are low-bit matmuls)
      → fuse_erf_gelu, split_host_prologue (prepare.py)
      → the COSMA `traffic` plan of the activations for the plan's share of the scratchpad,
        written into the IR (mem dialect)
      → instruction selection and the stream (codegen.py, isel.py, lut_kernel.py)
      → the `ltc` dialect (one op per instruction; verified, converted back: the stream that is
        encoded is the one the dialect holds) → LTCProgram (.ltc)

The scratchpad is split: `capacity = spad_bytes − workspace` bytes for the plan, the rest for the
operators' streaming buffers (weight tiles, accumulators, staged parameters). The workspace
defaults to a quarter of the scratchpad, or less (down to 64 KiB) when the largest operator's
working set (COSMA's M_R) needs the room.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from xdsl.dialects.builtin import ModuleOp

from tensorc.diagnostics import BackendError, TensorcError
from tensorc.dialects.ltc import module_to_stream, stream_to_module
from tensorc.ir_text import print_module
from tensorc.program import Program
from tensorc.runtime.ltc.config import LTCConfig
from tensorc.runtime.ltc.program import LTCProgram

from .codegen import Emitter
from .prepare import fuse_erf_gelu, split_host_prologue

DEFAULT_WORKSPACE_SHARE = 4  # workspace = spad_bytes / 4 unless given (or the plan needs more room)
MIN_WORKSPACE = 64 * 1024


@dataclass
class LTCCompiled:
    program: LTCProgram
    stream: ModuleOp  # the ltc dialect module (one op per instruction)
    core: Program  # the planned tg/lut/mem program the stream was selected from
    host: Program | None  # the host prologue (embedding lookups, int64 casts), if any
    config: LTCConfig
    traffic: dict = field(default_factory=dict)  # the plan's predicted DMA bytes, by class
    info: dict = field(default_factory=dict)


def _has(prog: Program, name: str) -> bool:
    return any(op.name == name for op in prog.module.walk())


def prepare_program(prog: Program, *, table_type: str = "i8", dump_dir=None) -> tuple[Program, Program | None, dict]:
    """The tg/lut program the plan sees, the host prologue, and what was rewritten."""
    from tensorc.pipeline import run_passes

    prog = prog.clone()
    prog = run_passes(prog, "cleanup", dump_dir=_sub(dump_dir, "1-cleanup"))
    if _has(prog, "tg.matmul_nbits"):
        prog = run_passes(prog, f"lut-mpgemm{{table-type={table_type}}},lut-symmetrize",
                          dump_dir=_sub(dump_dir, "2-lut"))
    gelus = fuse_erf_gelu(prog.main, prog.weights)
    if gelus:
        prog = run_passes(prog, "dce")
    core, host = split_host_prologue(prog)
    return core, host, {"gelu_fused": gelus}


def _sub(d, name):
    return None if d is None else os.path.join(d, name)


def plan_memory(core: Program, capacity: int, *, time_limit: float = 10.0, plan: str = "cosma"):
    """Plan the activations of `core` for `capacity` bytes (mode traffic, each tensor's own dtype
    size, weights streamed) and write the plan into its IR. `plan`: "cosma", or the name of one of
    the planner's baselines (e.g. tflite-default-greedy, the greedy arena that evicts the largest).
    Returns the PlanResult (with `best` the plan used)."""
    from tensorc.planning.cosma import PlanningError, plan_graph
    from tensorc.planning.graph import Graph
    from tensorc.planning.ir import attach_plan

    fn = core.main
    graph = Graph.from_func(fn, elem_bytes=None, weights=False)
    try:
        result = plan_graph(graph, scratchpad=capacity, mode="traffic", time_limit=time_limit)
    except PlanningError as e:
        raise BackendError(f"ltc: {e}") from None
    except TensorcError as e:
        raise BackendError(f"ltc: {e}") from None
    if plan != "cosma":
        chosen = [c for c in result.baselines if c.plan.method == plan]
        if not chosen:
            raise BackendError(f"ltc: unknown plan '{plan}' (cosma or one of "
                               f"{', '.join(sorted(c.plan.method for c in result.baselines))})")
        result = dataclasses.replace(result, best=chosen[0])
    attach_plan(fn, graph, result)
    return result


def compile_ltc(prog: Program, *, config: LTCConfig | None = None, workspace: int | None = None,
                time_limit: float = 10.0, plan: str = "cosma", fuse: bool = True, table_type: str = "i8",
                epilogue: str = "array", shapes_only: bool = False, dump_dir=None) -> LTCCompiled:
    """`epilogue`: where lut.mpgemm's dequantizing epilogue runs — "array" (lmma.dq: in the arrays'
    output stage) or "vector" (lmma writes per-block accumulators, vdq reads them back).
    `shapes_only`: lut.mpgemm weights that the program's WeightStore does not hold (synthetic
    workloads, workloads.py) get DRAM space of their size and no values; the program is then for
    timing only (`meta.timing_only`; the simulator refuses to run its numerics)."""
    from tensorc.planning.graph import Graph

    from .lut_kernel import EPILOGUES

    if epilogue not in EPILOGUES:
        raise BackendError(f"ltc: epilogue '{epilogue}' is not one of {', '.join(EPILOGUES)}")
    cfg = config or LTCConfig()
    core, host, info = prepare_program(prog, table_type=table_type, dump_dir=dump_dir)
    if workspace is None:
        # a quarter of the scratchpad, less when the plan's largest operator needs more (down to
        # MIN_WORKSPACE: the kernels then tile finer)
        m_r = Graph.from_func(core.main, elem_bytes=None, weights=False).m_r
        ws = max(min(cfg.spad_bytes // DEFAULT_WORKSPACE_SHARE, (cfg.spad_bytes - m_r) // 64 * 64),
                 min(MIN_WORKSPACE, cfg.spad_bytes // DEFAULT_WORKSPACE_SHARE))
    else:
        ws = -(-workspace // 64) * 64
    capacity = cfg.spad_bytes - ws
    if capacity <= 0 or ws <= 0:
        raise BackendError(f"ltc: workspace of {ws} bytes leaves no room in the {cfg.spad_bytes}-byte scratchpad")
    in_names = [s.name for s in core.signature.inputs]
    out_names = [s.name for s in core.signature.outputs]
    result = plan_memory(core, capacity, time_limit=time_limit, plan=plan)
    if dump_dir is not None:
        os.makedirs(dump_dir, exist_ok=True)
        with open(os.path.join(dump_dir, "3-planned.mlir"), "w") as f:
            f.write(print_module(core.module))
    em = Emitter(core.main, core.weights, cfg, capacity, in_names=in_names, out_names=out_names, fuse=fuse,
                 epilogue=epilogue, shapes_only=shapes_only)
    b = em.run()

    # the stream goes through the ltc dialect: what is encoded is what the dialect holds
    stream = stream_to_module(b.instrs, em.origins)
    stream.verify()
    instrs = module_to_stream(stream)
    if instrs != b.instrs:  # pragma: no cover - the dialect is generated from the ISA table
        raise BackendError("ltc: the ltc dialect changed the instruction stream")
    if dump_dir is not None:
        with open(os.path.join(dump_dir, "4-ltc.mlir"), "w") as f:
            f.write(print_module(stream))

    rep = result.best.report
    first_reads = rep.spill_bytes + rep.retrieve_bytes - rep.non_compulsory
    traffic = {
        # what the plan moves (activations), in the simulator's classes
        "read_compulsory_activations": first_reads,
        "read_retrieve": rep.retrieve_bytes - first_reads,
        "write_compulsory": rep.store_bytes,
        "write_spill": rep.spill_bytes,
        "plan_non_compulsory": rep.non_compulsory,
        # weights and parameters streamed into the workspace (compulsory reads)
        "read_weights": em.weight_bytes,
    }
    traffic["total"] = (traffic["read_compulsory_activations"] + traffic["read_retrieve"] + traffic["write_compulsory"]
                        + traffic["write_spill"] + traffic["read_weights"])
    meta = {
        "target": "ltc",
        "plan": {"method": result.plan.method, "status": result.plan.status, "capacity": capacity,
                 "workspace": ws, "m_r": result.budgets.m_r, "traffic_non_compulsory": rep.non_compulsory},
        "predicted_dram_bytes": traffic,
        "host_prologue": [f"{op.name}" + (f" (node '{op.attributes['src'].data}')" if "src" in op.attributes else "")
                          for op in host.main.body.block.ops if op.name.startswith("tg.")
                          and op.name not in ("tg.weight", "tg.constant")] if host else [],
        "fused_precomputes": em.fused,
        "epilogue": epilogue,
    }
    if em.reserved:
        meta["timing_only"] = {"shape_only_weight_bytes": em.reserved}
    program = b.build(meta)
    program.instrs = instrs
    info.update({"fused_precomputes": em.fused, "plan": meta["plan"], "workspace_high": em.ws.high - em.ws.base})
    return LTCCompiled(program, stream, core, host, cfg, traffic, info)
