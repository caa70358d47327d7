"""Per-operator instruction selection for the LUT Tensor Core (called by codegen.Emitter).

- `lut.precompute` → `pre` (fused into the vector instruction before it when the producer's last
  instruction wrote exactly the activations and `fuse_producer` allows it);
  `lut.mpgemm` → the tiled lmma.dq loop of lut_kernel.py (lmma + vdq with the vector epilogue).
- Element-wise ops with numpy broadcasting → `vbin`/`vun`/`vsa` over 2-D slices: the output's
  leading dims are merged where every operand's strides allow, the last dim stays the columns
  (so a producer's single instruction covers [M, K] and a precompute can fuse into it), a
  broadcast second operand becomes the `row`/`col`/`scalar` forms, a broadcast first operand
  a zero row stride (or the operands are swapped). Scalar constants become `vsa` immediates
  where that is exact (x·c, x ± c, c − x); otherwise they are staged like any parameter.
- `tg.layer_normalization`/`tg.rms_normalization` (last axis) → `vnorm`; `tg.softmax` → `vsoftmax`;
  `tg.gelu` and the unary functions the vector unit has → `vun`.
- Data movement (`reshape`, `squeeze`, `unsqueeze`, `flatten`, `identity`, `transpose`, `expand`)
  → `vun copy`, strided or transposing: the plan gives every result its own bytes.
- Reductions (`reduce_sum`, `reduce_mean`, `reduce_l2`, `reduce_sum_square`) over contiguous axes
  → `vmm` against a ones vector (the vector unit has no reduction instruction).
- Dense f32 `tg.matmul` (attention's Q·Kᵀ and P·V, unquantized linears) → `vmm` per batch slice on
  the vector unit, f32 (the array only does table lookups; the machine model has no fp16 MAC mode).
Anything else is refused with one line naming the op.
"""

from __future__ import annotations

import itertools

import numpy as np

from tensorc.diagnostics import BackendError
from tensorc.dialects import dtypes
from tensorc.dialects.tg import WeightOp
from tensorc.runtime.ltc import isa

from . import lut_kernel
from .codegen import Buf, Emitter
from .prepare import constant_value, describe

MAXDIM = 65535  # rows / cols / m / n / k fields are 16 bits
FLOATS = ("f32", "f16")

UNARY = {"tg.neg": "neg", "tg.abs": "abs", "tg.relu": "relu", "tg.sigmoid": "sigmoid", "tg.tanh": "tanh",
         "tg.exp": "exp", "tg.sqrt": "sqrt", "tg.reciprocal": "recip", "tg.identity": "copy"}
BINARY = {"tg.add": "add", "tg.sub": "sub", "tg.mul": "mul", "tg.div": "div", "tg.max": "max", "tg.min": "min"}
COPIES = ("tg.reshape", "tg.squeeze", "tg.unsqueeze", "tg.flatten")
COMMUTATIVE = ("add", "mul", "max", "min")


# ---- layouts ------------------------------------------------------------------------------------------

def dense_strides(shape) -> list[int]:
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc *= d
    return st[::-1]


def bcast_strides(shape, out_shape) -> list[int]:
    """Element strides of a dense `shape` read broadcast to `out_shape` (0 along broadcast dims)."""
    pad = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    return [0 if d == 1 else s for d, s in zip(pad, dense_strides(pad))]


def layout(out_shape, strides: list[list[int]]):
    """(outer dims, rows dim, cols dim), each (size, [stride of the output, of each operand]).
    Size-1 dims go; leading dims merge where every operand allows; the last dim stays alone."""
    out_st = dense_strides(out_shape)
    allst = [out_st] + [list(s) for s in strides]
    dims = [(out_shape[d], [s[d] for s in allst]) for d in range(len(out_shape)) if out_shape[d] != 1]
    zero = (1, [0] * len(allst))
    if not dims:
        dims = [zero]
    last, lead = dims[-1], dims[:-1]
    merged: list[tuple[int, list[int]]] = []
    for size, st in lead:
        if merged and all(ps == s * size for ps, s in zip(merged[-1][1], st)):
            merged[-1] = (merged[-1][0] * size, st)
        else:
            merged.append((size, st))
    if not merged:
        merged = [zero]
    return merged[:-1], merged[-1], last


