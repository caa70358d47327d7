"""Numpy kernels of the reference interpreter: one function per `tg` op.

The interpreter calls ``KERNELS[name](inputs, attrs, outs)``:

* ``inputs``: numpy arrays in operand order, ``None`` for an absent optional operand;
* ``attrs``: Python values (int, float, str, list[int], list[float]); an attribute that is
  absent (or ``None``) takes its ONNX default;
* ``outs``: the expected ``(shape, dtype)`` of each result.  Kernels use it only where
  the result is not derivable from the inputs (the target type of a cast, the output
  size of a resize, ...).

A kernel returns one array per entry of ``outs``.  The registration wrapper makes sure
of the contract: it keeps the first ``len(outs)`` results, converts each to the dtype
in ``outs`` (numpy's promotion, or a computation done in float32 for a float16 input,
is undone there), and copies a result that would alias an input.  Floating-point
warnings (overflow, 0/0, ...) are silenced: they are ONNX semantics, not errors.

Semantics are those of the latest ONNX opset of each op, after the importer's
normalizations (constant inputs become attributes, ``auto_pad`` resolved into ``pads``,
axes non-negative, variadic Sum/Mean/Max/Min chained into binary ops).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

OutSpec = tuple[tuple[int, ...], np.dtype]  # expected (shape, dtype) of each result
Kernel = Callable[[list[np.ndarray | None], dict[str, Any], list[OutSpec]], list[np.ndarray]]
KERNELS: dict[str, Kernel] = {}


def _finish(results, inputs, outs) -> list[np.ndarray]:
    if isinstance(results, np.ndarray):
        results = [results]
    results = list(results)
    if len(results) < len(outs):
        raise ValueError(f"kernel produced {len(results)} results, {len(outs)} expected")
    final = []
    for r, (_shape, dt) in zip(results[: len(outs)], outs):
        r = np.asarray(r)
        dt = np.dtype(dt)
        if r.dtype != dt:
            r = r.astype(dt)
        elif any(i is not None and np.may_share_memory(r, i) for i in inputs):
            r = r.copy()
        final.append(r)
    return final


def kernel(*names: str):
    """Register the decorated function under each of ``names``."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapped(inputs, attrs, outs):
            with np.errstate(all="ignore"):
                res = fn(list(inputs), dict(attrs or {}), list(outs))
                return _finish(res, inputs, outs)

        for n in names:
            if n in KERNELS:
                raise ValueError(f"kernel {n!r} registered twice")
            KERNELS[n] = wrapped
        wrapped.raw = fn
        return wrapped

    return deco


# the family modules register their kernels on import
from . import activation, bfp, elementwise, misc, nn, reduce, shape  # noqa: E402,F401
from . import eqv  # noqa: E402,F401  (eqv.* ops: tensorc.eqv.reference)
from . import lowbit  # noqa: E402,F401  (tg.matmul_nbits)
from . import lut  # noqa: E402,F401  (lut.precompute, lut.mpgemm)
