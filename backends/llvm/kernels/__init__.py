"""CPU kernels: loop-nest builders for tg ops, one module per op family.

A kernel lowering is `fn(kb, ins, outs, op)`: `kb` a KernelBuilder positioned
in an empty kernel function, `ins`/`outs` its memref arguments, `op` the tg op
(for attributes and types). It emits the loops that compute `outs` from `ins`.
"""

from __future__ import annotations

from typing import Callable

KERNELS: dict[str, Callable] = {}


class UnsupportedKernel(Exception):
    """The CPU backend has no lowering for this op (or this form of it)."""


def kernel(*names: str):
    def deco(fn):
        for n in names:
            KERNELS[n] = fn
        return fn

    return deco


def _register_all() -> None:
    """Import every module of this package: adding a kernel family is adding a file."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_register_all()
