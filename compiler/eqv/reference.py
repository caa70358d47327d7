"""Numpy references for the eqv ops, float64, following e3nn's definitions exactly.

- `cg_tp`: e3nn's o3.TensorProduct forward with given (shared) weights,
- `gaunt_tp`: the rescaled (rank-R) Gaunt product with parity selection,
- `linear`: e3nn's o3.Linear (no biases),
- e3nn's path normalization (`e3nn_path_weights`), so instructions built here carry
  the same coefficients as e3nn's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from tensorc.eqv import fourier, so3
from tensorc.eqv.irreps import Irreps

MODES = ("uvw", "uvu", "uvv", "uuw", "uuu", "uvuv")


@dataclass(frozen=True)
class Path:
    """One instruction of a CG tensor product (e3nn's Instruction): in1 entry ⊗ in2 entry → out entry.

    The path's coefficient is K = path_weight · W, W the learned weights of shape
    `weight_shape(...)` when `has_weight`, else 1."""

    i1: int
    i2: int
    io: int
    mode: str = "uvw"
    has_weight: bool = True
    path_weight: float = 1.0

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown mode '{self.mode}' (one of {', '.join(MODES)})")


def weight_shape(p: Path, i1: Irreps, i2: Irreps, io: Irreps) -> tuple[int, ...]:
    m1, m2, mo = i1[p.i1].mul, i2[p.i2].mul, io[p.io].mul
    if not p.has_weight:
        return ()
    return {"uvw": (m1, m2, mo), "uvu": (m1, m2), "uvv": (m1, m2), "uuw": (m1, mo), "uuu": (m1,), "uvuv": (m1, m2)}[p.mode]


def weight_numel(paths: Sequence[Path], i1, i2, io) -> int:
    i1, i2, io = Irreps(i1), Irreps(i2), Irreps(io)
    return sum(int(np.prod(weight_shape(p, i1, i2, io))) for p in paths if p.has_weight)


def check_path(p: Path, i1: Irreps, i2: Irreps, io: Irreps) -> str | None:
    """Why the path breaks a selection rule or a mode's multiplicity rule (None if it is fine)."""
    for k, irr, name in ((p.i1, i1, "in1"), (p.i2, i2, "in2"), (p.io, io, "out")):
        if not 0 <= k < len(irr):
            return f"path ({p.i1}, {p.i2}, {p.io}): {name} index {k} out of range"
    a, b, c = i1[p.i1], i2[p.i2], io[p.io]
    where = f"path {a.ir} x {b.ir} -> {c.ir}"
    if not so3.triangle(a.ir.l, b.ir.l, c.ir.l):
        return f"{where} violates the triangle rule |l1-l2| <= l3 <= l1+l2"
    if a.ir.p * b.ir.p != c.ir.p:
        return f"{where} violates parity: p1*p2 = {a.ir.p * b.ir.p:+d}"
    need = {
        "uvw": [],
        "uvu": [(c.mul, a.mul, "mul_out == mul_in1")],
        "uvv": [(c.mul, b.mul, "mul_out == mul_in2")],
        "uuw": [(a.mul, b.mul, "mul_in1 == mul_in2")],
        "uuu": [(a.mul, b.mul, "mul_in1 == mul_in2"), (c.mul, a.mul, "mul_out == mul_in1")],
        "uvuv": [(c.mul, a.mul * b.mul, "mul_out == mul_in1 * mul_in2")],
    }[p.mode]
    for x, y, text in need:
        if x != y:
            return f"{where} in mode {p.mode} needs {text} ({a.mul}, {b.mul}, {c.mul})"
    return None


def num_elements(p: Path, i1: Irreps, i2: Irreps) -> int:
    m1, m2 = i1[p.i1].mul, i2[p.i2].mul
    return {"uvw": m1 * m2, "uvu": m2, "uvv": m1, "uuw": m1, "uuu": 1, "uvuv": 1}[p.mode]


def e3nn_path_weights(
    paths: Sequence[Path],
    irreps_in1,
    irreps_in2,
    irreps_out,
    irrep_normalization: str = "component",
    path_normalization: str = "element",
    in1_var=None,
    in2_var=None,
    out_var=None,
) -> list[Path]:
    """The paths with path_weight replaced by e3nn's sqrt(alpha) · path_weight (TensorProduct.__init__)."""
    i1, i2, io = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    in1_var = in1_var or [1.0] * len(i1)
    in2_var = in2_var or [1.0] * len(i2)
    out_var = out_var or [1.0] * len(io)
    out = []
    for p in paths:
        a, b, c = i1[p.i1], i2[p.i2], io[p.io]
        if irrep_normalization == "component":
            alpha = c.ir.dim
        elif irrep_normalization == "norm":
            alpha = a.ir.dim * b.ir.dim
        elif irrep_normalization == "none":
            alpha = 1
        else:
            raise ValueError(f"irrep_normalization '{irrep_normalization}'")
        if path_normalization == "element":
            x = sum(in1_var[q.i1] * in2_var[q.i2] * num_elements(q, i1, i2) for q in paths if q.io == p.io)
        elif path_normalization == "path":
            x = in1_var[p.i1] * in2_var[p.i2] * num_elements(p, i1, i2)
            x *= len([q for q in paths if q.io == p.io])
        elif path_normalization == "none":
            x = 1
        else:
            raise ValueError(f"path_normalization '{path_normalization}'")
        if x > 0:
            alpha /= x
        alpha *= out_var[p.io]
        alpha *= p.path_weight
        out.append(replace(p, path_weight=math.sqrt(alpha)))
    return out


def split_weights(paths, i1, i2, io, weights) -> list[np.ndarray | None]:
    """The flat weight vector cut into one array per path (None for paths without weights)."""
    i1, i2, io = Irreps(i1), Irreps(i2), Irreps(io)
    out, off = [], 0
    w = None if weights is None else np.asarray(weights).reshape(-1)
    for p in paths:
        if not p.has_weight:
            out.append(None)
            continue
        shape = weight_shape(p, i1, i2, io)
        n = int(np.prod(shape))
        if w is None or off + n > w.size:
            raise ValueError("weights are missing or too short for the paths")
        out.append(w[off : off + n].reshape(shape))
        off += n
    if w is not None and off != w.size:
        raise ValueError(f"{w.size} weights given, the paths use {off}")
    return out


def path_tensor(p: Path, w: np.ndarray | None, m1: int, m2: int, mo: int) -> np.ndarray:
    """The coefficient of the path as a dense [mul1, mul2, mul_out] tensor: K[u, v, w]."""
    k = np.zeros((m1, m2, mo))
    one = np.ones
    if p.mode == "uvw":
        k = w if w is not None else one((m1, m2, mo))
    elif p.mode == "uvu":
        ww = w if w is not None else one((m1, m2))
        k[np.arange(m1), :, np.arange(m1)] = ww
    elif p.mode == "uvv":
        ww = w if w is not None else one((m1, m2))
        k[:, np.arange(m2), np.arange(m2)] = ww
    elif p.mode == "uuw":
        ww = w if w is not None else one((m1, mo))
        k[np.arange(m1), np.arange(m1), :] = ww
    elif p.mode == "uuu":
        ww = w if w is not None else one((m1,))
        k[np.arange(m1), np.arange(m1), np.arange(m1)] = ww
    elif p.mode == "uvuv":
        ww = w if w is not None else one((m1, m2))
        u, v = np.meshgrid(np.arange(m1), np.arange(m2), indexing="ij")
        k[u, v, u * m2 + v] = ww
    return p.path_weight * np.asarray(k, dtype=np.float64)


def cg_tp(x1, x2, irreps_in1, irreps_in2, irreps_out, paths: Sequence[Path], weights=None) -> np.ndarray:
    """e3nn's TensorProduct(x1, x2, weight) with shared weights: [..., d1], [..., d2] → [..., d_out]."""
    i1, i2, io = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = np.asarray(x2, dtype=np.float64)
    batch = np.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    out = np.zeros(batch + (io.dim,))
    ws = split_weights(paths, i1, i2, io, weights)
    s1, s2, so = i1.slices(), i2.slices(), io.slices()
    for p, w in zip(paths, ws):
        a, b, c = i1[p.i1], i2[p.i2], io[p.io]
        if a.mul == 0 or b.mul == 0 or c.mul == 0:
            continue
        xa = x1[..., s1[p.i1]].reshape(x1.shape[:-1] + (a.mul, a.ir.dim))
        xb = x2[..., s2[p.i2]].reshape(x2.shape[:-1] + (b.mul, b.ir.dim))
        k = path_tensor(p, w, a.mul, b.mul, c.mul)
        cg = so3.wigner_3j(a.ir.l, b.ir.l, c.ir.l)
        z = np.einsum("...ui,...vj,ijk,uvw->...wk", xa, xb, cg, k, optimize=True)
        out[..., so[p.io]] += z.reshape(batch + (c.dim,))
    return out


def spherical_harmonics(vectors, irreps_out, normalize=True, normalization="integral") -> np.ndarray:
    io = Irreps(irreps_out)
    return so3.spherical_harmonics([e.ir.l for e in io for _ in range(e.mul)], vectors, normalize, normalization)


# ---- Gaunt products ----------------------------------------------------------------------


def channels(*counts: int) -> int:
    """The broadcast channel count of operands with these channel counts (each 1 or C)."""
    big = {c for c in counts if c != 1}
    if len(big) > 1:
        raise ValueError(f"channel counts {sorted(set(counts))} do not broadcast")
    return big.pop() if big else 1


def family_pairs(i1: Irreps, i2: Irreps) -> list[tuple[int, int]]:
    f1 = sorted({e.ir.family for e in i1})
    f2 = sorted({e.ir.family for e in i2})
    return [(a, b) for a in f1 for b in f2]


def gaunt_tp(x1, x2, a, b, c, irreps_in1, irreps_in2, irreps_out, method: str = "grid") -> np.ndarray:
    """z[io] = Σ_r c[r, :, io] · Σ_{σ1,σ2} P_{l_o}( f_{r,σ1} · g_{r,σ2} ) over outputs with family σ1σ2,

    f_{r,σ}(Ω) = Σ_{i1 in family σ} a[r, :, i1] x1[i1] · Y_{l_i1}(Ω) (and g from x2, b), P_l the
    projection onto degree l. a: [R, Ca, n_in1], b: [R, Cb, n_in2], c: [R, Cc, n_out];
    channel counts broadcast (each 1 or C); every entry of an input has the same mul.
    method: 'grid' (sphere grid), 'fft' (2D Fourier) or 'direct' (Σ g·CG, for checking)."""
    i1, i2, io = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = np.asarray(x2, dtype=np.float64)
    a, b, c = (np.asarray(t, dtype=np.float64) for t in (a, b, c))
    c1, c2, co = i1.uniform_mul(), i2.uniform_mul(), io.uniform_mul()
    C = channels(c1, c2, a.shape[1], b.shape[1], c.shape[1])
    if co != C:
        raise ValueError(f"output multiplicity {co} != broadcast channel count {C}")
    batch = np.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    R = a.shape[0]
    out = np.zeros(batch + (io.dim,))
    so = io.slices()
    for s1, s2 in family_pairs(i1, i2):
        e1 = [k for k, e in enumerate(i1) if e.ir.family == s1]
        e2 = [k for k, e in enumerate(i2) if e.ir.family == s2]
        eo = [k for k, e in enumerate(io) if e.ir.family == s1 * s2]
        if not eo:
            continue
        L1 = max(i1[k].ir.l for k in e1)
        L2 = max(i2[k].ir.l for k in e2)
        Lo = max(io[k].ir.l for k in eo)
        # SH coefficient functions [..., R, C, (L+1)^2]
        f = _sh_function(x1, i1, e1, a, L1, batch, C)
        g = _sh_function(x2, i2, e2, b, L2, batch, C)
        if method == "grid":
            h = fourier.grid_product(f, L1, g, L2, Lo)
        elif method == "fft":
            h = fourier.fourier_product(f, L1, g, L2, Lo)
        elif method == "direct":
            h = _direct_product(f, L1, g, L2, Lo)
        else:
            raise ValueError(f"unknown gaunt method '{method}'")
        for k in eo:
            l = io[k].ir.l
            part = np.einsum("...ruk,ru->...uk", h[..., l * l : (l + 1) ** 2], np.broadcast_to(c[:, :, k], (R, C)))
            out[..., so[k]] += part.reshape(batch + (io[k].dim,))
    return out


def _sh_function(x, irr: Irreps, entries, scale, lmax, batch, C):
    R = scale.shape[0]
    f = np.zeros(batch + (R, C, (lmax + 1) ** 2))
    sl = irr.slices()
    for k in entries:
        e = irr[k]
        blk = x[..., sl[k]].reshape(x.shape[:-1] + (e.mul, e.ir.dim))  # mul 1 or C
        l = e.ir.l
        s = np.broadcast_to(scale[:, :, k], (R, C))
        f[..., l * l : (l + 1) ** 2] += np.broadcast_to(blk[..., None, :, :], batch + (1, e.mul, e.ir.dim)) * s[..., None]
    return f


def _direct_product(f, l1, g, l2, lo):
    out = np.zeros(f.shape[:-1] + ((lo + 1) ** 2,))
    for p in range(l1 + 1):
        for q in range(l2 + 1):
            for r in range(abs(p - q), min(p + q, lo) + 1):
                gf = so3.gaunt_factor(p, q, r)
                if gf:
                    out[..., r * r : (r + 1) ** 2] += gf * np.einsum(
                        "...i,...j,ijk->...k", f[..., p * p : (p + 1) ** 2], g[..., q * q : (q + 1) ** 2], so3.wigner_3j(p, q, r)
                    )
    return out


def linear(x, irreps_in, irreps_out, paths: Sequence[tuple[int, int, float]], weights) -> np.ndarray:
    """e3nn's o3.Linear without biases: out[j] += coeff · x[i] @ W_p ([mul_in, mul_out]) per path (i, j, coeff)."""
    ii, io = Irreps(irreps_in), Irreps(irreps_out)
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape[:-1] + (io.dim,))
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    off = 0
    si, so = ii.slices(), io.slices()
    for i, j, coeff in paths:
        a, b = ii[i], io[j]
        n = a.mul * b.mul
        W = w[off : off + n].reshape(a.mul, b.mul)
        off += n
        xa = x[..., si[i]].reshape(x.shape[:-1] + (a.mul, a.ir.dim))
        out[..., so[j]] += coeff * np.einsum("...ui,uw->...wi", xa, W).reshape(x.shape[:-1] + (b.dim,))
    return out


def e3nn_linear_paths(irreps_in, irreps_out) -> list[tuple[int, int, float]]:
    """e3nn o3.Linear's instructions with their 'element' normalization 1/sqrt(fan_in)."""
    ii, io = Irreps(irreps_in), Irreps(irreps_out)
    pairs = [(i, j) for i, a in enumerate(ii) for j, b in enumerate(io) if a.ir == b.ir]
    out = []
    for i, j in pairs:
        fan = sum(ii[k].mul for k, jj in pairs if jj == j)
        out.append((i, j, 1.0 / math.sqrt(fan) if fan > 0 else 1.0))
    return out
