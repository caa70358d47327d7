"""When is a CG tensor product a (sum of) rescaled Gaunt product(s)? The exact analysis.

Write the product as z[io] = Σ_p K_p CG(x1[i1], x2[i2]) with K_p[u, v, w] the path's
coefficient on channels (u of in1, v of in2, w of out). A Gaunt product computes only
*even* paths (l1 + l2 + l3 even; g = 0 on odd ones), symmetric in its inputs, with
coefficient g(l1, l2, l3) · a[i1] b[i2] c[io]. So the rewrite is exact iff

1. channels: each output channel w is fed by one input channel pair (u_w, v_w) on all
   even paths (channelwise, broadcast or outer products; a general 'uvw' mixing is not
   a channelwise product and is refused),
2. per output channel, T[i1, i2, io] = K/g on the *mask* of all triangle-valid even
   (i1, i2, io) with matching parity (absent paths count as K = 0) has masked CP rank
   R: T = Σ_r a_r ⊗ b_r ⊗ c_r there (R = 1: one Gaunt product, the papers' case),
3. odd paths have K = 0 — or they are kept as a residual CG product (hybrid).

`analyze` decides, and returns the factors, the channel maps and the residual paths.
The factorization is found by masked alternating least squares and then *checked*:
its largest error on the mask must be <= `tol` times the largest |T|.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tensorc.eqv import cost as costs
from tensorc.eqv import reference as R
from tensorc.eqv import so3
from tensorc.eqv.irreps import Irreps

TOL = 1e-12


@dataclass
class Analysis:
    decision: str  # "gaunt" | "hybrid" | "refuse"
    reasons: list[str] = field(default_factory=list)
    rank: int = 0
    a: np.ndarray | None = None  # [R, Ca, n1]
    b: np.ndarray | None = None
    c: np.ndarray | None = None
    u_map: list[int] | None = None  # in1 channel of each output channel (None: identity/broadcast)
    v_map: list[int] | None = None
    channels: int = 0
    residual: list[tuple[int, R.Path]] = field(default_factory=list)  # (index in the original paths, path)
    cost_cg: costs.Cost | None = None
    cost_new: costs.Cost | None = None
    families: int = 1

    def summary(self) -> str:
        why = "; ".join(self.reasons)
        c = ""
        if self.cost_cg is not None:
            c = f" cost cg {self.cost_cg.total:,.0f}"
            if self.cost_new is not None:
                c += f" vs {self.decision if self.decision != 'refuse' else 'gaunt'} {self.cost_new.total:,.0f}"
                if self.cost_new.total:
                    c += f" ({self.cost_cg.total / self.cost_new.total:.2f}x)"
        return f"{self.decision}" + (f" rank {self.rank}" if self.rank else "") + (f": {why}" if why else "") + c


def path_name(p: R.Path, i1: Irreps, i2: Irreps, io: Irreps) -> str:
    return f"{i1[p.i1].ir} x {i2[p.i2].ir} -> {io[p.io].ir}"


def masked_cp(T: np.ndarray, M: np.ndarray, max_rank: int, tol: float = TOL, seed: int = 0):
    """(A [n1,R], B [n2,R], C [n3,R]) with Σ_r A B C = T on the mask M, R minimal <= max_rank; or None."""
    scale = float(np.abs(T[M]).max()) if M.any() else 0.0
    n1, n2, n3 = T.shape
    if scale == 0.0:
        return np.zeros((n1, 0)), np.zeros((n2, 0)), np.zeros((n3, 0))
    Tn = np.where(M, T / scale, 0.0)
    one = _rank1_exact(Tn, M)
    if one is not None:
        A, B, C = _gauge(*one)
        if np.abs(np.einsum("ir,jr,kr->ijk", A, B, C) - Tn)[M].max() <= tol:
            return A, B, C * scale
    rng = np.random.default_rng(seed)
    for rank in range(1, max_rank + 1):
        tries = 1 if rank == 1 else 4
        for t in range(tries):
            if rank == 1 and t == 0:
                A, B, C = np.ones((n1, 1)), np.ones((n2, 1)), np.ones((n3, 1))
            else:
                A, B, C = (rng.standard_normal((n, rank)) for n in (n1, n2, n3))
            err, (A, B, C) = _als(Tn, M, A, B, C, iters=500)
            if err <= tol:
                A, B, C = _gauge(A, B, C)
                final = np.abs(np.einsum("ir,jr,kr->ijk", A, B, C) - Tn)[M].max()
                if final <= tol:
                    return A, B, C * scale
    return None


def _rank1_exact(T, M):
    """Rank 1 without iterating: log-magnitudes by least squares, signs by propagation (no zeros on the mask)."""
    vals = T[M]
    if np.any(vals == 0):
        return None
    n1, n2, n3 = T.shape
    idx = np.argwhere(M)
    D = np.zeros((len(idx), n1 + n2 + n3))
    D[np.arange(len(idx)), idx[:, 0]] = 1
    D[np.arange(len(idx)), n1 + idx[:, 1]] = 1
    D[np.arange(len(idx)), n1 + n2 + idx[:, 2]] = 1
    sol = np.linalg.lstsq(D, np.log(np.abs(vals)), rcond=None)[0]
    mags = [np.exp(sol[:n1]), np.exp(sol[n1 : n1 + n2]), np.exp(sol[n1 + n2 :])]
    signs = [np.zeros(n1), np.zeros(n2), np.zeros(n3)]
    sgn = np.sign(vals)
    pending = list(range(len(idx)))
    while pending:
        progress = False
        rest = []
        for e in pending:
            known = [signs[ax][idx[e, ax]] for ax in range(3)]
            unknown = [ax for ax in range(3) if known[ax] == 0]
            if len(unknown) == 0:
                if np.prod(known) != sgn[e]:
                    return None
                progress = True
            elif len(unknown) == 1:
                ax = unknown[0]
                others = np.prod([known[k] for k in range(3) if k != ax])
                signs[ax][idx[e, ax]] = sgn[e] * others
                progress = True
            else:
                rest.append(e)
        if not progress:  # a new connected piece: fix one free sign
            e = rest[0]
            ax = next(ax for ax in range(3) if signs[ax][idx[e, ax]] == 0)
            signs[ax][idx[e, ax]] = 1
        pending = rest
    f = [np.where(s == 0, 1.0, s) * m for s, m in zip(signs, mags)]
    # entries of a factor that no mask position uses are free: zero them
    for ax, n in enumerate((n1, n2, n3)):
        used = np.zeros(n, dtype=bool)
        used[idx[:, ax]] = True
        f[ax][~used] = 0.0
    return f[0][:, None], f[1][:, None], f[2][:, None]


def _als(T, M, A, B, C, iters):
    err = np.inf
    for _ in range(iters):
        A = _update(np.transpose(T, (0, 1, 2)), np.transpose(M, (0, 1, 2)), B, C)
        B = _update(np.transpose(T, (1, 0, 2)), np.transpose(M, (1, 0, 2)), A, C)
        C = _update(np.transpose(T, (2, 0, 1)), np.transpose(M, (2, 0, 1)), A, B)
        new = np.abs(np.einsum("ir,jr,kr->ijk", A, B, C) - T)[M].max()
        if new <= 1e-15 or (new > 0.9999 * err and _ > 50):
            err = new
            break
        err = new
    return (err if np.isfinite(err) else np.inf), (A, B, C)


def _update(T, M, P, Q):
    """Rows of the first factor: least squares over the masked (j, k) of each i."""
    n, rank = T.shape[0], P.shape[1]
    D = np.einsum("jr,kr->jkr", P, Q).reshape(-1, rank)
    out = np.zeros((n, rank))
    for i in range(n):
        m = M[i].reshape(-1)
        if m.any():
            out[i] = np.linalg.lstsq(D[m], T[i].reshape(-1)[m], rcond=1e-13)[0]
    return out


def _gauge(A, B, C):
    A, B, C = A.copy(), B.copy(), C.copy()
    for r in range(A.shape[1]):
        for X, Y in ((A, C), (B, C)):
            k = np.argmax(np.abs(X[:, r]))
            s = X[k, r]
            if s != 0:
                X[:, r] /= s
                Y[:, r] *= s
    return A, B, C


def analyze(irreps_in1, irreps_in2, irreps_out, paths, weights=None, *, max_rank: int = 4,
            hybrid: bool = True, tol: float = TOL, force: bool = False) -> Analysis:
    i1, i2, io = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    paths = list(paths)
    res = Analysis("refuse", cost_cg=costs.cg_cost(i1, i2, io, paths))
    if not paths:
        res.reasons.append("no paths")
        return res
    ws = R.split_weights(paths, i1, i2, io, weights)
    even, odd = [], []
    for k, (p, w) in enumerate(zip(paths, ws)):
        K = R.path_tensor(p, w, i1[p.i1].mul, i2[p.i2].mul, io[p.io].mul)
        l1, l2, lo = i1[p.i1].ir.l, i2[p.i2].ir.l, io[p.io].ir.l
        if (l1 + l2 + lo) % 2:
            if np.any(K != 0):
                odd.append((k, p))
        else:
            even.append((k, p, K))
    odd_names = sorted({path_name(p, i1, i2, io) for _, p in odd})
    if odd:
        res.reasons.append(
            "odd path" + ("s " if len(odd_names) > 1 else " ") + ", ".join(odd_names)
            + " (antisymmetric: no Gaunt product computes " + ("them" if len(odd_names) > 1 else "it") + ")"
        )
        if not hybrid:
            return res
    if not even:
        res.reasons.append("no even path to rewrite")
        return res
    # ---- structure -----------------------------------------------------------------
    for irr, what in ((i1, "in1"), (i2, "in2")):
        if not irr.is_simplified():
            res.reasons.append(f"{what} ({irr}) repeats an irrep")
            return res
    m1, m2, mo = i1.uniform_mul(), i2.uniform_mul(), io.uniform_mul()
    for m, irr, what in ((m1, i1, "in1"), (m2, i2, "in2"), (mo, io, "out")):
        if m is None:
            res.reasons.append(f"{what} ({irr}) has entries of different multiplicities")
            return res
    # channel maps: every output channel w gets one (u, v) pair on all even paths
    support = np.zeros((m1, m2, mo), dtype=bool)
    for _, _, K in even:
        support |= K != 0
    u_map, v_map = [], []
    for w in range(mo):
        uv = np.argwhere(support[:, :, w])
        pairs = {(int(u), int(v)) for u, v in uv}
        if len(pairs) > 1:
            res.reasons.append(
                f"output channel {w} mixes {len(pairs)} input channel pairs ('uvw'-style weights): not a channelwise "
                "product (a Linear -> Gaunt -> Linear factorization is not searched)"
            )
            return res
        u, v = pairs.pop() if pairs else (w % m1, w % m2)
        u_map.append(u)
        v_map.append(v)
    # ---- the tensors T_w on the mask ----------------------------------------------
    n1, n2, no = len(i1), len(i2), len(io)
    M = np.zeros((n1, n2, no), dtype=bool)
    G = np.ones((n1, n2, no))
    for a, ea in enumerate(i1):
        for b, eb in enumerate(i2):
            for c, ec in enumerate(io):
                l1, l2, lo = ea.ir.l, eb.ir.l, ec.ir.l
                if so3.triangle(l1, l2, lo) and (l1 + l2 + lo) % 2 == 0 and ec.ir.family == ea.ir.family * eb.ir.family:
                    M[a, b, c] = True
                    G[a, b, c] = so3.gaunt_factor(l1, l2, lo)
    T = np.zeros((mo, n1, n2, no))
    for _, p, K in even:
        T[np.arange(mo), p.i1, p.i2, p.io] += K[u_map, v_map, np.arange(mo)] / G[p.i1, p.i2, p.io]
    # distinct channels, decomposed once each
    keys = np.round(T.reshape(mo, -1) / max(np.abs(T).max(), 1e-300), 13)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    facs = []
    for g in range(len(uniq)):
        w = int(np.flatnonzero(inverse == g)[0])
        f = masked_cp(T[w], M, max_rank, tol)
        if f is None:
            res.reasons.append(
                f"K/g has masked CP rank > {max_rank} on the even paths"
                + (f" (output channel {w})" if len(uniq) > 1 else "")
                + ": no sum of <= " + str(max_rank) + " rescaled Gaunt products equals it"
            )
            return res
        facs.append(f)
    rank = max(f[0].shape[1] for f in facs)
    rank = max(rank, 1)
    A = np.zeros((rank, mo, n1))
    B = np.zeros((rank, mo, n2))
    Cc = np.zeros((rank, mo, no))
    for w in range(mo):
        fa, fb, fc = facs[inverse[w]]
        r = fa.shape[1]
        A[:r, w] = fa.T
        B[:r, w] = fb.T
        Cc[:r, w] = fc.T
    A, B, Cc = (_squeeze_channels(X) for X in (A, B, Cc))
    res.rank, res.a, res.b, res.c = rank, A, B, Cc
    res.channels = mo
    ident = list(range(mo))
    res.u_map = None if (m1 == 1 or u_map == ident) else u_map
    res.v_map = None if (m2 == 1 or v_map == ident) else v_map
    res.residual = odd
    # ---- cost ------------------------------------------------------------------------
    fam = len({(ea.ir.family, eb.ir.family) for ea in i1 for eb in i2})
    c1 = 1 if (m1 == 1 and res.u_map is None and A.shape[1] == 1) else mo
    c2 = 1 if (m2 == 1 and res.v_map is None and B.shape[1] == 1) else mo
    new = costs.gaunt_cost(i1, i2, io, rank, mo, c1, c2, fam)
    if odd:
        new = new + costs.cg_cost(i1, i2, io, [p for _, p in odd])
    res.cost_new = new
    res.families = fam
    kind = "hybrid" if odd else "gaunt"
    if rank > 1:
        res.reasons.append(f"K/g has masked rank {rank}: a sum of {rank} Gaunt products")
    if not force and new.total >= res.cost_cg.total:
        res.reasons.append(f"the cost model prefers CG ({res.cost_cg.total:,.0f} <= {new.total:,.0f})")
        res.decision = "refuse"
        return res
    res.decision = kind
    return res


def _squeeze_channels(X: np.ndarray) -> np.ndarray:
    """[R, C, n] → [R, 1, n] when every channel has the same factors."""
    if X.shape[1] > 1 and np.all(X == X[:, :1]):
        return X[:, :1].copy()
    return X

