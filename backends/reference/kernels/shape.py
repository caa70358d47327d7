"""Data-movement kernels: reshape, transpose, slicing, gathers/scatters, padding, ..."""

from __future__ import annotations

import math

import numpy as np

from . import kernel
from ._common import attr, norm_axes, norm_axis, wide


# ---- layout ----------------------------------------------------------------------
@kernel("reshape")
def _reshape(inputs, attrs, outs):
    x = inputs[0]
    shape = [int(d) for d in attr(attrs, "shape")]
    if not int(attr(attrs, "allowzero", 0)) and 0 in shape and x.size != 0:
        # ONNX allowzero=0: a 0 copies the input dim (an importer that resolved it never sends one)
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [np.reshape(x, shape)]


@kernel("transpose")
def _transpose(inputs, attrs, outs):
    x = inputs[0]
    perm = attr(attrs, "perm", list(range(x.ndim))[::-1])
    return [np.transpose(x, norm_axes(perm, x.ndim))]


@kernel("flatten")
def _flatten(inputs, attrs, outs):
    x = inputs[0]
    ax = int(attr(attrs, "axis", 1))
    if ax < 0:
        ax += x.ndim
    return [x.reshape(math.prod(x.shape[:ax]), math.prod(x.shape[ax:]))]


@kernel("squeeze")
def _squeeze(inputs, attrs, outs):
    x = inputs[0]
    axes = attrs.get("axes")
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    return [np.squeeze(x, axis=norm_axes(axes, x.ndim))]


@kernel("unsqueeze")
def _unsqueeze(inputs, attrs, outs):
    x = inputs[0]
    axes = attr(attrs, "axes")
    r = x.ndim + len(axes)
    return [np.expand_dims(x, norm_axes(axes, r))]


@kernel("concat")
def _concat(inputs, attrs, outs):
    xs = [x for x in inputs if x is not None]
    ax = norm_axis(attr(attrs, "axis"), xs[0].ndim)
    return [np.concatenate(xs, axis=ax)]


