"""tg-level preparation for the LUT Tensor Core, before the memory plan.

Two rewrites of `@main`, each a function here (they run inside `compile_ltc`, not from the pass
registry: they only make sense for this target):

- `fuse_erf_gelu`: x·0.5·(1 + erf(x/√2)) — how ONNX before opset 20 spells exact GELU, and what
  torch exports — becomes one `tg.gelu`, because the vector unit has a GELU function and no erf.
  Only chains whose intermediates have no other user are rewritten; the constants must be 0.5,
  1.0 and √2 (or 1/√2 as a multiplier) to f32 precision.
- `split_host_prologue`: the ISA moves data with immediate addresses only (no indirect DMA) and
  knows no 64-bit integers, so an embedding lookup (`tg.gather` by token ids) or a cast of an
  int64 mask cannot run on the core. Every op that reads a value of a type the core does not
  store (i64, i1, f64, ...) runs on the host instead, before the core program, as accelerator
  runtimes do with embedding lookups; its results become inputs of the core program. A host op
  may only read graph inputs, weights and other host ops' results (else one-line error).
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.dialects import builtin as B
from xdsl.dialects import func
from xdsl.ir import Block, BlockArgument, Region, SSAValue

from tensorc.backends.reference import evaluate_op
from tensorc.diagnostics import BackendError
from tensorc.dialects import dtypes
from tensorc.dialects.tg import ConstantOp, WeightOp, op_class
from tensorc.program import Program, Signature, TensorSpec, WeightStore

#: element types the core stores (runtime/ltc/program.py TENSOR_DTYPES)
CORE_DTYPES = {np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.int8), np.dtype(np.int16),
               np.dtype(np.int32), np.dtype(np.uint8)}


def describe(op) -> str:
    src = op.attributes.get("src")
    return f"{op.name}" + (f" (node '{src.data}')" if src is not None else "")


def constant_value(v: SSAValue, weights: WeightStore | None) -> np.ndarray | None:
    """The value of a `tg.constant` / `tg.weight` result, else None."""
    op = v.owner
    if isinstance(op, (ConstantOp, WeightOp)):
        return np.asarray(evaluate_op(op, [], weights)[0])
    return None


def _scalar(v: SSAValue, weights) -> float | None:
    c = constant_value(v, weights)
    if c is None or c.size != 1:
        return None
    return float(c.reshape(()))


def _close(x: float | None, want: float) -> bool:
    return x is not None and np.float32(x) == np.float32(want)


def _single_use(v: SSAValue) -> bool:
    return sum(1 for _ in v.uses) == 1


def _other(op, v: SSAValue) -> SSAValue:
    a, b = op.operands
    return b if a is v else a


def fuse_erf_gelu(fn: func.FuncOp, weights: WeightStore) -> int:
    """Rewrite erf-spelled GELU chains into `tg.gelu`; returns how many."""
    count = 0
    for erf in [op for op in fn.body.block.ops if op.name == "tg.erf"]:
        d = erf.operands[0].owner
        if d is None or not hasattr(d, "name"):
            continue
        if d.name == "tg.div" and _close(_scalar(d.operands[1], weights), math.sqrt(2.0)):
            x = d.operands[0]
        elif d.name == "tg.mul" and _close(_scalar(d.operands[1], weights), 1 / math.sqrt(2.0)):
            x = d.operands[0]
        elif d.name == "tg.mul" and _close(_scalar(d.operands[0], weights), 1 / math.sqrt(2.0)):
            x = d.operands[1]
        else:
            continue
        if not (_single_use(d.results[0]) and _single_use(erf.results[0])):
            continue
        add = next(iter(erf.results[0].uses)).operation
        if add.name != "tg.add" or not _close(_scalar(_other(add, erf.results[0]), weights), 1.0):
            continue
        if not _single_use(add.results[0]):
            continue
        m1 = next(iter(add.results[0].uses)).operation
        if m1.name != "tg.mul" or _other(m1, add.results[0]) is not x:
            continue
        # the half comes last: (x·(1 + erf(x/√2)))·0.5, as torch exports it
        last = m1
        if _single_use(m1.results[0]):
            m2 = next(iter(m1.results[0].uses)).operation
            if m2.name == "tg.mul" and _close(_scalar(_other(m2, m1.results[0]), weights), 0.5):
                last = m2
        if last is m1:
            continue  # x·(1+erf(x/√2)) without the half is not GELU
        if last.results[0].type != x.type:
            continue
        gelu = op_class("gelu").make([x], {"approximate": "none"}, src=last.attributes["src"].data
                                     if "src" in last.attributes else None)
        fn.body.block.insert_op_before(gelu, last)
        last.results[0].replace_all_uses_with(gelu.results[0])
        for dead in (last, m1, add, erf, d):
            dead.detach()
            dead.erase()
        count += 1
    return count


def _core_type(t) -> bool:
    return isinstance(t, B.TensorType) and dtypes.dtype_of(t) in CORE_DTYPES


def split_host_prologue(prog: Program) -> tuple[Program, Program | None]:
    """(core program, host prologue or None). The prologue's function takes the original inputs
    and returns the values the core program takes as extra inputs, named after their ops."""
    fn = prog.main
    block = fn.body.block
    host_vals: set[SSAValue] = set()  # results of host ops
    host_ops = []
    for op in block.ops:
        if isinstance(op, func.ReturnOp) or isinstance(op, (WeightOp, ConstantOp)):
            continue
        if all(_core_type(v.type) for v in list(op.operands) + list(op.results)):
            continue
        for v in op.operands:
            if not (isinstance(v, BlockArgument) or v in host_vals or isinstance(v.owner, (WeightOp, ConstantOp))):
                raise BackendError(f"ltc: {describe(op)} must run on the host (it reads or produces a type the core "
                                   f"does not store) but reads a value the core computes")
        host_ops.append(op)
        host_vals.update(op.results)
    if not host_ops:
        return prog, None
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    sig = prog.signature
    in_names = [s.name for s in sig.inputs]
    # values crossing from the host to the core: host results used by core ops or returned
    crossing: list[SSAValue] = []
    host_set = set(id(o) for o in host_ops)
    for op in block.ops:
        if id(op) in host_set or isinstance(op, (WeightOp, ConstantOp)):
            continue
        for v in op.operands:
            if (v in host_vals or isinstance(v, BlockArgument) and not _core_type(v.type)) and v not in crossing:
                if isinstance(v, BlockArgument):
                    raise BackendError(f"ltc: input '{in_names[block.args.index(v)]}' has type {v.type}, which the "
                                       f"core does not store, and is used by {describe(op)}")
                crossing.append(v)
    for v in crossing:
        if not _core_type(v.type):
            raise BackendError(f"ltc: {describe(v.owner)} produces {v.type} for the core, a type it does not store")

    # the host function: clones of the host ops (and the weights/constants they read)
    hblock = Block(arg_types=[a.type for a in block.args])
    vmap: dict[SSAValue, SSAValue] = dict(zip(block.args, hblock.args))
    for op in host_ops:
        for v in op.operands:
            if v not in vmap:
                c = v.owner.clone()
                hblock.add_op(c)
                vmap[v] = c.results[0]
        c = op.clone(value_mapper=dict(vmap))
        hblock.add_op(c)
        for r, rc in zip(op.results, c.results):
            vmap[r] = rc
    hblock.add_op(func.ReturnOp(*[vmap[v] for v in crossing]))
    hfn = func.FuncOp("main", ([a.type for a in block.args], [v.type for v in crossing]), Region(hblock))
    names = []
    for v in crossing:
        stem = v.name_hint or "host"
        n, i = stem, 0
        while n in names or n in in_names:
            i += 1
            n = f"{stem}_{i}"
        names.append(n)
    host = Program(B.ModuleOp([hfn]), prog.weights,
                   Signature(list(sig.inputs), [TensorSpec(n, dtypes.shape_of(v.type), dtypes.dtype_of(v.type))
                                                for n, v in zip(names, crossing)]))

    # the core function: the remaining inputs + the crossing values as new arguments
    host_only = {a for a in block.args if all(id(u.operation) in host_set for u in a.uses)}
    keep = [i for i, a in enumerate(block.args) if a not in host_only]
    new_args = [block.insert_arg(v.type, len(block.args)) for v in crossing]
    for v, a in zip(crossing, new_args):
        v.replace_all_uses_with(a)
    for op in reversed(host_ops):
        op.detach()
        op.erase()
    for i in reversed(range(len(block.args) - len(crossing))):
        if i not in keep:
            a = block.args[i]
            if any(True for _ in a.uses):
                raise BackendError(f"ltc: input '{in_names[i]}' is still used after the host split")
            block.erase_arg(a)
    for op in list(block.ops):  # weights and constants only the host read
        if isinstance(op, (WeightOp, ConstantOp)) and not any(True for _ in op.results[0].uses):
            op.detach()
            op.erase()
    fn.function_type = func.FunctionType.from_lists([a.type for a in block.args], list(fn.function_type.outputs))
    core_inputs = [sig.inputs[i] for i in keep] + [TensorSpec(n, dtypes.shape_of(v.type), dtypes.dtype_of(v.type))
                                                  for n, v in zip(names, crossing)]
    core = Program(prog.module, prog.weights, Signature(core_inputs, list(sig.outputs)))
    return core, host
