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
from tensorc.passes.weights import current_weights

INLINE_MAX = 64


class EqvLoweringError(Exception):
    pass


def constant_value(v: SSAValue, store) -> np.ndarray | None:
    """The array behind a tg.constant / tg.weight operand, or None for a run-time value."""
    op = v.owner
    if isinstance(op, ConstantOp):
        return op.to_array()
    if isinstance(op, WeightOp) and store is not None and op.weight_name in store:
        return np.asarray(store[op.weight_name])
    return None


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
    arr = constant_value(v, store)
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
def lower_gaunt(em: Emitter, op: GauntTensorProductOp, store) -> SSAValue:
    """Feature-major: x^T [D, n]; every transform is (constant) @ [K, R*C*n], vectorized along the batch."""
    i1, i2, io = op.attr("irreps_in1"), op.attr("irreps_in2"), op.attr("irreps_out")
    a = _need_const(op.inputs[2], store, "scaling a", op)
    b = _need_const(op.inputs[3], store, "scaling b", op)
    c = _need_const(op.inputs[4], store, "scaling c", op)
    batch = em.shape(op.outputs[0])[:-1]
    x1, n = _flat_batch(em, op.inputs[0], batch)
    x2, _ = _flat_batch(em, op.inputs[1], batch)
    x1t = em.transpose(x1, [1, 0])  # [D1, n]
    x2t = em.transpose(x2, [1, 0]) if x2 is not x1 else x1t
    rank = a.shape[0]
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
        f, cf = _to_grid(em, x1t, i1, e1, a, L1, nt, nph, n)  # [nph, nt, R, Cf, n]
        g, cg_ = _to_grid(em, x2t, i2, e2, b, L2, nt, nph, n)
        h = em.mul(f, g)  # [nph, nt, R, Ch, n]
        Ch = max(cf, cg_)
        cols = rank * Ch * n
        b2, b1 = fourier.from_grid_factors(Lo, nt, nph)  # [nph, mo], [mo, nt, Lo+1]
        mo = 2 * Lo + 1
        t = em.matmul(em.const(b2.T, "b2"), em.reshape(h, [nph, nt * cols]))  # [mo, nt*cols]
        blocks, row = [], {}
        width = 0
        for m in range(-Lo, Lo + 1):
            ls = [l for l in range(abs(m), Lo + 1) if any(io[k].ir.l == l for k in eo)]
            if not ls:
                continue
            tm = em.reshape(em.slice(t, 0, m + Lo, m + Lo + 1), [nt, cols])
            blocks.append(em.matmul(em.const(b1[m + Lo][:, ls].T, "b1"), tm))  # [K, cols]
            for j, l in enumerate(ls):
                row[l, m] = width + j
            width += len(ls)
        z = em.reshape(em.concat(blocks, 0), [width * rank * Ch, n])  # rows (s, r, u)
        idx = np.zeros((rank, io.dim), dtype=np.int64)
        scale = np.zeros((rank, io.dim, 1))
        for k, (sl, e) in enumerate(zip(io.slices(), io)):
            if k not in eo:
                continue
            l = e.ir.l
            for r in range(rank):
                for u in range(e.mul):
                    uc = u if Ch > 1 else 0
                    for m in range(-l, l + 1):
                        pos = sl.start + u * e.ir.dim + m + l
                        idx[r, pos] = (row[l, m] * rank + r) * Ch + uc
                        scale[r, pos, 0] = c[r, u if c.shape[1] > 1 else 0, k]
        out = em.mul(em.gather(z, idx, 0), em.const(scale, "c"))  # [R, Do, n]
        out = em.tg("reduce_sum", [out], axes=[0], keepdims=0) if rank > 1 else em.reshape(out, [io.dim, n])
        total = out if total is None else em.add(total, out)
    if total is None:
        return _assemble(em, [None] * len(io), io, n, batch)
    return em.reshape(em.transpose(total, [1, 0]), list(batch) + [io.dim])


def _to_grid(em: Emitter, xt, irr: Irreps, entries, scal, L, nt, nph, n):
    """x^T's entries of one family, scaled, on the sphere grid: ([nph, nt, R, Cx, n], Cx)."""
    rank, cs = scal.shape[0], scal.shape[1]
    mul = irr.uniform_mul()
    Cx = max(mul, cs)
    offs = irr.offsets()
    ent_of_l = {irr[k].ir.l: k for k in entries}
    a1, a2 = fourier.to_grid_factors(L, nt, nph)  # [M, L+1, nt], [M, nph]
    cols = rank * Cx * n
    blocks, present = [], []
    for m in range(-L, L + 1):
        ls = [l for l in range(abs(m), L + 1) if l in ent_of_l]
        if not ls:
            continue
        idx = np.zeros((len(ls), Cx), dtype=np.int64)
        for j, l in enumerate(ls):
            e = irr[ent_of_l[l]]
            for u in range(Cx):
                idx[j, u] = offs[ent_of_l[l]] + (u if mul > 1 else 0) * e.ir.dim + m + l
        xm = em.gather(xt, idx, 0)  # [K, Cx, n]
        a1m = a1[m + L][ls]  # [K, nt]
        if rank == 1 and cs == 1:
            a1m = a1m * np.array([scal[0, 0, ent_of_l[l]] for l in ls])[:, None]
        else:
            S = np.stack([scal[:, :, ent_of_l[l]] for l in ls], axis=0)[..., None]  # [K, R, cs, 1]
            xm = em.mul(em.reshape(xm, [len(ls), 1, Cx, n]), em.const(S, "a"))  # [K, R, Cx, n]
        gm = em.matmul(em.const(a1m.T, "a1"), em.reshape(xm, [len(ls), cols]))  # [nt, cols]
        blocks.append(em.reshape(gm, [1, nt * cols]))
        present.append(m + L)
    t = em.concat(blocks, 0)  # [M', nt*cols]
    t = em.matmul(em.const(a2[present].T, "a2"), t)  # [nph, nt*cols]
    return em.reshape(t, [nph, nt, rank, Cx, n]), Cx


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