@kernel("split")
def _split(inputs, attrs, outs):
    x = inputs[0]
    ax = norm_axis(attr(attrs, "axis", 0), x.ndim)
    sizes = attrs.get("split")
    if sizes is None:
        n = len(outs)
        chunk = -(-x.shape[ax] // n)
        sizes = [min(chunk, max(x.shape[ax] - i * chunk, 0)) for i in range(n)]
    bounds = np.cumsum([0] + [int(s) for s in sizes])
    return [np.take(x, np.arange(bounds[i], bounds[i + 1]), axis=ax) for i in range(len(sizes))]


def slice_index(shape, starts, ends, axes=None, steps=None):
    """The tuple of python slices for an ONNX Slice (clamping, negative indices, INT_MAX ends)."""
    r = len(shape)
    axes = list(range(len(starts))) if axes is None else list(norm_axes(axes, r))
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    idx = [slice(None)] * r
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        d = shape[ax]
        st, en = int(st), int(en)
        if sp == 0:
            raise ValueError("slice step cannot be 0")
        if st < 0:
            st += d
        if en < 0:
            en += d
        if sp > 0:
            st = min(max(st, 0), d)
            en = min(max(en, 0), d)
            idx[ax] = slice(st, en, sp)
        else:
            st = min(max(st, 0), d - 1)
            en = min(max(en, -1), d - 1)
            idx[ax] = slice(st, en if en >= 0 else None, sp)
    return tuple(idx)


@kernel("slice")
def _slice(inputs, attrs, outs):
    x = inputs[0]
    idx = slice_index(x.shape, attr(attrs, "starts"), attr(attrs, "ends"), attrs.get("axes"), attrs.get("steps"))
    return [x[idx]]


# ---- gathers and scatters ----------------------------------------------------------
def _norm_idx(idx, dim):
    idx = np.asarray(idx).astype(np.int64)
    return np.where(idx < 0, idx + dim, idx)


@kernel("gather")
def _gather(inputs, attrs, outs):
    x, idx = inputs[0], inputs[1]
    ax = norm_axis(attr(attrs, "axis", 0), x.ndim)
    return [np.take(x, _norm_idx(idx, x.shape[ax]), axis=ax)]


@kernel("gather_elements")
def _gather_elements(inputs, attrs, outs):
    x, idx = inputs[0], inputs[1]
    ax = norm_axis(attr(attrs, "axis", 0), x.ndim)
    return [np.take_along_axis(x, _norm_idx(idx, x.shape[ax]), axis=ax)]


@kernel("gather_nd")
def _gather_nd(inputs, attrs, outs):
    x, idx = inputs[0], np.asarray(inputs[1]).astype(np.int64)
    b = int(attr(attrs, "batch_dims", 0))
    k = idx.shape[-1]
    bshape = x.shape[:b]
    B = math.prod(bshape)
    xr = x.reshape((B,) + x.shape[b:])
    ir = idx.reshape(B, -1, k)
    comps = [_norm_idx(ir[..., j], x.shape[b + j]) for j in range(k)]
    res = xr[(np.arange(B)[:, None],) + tuple(comps)]  # (B, Q, *rest)
    return [res.reshape(bshape + idx.shape[b:-1] + x.shape[b + k :])]


_REDUCE_AT = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _scatter(data, index, upd, reduction):
    out = wide(data).copy()
    upd = wide(upd).astype(out.dtype)
    if reduction in (None, "none"):
        out[index] = upd
    else:
        _REDUCE_AT[reduction].at(out, index, upd)
    return out


@kernel("scatter_elements")
def _scatter_elements(inputs, attrs, outs):
    data, idx, upd = inputs[:3]
    ax = norm_axis(attr(attrs, "axis", 0), data.ndim)
    idx = _norm_idx(idx, data.shape[ax])
    grid = list(np.indices(idx.shape, sparse=True))
    grid[ax] = idx
    return [_scatter(data, tuple(grid), upd, attr(attrs, "reduction", "none"))]


@kernel("scatter_nd")
def _scatter_nd(inputs, attrs, outs):
    data, idx, upd = inputs[:3]
    idx = np.asarray(idx).astype(np.int64)
    k = idx.shape[-1]
    index = tuple(_norm_idx(idx[..., j], data.shape[j]) for j in range(k))
    return [_scatter(data, index, upd, attr(attrs, "reduction", "none"))]


# ---- broadcasting, tiling, padding -------------------------------------------------
@kernel("expand")
def _expand(inputs, attrs, outs):
    x = inputs[0]
    shape = np.broadcast_shapes(x.shape, tuple(int(d) for d in attr(attrs, "shape")))
    return [np.broadcast_to(x, shape).copy()]


@kernel("tile")
def _tile(inputs, attrs, outs):
    x = inputs[0]
    return [np.tile(x, [int(r) for r in attr(attrs, "repeats")])]


@kernel("pad")
def _pad(inputs, attrs, outs):
    x = inputs[0]
    r = x.ndim
    pads = [int(p) for p in attr(attrs, "pads")]
    axes = attrs.get("axes")
    axes = list(range(r)) if axes is None else list(norm_axes(axes, r))
    n = len(axes)
    width = [(0, 0)] * r
    for i, ax in enumerate(axes):
        width[ax] = (pads[i], pads[n + i])
    # negative pads crop first
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(width))
    x = x[crop]
    width = [(max(b, 0), max(e, 0)) for b, e in width]
    mode = attr(attrs, "mode", "constant")
    if mode == "constant":
        v = float(attr(attrs, "constant_value", 0.0))
        cv = np.asarray(v).astype(x.dtype) if x.dtype.kind != "b" else np.bool_(v != 0)
        out = np.full([x.shape[i] + b + e for i, (b, e) in enumerate(width)], cv, dtype=x.dtype)
        out[tuple(slice(b, b + x.shape[i]) for i, (b, _e) in enumerate(width))] = x
        return [out]
    if mode not in ("reflect", "edge", "wrap"):
        raise ValueError(f"unsupported pad mode {mode!r}")
    return [np.pad(x, width, mode=mode)]


