"""Call-time checking of inputs against a model signature (numpy only).

Shared by every executable — JIT, reference, loaded packages — so a wrong
name, shape or dtype gives the same one-line error everywhere.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


class InputError(ValueError):
    """A call-time input has the wrong name, shape or dtype."""


def check_inputs(specs: Sequence[Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[np.ndarray]:
    """Inputs in signature order; `specs` have .name, .shape, .dtype."""
    names = [s.name for s in specs]
    if len(args) > len(specs):
        raise InputError(f"expected {len(specs)} inputs ({', '.join(names)}), got {len(args)} positional")
    given = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names:
            raise InputError(f"unknown input '{k}'; the model's inputs are: {', '.join(names)}")
        if k in given:
            raise InputError(f"input '{k}' given twice")
        given[k] = v
    missing = [n for n in names if n not in given]
    if missing:
        raise InputError(f"missing input(s): {', '.join(missing)}")
    out = []
    for spec in specs:
        arr = np.asarray(given[spec.name])
        if tuple(arr.shape) != tuple(spec.shape):
            raise InputError(f"input '{spec.name}': expected shape {list(spec.shape)}, got {list(arr.shape)}")
        if arr.dtype != np.dtype(spec.dtype):
            raise InputError(f"input '{spec.name}': expected dtype {np.dtype(spec.dtype)}, got {arr.dtype}")
        out.append(np.asarray(arr, order="C"))
    return out
