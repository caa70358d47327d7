"""Packed storage of the integer block formats: the bytes a BFP12 / BFP16 / MXINT8 cache holds.

    p = pack(k, "bfp12_16", axis=-2)          # k [..., D, T] -> uint8 [..., D/16, 9, T]: 4.5 bits per value
    k2 = unpack(p, "bfp12_16", axis=-2, length=k.shape[-2])
    # k2 is bit-identical to quantize(k, "bfp12_16", axis=-2)

Layout. The blocked axis of length L is replaced, in place, by two axes
[nb, bytes_per_block(fmt)] with nb = ceil(L / n): x of shape [..., L, R...]
packs to [..., nb, B, R...] (uint8), and packed[..., b, :, r...] is block b of
the vector x[..., :, r...]:

    byte 0    the shared exponent, biased: E + 127 (0..254); 0xFF marks a block that held
              NaN or +-inf (every element decodes to the quiet NaN 0x7FC00000)
    byte 1..  the n mantissas m_i (|m| <= 2^(wl-1) - 1), two's complement in wl bits,
              8 / wl per byte, the first in the lowest bits: BFP12 (wl = 4) puts element
              2j in the low nibble of byte 1 + j and 2j + 1 in the high one; BFP16 and
              MXINT8 (wl = 8) store one int8 per byte. Unused bits (a short last block,
              an odd block size) are zero.

With the blocked axis last (K as [B, H, T, D], blocks along D) this is one
record per block, token after token. With axes after it (Kᵀ as [B, H, D, T],
what Q·Kᵀ reads) the byte k of block b of every token is contiguous along T,
so a kernel decoding many tokens at once reads whole vectors of bytes.

So a block costs 1 + ceil(n·wl / 8) bytes: exactly wl + 8/n bits per value when
n·wl is a multiple of 8 (the format's bits_per_element). The numbers are those
of `tensorc.quant.quantize` (same rule, same exponent, same rounding): decoding
is m · 2^(E - (wl - 2)), an integer mantissa 0 decodes to +0.0.

The small-float MX formats (MXFP8/6/4) are not packed here: their elements are
codes of a float grid, not integers (they stay fake-quantized f32 in memory).
"""

from __future__ import annotations

import numpy as np

from .formats import E_MIN, SHARED_EXP_BIAS, Format, parse_format
from .numerics import _blocks, _round, _shared

NAN_CODE = 0xFF


def can_pack(fmt: "Format | str") -> bool:
    """Integer mantissas whose width divides a byte (BFP12, BFP16, MXINT8, and 2-bit ones)."""
    fmt = parse_format(fmt)
    return fmt.kind == "int" and 8 % fmt.mantissa_bits == 0


def _check(fmt: "Format | str") -> Format:
    fmt = parse_format(fmt)
    if not can_pack(fmt):
        raise ValueError(f"{fmt.name}: packed storage needs integer mantissas of 2, 4 or 8 bits "
                         f"(bfp12, bfp16, mxint8); small-float MX elements are not packed")
    return fmt


def per_byte(fmt: "Format | str") -> int:
    """Mantissas per byte."""
    return 8 // _check(fmt).mantissa_bits


