"""The reference interpreter: executes tg programs op by op with numpy kernels.

It is the oracle that passes and backends are tested against, so it favours
clarity over speed and checks every result against the IR's declared type.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from tensorc.dialects import dtypes
from tensorc.dialects.tg import ConstantOp, TGOp, WeightOp

from .kernels import KERNELS


class InterpreterError(RuntimeError):
    pass


def _out_specs(op: Operation):
    return [(dtypes.shape_of(r.type), dtypes.dtype_of(r.type)) for r in op.results]


def evaluate_op(op: Operation, inputs: Sequence[np.ndarray], weights=None) -> list[np.ndarray]:
    """Run one op on numpy inputs; results are checked against the op's result types."""
    if isinstance(op, ConstantOp):
        return [op.to_array()]
    if isinstance(op, WeightOp):
        if weights is None or op.weight_name not in weights:
            raise InterpreterError(f"weight '{op.weight_name}' is not in the weight store")
        arr = weights[op.weight_name]
        (shape, dt), = _out_specs(op)
        if arr.shape != shape or arr.dtype != dt:  # a stale or mismatched store would run silently
            raise InterpreterError(f"weight '{op.weight_name}' is {list(arr.shape)} {arr.dtype} in the weight "
                                   f"store, but the IR declares {list(shape)} {dt}")
        return [arr]
    if not isinstance(op, TGOp):
        raise InterpreterError(f"the reference interpreter cannot execute {op.name}")
    short = op.name.removeprefix("tg.")
    kernel = KERNELS.get(short)
    if kernel is None:
        raise InterpreterError(f"{op.where()}: no reference kernel")
    outs = _out_specs(op)
    attrs = op.attr_values()
    inputs = list(inputs)
    slots = attrs.pop("operand_slots", None)
    if slots is not None:  # optional operands left out in the middle: kernels see None there
        positional = [None] * (max(slots) + 1)
        for slot, value in zip(slots, inputs):
            positional[slot] = value
        inputs = positional
    results = kernel(inputs, attrs, outs)
    checked = []
    for r, (shape, dt) in zip(results, outs):
        r = np.asarray(r)
        if r.shape != shape:
            raise InterpreterError(f"{op.where()}: kernel produced shape {r.shape}, IR says {shape}")
        checked.append(r if r.dtype == dt else r.astype(dt))
    return checked


def run_function(fn: func.FuncOp, args: Sequence[np.ndarray], weights=None) -> list[np.ndarray]:
    """Execute a function body in program order; values are freed after their last use."""
    env: dict[SSAValue, np.ndarray] = dict(zip(fn.body.block.args, args))
    remaining = {}
    for op in fn.body.block.ops:
        for v in op.operands:
            remaining[v] = remaining.get(v, 0) + 1
    for op in fn.body.block.ops:
        if isinstance(op, func.ReturnOp):
            return [env[v] for v in op.operands]
        try:
            ins = [env[v] for v in op.operands]
        except KeyError:
            raise InterpreterError(f"{op.name}: operand used before it is defined") from None
        for res, val in zip(op.results, evaluate_op(op, ins, weights)):
            env[res] = val
        for v in op.operands:  # drop dead intermediates: keeps peak memory at the model's
            remaining[v] -= 1
            if remaining[v] == 0 and v not in fn.body.block.args:
                env.pop(v, None)
    raise InterpreterError("function has no func.return")


def main_of(module: ModuleOp) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise InterpreterError("module has no func.func @main")
