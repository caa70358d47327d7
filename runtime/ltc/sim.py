"""Run a `.ltc` program: functional execution in program order, then the cycle model.

    from tensorc.runtime.ltc import read_program, simulate, load_config
    res = simulate(read_program("m.ltc"), {"x": x}, load_config("core.toml"))
    res.outputs["y"], res.report["cycles"], res.report["array"]["utilization"]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import isa
from .config import LTCConfig
from .cost import Energy
from .errors import LTCConfigError, LTCInputError
from .functional import Counters, Memory, execute
from .program import LTCProgram
from .timing import build_report, schedule


@dataclass
class SimResult:
    outputs: dict  # name -> numpy array (empty when functional=False)
    report: dict  # docs/ltc.md §4


def _check_inputs(prog: LTCProgram, inputs: dict) -> dict:
    want = {t.name: t for t in prog.inputs()}
    for name in inputs:
        if name not in want:
            raise LTCInputError(f"input '{name}' is not an input of the program "
                                f"(inputs: {', '.join(want) or 'none'})")
    out = {}
    for name, t in want.items():
        if name not in inputs:
            raise LTCInputError(f"input '{name}' is missing (shape {list(t.shape)}, {t.dtype})")
        a = np.asarray(inputs[name])
        if tuple(a.shape) != t.shape:
            raise LTCInputError(f"input '{name}' has shape {list(a.shape)}, the program expects {list(t.shape)}")
        dt = np.dtype(isa.NUMPY_DTYPES[t.dtype])
        if a.dtype != dt and not np.can_cast(a.dtype, dt, "safe"):
            raise LTCInputError(f"input '{name}' has dtype {a.dtype}, the program expects {dt} "
                                f"(no lossless conversion)")
        out[name] = np.ascontiguousarray(a, dtype=dt)
    return out


def simulate(prog: LTCProgram, inputs: dict | None = None, config: LTCConfig | None = None,
             functional: bool = True) -> SimResult:
    """Execute `prog` on `inputs` and time it on the core `config` (default: LTCConfig()).
    functional=False skips the numerics (timing, traffic and energy only; inputs not needed)."""
    cfg = config or LTCConfig()
    if prog.spad_bytes > cfg.spad_bytes:
        raise LTCConfigError(f"the program needs a {prog.spad_bytes}-byte scratchpad, the configured core has "
                             f"{cfg.spad_bytes} (spad_bytes)")
    accesses = prog.validate()
    outputs = {}
    counters = Counters()
    if functional and prog.meta.get("timing_only"):
        raise LTCInputError("the program was compiled from shape-only weights (meta.timing_only): it has no "
                            "values to compute with; simulate it with functional=False (tensorc sim --timing-only)")
    if functional:
        ins_arrays = _check_inputs(prog, inputs or {})
        mem = Memory(prog.spad_bytes, prog.dram_bytes)
        for s in prog.segments:
            mem.dram[s.addr:s.addr + len(s.data)] = np.frombuffer(s.data, np.uint8)
        for t in prog.inputs():
            raw = ins_arrays[t.name].view(np.uint8).reshape(-1)
            mem.dram[t.addr:t.addr + raw.size] = raw
        for ins in prog.instrs:
            execute(ins, mem, counters)
        for t in prog.outputs():
            dt = np.dtype(isa.NUMPY_DTYPES[t.dtype])
            outputs[t.name] = mem.dram[t.addr:t.addr + t.nbytes].view(dt).reshape(t.shape).copy()
    energy = Energy(cfg)
    sched = schedule(prog.instrs, accesses, cfg, energy)
    report = build_report(prog.instrs, sched, cfg, energy)
    report["functional"] = functional
    report["acc_overflows"] = counters.acc_overflows
    return SimResult(outputs, report)
