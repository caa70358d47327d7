"""Pass `lower-eqv`: eqv ops → tg ops (matmul, transpose, reshape, gather, elementwise).

So equivariant products run wherever tg runs: the reference interpreter and the
llvm-cpu backend. Coefficient tensors (CG blocks, grid transforms, path weights)
become `tg.weight`s (or inline `tg.constant`s when small or outside a pipeline run).

- `eqv.cg_tp`: per (in1 entry, in2 entry) pair, one outer product of the two blocks
  and one dense matmul onto every output block that pair feeds (like e3nn, dense CG);
  channelwise paths scale by their per-channel coefficients, 'uvw'/'uvuv' paths mix
  channels with one more matmul.
- `eqv.gaunt_tp` (both methods; the 'fft' method computes the same exact product and is
  lowered to the grid, which measured faster, docs/eqv.md): gather into an
  (m, channel, l) layout, separable transform to the exact sphere grid (a batched
  matmul over m, then one matmul over m → φ), a pointwise product, the transposed
  transforms back, one gather into the output layout, the c scaling and the rank sum.
- `eqv.spherical_harmonics`: monomials of the (normalized) vector times one matrix.
- `eqv.linear`: one matmul per path.

Weights of eqv ops must be compile-time constants (tg.weight / tg.constant).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import builtin as B
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from tensorc.dialects import dtypes
from tensorc.dialects.eqv import CGTensorProductOp, EqvOp, GauntTensorProductOp, LinearOp, SphericalHarmonicsOp
from tensorc.dialects.tg import ConstantOp, WeightOp, op_class
from tensorc.eqv import fourier, so3
from tensorc.eqv import reference as R
from tensorc.eqv.irreps import Irreps
from tensorc.passes.weights import current_weights, operand_array

INLINE_MAX = 64


class EqvLoweringError(Exception):
    pass


class Emitter:
    """Builds tg ops before an anchor op; constants go to the weight store."""

    def __init__(self, anchor: Operation, elem, store, stem: str):
        self.anchor, self.elem, self.store, self.stem = anchor, elem, store, stem
        self.np_dtype = dtypes.dtype_of(B.TensorType(elem, [1]))
        self.ops: list[Operation] = []

    def _add(self, op: Operation) -> SSAValue:
        self.ops.append(op)
        return op.results[0]

    def tg(self, name: str, operands, **attrs) -> SSAValue:
        return self._add(op_class(name).make(list(operands), attrs))

    def const(self, arr: np.ndarray, name: str = "c", dtype=None) -> SSAValue:
        arr = np.ascontiguousarray(np.asarray(arr, dtype=dtype or self.np_dtype))
        if arr.size <= INLINE_MAX or self.store is None:
            return self._add(ConstantOp.from_array(arr))
        wname = self.store.add_unique(f"{self.stem}.{name}", arr)
        return self._add(WeightOp(wname, dtypes.tensor_type(arr.shape, arr.dtype)))

    def index(self, arr) -> SSAValue:
        return self.const(np.asarray(arr, dtype=np.int64), "idx", dtype=np.int64)

    @staticmethod
    def shape(v: SSAValue) -> list[int]:
        return list(v.type.get_shape())

    def reshape(self, v, shape) -> SSAValue:
        if self.shape(v) == list(shape):
            return v
        return self.tg("reshape", [v], shape=list(shape))

    def transpose(self, v, perm) -> SSAValue:
        if list(perm) == list(range(len(perm))):
            return v
        return self.tg("transpose", [v], perm=list(perm))

    def matmul(self, a, b) -> SSAValue:
        return self.tg("matmul", [a, b])

    def mul(self, a, b) -> SSAValue:
        return self.tg("mul", [a, b])

    def add(self, a, b) -> SSAValue:
        return self.tg("add", [a, b])

    def slice(self, v, axis, start, end) -> SSAValue:
        if start == 0 and end == self.shape(v)[axis]:
            return v
        return self.tg("slice", [v], starts=[start], ends=[end], axes=[axis], steps=[1])

    def gather(self, v, idx: np.ndarray, axis: int) -> SSAValue:
        return self.tg("gather", [v, self.index(idx)], axis=axis)

    def concat(self, vs, axis) -> SSAValue:
        return vs[0] if len(vs) == 1 else self.tg("concat", vs, axis=axis)

    def flush(self) -> None:
        block = self.anchor.parent
        block.insert_ops_before(self.ops, self.anchor)
        self.ops = []


@dataclass(frozen=True)
class LowerEqv(ModulePass):
    """Lower eqv ops (spherical harmonics, CG and Gaunt products, linear) to tg ops."""

    name = "lower-eqv"

    def apply(self, ctx: Context, module: B.ModuleOp) -> None:
        store = current_weights()
        counter = itertools.count()
        for op in list(module.walk()):
            if not isinstance(op, EqvOp):
                continue
            elem = op.outputs[0].type.element_type
            em = Emitter(op, elem, store, f"eqv{next(counter)}")
            if isinstance(op, CGTensorProductOp):
                out = lower_cg(em, op, store)
            elif isinstance(op, GauntTensorProductOp):
                out = lower_gaunt(em, op, store)
            elif isinstance(op, SphericalHarmonicsOp):
                out = lower_sh(em, op)
            elif isinstance(op, LinearOp):
                out = lower_linear(em, op, store)
            else:
                raise EqvLoweringError(f"{op.where()}: no lowering")
            em.flush()
            op.outputs[0].replace_all_uses_with(out)
            op.detach()
            op.erase()


# ---- helpers ------------------------------------------------------------------------------
def _flat_batch(em: Emitter, v: SSAValue, batch: list[int]) -> tuple[SSAValue, int]:
    shape = em.shape(v)
    n = int(np.prod(batch)) if batch else 1
    lead = shape[:-1]
    if lead != list(batch):  # a smaller batch broadcast up to the op's
        v = em.tg("expand", [v], shape=list(batch) + [shape[-1]])
    return em.reshape(v, [n, shape[-1]]), n


def _need_const(v: SSAValue, store, what: str, op) -> np.ndarray:
    arr = operand_array(v, store)
    if arr is None:
        raise EqvLoweringError(f"{op.where()}: {what} must be a compile-time constant (tg.weight or tg.constant)")
    return np.asarray(arr, dtype=np.float64)


def _entry_blocks(em: Emitter, x: SSAValue, irr: Irreps, n: int) -> list[SSAValue]:
    """Each entry of a [n, D] feature tensor as [n, mul, 2l+1]."""
    out = []
    for sl, e in zip(irr.slices(), irr):
        out.append(em.reshape(em.slice(x, 1, sl.start, sl.stop), [n, e.mul, e.ir.dim]))
    return out


def _assemble(em: Emitter, parts: list[SSAValue | None], io: Irreps, n: int, batch: list[int]) -> SSAValue:
    pieces = []
    for part, e in zip(parts, io):
        if part is None:
            part = em.tg("expand", [em.const(np.zeros((1, e.dim)), "zero")], shape=[n, e.dim])
        pieces.append(em.reshape(part, [n, e.dim]))
    out = em.concat(pieces, 1)
    return em.reshape(out, list(batch) + [io.dim])


# ---- CG ----------------------------------------------------------------------------------
def lower_cg(em: Emitter, op: CGTensorProductOp, store) -> SSAValue:
    i1, i2, io = op.attr("irreps_in1"), op.attr("irreps_in2"), op.attr("irreps_out")
    paths = op.attr("paths")
    w = _need_const(op.inputs[2], store, "the weights", op) if len(op.inputs) == 3 else None
    ws = R.split_weights(paths, i1, i2, io, w)
    batch = em.shape(op.outputs[0])[:-1]
    x1, n = _flat_batch(em, op.inputs[0], batch)
    x2, _ = _flat_batch(em, op.inputs[1], batch)
    b1 = _entry_blocks(em, x1, i1, n)
    b2 = _entry_blocks(em, x2, i2, n)
    parts: list[SSAValue | None] = [None] * len(io)

    def acc(k, v):
        parts[k] = v if parts[k] is None else em.add(parts[k], v)

    groups: dict[tuple, list[tuple[R.Path, np.ndarray]]] = {}
    for p, wp in zip(paths, ws):
        a, b, c = i1[p.i1], i2[p.i2], io[p.io]
        if 0 in (a.mul, b.mul, c.mul):
            continue
        K = R.path_tensor(p, wp, a.mul, b.mul, c.mul)  # [m1, m2, mo]
        chan = _channelwise(K)
        key = (p.i1, p.i2, "chan" if chan is not None else "full")
        groups.setdefault(key, []).append((p, K))
    for (k1, k2, kind), items in groups.items():
        a, b = i1[k1], i2[k2]
        d1, d2 = a.ir.dim, b.ir.dim
        outs = [io[p.io] for p, _ in items]
        cg = np.concatenate([so3.wigner_3j(a.ir.l, b.ir.l, e.ir.l).reshape(d1 * d2, e.ir.dim) for e in outs], axis=1)
        offs = np.cumsum([0] + [e.ir.dim for e in outs])
        if kind == "chan":
            C = max(a.mul, b.mul)
            xa = em.reshape(b1[k1], [n, a.mul, d1, 1])
            xb = em.reshape(b2[k2], [n, b.mul, 1, d2])
            t = em.reshape(em.mul(xa, xb), [n * C, d1 * d2])
            t = em.reshape(em.matmul(t, em.const(cg, "cg")), [n, C, int(offs[-1])])
            for (p, K), lo, hi in zip(items, offs[:-1], offs[1:]):
                coef = _channelwise(K)  # [mo]
                part = em.slice(t, 2, int(lo), int(hi))
                if not np.all(coef == 1.0):
                    part = em.mul(part, em.const(coef.reshape(-1, 1), "k"))
                acc(p.io, part)
        else:
            m1, m2 = a.mul, b.mul
            xa = em.reshape(b1[k1], [n, m1, 1, d1, 1])
            xb = em.reshape(b2[k2], [n, 1, m2, 1, d2])
            t = em.reshape(em.mul(xa, xb), [n * m1 * m2, d1 * d2])
            t = em.reshape(em.matmul(t, em.const(cg, "cg")), [n, m1 * m2, int(offs[-1])])
            for (p, K), lo, hi in zip(items, offs[:-1], offs[1:]):
                mo = K.shape[2]
                part = em.transpose(em.slice(t, 2, int(lo), int(hi)), [0, 2, 1])  # [n, d_o, m1 m2]
                part = em.matmul(part, em.const(K.reshape(m1 * m2, mo), "k"))  # [n, d_o, mo]
                acc(p.io, em.transpose(part, [0, 2, 1]))
    return _assemble(em, parts, io, n, batch)


def _channelwise(K: np.ndarray) -> np.ndarray | None:
    """K[u, v, w] as a per-channel vector when it is diagonal (u = v = w, or broadcast over a mul-1 side)."""
    m1, m2, mo = K.shape
    C = max(m1, m2)
    if mo != C or (m1 not in (1, C)) or (m2 not in (1, C)):
        return None
    w = np.arange(C)
    u = w if m1 == C else np.zeros(C, dtype=int)
    v = w if m2 == C else np.zeros(C, dtype=int)
    diag = K[u, v, w]
    rest = K.copy()
    rest[u, v, w] = 0
    if np.any(rest != 0):
        return None
    return diag


# ---- Gaunt -------------------------------------------------------------------------------
# Sample-major layout (docs/eqv.md, "lower-eqv"): every tensor keeps the batch as its leading
# axis and the channels (times a block of b samples when channels are few) as its last, so
# each transform is a *batched* matmul with a small constant left operand and ~nothing is
# copied: no transposes of the features, no per-m slices or concats. Measured at L = 8,
# batch 10,000, 32 channels, this replaced a feature-major form whose φ transform was one
# wide [n_φ, M] x [M, n_θ·C·n] matmul (rows 16 MB apart) plus per-m concats: 953 → see
# BENCHMARKS.md.
def _sample_block(n: int, channels: int) -> int:
    """Samples per block b, so that the innermost width channels·b fills a 16-lane vector."""
    if channels >= 16:
        return 1
    want = -(-16 // channels)
    return next((d for d in range(want, n + 1) if n % d == 0), n)


def lower_gaunt(em: Emitter, op: GauntTensorProductOp, store) -> SSAValue:
    i1, i2, io = op.attr("irreps_in1"), op.attr("irreps_in2"), op.attr("irreps_out")
    a = _need_const(op.inputs[2], store, "scaling a", op)
    b = _need_const(op.inputs[3], store, "scaling b", op)
    c = _need_const(op.inputs[4], store, "scaling c", op)
    batch = em.shape(op.outputs[0])[:-1]
    x1, n = _flat_batch(em, op.inputs[0], batch)
    x2, _ = _flat_batch(em, op.inputs[1], batch)
    rank = a.shape[0]
    C1 = max(i1.uniform_mul() or 1, a.shape[1])
    C2 = max(i2.uniform_mul() or 1, b.shape[1])
    blk = _sample_block(n, min(C1, C2))
    n1 = n // blk
    # [n1, D, blk] (a batched transpose of [n1, blk, D]), or x itself [n, D] when blk = 1
    xb1 = _blocked(em, x1, n1, blk)
    xb2 = xb1 if x2 is x1 else _blocked(em, x2, n1, blk)
    total = None
    for s1, s2 in R.family_pairs(i1, i2):
        e1 = [k for k, e in enumerate(i1) if e.ir.family == s1]
        e2 = [k for k, e in enumerate(i2) if e.ir.family == s2]
        eo = [k for k, e in enumerate(io) if e.ir.family == s1 * s2]
        if not eo:
            continue
        L1 = max(i1[k].ir.l for k in e1)
        L2 = max(i2[k].ir.l for k in e2)
        Lo = max(io[k].ir.l for k in eo)
        nt, nph = fourier.grid_sizes(L1, L2, Lo)
        f, cf = _to_grid(em, xb1, i1, e1, a, L1, nt, nph, n1, blk)  # [n1, R, nph, nt, Cf, blk]
        if x2 is x1 and i1 == i2 and s1 == s2 and np.array_equal(a, b):
            g, cg_ = f, cf  # a square x ⊗ x: one transform
        else:
            g, cg_ = _to_grid(em, xb2, i2, e2, b, L2, nt, nph, n1, blk)
        Ch = max(cf, cg_)
        lead = [n1, rank, nph, nt]
        if cf == cg_:  # one flat product: the elementwise kernels like a long last axis
            size = int(np.prod(lead)) * Ch * blk
            h = em.mul(em.reshape(f, [size]), em.reshape(g, [size]))
        else:  # one side has a single channel: broadcast it
            rows = int(np.prod(lead))
            h = em.mul(em.reshape(f, [rows, cf, blk]), em.reshape(g, [rows, cg_, blk]))
        W = Ch * blk
        # back to coefficients: φ → m, then per m θ → l (c folded in when it is per-degree only)
        lo_ls = sorted({io[k].ir.l for k in eo})
        Ko, Mo = len(lo_ls), 2 * Lo + 1
        b2, b1 = fourier.from_grid_factors(Lo, nt, nph)  # [nph, Mo], [Mo, nt, Lo+1]
        t = em.matmul(em.const(b2.T, "b2"), em.reshape(h, [n1, rank, nph, nt * W]))  # [n1, R, Mo, nt*W]
        B1 = np.transpose(b1[:, :, lo_ls], (0, 2, 1))  # [Mo, Ko, nt]
        fold_c = c.shape[1] == 1
        if fold_c:
            ent = {io[k].ir.l: k for k in eo}  # every output entry of one l has the same c (cc = 1)
            B1 = np.stack([B1 * np.array([c[r, 0, ent[l]] for l in lo_ls])[None, :, None] for r in range(rank)])
        z = em.matmul(em.const(B1, "b1"), em.reshape(t, [n1, rank, Mo, nt, W]))  # [n1, R, Mo, Ko, W]
        # one gather into the output layout, the c scaling (unless folded), the rank sum
        idx = np.zeros((rank, io.dim), dtype=np.int64)
        scale = np.zeros((rank, io.dim, 1))
        for k, (sl, e) in enumerate(zip(io.slices(), io)):
            if k not in eo:
                continue
            l, ko = e.ir.l, lo_ls.index(e.ir.l)
            for r in range(rank):
                for u in range(e.mul):
                    uc = u if Ch > 1 else 0
                    for m in range(-l, l + 1):
                        pos = sl.start + u * e.ir.dim + m + l
                        idx[r, pos] = ((r * Mo + m + Lo) * Ko + ko) * Ch + uc
                        scale[r, pos, 0] = 1.0 if fold_c else c[r, u if c.shape[1] > 1 else 0, k]
        inner = [blk] if blk > 1 else []
        zf = em.reshape(z, [n1, rank * Mo * Ko * Ch] + inner)
        out = em.reshape(em.gather(zf, idx.reshape(-1), 1), [n1, rank, io.dim] + inner)
        if not (fold_c and len(eo) == len(io)):  # skip a pass over the output when every factor is 1
            out = em.mul(out, em.const(scale if blk > 1 else scale[..., 0], "c"))
        out = em.tg("reduce_sum", [out], axes=[1], keepdims=0) if rank > 1 else em.reshape(out, [n1, io.dim] + inner)
        total = out if total is None else em.add(total, out)
    if total is None:
        return _assemble(em, [None] * len(io), io, n, batch)
    total = em.transpose(total, [0, 2, 1]) if blk > 1 else total  # [n1, blk, Do] or [n, Do]
    return em.reshape(total, list(batch) + [io.dim])


def _blocked(em: Emitter, x, n1: int, blk: int) -> SSAValue:
    d = em.shape(x)[1]
    if blk == 1:
        return x  # [n, D]
    return em.transpose(em.reshape(x, [n1, blk, d]), [0, 2, 1])


def _to_grid(em: Emitter, xb, irr: Irreps, entries, scal, L, nt, nph, n1, blk):
    """One family of x, scaled, on the sphere grid: ([n1, R, nph, nt, Cx, blk], Cx).

    The degrees l of the family become a padded axis of K = #l for every m: slots with
    l < |m| read some entry of the same (m, channel) and meet a zero of the θ matrix."""
    rank, cs = scal.shape[0], scal.shape[1]
    mul = irr.uniform_mul()
    Cx = max(mul, cs)
    offs = irr.offsets()
    ent_of_l = {irr[k].ir.l: k for k in entries}
    ls = sorted(ent_of_l)
    K, M = len(ls), 2 * L + 1
    a1, a2 = fourier.to_grid_factors(L, nt, nph)  # [M, L+1, nt], [M, nph]
    idx = np.zeros((M, K, Cx), dtype=np.int64)
    for m in range(-L, L + 1):
        top = max(l for l in ls if l >= abs(m))  # l = L is always there
        for j, l in enumerate(ls):
            src = l if l >= abs(m) else top
            e = irr[ent_of_l[src]]
            for u in range(Cx):
                idx[m + L, j, u] = offs[ent_of_l[src]] + (u if mul > 1 else 0) * e.ir.dim + m + src
    A1 = np.transpose(a1[:, ls, :], (0, 2, 1))  # [M, nt, K]
    per_l = np.stack([scal[:, :, ent_of_l[l]] for l in ls], axis=-1)  # [R, cs, K]
    # gathers take a flat index and keep blk (or nothing) as the inner axis: the gather
    # kernel is a scalar loop nest over its output, so unit axes would cost a loop each
    flat = idx.reshape(-1)
    D = em.shape(xb)[1]
    if cs == 1:  # the scaling depends on (rank, degree) only: fold it into the θ matrix
        A1 = np.stack([A1 * per_l[r, 0][None, None, :] for r in range(rank)])  # [R, M, nt, K]
        X = em.reshape(em.gather(xb, flat, 1), [n1, 1, M, K, Cx * blk])
    elif mul == Cx:  # scale x before the gather: a pass over x, not over the padded gather
        S = np.zeros((rank, D))
        for k in entries:
            sl, e = irr.slices()[k], irr[k]
            S[:, sl] = np.repeat(scal[:, :, k], e.ir.dim, axis=1)
        if blk == 1:
            xs = em.mul(em.reshape(xb, [n1, 1, D]), em.const(S, "a"))  # [n1, R, D]
        else:
            xs = em.mul(em.reshape(xb, [n1, 1, D, blk]), em.const(S[..., None], "a"))  # [n1, R, D, blk]
        X = em.reshape(em.gather(xs, flat, 2), [n1, rank, M, K, Cx * blk])
    else:  # one input channel, per-channel scalings: scale the gathered (broadcast) channels
        S = np.broadcast_to(np.transpose(per_l, (0, 2, 1))[:, None, :, :, None], (rank, M, K, Cx, 1))
        X = em.mul(em.reshape(em.gather(xb, flat, 1), [n1, 1, M, K, Cx, blk]), em.const(S, "a"))
        X = em.reshape(X, [n1, rank, M, K, Cx * blk])
    t = em.matmul(em.const(A1, "a1"), X)  # [n1, R, M, nt, Cx*blk]
    t = em.matmul(em.const(a2.T, "a2"), em.reshape(t, [n1, rank, M, nt * Cx * blk]))  # [n1, R, nph, nt*Cx*blk]
    return em.reshape(t, [n1, rank, nph, nt, Cx, blk]), Cx


# ---- spherical harmonics --------------------------------------------------------------------
def _monomials(l: int) -> list[tuple[int, int, int]]:
    return [(a, b, l - a - b) for a in range(l, -1, -1) for b in range(l - a, -1, -1)]


def sh_matrix(irr: Irreps, normalization: str) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """Monomials (powers of x, y, z) and the matrix mapping them to the harmonics of `irr`."""
    ls = sorted({e.ir.l for e in irr})
    monos = [m for l in ls for m in _monomials(l)]
    pts = np.random.default_rng(7).standard_normal((4 * len(monos) + 16, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    cols = []
    for e in irr:
        for _ in range(e.mul):
            cols.append(so3.spherical_harmonics([e.ir.l], pts, True, normalization))
    Y = np.concatenate(cols, axis=1) if cols else np.zeros((len(pts), 0))
    mat = np.zeros((len(monos), irr.dim))
    col = 0
    for e in irr:
        deg = [i for i, m in enumerate(monos) if sum(m) == e.ir.l]
        F = np.stack([pts[:, 0] ** m[0] * pts[:, 1] ** m[1] * pts[:, 2] ** m[2] for m in (monos[i] for i in deg)], axis=1)
        for _ in range(e.mul):
            sol = np.linalg.lstsq(F, Y[:, col : col + e.ir.dim], rcond=None)[0]
            mat[deg, col : col + e.ir.dim] = sol
            col += e.ir.dim
    mat[np.abs(mat) < 1e-13] = 0.0
    return monos, mat


def lower_sh(em: Emitter, op: SphericalHarmonicsOp) -> SSAValue:
    irr = op.attr("irreps_out")
    batch = em.shape(op.outputs[0])[:-1]
    v, n = _flat_batch(em, op.inputs[0], batch)  # [n, 3]
    if op.attr("normalize"):
        sq = em.tg("reduce_sum", [em.mul(v, v)], axes=[1], keepdims=1)
        v = em.tg("div", [v, em.tg("sqrt", [sq])])
    monos, mat = sh_matrix(irr, op.attr("normalization"))
    comps = [em.slice(v, 1, k, k + 1) for k in range(3)]
    lmax = max((sum(m) for m in monos), default=0)
    pw = [[None] * (lmax + 1) for _ in range(3)]
    for k in range(3):
        for p in range(1, lmax + 1):
            pw[k][p] = comps[k] if p == 1 else em.mul(pw[k][p - 1], comps[k])
    cols = []
    one = None
    for m in monos:
        factors = [pw[k][m[k]] for k in range(3) if m[k]]
        if not factors:
            if one is None:
                one = em.tg("expand", [em.const(np.ones((1, 1)), "one")], shape=[n, 1])
            cols.append(one)
            continue
        t = factors[0]
        for f in factors[1:]:
            t = em.mul(t, f)
        cols.append(t)
    feats = em.concat(cols, 1)
    out = em.matmul(feats, em.const(mat, "sh"))
    return em.reshape(out, list(batch) + [irr.dim])


# ---- linear ---------------------------------------------------------------------------------
def lower_linear(em: Emitter, op: LinearOp, store) -> SSAValue:
    ii, io = op.attr("irreps_in"), op.attr("irreps_out")
    w = _need_const(op.inputs[1], store, "the weights", op)
    batch = em.shape(op.outputs[0])[:-1]
    x, n = _flat_batch(em, op.inputs[0], batch)
    blocks = _entry_blocks(em, x, ii, n)
    parts: list[SSAValue | None] = [None] * len(io)
    off = 0
    for i, j, coeff in op.lin_paths():
        a, b = ii[i], io[j]
        W = w[off : off + a.mul * b.mul].reshape(a.mul, b.mul) * coeff
        off += a.mul * b.mul
        t = em.matmul(em.transpose(blocks[i], [0, 2, 1]), em.const(W, "w"))  # [n, d, mo]
        t = em.transpose(t, [0, 2, 1])
        parts[j] = t if parts[j] is None else em.add(parts[j], t)
    return _assemble(em, parts, io, n, batch)
