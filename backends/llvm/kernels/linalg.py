"""Matrix products: matmul (numpy semantics, batched with broadcasting) and gemm.

f32 products run on the SIMD microkernel (`MatmulKernel` below: register-blocked
tiles, weights pre-packed into panels at compile time, fused epilogues, threads).
The plain kernels (`matmul`, `gemm`) cover the rest — other element types, 1-D
operands, a transposed B that is not a constant — with i-k-j loops whose
innermost loop is contiguous in B and in a block of accumulators (LLVM vectorizes it).

They accumulate in the compute type (f32 for f16, bf16 and the 8-bit floats; f64 for
f64) and round each result once, at the store, as the reference and onnxruntime do:
summing a long dot product in f16 itself loses several bits.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import builtin as B

from ..kernel_builder import KernelBuilder
from . import UnsupportedKernel, kernel
from .elementwise import broadcast_index
from .kit import addf, imin, is_float, load_c, mulf, scratch, store_c, sub

#: columns of C accumulated at a time in a stack block of the compute type (1 KiB of f32)
ACC_BLOCK = 256


def _compute_type(op):
    """The tg element types of the operands and result, and the type the product is summed in."""
    types = [v.type.element_type for v in (*op.inputs, *op.outputs)]
    if not all(is_float(t) for t in types):
        raise UnsupportedKernel(f"{op.where()}: {op.name} on {', '.join(sorted({str(t) for t in types}))}")
    return types, (B.f64 if any(isinstance(t, B.Float64Type) for t in types) else B.f32)


def _accumulate_row(kb: KernelBuilder, acc, n: int, k: int, init, a_val, b_val, store) -> None:
    """One row of a product: out[j] = init(j) + Σ_kk a_val(kk) · b_val(kk, j) for j < n,
    summed in order of kk in the compute-type block `acc` (ACC_BLOCK columns at a time),
    then `store(j, value)` once per element."""
    jb = acc.type.get_shape()[0]
    with kb.loop(0, n, jb) as j0:
        width = imin(kb, kb.idx(jb), sub(kb, kb.idx(n), j0))
        with kb.loop(0, width) as jj:
            kb.store(init(kb.add(j0, jj)), acc, [jj])
        with kb.loop(0, k) as kk:
            av = a_val(kk)
            with kb.loop(0, width) as jj:
                prod_ = mulf(kb, av, b_val(kk, kb.add(j0, jj)))
                kb.store(addf(kb, kb.load(acc, [jj]), prod_), acc, [jj])
        with kb.loop(0, width) as jj:
            store(kb.add(j0, jj), kb.load(acc, [jj]))


@kernel("matmul")
def matmul(kb: KernelBuilder, ins, outs, op) -> None:
    (ta, tb, tc), ct = _compute_type(op)
    a_t, b_t, c_t = (list(v.type.get_shape()) for v in (ins[0], ins[1], outs[0]))
    # promote 1-D operands the numpy way by working on the 2-D view of the result
    a2 = [1] + a_t if len(a_t) == 1 else a_t
    b2 = b_t + [1] if len(b_t) == 1 else b_t
    m, k, n = a2[-2], a2[-1], b2[-1]
    batch = list(c_t[: len(c_t) - (2 - (len(a_t) == 1) - (len(b_t) == 1))])
    zero = kb.const(0.0, ct)
    acc = scratch(kb, ct, [min(ACC_BLOCK, n)])

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
        with kb.loop(0, m) as i:
            _accumulate_row(
                kb, acc, n, k, init=lambda j: zero,
                a_val=lambda kk: load_c(kb, ins[0], a_batch + ([i, kk] if len(a_t) > 1 else [kk]), ta),
                b_val=lambda kk, j: load_c(kb, ins[1], b_batch + ([kk, j] if len(b_t) > 1 else [kk]), tb),
                store=lambda j, v: store_c(kb, v, outs[0], c_index(bivs, i, j), tc))


@kernel("gemm")
def gemm(kb: KernelBuilder, ins, outs, op) -> None:
    """Y = alpha·A'·B' + beta·C, C broadcast (unidirectionally) to Y; summed in the compute type."""
    trans_a, trans_b = op.attr("transA"), op.attr("transB")
    alpha, beta = op.attr("alpha"), op.attr("beta")
    types, ct = _compute_type(op)
    m, n = outs[0].type.get_shape()
    a_shape = list(ins[0].type.get_shape())
    k = a_shape[0] if trans_a else a_shape[1]
    zero = kb.const(0.0, ct)
    acc = scratch(kb, ct, [min(ACC_BLOCK, n)])
    with_c = len(ins) == 3 and beta != 0.0

    with kb.loop(0, m) as i:
        def init(j):
            if not with_c:
                return zero
            c = load_c(kb, ins[2], broadcast_index(kb, list(ins[2].type.get_shape()), [i, j]), types[2])
            return c if beta == 1.0 else mulf(kb, c, kb.const(beta, ct))

        def a_val(kk):
            av = load_c(kb, ins[0], [kk, i] if trans_a else [i, kk], types[0])
            return av if alpha == 1.0 else mulf(kb, av, kb.const(alpha, ct))

        _accumulate_row(
            kb, acc, n, k, init=init, a_val=a_val,
            b_val=lambda kk, j: load_c(kb, ins[1], [j, kk] if trans_b else [kk, j], types[1]),
            store=lambda j, v: store_c(kb, v, outs[0], [i, j], types[-1]))


# ---- SIMD microkernels ---------------------------------------------------------------------------
# C[b, i, j] = Σ_k A[b, i, k] · B[b, k, j]: tiles of MR rows × NV vectors of 16 columns
# (microkernel.gemm_tile). A constant B (weights) is packed at compile time into panels
# Bp[N/NR, K, NR] (NR = 16·NV columns, zero-padded), read with contiguous vector loads;
# an activation B is read in place, row k of a panel being B[b, k, j0 : j0+NR].
# Parallel over (batch, panel); the bias/activation chain after the product is
# applied to the accumulators before the single store (Epilogue).
import numpy as np  # noqa: E402

from tensorc.dialects.tg import ConstantOp, WeightOp  # noqa: E402

from .microkernel import PerfKernel, gemm_tile, perf_kernel, store_vec  # noqa: E402

LANES = 16
K_UNROLL = 4


def _is_const(v) -> bool:
    return isinstance(v.owner, (WeightOp, ConstantOp))


def _tile_for(m: int, n: int) -> tuple[int, int]:
    """(MR, NV): 1×4 for vector-matrix products, else up to 6 rows × 2 vectors (12 accumulators)."""
    nvec = -(-n // LANES)
    if m == 1:
        return 1, min(4, nvec)
    if m <= 3:
        return m, min(4, nvec)
    return min(6, m), min(2, nvec)


@dataclass(frozen=True)
class _MM:
    """A matrix product normalized: out[batch..., M, N] (+ gemm's alpha/beta·C)."""

    batch: tuple
    m: int
    n: int
    k: int
    a_shape: tuple
    b_shape: tuple
    trans_a: bool
    trans_b: bool
    alpha: float
    beta: float
    has_c: bool


def _normalize(op) -> _MM | None:
    a_t, b_t = op.inputs[0].type, op.inputs[1].type
    c_t = op.outputs[0].type
    if not all(isinstance(t.element_type, B.Float32Type) for t in (a_t, b_t, c_t)):
        return None
    a_s, b_s, c_s = (tuple(t.get_shape()) for t in (a_t, b_t, c_t))
    if op.name == "tg.gemm":
        ta, tb = bool(op.attr("transA")), bool(op.attr("transB"))
        m, n = c_s
        k = a_s[0] if ta else a_s[1]
        beta = float(op.attr("beta"))
        has_c = len(op.inputs) == 3 and beta != 0.0
        return _MM((), m, n, k, a_s, b_s, ta, tb, float(op.attr("alpha")), beta, has_c)
    if len(a_s) < 2 or len(b_s) < 2:
        return None
    return _MM(c_s[:-2], a_s[-2], b_s[-1], a_s[-1], a_s, b_s, False, False, 1.0, 0.0, False)


@perf_kernel("matmul", "gemm")
class MatmulKernel(PerfKernel):
    def applicable(self, op) -> bool:
        mm = _normalize(op)
        if mm is None:
            return False
        if mm.trans_b and not _is_const(op.inputs[1]):
            return False  # B^T of an activation: the plain kernel
        return mm.m * mm.n * mm.k > 0

    def prepack(self, op, index, array):
        mm = _normalize(op)
        if index != 1 or len(mm.b_shape) != 2:
            return None
        b = np.asarray(array, dtype=np.float32)
        if mm.trans_b:
            b = b.T
        if mm.alpha != 1.0:
            b = b * np.float32(mm.alpha)
        _, nv = _tile_for(mm.m, mm.n)
        nr = nv * LANES
        npan = -(-mm.n // nr)
        packed = np.zeros((npan, mm.k, nr), np.float32)
        padded = np.zeros((mm.k, npan * nr), np.float32)
        padded[:, : mm.n] = b
        packed[:] = padded.reshape(mm.k, npan, nr).transpose(1, 0, 2)
        return packed, ("panels", nr)

    def emit(self, kb, ins, outs, op, packed, epilogue):
        mm = _normalize(op)
        a_buf, b_buf, c_out = ins[0], ins[1], outs[0]
        c_buf = ins[2] if mm.has_c else None
        is_packed = 1 in packed
        mr, nv = _tile_for(mm.m, mm.n)
        nr = nv * LANES
        npan = -(-mm.n // nr)
        nbatch = int(np.prod(mm.batch)) if mm.batch else 1
        vt = kb.vt(B.f32)
        out_shape = list(c_out.type.get_shape())
        alpha = 1.0 if is_packed else mm.alpha
        epi_bufs = {}
        if epilogue is not None:
            n_head = len(op.inputs)
            epi_bufs = dict(zip(epilogue.operands, ins[n_head:]))
        bufs = list(ins) + [c_out]

        def body(kb, bufs, lo, hi):
            a, b = bufs[0], bufs[1]
            cb = bufs[2] if mm.has_c else None
            out = bufs[-1]
            ebufs = {v: bufs[list(ins).index(buf)] for v, buf in epi_bufs.items()}
            with kb.loop(lo, hi) as t:
                jp = kb.remu(t, npan) if nbatch > 1 else t
                bflat = kb.divu(t, npan) if nbatch > 1 else kb.idx(0)
                bivs = _unflatten(kb, bflat, list(mm.batch))
                a_batch = _bcast_batch(kb, list(mm.a_shape[:-2]), bivs)
                b_batch = _bcast_batch(kb, list(mm.b_shape[:-2]), bivs)
                j0 = kb.mul(jp, nr)

                def panel(ncols: int):
                    nvp = -(-ncols // LANES)
                    jj = [kb.add(j0, v * LANES) for v in range(nvp)]
                    masks = [None] * nvp
                    if ncols % LANES:
                        masks[-1] = kb.lane_mask(0, ncols % LANES, LANES)

                    def rows(i0, mrr):
                        ii = [kb.add(i0, r) for r in range(mrr)]

                        def a_scalar(r, kk):
                            return kb.load(a, a_batch + ([kk, ii[r]] if mm.trans_a else [ii[r], kk]))

                        def b_vector(v, kk):
                            if is_packed:
                                return kb.vload(b, [jp, kk, kb.idx(v * LANES)], vt)
                            j = jj[v]
                            if masks[v] is not None:
                                return kb.vmload(b, b_batch + [kk, j], masks[v], vt)
                            return kb.vload(b, b_batch + [kk, j], vt)

                        main = mm.k // K_UNROLL
                        accs = gemm_tile(kb, mr=mrr, nv=nvp, vt=vt, outer=main, steps=list(range(K_UNROLL)),
                                         a_scalar=a_scalar, b_vector=b_vector,
                                         step_index=lambda kiv, s: kb.add(kb.mul(kiv, K_UNROLL), s))
                        rest = [main * K_UNROLL + u for u in range(mm.k % K_UNROLL)]
                        accs = gemm_tile(kb, mr=mrr, nv=nvp, vt=vt, outer=1, steps=rest,
                                         a_scalar=a_scalar, b_vector=b_vector,
                                         step_index=lambda kiv, s: kb.idx(s), accs=accs)

                        def finish(val, i, v):
                            """alpha, beta·C, the epilogue, then the store of one vector."""
                            j = kb.add(j0, v * LANES)
                            if alpha != 1.0:
                                val = kb.mulf(val, kb.vconst(alpha, vt))
                            oidx = list(bivs) + [i, j]
                            if cb is not None:
                                cs = list(mm_c_shape)
                                cidx = _bcast_idx(kb, cs, [i, j])
                                if cs and cs[-1] == mm.n and mm.n > 1:
                                    cv = kb.vload(cb, cidx, vt) if masks[v] is None else kb.vmload(cb, cidx, masks[v], vt)
                                else:
                                    cv = kb.bcast(kb.load(cb, cidx), vt)
                                if mm.beta != 1.0:
                                    cv = kb.mulf(cv, kb.vconst(mm.beta, vt))
                                val = kb.addf(val, cv)
                            if epilogue is not None:
                                val = epilogue.apply(kb, val, ebufs, oidx, out_shape, masks[v], vt)
                            store_vec(kb, val, out, oidx, masks[v])

                        if not heavy:  # epilogue on the registers
                            for r in range(mrr):
                                for v in range(nvp):
                                    finish(accs[r * nvp + v], kb.add(i0, r), v)
                        else:  # store the tile, then one epilogue instance in a loop over its rows
                            for r in range(mrr):
                                for v in range(nvp):
                                    store_vec(kb, accs[r * nvp + v], out,
                                              list(bivs) + [kb.add(i0, r), kb.add(j0, v * LANES)], masks[v])
                            with kb.loop(0, mrr) as r:
                                i = kb.add(i0, r)
                                for v in range(nvp):
                                    j = kb.add(j0, v * LANES)
                                    oidx = list(bivs) + [i, j]
                                    raw = kb.vload(out, oidx, vt) if masks[v] is None else kb.vmload(out, oidx, masks[v], vt)
                                    finish(raw, i, v)

                    full = mm.m // mr
                    if full:
                        with kb.loop(0, full) as ib:
                            rows(kb.mul(ib, mr), mr)
                    if mm.m % mr:
                        rows(kb.idx(full * mr), mm.m % mr)

                tail = mm.n - (npan - 1) * nr
                if tail == nr:
                    panel(nr)
                elif npan == 1:
                    panel(tail)
                else:
                    with kb.if_(kb.cmpi(jp, npan - 1, "eq")) as orelse:
                        panel(tail)
                        with orelse():
                            panel(nr)

        mm_c_shape = tuple(ins[2].type.get_shape()) if mm.has_c else ()
        heavy = epilogue is not None and epilogue.cost() > 4
        kb.parallel_for(nbatch * npan, bufs, body, work=2 * nbatch * mm.m * mm.n * mm.k)


def _unflatten(kb, flat, shape: list[int]) -> list:
    ivs = []
    for i, d in enumerate(shape):
        inner = int(np.prod(shape[i + 1:])) if i + 1 < len(shape) else 1
        q = kb.divu(flat, inner) if inner > 1 else flat
        ivs.append(kb.remu(q, d) if i > 0 else q)
    return ivs


def _bcast_batch(kb, shape: list[int], bivs: list) -> list:
    """Index of an operand's batch dims (numpy broadcasting against the output's batch)."""
    off = len(bivs) - len(shape)
    return [kb.idx(0) if d == 1 else bivs[off + i] for i, d in enumerate(shape)]


def _bcast_idx(kb, shape: list[int], ivs: list) -> list:
    off = len(ivs) - len(shape)
    return [kb.idx(0) if d == 1 else ivs[off + i] for i, d in enumerate(shape)]
