"""Program: a tg module, the weights it refers to, and its signature.

The module holds `func.func @main`; every `tg.weight @name` in it names an
array in the WeightStore. The signature records the user-facing input and
output names (MLIR block arguments have none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from tensorc.dialects import dtypes


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def describe(self) -> str:
        return f"{self.name}: {'x'.join(map(str, self.shape)) or 'scalar'} {self.dtype}"


@dataclass
class Signature:
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class WeightStore:
    """Named numpy arrays referred to by `tg.weight`. Read-only once stored."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None):
        self._arrays: dict[str, np.ndarray] = {}
        for k, v in (arrays or {}).items():
            self.add(k, v)

    def add(self, name: str, array: np.ndarray) -> str:
        arr = np.asarray(array, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        arr.setflags(write=False)
        self._arrays[name] = arr
        return name

    def add_unique(self, stem: str, array: np.ndarray) -> str:
        """Store under `stem`, or `stem_1`, `stem_2`, ... if taken."""
        name, i = stem, 0
        while name in self._arrays:
            i += 1
            name = f"{stem}_{i}"
        return self.add(name, array)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def __contains__(self, name: str) -> bool:
        return name in self._arrays

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def items(self):
        return self._arrays.items()

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._arrays.values())

    def prune(self, used: set[str]) -> None:
        """Drop the arrays no `tg.weight` refers to any more."""
        for k in [k for k in self._arrays if k not in used]:
            del self._arrays[k]


@dataclass
class Program:
    module: ModuleOp
    weights: WeightStore = field(default_factory=WeightStore)
    signature: Signature | None = None

    @property
    def main(self) -> func.FuncOp:
        for op in self.module.ops:
            if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
                return op
        raise ValueError("module has no func.func @main")

    def __str__(self) -> str:
        return str(self.module)

    def clone(self) -> "Program":
        return Program(self.module.clone(), self.weights, self.signature)


def signature_from_main(main: func.FuncOp, in_names=None, out_names=None) -> Signature:
    """A signature for a bare module: names default to the `tensorc.names` arg attrs or in0, out0."""
    ft = main.function_type
    ins = [
        TensorSpec(n, dtypes.shape_of(t), dtypes.dtype_of(t))
        for n, t in zip(in_names or [f"in{i}" for i in range(len(ft.inputs))], ft.inputs)
    ]
    outs = [
        TensorSpec(n, dtypes.shape_of(t), dtypes.dtype_of(t))
        for n, t in zip(out_names or [f"out{i}" for i in range(len(ft.outputs))], ft.outputs)
    ]
    return Signature(ins, outs)


