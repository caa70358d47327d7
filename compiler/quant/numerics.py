"""Bit-exact block quantization (quantize, then dequantize) with vectorized float ops.

The rule, for every block of `fmt.block` consecutive values along `axis`
(the last block of an axis whose length is not a multiple is shorter: it is
padded with zeros, which change nothing):

1. Inputs are float32 (other float types are converted to float32 first).
2. amax = max |x_i|. If the block holds a NaN or +-inf, its shared exponent is
   0xFF and every element of the block decodes to NaN (the OCP MX rule; BFP
   has no encoding for them either). The NaN is the quiet NaN 0x7FC00000.
3. Shared exponent. L = floor(log2 amax), exact (subnormal amax included).
   * int elements (BFP12/BFP16/MXINT8): E = clamp(L, -127, 127); an all-zero
     block has E = 0 (d-Matrix). Step q = 2^(E - (wl - 2)).
     m_i = clamp(R(x_i / q), -(2^(wl-1) - 1), 2^(wl-1) - 1); x̂_i = m_i * q.
   * fp elements (MXFP*): scale exponent S = clamp(L - emax_elem, -127, 127)
     (OCP E8M0; an all-zero block has S = -127). v_i = x_i / 2^S is rounded
     to the element grid: e = max(floor(log2 |v_i|), emin_elem), step
     2^(e - man_bits), v̂ = R(v / step) * step, then saturated to +-max_norm
     (OCP conversion saturates). x̂_i = v̂_i * 2^S.
4. R is the format's rounding, applied once to the exact quotient:
   ``rne`` round half to even (default) or ``rna`` round half away from zero.
   (d-Matrix's CPU kernel rounds twice, through an fp32 rebase; it differs from
   a single RNE on rare near-ties. We implement the single rounding.)
5. Signed zeros: an integer mantissa of 0 decodes to +0.0; a small-float
   element keeps its sign bit, so a negative value rounded to zero is -0.0.

Every x̂ is exactly representable in float32 (the exponent clamps guarantee
it), so the float64 arithmetic below is exact and the final cast loses nothing.
"""

from __future__ import annotations

import numpy as np

from .formats import E_MAX, E_MIN, Format, parse_format

QNAN_BITS = 0x7FC00000


def _round(v: np.ndarray, rounding: str) -> np.ndarray:
    if rounding == "rne":
        return np.rint(v)
    return np.copysign(np.floor(np.abs(v) + 0.5), v)  # rna; exact in float64 for |v| < 2^52


def _blocks(x: np.ndarray, block: int, axis: int):
    """x (float32) as float64 blocks [..., nblocks, block] and a function that undoes the blocking."""
    xm = np.moveaxis(x, axis, -1)
    lead, length = xm.shape[:-1], xm.shape[-1]
    nb = -(-length // block) if length else 0
    pad = nb * block - length
    if pad:
        xm = np.concatenate([xm, np.zeros(lead + (pad,), xm.dtype)], axis=-1)
    xb = xm.reshape(lead + (nb, block)).astype(np.float64)

    def unblock(yb: np.ndarray) -> np.ndarray:
        y = yb.reshape(lead + (nb * block,))[..., :length]
        return np.moveaxis(y, -1, axis)

    return xb, unblock


def _floor_log2(a: np.ndarray) -> np.ndarray:
    """floor(log2 a) for finite a > 0 (exact, via frexp); 0 -> -1 (callers mask it)."""
    _, e = np.frexp(a)
    return e.astype(np.int64) - 1


def shared_exponents(x, fmt: "Format | str", axis: int = -1) -> np.ndarray:
    """The unbiased shared exponent of each block (E for int formats, the scale exponent S for
    fp formats), int16 [..., nblocks] with the block axis last; blocks holding NaN/inf give 128."""
    fmt = parse_format(fmt)
    x = np.asarray(x, dtype=np.float32)
    xb, _ = _blocks(x, fmt.block, axis if x.ndim else 0)
    return _shared(xb, fmt)[0].astype(np.int16)


def _shared(xb: np.ndarray, fmt: Format):
    amax = np.max(np.abs(xb), axis=-1) if xb.shape[-1] else np.zeros(xb.shape[:-1])
    finite = np.isfinite(amax)
    safe = np.where(finite, amax, 0.0)
    L = _floor_log2(safe)
    if fmt.kind == "int":
        E = np.where(safe == 0, 0, np.clip(L, E_MIN, E_MAX))
    else:
        E = np.where(safe == 0, E_MIN, np.clip(L - fmt.emax_elem, E_MIN, E_MAX))
    return np.where(finite, E, E_MAX + 1), finite


def quantize(x, fmt: "Format | str", axis: int = -1) -> np.ndarray:
    """Quantize `x` to the block format `fmt` along `axis` and return the dequantized float32 array."""
    fmt = parse_format(fmt)
    x = np.asarray(x)
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    if x.ndim == 0:
        return quantize(x.reshape(1), fmt, 0).reshape(())
    if x.size == 0:
        return x.copy()
    with np.errstate(all="ignore"):
        return _quantize(x, fmt, axis)


def _quantize(x: np.ndarray, fmt: Format, axis: int) -> np.ndarray:
    xb, unblock = _blocks(x, fmt.block, axis)
    E, finite = _shared(xb, fmt)
    E = np.where(finite, E, 0)[..., None]
    if fmt.kind == "int":
        k = E - (fmt.mantissa_bits - 2)
        m = np.clip(_round(np.ldexp(xb, -k), fmt.rounding), -fmt.mmax, fmt.mmax)
        yb = np.ldexp(m, k) + 0.0  # + 0.0: an integer mantissa has no -0
    else:
        el = fmt.elem
        v = np.ldexp(xb, -E)
        av = np.abs(v)
        e = np.maximum(_floor_log2(av), el.emin)
        t = e - el.man_bits
        vq = np.minimum(np.ldexp(_round(np.ldexp(av, -t), fmt.rounding), t), el.max_norm)
        yb = np.ldexp(np.copysign(vq, xb), E)
    y = yb.astype(np.float32)
    y[~np.broadcast_to(finite[..., None], y.shape)] = np.float32(np.nan)
    return unblock(y)


def zeroed_fraction(x, xq) -> float:
    """Fraction of the nonzero values of `x` that quantized to zero (flushed mantissas)."""
    x = np.asarray(x)
    nz = x != 0
    n = int(nz.sum())
    return float(((np.asarray(xq) == 0) & nz).sum()) / n if n else 0.0


__all__ = ["quantize", "shared_exponents", "zeroed_fraction", "QNAN_BITS"]