def slices(outer, rows, cols):
    """Yield (element offsets per tensor, rows, cols, r0, c0) for every 2-D instruction, chunking
    rows and cols at the 16-bit field limit."""
    sizes = [s for s, _ in outer]
    n = len(rows[1])
    for idx in itertools.product(*[range(s) for s in sizes]):
        base = [sum(i * st[j] for i, (_, st) in zip(idx, outer)) for j in range(n)]
        for r0 in range(0, rows[0], MAXDIM):
            for c0 in range(0, cols[0], MAXDIM):
                offs = [base[j] + r0 * rows[1][j] + c0 * cols[1][j] for j in range(n)]
                yield offs, min(MAXDIM, rows[0] - r0), min(MAXDIM, cols[0] - c0)


# ---- selection ----------------------------------------------------------------------------------------

def select(em: Emitter, op) -> None:
    where = describe(op)
    name = op.name
    out = em.spad[op.results[0]] if op.results else None
    if name == "lut.precompute":
        return _precompute(em, op, where)
    if name == "lut.mpgemm":
        return _mpgemm(em, op, where)
    if name in BINARY:
        return _binary_op(em, op, BINARY[name], out, where)
    if name in UNARY:
        return _unary(em, UNARY[name], out, em.operand(op.operands[0], where), where)
    if name == "tg.gelu":
        f = {"none": "gelu", "tanh": "gelu_tanh"}[op.attr("approximate")]
        return _unary(em, f, out, em.operand(op.operands[0], where), where)
    if name in COPIES:
        src = em.operand(op.operands[0], where)
        return _unary(em, "copy", out, Buf(src.addr, out.shape, src.dt), where)
    if name == "tg.cast":
        src = em.operand(op.operands[0], where)
        if out.dt not in FLOATS:
            raise BackendError(f"ltc: {where}: cast {src.dt} → {out.dt} (the core converts to floats only; "
                               f"float → integer casts truncate, its stores round)")
        return _unary(em, "copy", out, src, where)
    if name == "tg.expand":
        src = em.operand(op.operands[0], where)
        return _copy_strided(em, out, src, bcast_strides(src.shape, out.shape), where)
    if name == "tg.transpose":
        src = em.operand(op.operands[0], where)
        perm = list(op.attr("perm") or reversed(range(len(src.shape))))
        st = dense_strides(src.shape)
        return _copy_strided(em, out, src, [st[p] for p in perm], where)
    if name == "tg.clip":
        return _clip(em, op, out, where)
    if name == "tg.softmax":
        src = em.operand(op.operands[0], where)
        _last_axis(op, len(src.shape), where)
        c = src.shape[-1]
        _rows_loop(em, where, src.numel // c, c, lambda r0, rr: em.emit(
            where, em.b.vsoftmax, dst=em.ref(out.addr + r0 * c * out.esize, c * out.esize, out.dt),
            src=em.ref(src.addr + r0 * c * src.esize, c * src.esize, src.dt), rows=rr, cols=c))
        return
    if name in ("tg.layer_normalization", "tg.rms_normalization"):
        return _norm(em, op, out, where)
    if name in ("tg.reduce_sum", "tg.reduce_mean", "tg.reduce_l2", "tg.reduce_sum_square"):
        return _reduce(em, op, out, where)
    if name == "tg.matmul":
        return _matmul(em, op, out, where)
    raise BackendError(f"ltc: {where}: no instruction selection for {name} on the LUT Tensor Core")


def _rows_loop(em, where, rows, cols, fn):
    if cols > MAXDIM:
        raise BackendError(f"ltc: {where}: rows of {cols} elements exceed the vector unit's {MAXDIM}")
    for r0 in range(0, rows, MAXDIM):
        fn(r0, min(MAXDIM, rows - r0))


def _last_axis(op, rank, where):
    axis = op.attr("axis")
    if axis is None:
        return
    if axis % rank != rank - 1:
        raise BackendError(f"ltc: {where}: axis {axis} (the vector unit normalizes along the last axis only)")


def _float(buf: Buf, where: str):
    if buf.dt not in FLOATS:
        raise BackendError(f"ltc: {where}: {buf.dt} arithmetic (the vector unit computes on f32/f16 data)")


# ---- element-wise -------------------------------------------------------------------------------------

