"""Two independent implementations of the block-quantization rule of tensorc.quant.

* `quantize_bits`: integer arithmetic on float32 bit patterns (exponent/mantissa
  fields, shifts, guard/sticky rounding, float32 assembled from fields); no
  float operation touches the data. Vectorized with numpy integer ops so it can
  check millions of values quickly.
* `quantize_exact`: the rule read literally, with Python Fractions, one value at
  a time. Slow; used on tens of thousands of values.

Neither shares code with tensorc.quant.numerics (which uses frexp/ldexp/rint on
float64); both take the Format description from tensorc.quant.formats.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from tensorc.quant.formats import Format

QNAN = np.uint32(0x7FC00000)


# ---------------------------------------------------------------------------
# integer bit-pattern implementation
# ---------------------------------------------------------------------------
def _bit_length(v: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values, by binary search on shifts."""
    v = v.astype(np.int64).copy()
    n = np.zeros(v.shape, np.int64)
    for s in (32, 16, 8, 4, 2, 1):
        big = v >= (np.int64(1) << s)
        n += np.where(big, s, 0)
        v = np.where(big, v >> s, v)
    return n + (v > 0)


def _shift_round(M: np.ndarray, sh: np.ndarray, rounding: str) -> np.ndarray:
    """round(M / 2^sh) for integers M >= 0, any integer sh (negative: exact left shift)."""
    M = M.astype(np.int64)
    left = np.clip(-sh, 0, 40)
    right = np.clip(sh, 0, 62)
    shifted_left = M << left
    q = M >> right
    rem = M - (q << right)
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    if rounding == "rne":
        up = (right > 0) & ((rem > half) | ((rem == half) & ((q & 1) == 1)))
    else:  # rna
        up = (right > 0) & (rem >= half)
    return np.where(sh <= 0, shifted_left, q + up)


def _assemble(sign: np.ndarray, m: np.ndarray, k: np.ndarray) -> np.ndarray:
    """float32 bits of (-1)^sign * m * 2^k, m >= 0 small, exact (asserts representability)."""
    m = m.astype(np.int64)
    k = k.astype(np.int64)
    bl = _bit_length(m)
    top = k + bl - 1  # exponent of the leading bit
    normal = (m > 0) & (top >= -126)
    # normal: 24-bit significand m << (24 - bl), biased exponent top + 127
    sig = np.where(normal, m << np.clip(24 - bl, 0, 63), 0)
    assert not np.any(normal & (bl > 24)), "value needs more than 24 bits"
    ef = np.where(normal, top + 127, 0)
    assert not np.any(ef > 254), "overflow"
    frac_n = sig & 0x7FFFFF
    # subnormal: frac = m * 2^(k + 149)
    sub = (m > 0) & ~normal
    assert not np.any(sub & (k < -149)), "below the smallest subnormal"
    frac_s = np.where(sub, m << np.clip(k + 149, 0, 63), 0)
    assert not np.any(frac_s >= (1 << 23))
    bits = (sign.astype(np.int64) << 31) | (ef << 23) | np.where(normal, frac_n, frac_s)
    return bits.astype(np.uint32)


