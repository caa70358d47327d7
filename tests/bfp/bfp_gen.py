"""Test inputs for the block numerics: wide-range values, exact ties, and edge cases."""

from __future__ import annotations

import numpy as np

from tensorc.quant.formats import Format


def _pin(rng, fmt: Format, nblocks: int):
    """Per block: a leading exponent L (floor log2 of amax) and the amax value itself."""
    L = rng.integers(-140, 127, nblocks)
    frac = 1.0 + rng.random(nblocks)  # [1, 2)
    amax = np.ldexp(frac, L).astype(np.float32)
    # float32 rounding may push 1.99999.. * 2^L to 2^(L+1): recompute L
    _, e = np.frexp(amax.astype(np.float64))
    return e - 1, amax


def ties(rng, fmt: Format, nblocks: int) -> np.ndarray:
    """Blocks whose other elements sit exactly halfway between two grid points."""
    n = fmt.block
    L, amax = _pin(rng, fmt, nblocks)
    out = np.empty((nblocks, n), np.float64)
    if fmt.kind == "int":
        E = np.clip(L, -127, 127)
        k = E - (fmt.mantissa_bits - 2)
        j = rng.integers(-fmt.mmax, fmt.mmax, (nblocks, n))
        out[:] = np.ldexp(j + 0.5, k[:, None])
    else:
        el = fmt.elem
        S = np.clip(L - el.emax, -127, 127)
        e = rng.integers(el.emin, el.emax + 1, (nblocks, n))
        lo = np.where(e == el.emin, 0, 1 << el.man_bits)  # subnormal binade too
        j = lo + rng.integers(0, 1 << el.man_bits, (nblocks, n))
        sign = rng.choice([-1.0, 1.0], (nblocks, n))
        out[:] = sign * np.ldexp(j + 0.5, e - el.man_bits + S[:, None])
    out = np.clip(out, -np.abs(amax)[:, None].astype(np.float64), np.abs(amax)[:, None])
    out[:, 0] = amax * rng.choice([-1.0, 1.0], nblocks)
    y = out.astype(np.float32)
    return rng.permuted(y, axis=1)


def wide(rng, nblocks: int, n: int) -> np.ndarray:
    """Normal values times a log-uniform per-block scale over the whole float32 range."""
    scale = np.ldexp(1.0, rng.integers(-150, 125, nblocks))
    x = rng.standard_normal((nblocks, n)) * scale[:, None]
    # per-channel outliers
    x *= np.where(rng.random((nblocks, n)) < 0.05, 2.0 ** rng.integers(1, 12, (nblocks, n)), 1.0)
    return np.clip(x, -3.4e38, 3.4e38).astype(np.float32)


def random_bits(rng, nblocks: int, n: int) -> np.ndarray:
    """Random finite float32 bit patterns: every exponent field 0..254 equally likely (subnormals, zeros)."""
    ef = rng.integers(0, 255, (nblocks, n), dtype=np.uint32)
    # correlate exponents within a block half the time so small values are not always flushed
    base = rng.integers(0, 255, (nblocks, 1), dtype=np.int64)
    near = np.clip(base - rng.integers(0, 12, (nblocks, n)), 0, 254).astype(np.uint32)
    ef = np.where(rng.random((nblocks, 1)) < 0.5, near, ef)
    frac = rng.integers(0, 1 << 23, (nblocks, n), dtype=np.uint32)
    frac = np.where(rng.random((nblocks, n)) < 0.1, 0, frac)  # exact powers of two
    sign = rng.integers(0, 2, (nblocks, n), dtype=np.uint32)
    return ((sign << 31) | (ef << 23) | frac).view(np.float32)


def edge_blocks(rng, fmt: Format) -> np.ndarray:
    """Hand-made blocks: zeros, -0, subnormals, clip-to-max, NaN, +-inf, float32 extremes."""
    n = fmt.block
    f32 = np.finfo(np.float32)
    sub_min = np.float32(2.0**-149)
    rows = [
        np.zeros(n),
        -np.zeros(n),
        np.full(n, sub_min),
        np.full(n, -sub_min),
        np.linspace(-1, 1, n) * 2.0**-130,  # all subnormal
        np.linspace(-1, 1, n) * 2.0**-126,
        np.linspace(-1, 1, n) * f32.max,
        np.full(n, f32.max),
        np.full(n, f32.tiny),
        np.r_[1.0, np.full(n - 1, 2.0**-30)] if n > 1 else np.ones(1),
        np.r_[2.0 - 2.0**-23, np.linspace(-1, 1, n - 1)] if n > 1 else np.ones(1) * 1.999,
        np.r_[1.9375, np.full(n - 1, 1.875)] if n > 1 else np.ones(1) * 1.9375,  # rounds to 2^(wl-1)
        np.r_[np.nan, np.ones(n - 1)] if n > 1 else np.full(1, np.nan),
        np.r_[np.ones(n - 1), np.inf] if n > 1 else np.full(1, np.inf),
        np.r_[-np.inf, np.zeros(n - 1)] if n > 1 else np.full(1, -np.inf),
        np.r_[-0.0, np.full(n - 1, -1e-30)] if n > 1 else np.full(1, -0.0),
        np.r_[1.0, -np.full(n - 1, 2.0**-12)] if n > 1 else np.ones(1),  # negatives that vanish
    ]
    with np.errstate(all="ignore"):
        return np.stack([np.asarray(r, np.float64)[:n] for r in rows]).astype(np.float32)


def mixed(rng, fmt: Format, total: int) -> np.ndarray:
    """About `total` values in blocks of fmt.block (a multiple of the block), all kinds mixed."""
    n = fmt.block
    nb = max(total // n, 4)
    q = nb // 4
    parts = [
        wide(rng, q, n),
        random_bits(rng, q, n),
        ties(rng, fmt, nb - 3 * q),
        rng.standard_normal((q, n)).astype(np.float32),
    ]
    x = np.concatenate(parts)
    # sprinkle specials into 0.2% of the blocks
    idx = rng.choice(x.shape[0], max(x.shape[0] // 500, 3), replace=False)
    pos = rng.integers(0, n, idx.size)
    x[idx, pos] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), idx.size)
    return np.concatenate([x, edge_blocks(rng, fmt)]).reshape(-1)