def _binary_op(em: Emitter, op, func: str, out: Buf, where: str) -> None:
    x, y = op.operands
    # exact immediates: x·c, x + c, x − c, c − x, c + x, c·x
    for v, other, first in ((y, x, False), (x, y, True)):
        c = constant_value(v, em.weights)
        if c is not None and c.size == 1 and func in ("add", "sub", "mul") and other in em.spad:
            cval = float(c.reshape(()))
            src = em.operand(other, where)
            if tuple(src.shape) != tuple(out.shape) or src.dt != "f32":
                break
            alpha, beta = {("add", False): (1.0, cval), ("add", True): (1.0, cval),
                           ("sub", False): (1.0, -cval), ("sub", True): (-1.0, cval),
                           ("mul", False): (cval, 0.0), ("mul", True): (cval, 0.0)}[func, first]
            return _vsa(em, out, src, alpha, beta, where)
    a, b = em.operand(x, where), em.operand(y, where)
    binary(em, func, out, a, b, where)


def _vsa(em, out: Buf, src: Buf, alpha: float, beta: float, where: str) -> None:
    outer, rows, cols = layout(out.shape, [dense_strides(src.shape)])
    for offs, r, c in slices(outer, rows, cols):
        em.emit(where, em.b.vaffine, dst=em.ref(out.addr + offs[0] * out.esize, rows[1][0] * out.esize, out.dt),
                src=em.ref(src.addr + offs[1] * src.esize, rows[1][1] * src.esize, src.dt), rows=r, cols=c,
                alpha=alpha, beta=beta)


def binary(em: Emitter, func: str, out: Buf, a: Buf, b: Buf, where: str) -> None:
    for t in (out, a, b):
        _float(t, where)
    sa, sb = bcast_strides(a.shape, out.shape), bcast_strides(b.shape, out.shape)
    outer, rows, cols = layout(out.shape, [sa, sb])
    negate = False
    if cols[1][1] == 0 and cols[1][2] != 0:  # the first operand is broadcast along the columns
        if func in COMMUTATIVE or func == "sub":
            negate = func == "sub"  # a − b = −(b − a), exactly
            a, b = b, a
            outer = [(s, [st[0], st[2], st[1]]) for s, st in outer]
            rows = (rows[0], [rows[1][0], rows[1][2], rows[1][1]])
            cols = (cols[0], [cols[1][0], cols[1][2], cols[1][1]])
        else:
            raise BackendError(f"ltc: {where}: {func} with a first operand broadcast along the last axis")
    bcs, brs = cols[1][2], rows[1][2]
    bcast = ("row" if brs == 0 else "full") if bcs else ("scalar" if brs == 0 else "col")
    for offs, r, c in slices(outer, rows, cols):
        dst = em.ref(out.addr + offs[0] * out.esize, rows[1][0] * out.esize, out.dt)
        em.emit(where, em.b.vbin, func, dst=dst,
                a=em.ref(a.addr + offs[1] * a.esize, rows[1][1] * a.esize, a.dt),
                b=em.ref(b.addr + offs[2] * b.esize, brs * b.esize, b.dt), rows=r, cols=c, bcast=bcast)
        if negate:
            em.emit(where, em.b.vunary, "neg", dst=dst, src=dst, rows=r, cols=c)


def _unary(em: Emitter, func: str, out: Buf, src: Buf, where: str) -> None:
    if func != "copy":
        _float(src, where)
    if func == "copy" and src.dt not in FLOATS and out.dt != src.dt and out.dt not in FLOATS:
        raise BackendError(f"ltc: {where}: copy {src.dt} → {out.dt}")
    outer, rows, cols = layout(out.shape, [dense_strides(src.shape)])
    for offs, r, c in slices(outer, rows, cols):
        em.emit(where, em.b.vunary, func, dst=em.ref(out.addr + offs[0] * out.esize, rows[1][0] * out.esize, out.dt),
                src=em.ref(src.addr + offs[1] * src.esize, rows[1][1] * src.esize, src.dt), rows=r, cols=c)


