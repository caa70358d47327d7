"""Matrix products: matmul (numpy semantics, batched with broadcasting) and gemm.

Loop order i-k-j keeps the innermost loop contiguous in B and C, which LLVM
vectorizes into FMAs; the register-blocked kernels build on this.
"""

from __future__ import annotations

from xdsl.dialects import arith

from ..kernel_builder import KernelBuilder
from . import UnsupportedKernel, kernel
from .elementwise import broadcast_index


def _fadd(kb, a, b):
    return kb.op(arith.AddfOp(a, b))


def _fmul(kb, a, b):
    return kb.op(arith.MulfOp(a, b))


@kernel("matmul")
def matmul(kb: KernelBuilder, ins, outs, op) -> None:
    a_t, b_t, c_t = (list(v.type.get_shape()) for v in (ins[0], ins[1], outs[0]))
    elem = outs[0].type.element_type
    if not hasattr(elem, "bitwidth") or "f" not in str(elem):
        raise UnsupportedKernel(f"{op.where()}: integer matmul")
    # promote 1-D operands the numpy way by working on the 2-D view of the result
    a2 = [1] + a_t if len(a_t) == 1 else a_t
    b2 = b_t + [1] if len(b_t) == 1 else b_t
    m, k, n = a2[-2], a2[-1], b2[-1]
    batch = list(c_t[: len(c_t) - (2 - (len(a_t) == 1) - (len(b_t) == 1))])
    zero = kb.const(0.0, elem)

    def c_index(bivs, i, j):
        idx = list(bivs)
        if len(a_t) > 1:
            idx.append(i)
        if len(b_t) > 1:
            idx.append(j)
        return idx

    with kb.loops(batch) as bivs:
        a_batch = broadcast_index(kb, a2[:-2], bivs) if len(a_t) > 2 else []
        b_batch = broadcast_index(kb, b2[:-2], bivs) if len(b_t) > 2 else []
        with kb.loops([m, n]) as (i, j):
            kb.store(zero, outs[0], c_index(bivs, i, j))
        with kb.loops([m, k]) as (i, kk):
            a_idx = a_batch + ([i, kk] if len(a_t) > 1 else [kk])
            av = kb.load(ins[0], a_idx)
            with kb.loop(0, n) as j:
                b_idx = b_batch + ([kk, j] if len(b_t) > 1 else [kk])
                ci = c_index(bivs, i, j)
                acc = kb.load(outs[0], ci)
                kb.store(_fadd(kb, acc, _fmul(kb, av, kb.load(ins[1], b_idx))), outs[0], ci)


@kernel("gemm")
def gemm(kb: KernelBuilder, ins, outs, op) -> None:
    ta, tb = op.attr("transA"), op.attr("transB")
    alpha, beta = op.attr("alpha"), op.attr("beta")
    m, n = outs[0].type.get_shape()
    a_shape = list(ins[0].type.get_shape())
    k = a_shape[0] if ta else a_shape[1]
    elem = outs[0].type.element_type
    c_out = outs[0]
    with kb.loops([m, n]) as (i, j):
        if len(ins) == 3 and beta != 0.0:
            c = kb.load(ins[2], broadcast_index(kb, list(ins[2].type.get_shape()), [i, j]))
            init = c if beta == 1.0 else _fmul(kb, c, kb.const(beta, elem))
        else:
            init = kb.const(0.0, elem)
        kb.store(init, c_out, [i, j])
    with kb.loops([m, k]) as (i, kk):
        av = kb.load(ins[0], [kk, i] if ta else [i, kk])
        if alpha != 1.0:
            av = _fmul(kb, av, kb.const(alpha, elem))
        with kb.loop(0, n) as j:
            bv = kb.load(ins[1], [j, kk] if tb else [kk, j])
            acc = kb.load(c_out, [i, j])
            kb.store(_fadd(kb, acc, _fmul(kb, av, bv)), c_out, [i, j])
