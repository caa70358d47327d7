"""`tensorc.compile(prog, target="ltc")`: the compiled stream, run on the simulator."""

from __future__ import annotations

import numpy as np

from tensorc.program import Program
from tensorc.runtime.ltc import simulate
from tensorc.targets import Executable

from .compile import compile_ltc


class LTCExecutable(Executable):
    """Calls run the host prologue (if any) with the reference kernels, then simulate the stream;
    `last_report` is the simulator's report of the last call (docs/ltc.md §4)."""

    target = "ltc"

    def __init__(self, prog: Program, config=None, workspace=None, time_limit: float = 10.0, plan: str = "cosma",
                 fuse: bool = True, functional: bool = True, epilogue: str = "array", **_):
        super().__init__(prog.signature)
        self.compiled = compile_ltc(prog, config=config, workspace=workspace, time_limit=time_limit, plan=plan,
                                    fuse=fuse, epilogue=epilogue)
        self.program = self.compiled.program
        self.functional = functional
        self.last_report: dict | None = None

    def save(self, path) -> None:
        self.program.save(path)

    def run(self, inputs):
        named = {s.name: a for s, a in zip(self.signature.inputs, inputs)}
        host = self.compiled.host
        if host is not None:
            from tensorc.backends.reference import run_function

            outs = run_function(host.main, [named[s.name] for s in host.signature.inputs], host.weights)
            named.update({s.name: np.asarray(o) for s, o in zip(host.signature.outputs, outs)})
        core_in = {s.name: np.ascontiguousarray(named[s.name]) for s in self.compiled.core.signature.inputs}
        res = simulate(self.program, core_in, self.compiled.config, functional=self.functional)
        self.last_report = res.report
        if not self.functional:
            return [np.zeros(s.shape, s.dtype) for s in self.signature.outputs]
        return [res.outputs[s.name] for s in self.signature.outputs]