def _copy_strided(em: Emitter, out: Buf, src: Buf, strides: list[int], where: str) -> None:
    """out[i] = src[Σ i·strides] (transpose, expand): strided copies, or transposing ones when the
    source is contiguous along the output's rows instead of its columns."""
    outer, rows, cols = layout(out.shape, [strides])
    (rs_o, rs_s), (cs_o, cs_s) = rows[1], cols[1]
    for offs, r, c in slices(outer, rows, cols):
        dst = em.ref(out.addr + offs[0] * out.esize, rs_o * out.esize, out.dt)
        if cs_s == 1:
            em.emit(where, em.b.vunary, "copy", dst=dst, src=em.ref(src.addr + offs[1] * src.esize,
                                                                       rs_s * src.esize, src.dt), rows=r, cols=c)
        elif rs_s == 1 or r == 1:
            # src seen as [c, r]: row j (stride cs_s elements) holds output column j
            em.emit(where, em.b.vunary, "copy", trans=True, dst=dst,
                    src=em.ref(src.addr + offs[1] * src.esize, cs_s * src.esize, src.dt), rows=c, cols=r)
        else:  # neither contiguous: one output column at a time ([r, 1], rows at any stride)
            for j in range(c):
                em.emit(where, em.b.vunary, "copy", dst=em.ref(dst.addr + j * out.esize, dst.stride, out.dt),
                        src=em.ref(src.addr + (offs[1] + j * cs_s) * src.esize, rs_s * src.esize, src.dt),
                        rows=r, cols=1)


def _clip(em: Emitter, op, out: Buf, where: str) -> None:
    src = em.operand(op.operands[0], where)
    lo, hi = op.attr("min"), op.attr("max")
    extra = list(op.operands[1:])
    if extra:
        vals = [constant_value(v, em.weights) for v in extra]
        if any(v is None or v.size != 1 for v in vals):
            raise BackendError(f"ltc: {where}: clip bounds must be constants")
        lo = float(vals[0].reshape(())) if len(vals) > 0 and vals[0].size else lo
        hi = float(vals[1].reshape(())) if len(vals) > 1 and vals[1].size else hi
    cur = src
    if lo is not None:
        binary(em, "max", out, cur, em.scalar_buf(lo, where), where)
        cur = out
    if hi is not None:
        binary(em, "min", out, cur, em.scalar_buf(hi, where), where)
        cur = out
    if cur is src:
        _unary(em, "copy", out, src, where)


def _norm(em: Emitter, op, out: Buf, where: str) -> None:
    src = em.operand(op.operands[0], where)
    _float(src, where)
    _last_axis(op, len(src.shape), where)
    c = src.shape[-1]
    gamma = _param_vector(em, op.operands[1], c, where)
    beta = _param_vector(em, op.operands[2], c, where) if len(op.operands) > 2 else None
    kind = "layernorm" if op.name == "tg.layer_normalization" else "rmsnorm"
    eps = float(op.attr("epsilon"))
    _rows_loop(em, where, src.numel // c, c, lambda r0, rr: em.emit(
        where, em.b.vnorm, kind, dst=em.ref(out.addr + r0 * c * out.esize, c * out.esize, out.dt),
        src=em.ref(src.addr + r0 * c * src.esize, c * src.esize, src.dt), rows=rr, cols=c,
        gamma=gamma.addr, beta=beta.addr if beta is not None else None, eps=eps))


def _param_vector(em: Emitter, v, c: int, where: str) -> Buf:
    buf = em.operand(v, where)
    if buf.numel != c or buf.dt != "f32":
        raise BackendError(f"ltc: {where}: normalization parameters must be f32 [{c}], got {buf.dt} {list(buf.shape)}")
    return buf


def _reduce(em: Emitter, op, out: Buf, where: str) -> None:
    src = em.operand(op.operands[0], where)
    _float(src, where)
    rank = len(src.shape)
    axes = sorted(a % rank for a in (op.attr("axes") or range(rank)))
    if not axes:
        return _unary(em, "copy", out, src, where)
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise BackendError(f"ltc: {where}: reduction over non-adjacent axes {axes}")
    outer = int(np.prod(src.shape[:axes[0]], dtype=np.int64))
    red = int(np.prod(src.shape[axes[0]:axes[-1] + 1], dtype=np.int64))
    inner = int(np.prod(src.shape[axes[-1] + 1:], dtype=np.int64))
    kind = op.name
    x = src
    if kind in ("tg.reduce_l2", "tg.reduce_sum_square"):
        sq = Buf(em.ws.alloc(src.numel * 4), src.shape, "f32")
        _unary(em, "square", sq, src, where)
        x = sq
    ones = em.stage_array(f"__ones_f32_{red}", np.ones(red, np.float32), "f32", where)
    if max(outer, inner, red) > MAXDIM:
        raise BackendError(f"ltc: {where}: reduction dims beyond {MAXDIM}")
    if inner == 1:  # C[outer, 1] = X[outer, red] · ones[red, 1]
        em.emit(where, em.b.vmatmul, c=em.ref(out.addr, 4, "f32"), a=em.ref(x.addr, red * x.esize, x.dt),
                b=em.ref(ones.addr, 4, "f32"), m=outer, n=1, k=red)
    else:  # per outer index: C[1, inner] = ones[1, red] · X[red, inner]
        for o in range(outer):
            em.emit(where, em.b.vmatmul, c=em.ref(out.addr + o * inner * 4, inner * 4, "f32"),
                    a=em.ref(ones.addr, red * 4, "f32"),
                    b=em.ref(x.addr + o * red * inner * x.esize, inner * x.esize, x.dt), m=1, n=inner, k=red)
    flat = Buf(out.addr, (outer, inner), out.dt)
    if kind == "tg.reduce_mean":
        binary(em, "div", flat, flat, em.scalar_buf(float(red), where), where)
    elif kind == "tg.reduce_l2":
        _unary(em, "sqrt", flat, flat, where)


