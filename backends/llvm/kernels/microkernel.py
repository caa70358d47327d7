"""Register-blocked SIMD microkernels and fused epilogues, shared by matmul/gemm and conv.

A *tile* is MR rows × NV vectors (NV·16 f32 columns on AVX-512) of
accumulators kept in registers across the whole reduction: per reduction step
it loads NV vectors of the "B" operand, broadcasts one scalar of the "A"
operand per row and issues MR·NV FMAs (`gemm_tile`). What A, B and the
reduction steps are is the caller's business: for matmul, A is the activation
row and B a panel of weights pre-packed at compile time; for conv, A is a
packed weight row and B a row of (padded) input pixels.

Perf kernels (`PERF_KERNELS`, registered with `@perf_kernel`) extend the plain
kernel table: `convert-tg-to-loops` asks them to pre-pack constant operands
(`prepack`) and lets them absorb a chain of elementwise ops as an epilogue
applied to the accumulators before the one store (`Epilogue`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from xdsl.dialects import builtin as B
from xdsl.ir import SSAValue

from ..scalar import NotLowerable, emit_scalar
from . import UnsupportedKernel
from .elementwise import broadcast_index

#: elementwise tg ops that can run on vectors in an epilogue (their scalar semantics
#: use only arith/math ops that have vector lowerings)
EPILOGUE_OPS = {
    "add", "sub", "mul", "div", "max", "min", "relu", "neg", "abs", "sqrt", "exp", "erf", "tanh", "sigmoid",
    "gelu", "clip", "leaky_relu", "hard_sigmoid", "hard_swish", "identity", "reciprocal", "elu", "selu",
    "celu", "prelu", "softsign", "thresholded_relu",
}


class PerfKernel:
    """A kernel family with SIMD microkernels (see module doc)."""

    name = "?"

    def applicable(self, op) -> bool:
        """Can `emit` handle this op (types, ranks, attributes)? Otherwise the plain kernel runs."""
        return False

    def accepts_epilogue(self, op) -> bool:
        return self.applicable(op)

    def prepack(self, op, index: int, array: np.ndarray) -> tuple[np.ndarray, Any] | None:
        """A compile-time repacking of constant operand `index` (array, layout info), or None."""
        return None

    def scratch(self, op) -> list:
        """memref types of scratch buffers the kernel needs (passed after its outputs)."""
        return []

    def emit(self, kb, ins, outs, op, packed: dict[int, Any], epilogue: "Epilogue | None") -> None:
        raise NotImplementedError


PERF_KERNELS: dict[str, PerfKernel] = {}


def perf_kernel(*names: str):
    def deco(cls):
        inst = cls()
        for n in names:
            PERF_KERNELS[n] = inst
        return cls

    return deco


def perf_kernel_for(op) -> PerfKernel | None:
    pk = PERF_KERNELS.get(op.name.removeprefix("tg."))
    return pk if pk is not None and pk.applicable(op) else None


# ---- the tile ------------------------------------------------------------------------------------
def gemm_tile(kb, *, mr: int, nv: int, vt: B.VectorType, outer: int | Sequence[int], steps: Sequence[Any],
              a_scalar: Callable[[int, Any], SSAValue],
              b_vector: Callable[[int, Any], SSAValue],
              step_index: Callable[[SSAValue, Any], Any] = lambda kiv, s: (kiv, s),
              accs: list[SSAValue] | None = None) -> list[SSAValue]:
    """acc[r*nv+v] += Σ_{kiv < outer, s in steps} a_scalar(r, x) · b_vector(v, x), x = step_index(kiv, s).

    `outer` is a runtime loop (skipped when 1: kiv is then the constant 0), or a list of
    bounds of a loop nest (kiv is then the list of induction variables); the `steps` are
    unrolled in its body; `step_index` computes once per step what the
    loads need (an index, a base address). Returns the accumulators (row-major)."""
    # a tile of fewer than 4 vectors would wait on the FMA latency: then each unrolled step
    # accumulates into its own copy of the tile, and the copies are added at the end
    tile = mr * nv
    split = min(len(steps), -(-4 // tile)) if tile < 4 and accs is None else 1
    if accs is None:
        zero = kb.vconst(0.0, vt)
        accs = [zero] * (tile * split)

    def body(kiv, accs):
        accs = list(accs)
        for i, s in enumerate(steps):
            x = step_index(kiv, s)
            base = (i % split) * tile
            bs = [b_vector(v, x) for v in range(nv)]
            for r in range(mr):
                a = kb.bcast(a_scalar(r, x), vt)
                for v in range(nv):
                    accs[base + r * nv + v] = kb.fma(a, bs[v], accs[base + r * nv + v])
        return accs

    def merged(accs):
        out = list(accs[:tile])
        for k in range(1, split):
            out = [kb.addf(o, a) for o, a in zip(out, accs[k * tile:(k + 1) * tile])]
        return out

    bounds = [outer] if not isinstance(outer, (list, tuple)) else list(outer)
    if any(isinstance(b, int) and b <= 0 for b in bounds) or not steps:
        return merged(accs)
    if len(bounds) > 1:  # a loop nest: step_index gets the list of induction variables
        return merged(kb.fold(bounds, accs, lambda ivs, a: body(ivs, a)))
    if isinstance(bounds[0], int) and bounds[0] == 1:
        return merged(body(kb.idx(0), accs))
    return merged(kb.fold(bounds, accs, lambda ivs, a: body(ivs[0], a)))


# ---- epilogues -----------------------------------------------------------------------------------
@dataclass
class Epilogue:
    """Elementwise ops applied to a head op's result before it is stored.

    `ops` consume the head result (and external operands, read with numpy
    broadcasting against the output shape); lanes run along the output's last axis.
    """

    head_value: Any  # the tg SSA value the head op produces
    ops: list = field(default_factory=list)
    operands: list = field(default_factory=list)  # external tg values, in kernel-argument order

    def cost(self) -> int:
        """A rough size of the epilogue's code (transcendental functions count 10)."""
        heavy = {"exp", "erf", "tanh", "sigmoid", "gelu", "elu", "selu", "celu", "softsign", "div"}
        return sum(10 if op.name.removeprefix("tg.") in heavy else 1 for op in self.ops) + len(self.operands)

    @property
    def out_value(self):
        return self.ops[-1].outputs[0] if self.ops else self.head_value

    def apply(self, kb, acc: SSAValue, bufs: dict, out_index: list[SSAValue], out_shape: list[int],
              mask: SSAValue | None, vt: B.VectorType) -> SSAValue:
        """The epilogue of the lanes at out_index (lane 0) .. along the last axis."""
        if not self.ops:
            return acc
        elem = vt.element_type
        vals: dict[Any, SSAValue] = {self.head_value: acc}
        for v in self.operands:
            shape = list(v.type.get_shape())
            buf = bufs[v]
            idx = broadcast_index(kb, shape, out_index)
            if shape and shape[-1] == out_shape[-1] and out_shape[-1] > 1:
                vals[v] = kb.vload(buf, idx, vt) if mask is None else kb.vmload(buf, idx, mask, vt)
            else:
                vals[v] = kb.bcast(kb.load(buf, idx), vt)
        with kb.vector_mode(vt):
            for op in self.ops:
                args = [vals[x] for x in op.inputs]
                try:
                    vals[op.outputs[0]] = emit_scalar(kb, op.name.removeprefix("tg."), args, op.attr_values(), elem, vt)
                except NotLowerable as e:
                    raise UnsupportedKernel(f"{op.where()}: no vector lowering ({e})") from None
        return vals[self.out_value]


def epilogue_ok(op) -> bool:
    """Can elementwise `op` run in a vector epilogue (f32 in and out, whitelisted)?"""
    if op.name.removeprefix("tg.") not in EPILOGUE_OPS:
        return False
    return all(isinstance(v.type.element_type, B.Float32Type) for v in [*op.inputs, *op.outputs])


def store_vec(kb, value: SSAValue, buf: SSAValue, index: list[SSAValue], mask: SSAValue | None) -> None:
    if mask is None:
        kb.vstore(value, buf, index)
    else:
        kb.vmstore(value, buf, index, mask)
