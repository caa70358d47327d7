"""Data layouts the LUT Tensor Core reads: packed weight planes and tables.

Weight planes are docs/lut.md's `%planes` (uint8[bits, N, K4], one 4-bit index a byte: a plain
index for `unsigned`/`signed`, sel | neg << 3 for `half`) packed two indices a byte: group 2c in
the low nibble, group 2c+1 in the high nibble, each row padded to whole bytes (an odd K4 leaves
the last high nibble 0). The array reads 4 bits per weight group per plane, so this is what DRAM
traffic and scratchpad space are counted on.
"""

from __future__ import annotations

import numpy as np


def packed_row_bytes(k4: int) -> int:
    return (k4 + 1) // 2


def pack_planes(planes: np.ndarray) -> np.ndarray:
    """uint8[..., K4] of 4-bit indices → uint8[..., ceil(K4/2)] two per byte (low nibble first)."""
    planes = np.asarray(planes, dtype=np.uint8)
    if planes.size and int(planes.max()) > 15:
        raise ValueError("plane indices must be 4-bit values (0..15)")
    k4 = planes.shape[-1]
    if k4 % 2:
        planes = np.concatenate([planes, np.zeros(planes.shape[:-1] + (1,), np.uint8)], axis=-1)
    return (planes[..., 0::2] | (planes[..., 1::2] << 4)).astype(np.uint8)


def unpack_planes(packed: np.ndarray, k4: int) -> np.ndarray:
    """The inverse of `pack_planes`: uint8[..., ceil(K4/2)] → uint8[..., K4]."""
    packed = np.asarray(packed, dtype=np.uint8)
    out = np.empty(packed.shape[:-1] + (2 * packed.shape[-1],), np.uint8)
    out[..., 0::2] = packed & 15
    out[..., 1::2] = packed >> 4
    return out[..., :k4]