def _matmul(em: Emitter, op, out: Buf, where: str) -> None:
    x, w = op.operands
    a = em.spad.get(x)
    if a is None or len(a.shape) < 2 or len(dtypes.shape_of(w.type)) < 2:
        raise BackendError(f"ltc: {where}: matmul needs a computed [.., M, K] first operand and a [.., K, N] second")
    _float(a, where)
    m, k = a.shape[-2:]
    n = out.shape[-1]
    batch = out.shape[:-2]
    if w in em.spad:
        b = em.spad[w]
        sa = bcast_strides(a.shape[:-2], batch) if batch else []
        sb = bcast_strides(b.shape[:-2], batch) if batch else []
        for idx in itertools.product(*[range(s) for s in batch]):
            ia = sum(i * s for i, s in zip(idx, sa)) * m * k
            ib = sum(i * s for i, s in zip(idx, sb)) * k * n
            io = sum(i * s for i, s in zip(idx, dense_strides(batch))) * m * n
            _vmm(em, where, em.ref(out.addr + io * 4, n * 4, "f32"), em.ref(a.addr + ia * a.esize, k * a.esize, a.dt),
                 em.ref(b.addr + ib * b.esize, n * b.esize, b.dt), m, n, k)
        return
    warr = constant_value(w, em.weights)
    if warr is None or warr.ndim != 2:
        raise BackendError(f"ltc: {where}: the second operand must be computed or a 2-D weight")
    # a dense weight [K, N]: staged in column chunks that fit half the workspace
    dt = "f32"
    key = op.operands[1].owner.weight_name if isinstance(w.owner, WeightOp) else f"__mm_{id(w)}"
    dram = em.constant(key, np.ascontiguousarray(warr, np.float32))
    rows_a = a.numel // k
    nc = max(1, min(n, (em.ws.size // 2) // max(1, k * 4)))
    for n0 in range(0, n, nc):
        nr = min(nc, n - n0)
        buf = em.ws.alloc(k * nr * 4)
        em.emit(where, em.b.dma_load, spad=buf, dram=dram + n0 * 4, rows=k, row_bytes=nr * 4,
                dram_stride=n * 4, spad_stride=nr * 4)
        em.weight_bytes += k * nr * 4
        _vmm(em, where, em.ref(out.addr + n0 * 4, n * 4, "f32"), em.ref(a.addr, k * a.esize, a.dt),
             em.ref(buf, nr * 4, dt), rows_a, nr, k)
        em.ws.live.pop(buf)


def _vmm(em, where, c, a, b, m, n, k):
    if max(m, n, k) > MAXDIM:
        raise BackendError(f"ltc: {where}: matmul dims beyond {MAXDIM}")
    em.emit(where, em.b.vmatmul, c=c, a=a, b=b, m=m, n=n, k=k)


# ---- LUT ops ------------------------------------------------------------------------------------------

def _precompute(em: Emitter, op, where: str) -> None:
    x = em.operand(op.operands[0], where)
    tables, ts = (em.spad[r] for r in op.results)
    k = op.attr("K")
    m = x.numel // k
    ttype = tables.dt
    if ttype not in isa.TTYPES:
        raise BackendError(f"ltc: {where}: {ttype} tables (the core's table entries are "
                           f"{', '.join(isa.TTYPES)}; run lut-mpgemm with table-type=i8)")
    if x.dt not in isa.ADTYPES:
        raise BackendError(f"ltc: {where}: {x.dt} activations")
    form, ag = op.attr("form"), op.attr("act_group")
    last = em.b.instrs[-1] if em.b.instrs else None
    fused = bool(em.fuse and op.attr("fuse_producer") and last is not None and last.op in isa.FUSABLE
                 and not (last.op == "vun" and last["trans"])
                 and ("i8" if last.op == "vquant" else last["dst_dt"]) == x.dt
                 and (last["dst"], last["dst_stride"], last["rows"], last["cols"]) == (x.addr, k * x.esize, m, k))
    em.emit(where, em.b.precompute, em.ref(x.addr, k * x.esize, x.dt), m=m, k=k, tab=tables.addr, ts=ts.addr,
            table_type=ttype, form=form, act_group=ag, fused=fused)
    em.fused += fused


def _mpgemm(em: Emitter, op, where: str) -> None:
    tables, tsc = (em.operand(v, where) for v in op.operands[:2])
    y = em.spad[op.results[0]]
    pv, sv, zv = op.operands[2:5]
    k, n, bits, group, ag, form = (op.attr(a) for a in ("K", "N", "bits", "group", "act_group", "form"))
    # shapes only (timing-only workloads): weights the store does not hold get DRAM space, no values
    shapes_only = em.shapes_only and all(isinstance(v.owner, WeightOp) and v.owner.weight_name not in em.weights
                                         for v in (pv, sv, zv))
    planes = scales = zeros = None
    if not shapes_only:
        for v in (pv, sv, zv):
            if isinstance(v.owner, WeightOp) and v.owner.weight_name not in em.weights:
                raise BackendError(f"ltc: {where}: weight '{v.owner.weight_name}' has no value in the weight store "
                                   f"(a shape-only workload: compile with shapes_only=True, for timing only)")
        planes, scales, zeros = (constant_value(v, em.weights) for v in (pv, sv, zv))
        if planes is None or scales is None or zeros is None:
            raise BackendError(f"ltc: {where}: weight planes, scales and zero points must be compile-time constants")
    m = tables.shape[0]
    if k % 4:
        raise BackendError(f"ltc: {where}: K = {k} is not a multiple of 4")
    cfg = em.cfg
    free = em.ws.end - em.ws.base
    tiling = lut_kernel.choose_tiling(m, n, k, bits=bits, group=group, act_group=ag, budget=free,
                                      tile_m=cfg.tile_m, tile_n=cfg.tile_n, arrays=cfg.arrays, where=where,
                                      epilogue=em.epilogue)
    pname = pv.owner.weight_name if isinstance(pv.owner, WeightOp) else f"__planes_{id(pv)}"
    key = f"{pname}@{tiling.n_chunk}x{tiling.k_chunk}"
    if key not in em.consts:
        if shapes_only:
            offsets, total = lut_kernel.tile_offsets(bits, n, k, tiling.n_chunk, tiling.k_chunk)
            em.reserve(key, total)
        else:
            blob, offsets = lut_kernel.pretile_planes(np.asarray(planes, np.uint8), tiling.n_chunk, tiling.k_chunk)
            em.constant(key, blob)
        em.tile_offsets[key] = offsets
    sname = sv.owner.weight_name if isinstance(sv.owner, WeightOp) else f"__scales_{id(sv)}"
    zname = zv.owner.weight_name if isinstance(zv.owner, WeightOp) else f"__zeros_{id(zv)}"
    ncols = k // group
    if shapes_only:
        s_dram, z_dram = em.reserve(sname, n * ncols * 4), em.reserve(zname, n * ncols * 4)
    else:
        s_dram = em.constant(sname, np.ascontiguousarray(scales, np.float32))
        z_dram = em.constant(zname, np.ascontiguousarray(zeros, np.float32))
    em.weight_bytes += lut_kernel.packed_plane_bytes(bits, n, k) + 2 * n * ncols * 4
    em.ws.release_all()  # start the kernel's buffers on a fresh rotation
    lut_kernel.emit_mpgemm(em, tables=tables.addr, tscales=tsc.addr, y=y.addr, m=m, planes_dram=em.consts[key],
                           offsets=em.tile_offsets[key], scales_dram=s_dram, zeros_dram=z_dram, n=n, k=k, bits=bits,
                           group=group, act_group=ag, form=form, ttype=tables.dt, tiling=tiling, ws=em.ws,
                           origin=where, epilogue=em.epilogue)
