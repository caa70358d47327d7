"""SO(3)/O(3) numerics in e3nn's conventions, in numpy float64 (no torch, no scipy).

- real spherical harmonics (polar axis y, phi = atan2(x, z), no Condon-Shortley
  phase; 'integral', 'component' or 'norm' normalization),
- `wigner_3j(l1, l2, l3)`: the real-basis Clebsch-Gordan tensor with sum(C**2) = 1,
  from the Racah formula in exact rational arithmetic and the unitary change from
  the complex (|l m>) to the real basis,
- `gaunt_factor(l1, l2, l3)`: g with  integral(Y1 Y2 Y3) = g * wigner_3j,
- `wigner_D(l, R)`: the matrix with Y_l(R r) = D Y_l(r), and random rotations.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

# ---- spherical harmonics -------------------------------------------------------


def _sqrt_frac(f: Fraction) -> float:
    return math.sqrt(f.numerator) / math.sqrt(f.denominator)


@functools.lru_cache(maxsize=None)
def sh_norm(l: int, m: int) -> float:
    """N_lm of the 'integral' normalization, the sqrt(2) of m != 0 included."""
    m = abs(m)
    n = _sqrt_frac(Fraction(2 * l + 1) * Fraction(math.factorial(l - m), math.factorial(l + m))) / math.sqrt(4 * math.pi)
    return n * (math.sqrt(2.0) if m else 1.0)


def legendre_derivs(lmax: int, t: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Q[l, m](t) = d^m P_l / dt^m, so that P_l^m(cos θ) = sin^m θ · Q[l, m] (no CS phase)."""
    t = np.asarray(t, dtype=np.float64)
    q: dict[tuple[int, int], np.ndarray] = {}
    for m in range(lmax + 1):
        dfact = float(np.prod(np.arange(1, 2 * m, 2))) if m else 1.0  # (2m-1)!!
        q[m, m] = np.full_like(t, dfact)
        if m + 1 <= lmax:
            q[m + 1, m] = (2 * m + 1) * t * q[m, m]
        for l in range(m + 2, lmax + 1):
            q[l, m] = ((2 * l - 1) * t * q[l - 1, m] - (l + m - 1) * q[l - 2, m]) / (l - m)
    return q