def bytes_per_block(fmt: "Format | str") -> int:
    """1 shared-exponent byte + the block's mantissas, rounded up to whole bytes."""
    fmt = _check(fmt)
    return 1 + -(-fmt.block // per_byte(fmt))


def packed_shape(shape, fmt: "Format | str", axis: int) -> tuple[int, ...]:
    """Shape of pack(x) for x of `shape`: `axis` replaced by (nblocks, bytes_per_block)."""
    fmt = _check(fmt)
    shape = tuple(int(d) for d in shape)
    axis = axis % len(shape)
    return shape[:axis] + (-(-shape[axis] // fmt.block), bytes_per_block(fmt)) + shape[axis + 1:]


def unpacked_shape(pshape, axis: int, length: int) -> tuple[int, ...]:
    """The shape unpack gives: the packed (nblocks, bytes) axes at `axis`, `axis` + 1 replaced by `length`."""
    pshape = tuple(int(d) for d in pshape)
    axis = axis % (len(pshape) - 1)
    return pshape[:axis] + (int(length),) + pshape[axis + 2:]


def pack(x, fmt: "Format | str", axis: int = -1) -> np.ndarray:
    """The packed bytes (uint8, `packed_shape`) of `x` quantized to `fmt` in blocks along `axis`."""
    fmt = _check(fmt)
    x = np.asarray(x)
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    if x.ndim == 0:
        raise ValueError("pack: a scalar has no axis to block")
    axis %= x.ndim
    wl, n, per = fmt.mantissa_bits, fmt.block, per_byte(fmt)
    with np.errstate(all="ignore"):
        xb, _ = _blocks(x, n, axis)  # float64 [..., nb, n]: the axis moved last
        E, finite = _shared(xb, fmt)
        Ef = np.where(finite, E, 0)[..., None]
        m = np.clip(_round(np.ldexp(xb, -(Ef - (wl - 2))), fmt.rounding), -fmt.mmax, fmt.mmax)
    m = np.where(finite[..., None], m, 0).astype(np.int64)
    code = np.where(finite, E + SHARED_EXP_BIAS, NAN_CODE).astype(np.uint8)
    u = m & ((1 << wl) - 1)  # two's complement in wl bits
    pad = (-n) % per
    if pad:
        u = np.concatenate([u, np.zeros(u.shape[:-1] + (pad,), u.dtype)], axis=-1)
    u = u.reshape(u.shape[:-1] + (-1, per))
    body = np.zeros(u.shape[:-1], np.int64)
    for j in range(per):
        body |= u[..., j] << (wl * j)
    out = np.concatenate([code[..., None], body.astype(np.uint8)], axis=-1)  # [*other axes, nb, bytes]
    return np.ascontiguousarray(np.moveaxis(out, (-2, -1), (axis, axis + 1)))


def unpack(p, fmt: "Format | str", axis: int, length: int) -> np.ndarray:
    """float32 values of packed blocks `p` (as `pack(x, fmt, axis)` made them) with `length` values
    along `axis`: bit-identical to `quantize(x, fmt, axis)`."""
    fmt = _check(fmt)
    p = np.asarray(p)
    if p.dtype != np.uint8 or p.ndim < 2:
        raise ValueError(f"unpack: expected packed uint8 blocks, got {p.dtype} {list(p.shape)}")
    axis %= p.ndim - 1
    bpb = bytes_per_block(fmt)
    if p.shape[axis + 1] != bpb:
        raise ValueError(f"unpack: {fmt.name} blocks are {bpb} bytes, axis {axis + 1} of {list(p.shape)} is not")
    wl, n, per = fmt.mantissa_bits, fmt.block, per_byte(fmt)
    if p.shape[axis] != -(-length // n):
        raise ValueError(f"unpack: {p.shape[axis]} blocks of {n} cannot hold {length} values")
    p = np.moveaxis(p, (axis, axis + 1), (-2, -1))  # [*other axes, nb, bytes]
    code = p[..., 0].astype(np.int64)
    body = p[..., 1:].astype(np.int64)
    u = np.stack([(body >> (wl * j)) & ((1 << wl) - 1) for j in range(per)], axis=-1)
    u = u.reshape(u.shape[:-2] + (-1,))[..., :n]
    m = u - ((u >> (wl - 1)) << wl)  # sign-extend
    k = (code - SHARED_EXP_BIAS - (wl - 2))[..., None]
    y = (np.ldexp(m.astype(np.float64), k) + 0.0).astype(np.float32)
    y[np.broadcast_to((code == NAN_CODE)[..., None], y.shape)] = np.float32(np.nan)
    y = y.reshape(y.shape[:-2] + (-1,))[..., :length]
    return np.ascontiguousarray(np.moveaxis(y, -1, axis))


def exponent_codes(p, axis: int) -> np.ndarray:
    """The biased shared-exponent byte of every block of a packed array (blocks along `axis`)."""
    p = np.asarray(p)
    return np.take(p, 0, axis=(axis % (p.ndim - 1)) + 1)


assert E_MIN + SHARED_EXP_BIAS == 0  # code 0 is 2^-127: the layout above relies on it


__all__ = ["can_pack", "pack", "unpack", "packed_shape", "unpacked_shape", "bytes_per_block", "per_byte",
           "exponent_codes", "NAN_CODE"]
