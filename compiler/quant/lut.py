"""LUT-mpGEMM numerics: weight bit-planes, activation tables, the table-lookup matmul, and its oracle.

These are the exact semantics of the `lut` dialect (docs/lut.md §2) in vectorized numpy:

- `planes_from_codes(codes, bits, form)`: uint8[bits, N, K4] 4-bit indices (with the `half`
  form's offline index inversion + sign bit);
- `precompute(a, K, form, table_type, act_group)`: (tables [M, K4, E], tscales f32 [M, ceil(K/ag)]);
- `mpgemm(tables, tscales, planes, scales, zeros, ...)`: y f32 [M, N];
- `direct_integer_dot(...)`: the independent oracle for the integer path — per block
  Σ_k a_k (q_nk − z) in int64 straight from the codes, then the same f32 epilogue, written out
  separately so a bug in the table path cannot hide in shared code.

The reference interpreter (backends/reference/kernels/lut.py) and the `lut-mpgemm` /
`lut-symmetrize` passes use these; backends test against them.
"""

from __future__ import annotations

import numpy as np

FORMS = {"unsigned": 16, "signed": 16, "half": 8}
TABLE_TYPES = {"f32": np.float32, "i16": np.int16, "i8": np.int8}

#: |entry| ≤ 127 for int8 tables (symmetric: −128 is never used, so negation is exact)
I8_MAX = 127
#: gather at most this many table entries at once (keeps a 4096×11008 GEMV's temporaries small)
_CHUNK = 1 << 24


