"""The llvm-cpu JIT: compile a tg Program to native code in this process and call it."""

from __future__ import annotations

import ctypes
import time

import llvmlite.binding as llvm
import numpy as np

from tensorc.runtime.weights_blob import pack_weights

from . import codegen


class NativeModule:
    """Machine code for one program, with its weight blob and arena."""

    def __init__(self, llvm_module: llvm.ModuleRef, tm, weights_blob: np.ndarray, arena_size: int, n_args: int):
        self._engine = llvm.create_mcjit_compiler(llvm_module, tm)
        self._engine.finalize_object()
        addr = self._engine.get_function_address("tc_entry")
        self._entry = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(addr)
        # the thread pool's workers run code of this engine: stop them before it is freed
        stop = self._engine.get_function_address("tc_pool_shutdown")
        self._pool_shutdown = ctypes.CFUNCTYPE(None)(stop) if stop else None
        self._blob = weights_blob
        self._arena = np.zeros(arena_size + 64, dtype=np.uint8)
        self._args = (ctypes.c_void_p * n_args)()
        self._n_args = n_args
        # the weights and the arena never move: their slots are filled once
        base = self._arena.ctypes.data
        self._args[n_args - 1] = base + (-base % 64)
        self._args[n_args - 2] = self._blob.ctypes.data

    def __del__(self):
        if getattr(self, "_pool_shutdown", None) is not None:
            self._pool_shutdown()
            self._pool_shutdown = None

    def call(self, buffers: list[np.ndarray]) -> None:
        """buffers: inputs then outputs (C-contiguous); weights and arena are appended."""
        args = self._args
        for i, b in enumerate(buffers):
            args[i] = b.ctypes.data
        self._entry(args)


def build_native(module, weights, info: codegen.TargetInfo) -> tuple[NativeModule, dict]:
    """llvm-dialect module (+ its weight layout) → a callable NativeModule and timing stats."""
    t0 = time.perf_counter()
    ir = codegen.to_llvm_ir(module, info)
    t1 = time.perf_counter()
    tm = codegen.target_machine(info, reloc="pic")  # function addresses (thread-pool thunks) anywhere in memory
    mod = codegen.optimize(ir, tm)
    t2 = time.perf_counter()
    layout = [(a.data[0].data, a.data[1].value.data, a.data[2].value.data) for a in module.attributes["cpu.weights"].data]
    blob = pack_weights(weights, layout, module.attributes["cpu.weights_size"].value.data)
    arena = module.attributes["cpu.arena_size"].value.data
    n_args = None
    for op in module.ops:
        if getattr(op, "sym_name", None) is not None and op.sym_name.data == "main":
            n_args = len(op.function_type.inputs)
    native = NativeModule(mod, tm, blob, arena, n_args)
    t3 = time.perf_counter()
    return native, {"llvm_ir_s": t1 - t0, "opt_s": t2 - t1, "codegen_s": t3 - t2}

