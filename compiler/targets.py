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


class LLVMExecutable(Executable):
    """Native code for the host CPU, JIT-compiled in this process."""

    target = "llvm-cpu"

    def __init__(self, prog: Program, cpu: str = "host", dump_dir=None, print_after_all: bool = False,
                 threads: int | None = None, lut: bool = False, simd: str = "auto", **_):
        import time

        from tensorc.backends.llvm import codegen, jit
        from tensorc.backends.llvm.lower_tg import LoweringError
        from tensorc.pipeline import llvm_cpu_pipeline, run_passes

        super().__init__(prog.signature)
        # threads: None = all cores (decided at run time by the thread pool), 1 = no threads, N = N
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise BackendError(f"threads must be a positive integer or None, not {threads!r}")
        self.threads = threads
        # lut: low-bit matmuls through LUT mpGEMM (docs/lut.md §4); simd: cap on the low-bit kernels' ISA
        spec = llvm_cpu_pipeline(threads=threads or 0, cpu=cpu, simd=simd, lut=lut)
        t0 = time.perf_counter()
        try:
            low = run_passes(prog.clone(), spec, dump_dir=dump_dir, print_after_all=print_after_all)
        except LoweringError as e:
            raise BackendError(f"llvm-cpu: {e}") from None
        t1 = time.perf_counter()
        try:
            info = codegen.host_target(cpu)
        except ValueError as e:
            raise BackendError(str(e)) from None
        self.native, stats = jit.build_native(low.module, low.weights, info)
        self._lowered = low  # the llvm-dialect program, for save()
        self.target_info = info
        self.compile_stats = {"lower_s": t1 - t0, **stats, "total_s": time.perf_counter() - t0}
        self._out_specs = prog.signature.outputs

    def save(self, path):
        """Write this program as an ahead-of-time package (.tcpkg, docs/package.md)."""
        from tensorc.package import write_package

        return write_package(path, self._lowered, self.signature, self.target_info, self.threads)

    def run(self, inputs):
        outs = [np.empty(s.shape, s.dtype) for s in self._out_specs]
        self.native.call(list(inputs) + outs)
        return outs


TARGETS: dict[str, Callable[..., Executable]] = {
    "reference": lambda prog, **_: ReferenceExecutable(prog),
    "llvm-cpu": lambda prog, **options: LLVMExecutable(prog, **options),
    "ltc": lambda prog, **options: _ltc_executable(prog, **options),
}


def _ltc_executable(prog: Program, **options) -> Executable:
    """The simulated LUT Tensor Core (tensorc.backends.ltc; docs/ltc.md)."""
    from tensorc.backends.ltc import LTCExecutable

    return LTCExecutable(prog, **options)


def compile_program(prog: Program, target: str, **options) -> Executable:
    factory = TARGETS.get(target)
    if factory is None:
        raise BackendError(f"unknown target '{target}' (available: {', '.join(sorted(TARGETS))})")
    return factory(prog, **options)