def quantize_bits(x: np.ndarray, fmt: Format) -> np.ndarray:
    """float32 bits of the dequantized values; blocks along the last axis (length a multiple of the block)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.int64)
    n = fmt.block
    assert bits.shape[-1] % n == 0
    bits = bits.reshape(bits.shape[:-1] + (bits.shape[-1] // n, n))
    sign = bits >> 31
    ef = (bits >> 23) & 0xFF
    frac = bits & 0x7FFFFF
    M = np.where(ef > 0, frac | 0x800000, frac)  # x = +-M * 2^P
    P = np.where(ef > 0, ef - 150, -149)
    special = np.any(ef == 255, axis=-1)
    M = np.where(special[..., None], 0, M)  # those blocks decode to NaN whatever the elements
    # amax by integer order of magnitude bit patterns (monotone for non-negative floats)
    mag = np.where(ef == 255, 0, bits & 0x7FFFFFFF)
    amag = mag.max(axis=-1)
    aef = amag >> 23
    afrac = amag & 0x7FFFFF
    L = np.where(aef > 0, aef - 127, _bit_length(afrac) - 1 - 149)
    zero = amag == 0
    if fmt.kind == "int":
        E = np.where(zero, 0, np.clip(L, -127, 127))[..., None]
        k = E - (fmt.mantissa_bits - 2)
        m = _shift_round(M, k - P, fmt.rounding)
        m = np.minimum(m, fmt.mmax)
        s = np.where(m == 0, 0, sign)
        out = _assemble(s, m, np.broadcast_to(k, m.shape))
    else:
        el = fmt.elem
        S = np.where(zero, -127, np.clip(L - el.emax, -127, 127))[..., None]
        # v = M * 2^(P - S); floor(log2 v) = bit_length(M) - 1 + P - S
        lv = np.where(M > 0, _bit_length(M) - 1 + P - S, el.emin)
        e = np.maximum(lv, el.emin)
        t = e - el.man_bits
        r = _shift_round(M, t - (P - S), fmt.rounding)
        # saturate: r * 2^t > max_norm ?  max_norm = rmax * 2^(emax - man_bits)
        tmax = el.emax - el.man_bits
        rmax = int(el.max_norm) >> tmax if tmax >= 0 else int(el.max_norm * (1 << -tmax))
        assert rmax * 2.0**tmax == el.max_norm
        tmin = el.emin - el.man_bits
        over = (r << (t - tmin)) > (np.int64(rmax) << (tmax - tmin))
        r = np.where(over, rmax, r)
        t = np.where(over, tmax, t)
        out = _assemble(sign, r, t + S)
    out = np.where(special[..., None], QNAN, out).astype(np.uint32)
    return out.reshape(out.shape[:-2] + (-1,))


# ---------------------------------------------------------------------------
# exact rational implementation (one value at a time)
# ---------------------------------------------------------------------------
def _floor_log2(q: Fraction) -> int:
    e = q.numerator.bit_length() - q.denominator.bit_length()
    while Fraction(2) ** e > q:
        e -= 1
    while Fraction(2) ** (e + 1) <= q:
        e += 1
    return e


def _rnd(q: Fraction, rounding: str) -> int:
    if rounding == "rne":
        return round(q)  # Python rounds Fractions half to even
    f = abs(q)
    r = int(f + Fraction(1, 2))  # floor(|q| + 1/2)
    return r if q >= 0 else -r


def quantize_exact(x: np.ndarray, fmt: Format) -> np.ndarray:
    """The rule evaluated with Fractions; 1-D input whose length is a multiple of the block."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    out = np.empty(x.shape, np.float32)
    for b0 in range(0, x.size, fmt.block):
        blk = [float(v) for v in x[b0 : b0 + fmt.block]]
        if any(v != v or v in (float("inf"), float("-inf")) for v in blk):
            out[b0 : b0 + fmt.block] = np.uint32(QNAN).view(np.float32)
            continue
        fr = [Fraction(v) for v in blk]
        amax = max(abs(v) for v in fr)
        res = []
        if fmt.kind == "int":
            E = 0 if amax == 0 else min(max(_floor_log2(amax), -127), 127)
            q = Fraction(2) ** (E - (fmt.mantissa_bits - 2))
            for v in fr:
                m = max(-fmt.mmax, min(fmt.mmax, _rnd(v / q, fmt.rounding)))
                res.append(float(m * q) + 0.0)
        else:
            el = fmt.elem
            S = -127 if amax == 0 else min(max(_floor_log2(amax) - el.emax, -127), 127)
            X = Fraction(2) ** S
            for v, raw in zip(fr, blk):
                w = abs(v) / X
                e = el.emin if w == 0 else max(_floor_log2(w), el.emin)
                step = Fraction(2) ** (e - el.man_bits)
                wq = min(_rnd(w / step, fmt.rounding) * step, Fraction(el.max_norm))
                val = float(wq * X)
                res.append(-val if np.signbit(raw) else val)
        out[b0 : b0 + fmt.block] = np.array(res, dtype=np.float32)
    return out
