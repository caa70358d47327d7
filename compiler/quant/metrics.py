"""Error metrics used by the BFP passes and the benchmark."""

from __future__ import annotations

import numpy as np

#: SQNR reported for an exact reconstruction (zero error), so means stay finite
SQNR_CAP_DB = 200.0


def sqnr_db(ref, approx, axis=None) -> "float | np.ndarray":
    """10 log10(sum ref^2 / sum (ref - approx)^2), over `axis` (all by default), in float64.

    Zero error gives SQNR_CAP_DB; a zero signal with nonzero error gives -SQNR_CAP_DB.
    """
    r = np.asarray(ref, dtype=np.float64)
    e = r - np.asarray(approx, dtype=np.float64)
    sig = np.sum(r * r, axis=axis)
    err = np.sum(e * e, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * np.log10(sig / err)
    db = np.where(err == 0, SQNR_CAP_DB, np.where(sig == 0, -SQNR_CAP_DB, db))
    db = np.clip(db, -SQNR_CAP_DB, SQNR_CAP_DB)
    return float(db) if np.ndim(db) == 0 else db


def channel_sqnr_db(ref, approx, channel_axis: int = -1) -> np.ndarray:
    """SQNR of every channel (index along `channel_axis`), over all other axes."""
    r = np.moveaxis(np.asarray(ref), channel_axis, -1)
    a = np.moveaxis(np.asarray(approx), channel_axis, -1)
    return sqnr_db(r.reshape(-1, r.shape[-1]), a.reshape(-1, a.shape[-1]), axis=0)


def cosine(a, b, axis: int = -1) -> np.ndarray:
    """Cosine similarity along `axis`, in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = np.sum(a * b, axis=axis)
    den = np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis)
    return num / np.where(den == 0, 1.0, den)


__all__ = ["sqnr_db", "channel_sqnr_db", "cosine", "SQNR_CAP_DB"]
