"""Targets: `tensorc.compile(prog, target)` dispatches here.

Every target returns an Executable: call it with numpy arrays (keyword
arguments by input name, or positionally) and get a dict of outputs by name.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tensorc.diagnostics import BackendError, InputError
from tensorc.program import Program, Signature
from tensorc.runtime import signature as rt_sig


class Executable:
    """A compiled program: checks its inputs, runs, and names its outputs."""

    target = "?"

    def __init__(self, signature: Signature):
        self.signature = signature

    def __call__(self, *args, **kwargs) -> dict[str, np.ndarray]:
        try:
            arrays = rt_sig.check_inputs(self.signature.inputs, args, kwargs)
        except rt_sig.InputError as e:
            raise InputError(str(e)) from None
        outs = self.run(arrays)
        return {spec.name: out for spec, out in zip(self.signature.outputs, outs)}

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError


class ReferenceExecutable(Executable):
    target = "reference"

    def __init__(self, prog: Program):
        from tensorc.backends.reference import main_of

        super().__init__(prog.signature)
        prog.module.verify()
        self._main = main_of(prog.module)
        self._weights = prog.weights

    def run(self, inputs):
        from tensorc.backends.reference import run_function

        return run_function(self._main, inputs, self._weights)


TARGETS: dict[str, Callable[..., Executable]] = {
    "reference": lambda prog, **_: ReferenceExecutable(prog),
}


def compile_program(prog: Program, target: str, **options) -> Executable:
    factory = TARGETS.get(target)
    if factory is None:
        raise BackendError(f"unknown target '{target}' (available: {', '.join(sorted(TARGETS))})")
    return factory(prog, **options)
