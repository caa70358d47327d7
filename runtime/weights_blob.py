"""The weight blob: every weight at a fixed, 64-byte aligned offset in one buffer.

The layout (name, offset, nbytes) is decided by the compiler; packing it needs
only numpy, so the package loader shares this code.
"""

from __future__ import annotations

import numpy as np


def pack_weights(weights, layout, size: int) -> np.ndarray:
    """A 64-byte aligned uint8 buffer holding each weight's bytes at its offset."""
    raw = np.zeros(size + 64, dtype=np.uint8)
    shift = -raw.ctypes.data % 64
    blob = raw[shift : shift + size]
    for name, offset, nbytes in layout:
        arr = np.asarray(weights[name], order="C")
        if arr.nbytes != nbytes:
            raise ValueError(f"weight '{name}': {arr.nbytes} bytes, layout says {nbytes}")
        blob[offset : offset + nbytes] = arr.reshape(-1).view(np.uint8)
    return blob