def table_groups(k: int) -> int:
    return -(-k // 4)


def _check_form(form: str) -> None:
    if form not in FORMS:
        raise ValueError(f"form '{form}' is not one of {', '.join(FORMS)}")


# ---- weights: bit-planes ------------------------------------------------------------------------

def half_encode(idx: np.ndarray) -> np.ndarray:
    """The `half` form's offline index inversion: a 4-bit index → sel | neg << 3.

    T[idx] = H[idx >> 1] when idx is odd, else −H[((~idx) & 15) >> 1] (T[15 − idx] = −T[idx]).
    """
    idx = np.asarray(idx, dtype=np.uint8)
    odd = (idx & 1).astype(bool)
    sel = np.where(odd, idx >> 1, ((~idx) & 15) >> 1).astype(np.uint8)
    return (sel | np.where(odd, 0, 8)).astype(np.uint8)


def half_decode(byte: np.ndarray) -> np.ndarray:
    """The inverse of `half_encode`: sel | neg << 3 → the 4-bit index."""
    byte = np.asarray(byte, dtype=np.uint8)
    sel, neg = byte & 7, (byte >> 3) & 1
    return np.where(neg == 1, 15 - (2 * sel + 1), 2 * sel + 1).astype(np.uint8)


def planes_from_codes(codes: np.ndarray, bits: int, form: str = "unsigned") -> np.ndarray:
    """uint8[N, K] codes → uint8[bits, N, ceil(K/4)]: idx[i, n, j] = Σ_t ((q[n, 4j+t] >> i) & 1) << t.

    Codes of the padded k (K up to a multiple of 4) are 0. `unsigned` and `signed` share the
    plain indices (the form only changes the table); `half` stores them index-inverted.
    """
    _check_form(form)
    codes = np.asarray(codes, dtype=np.uint8)
    n, k = codes.shape
    if codes.size and int(codes.max()) >> bits:
        raise ValueError(f"codes do not fit in {bits} bits (max {int(codes.max())})")
    k4 = table_groups(k)
    padded = np.zeros((n, 4 * k4), np.uint8)
    padded[:, :k] = codes
    quads = padded.reshape(n, k4, 4)
    shifts = np.arange(4, dtype=np.uint8)
    planes = np.stack([(((quads >> i) & 1) << shifts).sum(axis=2, dtype=np.uint8) for i in range(bits)])
    return half_encode(planes) if form == "half" else planes


def symmetrize_planes(planes: np.ndarray) -> np.ndarray:
    """Plain (`unsigned`/`signed`) planes → `half` planes (what `lut-symmetrize` does offline)."""
    planes = np.asarray(planes, dtype=np.uint8)
    if planes.size and int(planes.max()) > 15:
        raise ValueError("planes hold values above 15: not plain 4-bit indices")
    return half_encode(planes)


# ---- activations: tables ------------------------------------------------------------------------

def _coefficients(form: str) -> np.ndarray:
    """[E, 4]: the coefficient of a[4j+t] in entry e (0/1 for unsigned, ±1 for signed/half)."""
    idx = np.arange(16)
    bit = (idx[:, None] >> np.arange(4)) & 1
    coef = bit if form == "unsigned" else 2 * bit - 1
    return coef[1::2] if form == "half" else coef  # half: H[m] = T[2m + 1]


def precompute(a: np.ndarray, k: int, form: str, table_type: str, act_group: int) -> tuple[np.ndarray, np.ndarray]:
    """`lut.precompute`: tables [M, K4, E] of `table_type` and table scales f32 [M, ceil(K/act_group)].

    f32 tables are the f32 sums in t order (((c0 a0 + c1 a1) + c2 a2) + c3 a3, each c·a exact);
    i16 tables (i8 activations only) are exact integers; i8 tables are quantized per activation
    group: ts = max_j (((|a0| + |a1|) + |a2|) + |a3|) / 127 in f32 (1.0 when 0), entries
    round_half_even(T / ts) (f32 division) saturated to ±127, T the f32 table.
    """
    _check_form(form)
    if table_type not in TABLE_TYPES:
        raise ValueError(f"table_type '{table_type}' is not one of {', '.join(TABLE_TYPES)}")
    if act_group <= 0 or act_group % 4:
        raise ValueError(f"act_group = {act_group} must be a positive multiple of 4")
    a = np.asarray(a)
    if a.shape[-1] != k:
        raise ValueError(f"activation shape {list(a.shape)} does not end in K = {k}")
    integer = a.dtype == np.int8
    if table_type == "i16" and not integer:
        raise ValueError("table_type i16 needs i8 activations")
    if not integer:
        a = a.astype(np.float32, copy=False)
    k4 = table_groups(k)
    rows = a.reshape(-1, k)
    m = rows.shape[0]
    quads = np.zeros((m, 4 * k4), np.int32 if integer else np.float32)
    quads[:, :k] = rows
    quads = quads.reshape(m, k4, 4)
    coef = _coefficients(form).astype(quads.dtype)  # [E, 4]
    # the sum in t order, elementwise: keeps f32 rounding identical to a scalar loop
    t = quads[:, :, None, 0] * coef[:, 0]
    for i in range(1, 4):
        t = t + quads[:, :, None, i] * coef[:, i]
    n_ag = -(-k // act_group)
    tscales = np.ones((m, n_ag), np.float32)
    if table_type == "i16":
        return t.astype(np.int16), tscales
    t = t.astype(np.float32)
    if table_type == "f32":
        return t, tscales
    mag = np.abs(quads.astype(np.float32))
    absum = ((mag[:, :, 0] + mag[:, :, 1]) + mag[:, :, 2]) + mag[:, :, 3]  # [M, K4] f32
    per = act_group // 4
    pad = n_ag * per - k4
    absum = np.concatenate([absum, np.zeros((m, pad), np.float32)], axis=1) if pad else absum
    peak = absum.reshape(m, n_ag, per).max(axis=2)
    tscales = np.where(peak > 0, peak / np.float32(I8_MAX), np.float32(1.0)).astype(np.float32)
    ts_j = np.repeat(tscales, per, axis=1)[:, :k4]  # the scale of each table group
    q = np.rint(t / ts_j[:, :, None])
    return np.clip(q, -I8_MAX, I8_MAX).astype(np.int8), tscales


def table_bytes(m: int, k: int, form: str, table_type: str) -> int:
    """Storage of one precompute's tables."""
    return m * table_groups(k) * FORMS[form] * np.dtype(TABLE_TYPES[table_type]).itemsize


# ---- the matmul -----------------------------------------------------------------------------------

def block_size(group: int, act_group: int) -> int:
    """B = min(G, act_group); ValueError unless both are multiples of 4 and one divides the other."""
    if group % 4 or act_group % 4:
        raise ValueError(f"group {group} and act_group {act_group} must be multiples of 4")
    if group % act_group and act_group % group:
        raise ValueError(f"group {group} and act_group {act_group}: one must divide the other")
    return min(group, act_group)


def epilogue(r: np.ndarray, s_blk: np.ndarray, ts_blk: np.ndarray) -> np.ndarray:
    """y[m, n] = Σ_β (s[n, β] · ts[m, β]) · R[m, n, β] in f32, β increasing, from 0.0; each product
    and each sum rounded to f32 (no fused multiply-add). r [M, N, NB], s_blk [N, NB], ts_blk [M, NB]."""
    r = r.astype(np.float32)
    m, n, nb = r.shape
    y = np.zeros((m, n), np.float32)
    for b in range(nb):
        sts = s_blk[None, :, b].astype(np.float32) * ts_blk[:, None, b].astype(np.float32)  # f32 product
        y = y + sts * r[:, :, b]
    return y


def _block_params(k, n, group, act_group, scales, zeros, tscales):
    bsz = block_size(group, act_group)
    nb = k // bsz
    beta = np.arange(nb) * bsz
    s_blk = np.asarray(scales, np.float32)[:, beta // group]  # [N, NB]
    z_blk = np.asarray(zeros, np.float32)[:, beta // group]
    ts_blk = np.asarray(tscales, np.float32)[:, beta // act_group]  # [M, NB]
    return bsz, nb, s_blk, z_blk, ts_blk


def mpgemm(tables: np.ndarray, tscales: np.ndarray, planes: np.ndarray, scales: np.ndarray, zeros: np.ndarray, *,
           k: int, n: int, bits: int, group: int, act_group: int, form: str) -> np.ndarray:
    """`lut.mpgemm`: y f32 [M, N] (docs/lut.md §2).

    Integer tables: acc and S are exact int64, R = acc − z·S or (acc + (2^b − 1 − 2z)·S) / 2
    in f64 (exact for integer or half-integer z), rounded to f32. f32 tables: acc and S in f64.
    """
    _check_form(form)
    if k % 4:
        raise ValueError(f"K = {k} must be a multiple of 4")
    tables = np.asarray(tables)
    planes = np.asarray(planes, dtype=np.uint8)
    m, k4, e = tables.shape
    if k4 != k // 4 or e != FORMS[form]:
        raise ValueError(f"tables have shape {list(tables.shape)}, expected [M, {k // 4}, {FORMS[form]}]")
    if planes.shape != (bits, n, k4):
        raise ValueError(f"planes have shape {list(planes.shape)}, expected {[bits, n, k4]}")
    bsz, nb, s_blk, z_blk, ts_blk = _block_params(k, n, group, act_group, scales, zeros, tscales)
    per = bsz // 4  # table groups per block
    integer = tables.dtype.kind == "i"
    acc_t = np.int64 if integer else np.float64
    flat = tables.reshape(m, k4 * e)
    offsets = np.arange(k4, dtype=np.int32) * e  # index into a row's flattened tables
    acc = np.zeros((m, n, nb), acc_t)
    rows = max(1, _CHUNK // max(1, n * k4))
    for i in range(bits):
        plane = planes[i]
        sel = ((plane & 7) if form == "half" else plane).astype(np.int32) + offsets  # [N, K4]
        sign = None
        if form == "half":  # the sign bit: negate the looked-up entry
            sign = (1 - 2 * ((plane >> 3) & 1).astype(np.int8))
            sign = sign if integer else sign.astype(np.float32)
        for m0 in range(0, m, rows):
            looked = np.take(flat[m0:m0 + rows], sel, axis=1)  # [m', N, K4]
            if sign is not None:
                looked = looked * sign
            acc[m0:m0 + rows] += looked.reshape(looked.shape[0], n, nb, per).sum(axis=3, dtype=acc_t) * (1 << i)
    full = tables[:, :, e - 1]  # T[15] (H[7] for half): the block's activation sum as the tables see it
    s_sum = full.reshape(m, nb, per).sum(axis=2, dtype=acc_t)  # [M, NB]
    acc64 = acc.astype(np.float64)
    s64 = s_sum.astype(np.float64)[:, None, :]
    z64 = z_blk.astype(np.float64)[None, :, :]
    if form == "unsigned":
        r = acc64 - z64 * s64
    else:
        r = (acc64 + ((1 << bits) - 1 - 2 * z64) * s64) / 2
    return epilogue(r, s_blk, ts_blk)


# ---- the oracle -----------------------------------------------------------------------------------

def direct_integer_dot(a: np.ndarray, codes: np.ndarray, scales: np.ndarray, zeros: np.ndarray, *, group: int,
                       act_group: int, tscales: np.ndarray | None = None) -> np.ndarray:
    """The integer path straight from the codes, no tables: y f32 [M, N].

    Per block β of B = min(G, act_group): R = Σ_{k∈β} a_k (q_nk − z) computed as
    (2·Σ a q − 2z·Σ a) / 2 in int64 (2z must be an integer), then y = Σ_β (s·ts)·R in f32 in
    increasing β from 0.0 (ts = 1 unless given).
    """
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise ValueError("direct_integer_dot takes integer activations")
    k = a.shape[-1]
    a = a.reshape(-1, k).astype(np.int64)
    q = np.asarray(codes).astype(np.int64)
    n = q.shape[0]
    m = a.shape[0]
    two_z = np.asarray(zeros, np.float64) * 2
    if not np.all(two_z == np.rint(two_z)):
        raise ValueError("direct_integer_dot needs integer or half-integer zero points")
    bsz = block_size(group, act_group)
    nb = k // bsz
    ab = a.reshape(m, nb, bsz)
    qb = q.reshape(n, nb, bsz)
    aq = np.einsum("mbk,nbk->mnb", ab, qb)  # int64, exact
    asum = ab.sum(axis=2)  # [M, NB]
    beta = np.arange(nb) * bsz
    z2 = np.rint(two_z[:, beta // group]).astype(np.int64)  # [N, NB]
    r2 = 2 * aq - z2[None, :, :] * asum[:, None, :]  # 2R, exact
    r = (r2.astype(np.float64) / 2).astype(np.float32)
    s = np.asarray(scales, np.float32)[:, beta // group]
    ts = np.ones((m, -(-k // act_group)), np.float32) if tscales is None else np.asarray(tscales, np.float32)
    ts = ts[:, beta // act_group]
    y = np.zeros((m, n), np.float32)
    for b in range(nb):  # the contract's order, written out independently of `epilogue`
        y = (y + (s[None, :, b] * ts[:, None, b]) * r[:, :, b]).astype(np.float32)
    return y


__all__ = ["FORMS", "TABLE_TYPES", "half_encode", "half_decode", "planes_from_codes", "symmetrize_planes",
           "precompute", "table_bytes", "block_size", "epilogue", "mpgemm", "direct_integer_dot"]