@kernel("range")
def _range(inputs, attrs, outs):
    start, limit, delta = (np.asarray(v).reshape(()) for v in inputs[:3])
    dt = np.dtype(start.dtype)
    if dt.kind in "iu":
        s, l, d = int(start), int(limit), int(delta)
        n = max(-(-(l - s) // d), 0)
        return [(s + np.arange(n, dtype=np.int64) * d).astype(dt)]
    return [np.arange(start.item(), limit.item(), delta.item(), dtype=np.float64).astype(dt)]


@kernel("cum_sum")
def _cum_sum(inputs, attrs, outs):
    x = wide(inputs[0])
    ax = norm_axis(attr(attrs, "axis", 0), x.ndim)
    rev = int(attr(attrs, "reverse", 0))
    exc = int(attr(attrs, "exclusive", 0))
    if rev:
        x = np.flip(x, ax)
    c = np.cumsum(x, axis=ax, dtype=x.dtype)
    if exc:
        zero = np.zeros_like(np.take(c, [0], axis=ax))
        c = np.concatenate([zero, np.take(c, np.arange(c.shape[ax] - 1), axis=ax)], axis=ax)
    if rev:
        c = np.flip(c, ax)
    return [c]


@kernel("trilu")
def _trilu(inputs, attrs, outs):
    x = inputs[0]
    k = int(attr(attrs, "k", 0))
    n, m = x.shape[-2:]
    i = np.arange(n)[:, None]
    j = np.arange(m)[None, :]
    keep = (j - i >= k) if int(attr(attrs, "upper", 1)) else (j - i <= k)
    return [np.where(keep, x, np.zeros((), x.dtype))]


@kernel("depth_to_space")
def _depth_to_space(inputs, attrs, outs):
    x = inputs[0]
    b = int(attr(attrs, "blocksize"))
    N, C, H, W = x.shape
    if attr(attrs, "mode", "DCR") == "DCR":
        y = x.reshape(N, b, b, C // (b * b), H, W).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(N, C // (b * b), b, b, H, W).transpose(0, 1, 4, 2, 5, 3)
    return [y.reshape(N, C // (b * b), H * b, W * b)]


@kernel("space_to_depth")
def _space_to_depth(inputs, attrs, outs):
    x = inputs[0]
    b = int(attr(attrs, "blocksize"))
    N, C, H, W = x.shape
    y = x.reshape(N, C, H // b, b, W // b, b)
    if attr(attrs, "mode", "DCR") == "DCR":
        y = y.transpose(0, 3, 5, 1, 2, 4)
    else:  # CRD (SpaceToDepth-28)
        y = y.transpose(0, 1, 3, 5, 2, 4)
    return [y.reshape(N, C * b * b, H // b, W // b)]


# ---- selection and ordering --------------------------------------------------------
@kernel("top_k")
def _top_k(inputs, attrs, outs):
    x = inputs[0]
    k = int(attr(attrs, "k"))
    ax = norm_axis(attr(attrs, "axis", -1), x.ndim)
    keys = wide(x)
    if int(attr(attrs, "largest", 1)):
        # descending, ties by lower index: reverse of a stable ascending sort of the flipped axis
        n = keys.shape[ax]
        order = n - 1 - np.argsort(np.flip(keys, ax), axis=ax, kind="stable")
        order = np.flip(order, ax)
    else:
        order = np.argsort(keys, axis=ax, kind="stable")
    idx = np.take(order, np.arange(k), axis=ax)
    return [np.take_along_axis(x, idx, axis=ax), idx.astype(np.int64)]


@kernel("one_hot")
def _one_hot(inputs, attrs, outs):
    indices, values = inputs[0], np.asarray(inputs[1]).reshape(-1)
    depth = int(attr(attrs, "depth"))
    idx = np.asarray(indices)
    idx = (np.trunc(idx) if idx.dtype.kind == "f" else idx).astype(np.int64)
    idx = np.where(idx < 0, idx + depth, idx)
    r = idx.ndim + 1
    ax = int(attr(attrs, "axis", -1))
    ax = ax + r if ax < 0 else ax
    rng = np.arange(depth).reshape([-1 if i == ax else 1 for i in range(r)])
    hot = np.expand_dims(idx, ax) == rng
    return [np.where(hot, values[1], values[0])]


@kernel("compress")
def _compress(inputs, attrs, outs):
    x, cond = inputs[0], np.asarray(inputs[1]).astype(bool).reshape(-1)
    ax = attrs.get("axis")
    if ax is None:
        flat = x.reshape(-1)
        return [flat[np.nonzero(cond[: flat.size])[0]]]
    ax = norm_axis(ax, x.ndim)
    return [np.take(x, np.nonzero(cond[: x.shape[ax]])[0], axis=ax)]


@kernel("reverse_sequence")
def _reverse_sequence(inputs, attrs, outs):
    x, lens = inputs[0], np.asarray(inputs[1]).astype(np.int64)
    bax = norm_axis(attr(attrs, "batch_axis", 1), x.ndim)
    tax = norm_axis(attr(attrs, "time_axis", 0), x.ndim)
    T = x.shape[tax]
    t = np.arange(T).reshape([-1 if i == tax else 1 for i in range(x.ndim)])
    ln = lens.reshape([-1 if i == bax else 1 for i in range(x.ndim)])
    src = np.where(t < ln, ln - 1 - t, t)
    src = np.broadcast_to(src, np.broadcast_shapes(src.shape, [x.shape[i] if i in (bax, tax) else 1 for i in range(x.ndim)]))
    return [np.take_along_axis(x, src, axis=tax)]


@kernel("shape")
def _shape(inputs, attrs, outs):
    x = inputs[0]
    start = int(attr(attrs, "start", 0))
    end = attrs.get("end")
    return [np.asarray(x.shape[slice(start, None if end is None else int(end))], dtype=np.int64)]


@kernel("size")
def _size(inputs, attrs, outs):
    return [np.asarray(inputs[0].size, dtype=np.int64)]

