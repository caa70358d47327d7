"""The Gaunt product's two exact O(L^3) routes: the 2D Fourier basis and the sphere grid.

A function on the sphere with real spherical-harmonic coefficients x_lm (l <= L, index
l*l + l + m) is multiplied pointwise with another and projected back onto Y_lm:

- **fft**: each Y_lm is an exact trigonometric polynomial in (θ, φ) once θ is extended to
  [0, 2π) with a signed sin θ; products are 2D convolutions of coefficient grids (FFT),
  and the projection uses I(w) = ∫_0^π e^{iwθ} sin θ dθ exactly.
- **grid**: evaluate on Gauss-Legendre nodes in cos θ (n_θ >= (L1+L2+L3+1)/2) times a
  uniform φ grid (n_φ >= L1+L2+L3+1), multiply, integrate back; exact for these sizes.
  Both transforms are separable: over l for each m (a batched matmul), then over m.

The matrices here are shared by the numpy reference and the eqv → tg lowering.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tensorc.eqv.so3 import legendre_table, sh_norm, trig


def sh_size(lmax: int) -> int:
    return (lmax + 1) ** 2


# ---- sphere grid -----------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def grid_sizes(l1: int, l2: int, l3: int) -> tuple[int, int]:
    """(n_θ, n_φ) that make the product of degrees l1, l2 projected on degree l3 exact.

    Any n_φ >= l1+l2+l3+1 is exact; an even n_φ measured faster in the llvm-cpu matmuls."""
    d = l1 + l2 + l3
    return d // 2 + 1, d + 1 + (d + 1) % 2


@functools.lru_cache(maxsize=None)
def grid_nodes(n_theta: int, n_phi: int):
    t, w = np.polynomial.legendre.leggauss(n_theta)
    phi = np.arange(n_phi) * (2 * np.pi / n_phi)
    return t, w, phi


@functools.lru_cache(maxsize=None)
def to_grid_factors(lmax: int, n_theta: int, n_phi: int) -> tuple[np.ndarray, np.ndarray]:
    """(A1 [2L+1, L+1, n_θ], A2 [2L+1, n_φ]) with f(θ_i, φ_j) = Σ_m A2[m, j] Σ_l A1[m, l, i] x_lm.

    m is indexed m + L; entries with l < |m| are zero."""
    t, _w, phi = grid_nodes(n_theta, n_phi)
    P = legendre_table(lmax, t)
    a1 = np.zeros((2 * lmax + 1, lmax + 1, n_theta))
    a2 = np.zeros((2 * lmax + 1, n_phi))
    for m in range(-lmax, lmax + 1):
        a2[m + lmax] = trig(m, phi)
        for l in range(abs(m), lmax + 1):
            a1[m + lmax, l] = sh_norm(l, m) * P[l, abs(m)]
    return a1, a2


@functools.lru_cache(maxsize=None)
def from_grid_factors(lmax: int, n_theta: int, n_phi: int) -> tuple[np.ndarray, np.ndarray]:
    """(B2 [n_φ, 2L+1], B1 [2L+1, n_θ, L+1]): z_lm = Σ_i B1[m, i, l] Σ_j B2[j, m] h(θ_i, φ_j)."""
    t, w, phi = grid_nodes(n_theta, n_phi)
    a1, a2 = to_grid_factors(lmax, n_theta, n_phi)
    b2 = (2 * np.pi / n_phi) * a2.T
    b1 = np.transpose(a1, (0, 2, 1)) * w[None, :, None]
    return b2, b1


def sh_index(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """For each flat SH index s = l*l + l + m: (m + lmax, l)."""
    ms, ls = [], []
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            ms.append(m + lmax)
            ls.append(l)
    return np.array(ms), np.array(ls)


def to_grid(x: np.ndarray, lmax: int, n_theta: int, n_phi: int) -> np.ndarray:
    """[..., (L+1)^2] → [..., n_θ, n_φ], separably."""
    a1, a2 = to_grid_factors(lmax, n_theta, n_phi)
    ms, ls = sh_index(lmax)
    xm = np.zeros(x.shape[:-1] + (2 * lmax + 1, lmax + 1))
    xm[..., ms, ls] = x
    g = np.einsum("...ml,mli->...im", xm, a1)
    return g @ a2


def from_grid(h: np.ndarray, lmax: int, n_theta: int, n_phi: int) -> np.ndarray:
    """[..., n_θ, n_φ] → [..., (L+1)^2]: the exact projection onto Y_lm, l <= lmax."""
    b2, b1 = from_grid_factors(lmax, n_theta, n_phi)
    hm = h @ b2  # [..., θ, m]
    z = np.einsum("...im,mil->...ml", hm, b1)
    ms, ls = sh_index(lmax)
    return z[..., ms, ls]


# ---- 2D Fourier basis ------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def sh_to_fourier(lmax: int) -> np.ndarray:
    """Y[s, u, v] (complex, [(L+1)^2, 2L+1, 2L+1], u and v offset by L): Y_s(θ, φ) = Σ Y[s,u,v] e^{i(uθ+vφ)}.

    Exact: each P_l^|m|(cos θ) (with signed sin θ for θ > π) is a trigonometric polynomial of degree l."""
    n = 2 * lmax + 1
    theta = np.arange(n) * (2 * np.pi / n)
    t, s = np.cos(theta), np.sin(theta)
    from tensorc.eqv.so3 import legendre_derivs

    q = legendre_derivs(lmax, t)
    out = np.zeros((sh_size(lmax), n, n), dtype=np.complex128)
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            am = abs(m)
            samples = sh_norm(l, m) * q[l, am] * s**am  # signed sin: exact trig polynomial
            cu = np.fft.fft(samples) / n  # coefficient of e^{iuθ} at index u mod n
            cu = np.roll(cu, lmax)  # index u + L
            # azimuth: cos mφ = (e^{imφ}+e^{-imφ})/2, sin mφ = (e^{imφ}-e^{-imφ})/(2i)
            cv = np.zeros(n, dtype=np.complex128)
            if m > 0:
                cv[lmax + m] += 0.5
                cv[lmax - m] += 0.5
            elif m < 0:
                cv[lmax + am] += 1 / 2j
                cv[lmax - am] -= 1 / 2j
            else:
                cv[lmax] = 1.0
            out[l * l + l + m] = np.outer(cu, cv)
    out[np.abs(out) < 1e-14] = 0
    return out


def _I(w: np.ndarray) -> np.ndarray:
    """∫_0^π e^{iwθ} sin θ dθ for integer w."""
    w = np.asarray(w)
    out = np.zeros(w.shape, dtype=np.complex128)
    one = np.abs(w) == 1
    even = (w % 2 == 0) & ~one
    out[even] = 2.0 / (1.0 - w[even].astype(np.float64) ** 2)
    out[w == 1] = 1j * math.pi / 2
    out[w == -1] = -1j * math.pi / 2
    return out


@functools.lru_cache(maxsize=None)
def fourier_to_sh(lmax: int, k: int) -> np.ndarray:
    """Z[s, u, v] ([(L+1)^2, 2K+1, 2K+1]): z_s = Re Σ_{u,v} Z[s,u,v] h[u,v] projects a trig
    polynomial h of degree <= K (indices offset by K) onto Y_s, l <= lmax, exactly."""
    y = sh_to_fourier(lmax)  # [s, u', v'] offset lmax
    n = 2 * k + 1
    u = np.arange(-k, k + 1)
    up = np.arange(-lmax, lmax + 1)
    iw = _I(u[:, None] + up[None, :])  # [u, u']
    out = np.zeros((sh_size(lmax), n, n), dtype=np.complex128)
    for v in range(-k, k + 1):
        if abs(v) > lmax:
            continue
        # ∫ e^{ivφ} e^{iv'φ} dφ = 2π δ_{v', -v}
        out[:, :, v + k] = 2 * np.pi * (y[:, :, -v + lmax] @ iw.T)
    return out


def fourier_product(x1: np.ndarray, l1: int, x2: np.ndarray, l2: int, lo: int) -> np.ndarray:
    """Gaunt product of SH coefficient arrays [..., (l1+1)^2] and [..., (l2+1)^2] → [..., (lo+1)^2], 2D FFT route."""
    f = np.einsum("...s,suv->...uv", x1, sh_to_fourier(l1))
    g = np.einsum("...s,suv->...uv", x2, sh_to_fourier(l2))
    k = l1 + l2
    n = 2 * k + 1
    pad = lambda a: np.fft.fft2(a, s=(n, n))  # linear convolution: zero-pad to (n1+n2-1)^2
    h = np.fft.ifft2(pad(f) * pad(g))  # index u + k
    return np.einsum("...uv,suv->...s", h, fourier_to_sh(lo, k)).real


def grid_product(x1: np.ndarray, l1: int, x2: np.ndarray, l2: int, lo: int) -> np.ndarray:
    nt, nph = grid_sizes(l1, l2, lo)
    f = to_grid(x1, l1, nt, nph)
    g = to_grid(x2, l2, nt, nph)
    return from_grid(f * g, lo, nt, nph)