def legendre_table(lmax: int, cos_theta: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """P_l^m(cos θ) for θ in [0, π] (sin θ >= 0), m >= 0, no Condon-Shortley phase."""
    t = np.asarray(cos_theta, dtype=np.float64)
    s = np.sqrt(np.clip(1.0 - t * t, 0.0, None))
    q = legendre_derivs(lmax, t)
    return {(l, m): v * s**m for (l, m), v in q.items()}


NORMALIZATIONS = ("integral", "component", "norm")


def _norm_factor(l: int, normalization: str) -> float:
    if normalization == "integral":
        return 1.0
    if normalization == "component":
        return math.sqrt(4 * math.pi)
    if normalization == "norm":
        return math.sqrt(4 * math.pi / (2 * l + 1))
    raise ValueError(f"unknown normalization '{normalization}' (one of {', '.join(NORMALIZATIONS)})")


def spherical_harmonics(ls, vectors: np.ndarray, normalize: bool = True, normalization: str = "integral") -> np.ndarray:
    """e3nn's o3.spherical_harmonics(ls, x, normalize, normalization) in numpy: [..., 3] → [..., Σ(2l+1)]."""
    if isinstance(ls, int):
        ls = [ls]
    ls = list(ls)
    v = np.asarray(vectors, dtype=np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    r = v / np.where(n == 0, 1.0, n)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    lmax = max(ls) if ls else 0
    q = legendre_derivs(lmax, y)
    w = z + 1j * x  # sin θ e^{iφ}
    powers = [np.ones_like(w)]
    for _ in range(lmax):
        powers.append(powers[-1] * w)
    blocks = []
    for l in ls:
        cols = []
        for m in range(-l, l + 1):
            az = powers[abs(m)].real if m >= 0 else powers[abs(m)].imag
            cols.append(sh_norm(l, m) * q[l, abs(m)] * az)
        block = np.stack(cols, axis=-1) * _norm_factor(l, normalization)
        if not normalize:  # e3nn's unnormalized harmonics: homogeneous polynomials of degree l
            block = block * n**l
        blocks.append(block)
    return np.concatenate(blocks, axis=-1) if blocks else np.zeros(v.shape[:-1] + (0,))


def sh_grid(lmax: int, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Y_lm(θ_i, φ_j) ('integral'), shape [len(theta), len(phi), (lmax+1)^2], index l*l + l + m."""
    P = legendre_table(lmax, np.cos(theta))
    out = np.zeros((len(theta), len(phi), (lmax + 1) ** 2))
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            out[:, :, l * l + l + m] = sh_norm(l, m) * P[l, abs(m)][:, None] * trig(m, phi)[None, :]
    return out


def trig(m: int, phi: np.ndarray) -> np.ndarray:
    """The azimuthal factor of Y_lm: cos(mφ) for m > 0, 1 for m = 0, sin(|m|φ) for m < 0."""
    phi = np.asarray(phi, dtype=np.float64)
    if m > 0:
        return np.cos(m * phi)
    if m < 0:
        return np.sin(-m * phi)
    return np.ones_like(phi)


# ---- Clebsch-Gordan coefficients ------------------------------------------------


def _fact(n: int) -> int:
    return math.factorial(n)


def su2_cg(j1: int, m1: int, j2: int, m2: int, j: int, m: int) -> float:
    """<j1 m1 j2 m2 | j m> (Condon-Shortley), exact rational arithmetic, integer spins."""
    if m1 + m2 != m or not (abs(j1 - j2) <= j <= j1 + j2) or abs(m1) > j1 or abs(m2) > j2 or abs(m) > j:
        return 0.0
    pre = Fraction((2 * j + 1) * _fact(j + j1 - j2) * _fact(j - j1 + j2) * _fact(j1 + j2 - j), _fact(j1 + j2 + j + 1))
    pre *= _fact(j + m) * _fact(j - m) * _fact(j1 - m1) * _fact(j1 + m1) * _fact(j2 - m2) * _fact(j2 + m2)
    s = Fraction(0)
    for k in range(0, j1 + j2 - j + 1):
        dens = (k, j1 + j2 - j - k, j1 - m1 - k, j2 + m2 - k, j - j2 + m1 + k, j - j1 - m2 + k)
        if min(dens) < 0:
            continue
        d = 1
        for a in dens:
            d *= _fact(a)
        s += Fraction((-1) ** k, d)
    return float(s) * _sqrt_frac(pre) if s else 0.0


def real_to_complex(l: int) -> np.ndarray:
    """U[mc, mr]: complex harmonic |l mc> = Σ_mr U[mc, mr] |l mr> in the real basis, times (-i)^l.

    Y_l^{-k} = (Y_k − i Y_{−k}) / √2, Y_l^{k} = (−1)^k (Y_k + i Y_{−k}) / √2 for k > 0; the
    common phase (−i)^l makes the real-basis Clebsch-Gordan tensors real.
    """
    u = np.zeros((2 * l + 1, 2 * l + 1), dtype=np.complex128)
    r2 = 1 / math.sqrt(2)
    u[l, l] = 1.0
    for k in range(1, l + 1):
        u[l - k, l + k] = r2
        u[l - k, l - k] = -1j * r2
        u[l + k, l + k] = (-1) ** k * r2
        u[l + k, l - k] = 1j * (-1) ** k * r2
    return (-1j) ** l * u


@functools.lru_cache(maxsize=None)
def _wigner_3j(l1: int, l2: int, l3: int) -> np.ndarray:
    c = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
    for m1 in range(-l1, l1 + 1):
        for m2 in range(-l2, l2 + 1):
            m3 = m1 + m2
            if abs(m3) <= l3:
                c[l1 + m1, l2 + m2, l3 + m3] = su2_cg(l1, m1, l2, m2, l3, m3)
    u1, u2, u3 = real_to_complex(l1), real_to_complex(l2), real_to_complex(l3)
    real = np.einsum("ai,bj,ck,abc->ijk", u1, u2, u3.conj(), c)
    if np.abs(real.imag).max() > 1e-9:
        raise AssertionError(f"real-basis CG ({l1},{l2},{l3}) is not real")
    real = real.real
    real /= np.linalg.norm(real)
    real[np.abs(real) < 1e-15] = 0.0
    real.setflags(write=False)
    return real


def wigner_3j(l1: int, l2: int, l3: int) -> np.ndarray:
    """e3nn's o3.wigner_3j(l1, l2, l3): [2l1+1, 2l2+1, 2l3+1], Frobenius norm 1."""
    if not (abs(l1 - l2) <= l3 <= l1 + l2):
        raise ValueError(f"({l1}, {l2}, {l3}) violates the triangle rule")
    return _wigner_3j(int(l1), int(l2), int(l3))


def triangle(l1: int, l2: int, l3: int) -> bool:
    return abs(l1 - l2) <= l3 <= l1 + l2


@functools.lru_cache(maxsize=None)
def gaunt_factor(l1: int, l2: int, l3: int) -> float:
    """g ≥ 0 with ∫ Y_l1 Y_l2 Y_l3 dΩ = g · wigner_3j(l1, l2, l3) ('integral' harmonics); 0 on odd paths."""
    if not triangle(l1, l2, l3) or (l1 + l2 + l3) % 2:
        return 0.0
    g2 = l1 + l2 + l3
    g = g2 // 2
    # |(l1 l2 l3; 0 0 0)|² exactly
    w = Fraction(_fact(g2 - 2 * l1) * _fact(g2 - 2 * l2) * _fact(g2 - 2 * l3), _fact(g2 + 1))
    w *= Fraction(_fact(g), _fact(g - l1) * _fact(g - l2) * _fact(g - l3)) ** 2
    return _sqrt_frac(w * (2 * l1 + 1) * (2 * l2 + 1) * (2 * l3 + 1)) / math.sqrt(4 * math.pi)


# ---- rotations and Wigner-D ----------------------------------------------------------


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation matrix (det +1)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@functools.lru_cache(maxsize=64)
def _sample_points(l: int) -> np.ndarray:
    rng = np.random.default_rng(1234 + l)
    return rng.standard_normal((4 * (2 * l + 1) + 8, 3))


def wigner_D(l: int, R: np.ndarray, p: int = 1) -> np.ndarray:
    """D_l(R) with Y_l(R r) = D_l(R) Y_l(r); for an improper R (det −1) the parity p enters as p·D_l(−R)."""
    R = np.asarray(R, dtype=np.float64)
    det = np.linalg.det(R)
    sign = 1.0
    if det < 0:
        R = -R
        sign = float(p)
    pts = _sample_points(l)
    a = spherical_harmonics([l], pts)
    b = spherical_harmonics([l], pts @ R.T)
    dt, *_ = np.linalg.lstsq(a, b, rcond=None)
    return sign * dt.T


def irreps_D(irreps, R: np.ndarray) -> np.ndarray:
    """The block-diagonal representation matrix of `irreps` (e3nn layout) for the 3x3 matrix R."""
    from tensorc.eqv.irreps import Irreps

    irreps = Irreps(irreps)
    out = np.zeros((irreps.dim, irreps.dim))
    for sl, e in zip(irreps.slices(), irreps):
        d = wigner_D(e.ir.l, R, e.ir.p)
        out[sl, sl] = np.kron(np.eye(e.mul), d)
    return out
