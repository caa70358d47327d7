"""Packed storage of the integer block formats: the bytes a BFP12 / BFP16 / MXINT8 cache holds.

    p = pack(k, "bfp12_16", axis=-2)          # uint8 [..., nblocks, 9]: 4.5 bits per value
    k2 = unpack(p, "bfp12_16", axis=-2, length=k.shape[-2])
    # k2 is bit-identical to quantize(k, "bfp12_16", axis=-2)

Layout. The blocked axis moves last (the other axes keep their order) and is
cut into nb = ceil(L / n) blocks; each block is `bytes_per_block(fmt)` bytes:

    byte 0    the shared exponent, biased: E + 127 (0..254); 0xFF marks a block that held
              NaN or +-inf (every element decodes to the quiet NaN 0x7FC00000)
    byte 1..  the n mantissas m_i (|m| <= 2^(wl-1) - 1), two's complement in wl bits,
              8 / wl per byte, the first in the lowest bits: BFP12 (wl = 4) puts element
              2j in the low nibble of byte 1 + j and 2j + 1 in the high one; BFP16 and
              MXINT8 (wl = 8) store one int8 per byte. Unused bits (a short last block,
              an odd block size) are zero.

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
    """Shape of pack(x) for x of `shape`: the axes but `axis`, then (nblocks, bytes_per_block)."""
    fmt = _check(fmt)
    shape = tuple(int(d) for d in shape)
    axis = axis % len(shape)
    L = shape[axis]
    return shape[:axis] + shape[axis + 1:] + (-(-L // fmt.block), bytes_per_block(fmt))


def unpacked_shape(pshape, axis: int, length: int) -> tuple[int, ...]:
    """The shape unpack gives: the outer axes of the packed shape with `length` inserted at `axis`."""
    outer = tuple(int(d) for d in pshape[:-2])
    axis = axis % (len(outer) + 1)
    return outer[:axis] + (int(length),) + outer[axis:]


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
    return np.concatenate([code[..., None], body.astype(np.uint8)], axis=-1)


def unpack(p, fmt: "Format | str", axis: int, length: int) -> np.ndarray:
    """float32 values of packed blocks `p` (as `pack` made them), the block axis put back at `axis`
    with `length` elements: bit-identical to `quantize(x, fmt, axis)`."""
    fmt = _check(fmt)
    p = np.asarray(p)
    if p.dtype != np.uint8 or p.ndim < 2 or p.shape[-1] != bytes_per_block(fmt):
        raise ValueError(f"unpack: expected uint8 [..., nblocks, {bytes_per_block(fmt)}] for {fmt.name}, "
                         f"got {p.dtype} {list(p.shape)}")
    wl, n, per = fmt.mantissa_bits, fmt.block, per_byte(fmt)
    if p.shape[-2] != -(-length // n):
        raise ValueError(f"unpack: {p.shape[-2]} blocks of {n} cannot hold {length} values")
    code = p[..., 0].astype(np.int64)
    body = p[..., 1:].astype(np.int64)
    u = np.stack([(body >> (wl * j)) & ((1 << wl) - 1) for j in range(per)], axis=-1)
    u = u.reshape(u.shape[:-2] + (-1,))[..., :n]
    m = u - ((u >> (wl - 1)) << wl)  # sign-extend
    k = (code - SHARED_EXP_BIAS - (wl - 2))[..., None]
    y = (np.ldexp(m.astype(np.float64), k) + 0.0).astype(np.float32)
    y[np.broadcast_to((code == NAN_CODE)[..., None], y.shape)] = np.float32(np.nan)
    y = y.reshape(y.shape[:-2] + (-1,))[..., :length]
    outer = p.ndim - 2
    return np.ascontiguousarray(np.moveaxis(y, -1, axis % (outer + 1)))


def exponent_codes(p) -> np.ndarray:
    """The biased shared-exponent byte of every block of a packed array [..., nblocks]."""
    return np.asarray(p)[..., 0]


assert E_MIN + SHARED_EXP_BIAS == 0  # code 0 is 2^-127: the layout above relies on it


__all__ = ["can_pack", "pack", "unpack", "packed_shape", "unpacked_shape", "bytes_per_block", "per_byte",
           "exponent_codes", "NAN_CODE"]
