"""Neural-network kernels: matmul, gemm, convolutions, pooling, normalizations, attention."""

from __future__ import annotations

import math

import numpy as np

from . import kernel
from ._common import attr, cdtype, fl, is_float, norm_axis, out_shape, wide


def _mm_operand(x):
    """Float operands compute in float32/float64; integers in int64 (exact)."""
    x = wide(x)
    if is_float(x.dtype):
        return fl(x)
    if x.dtype == np.bool_:
        return x.astype(np.int64)
    return x.astype(np.uint64 if x.dtype == np.uint64 else np.int64)


def _common_float(a, b):
    if a.dtype.kind == "f" and b.dtype.kind == "f" and a.dtype != b.dtype:
        dt = np.promote_types(a.dtype, b.dtype)
        return a.astype(dt), b.astype(dt)
    return a, b


# ---- matmul / gemm ---------------------------------------------------------------
@kernel("matmul")
def _matmul(inputs, attrs, outs):
    a, b = _common_float(_mm_operand(inputs[0]), _mm_operand(inputs[1]))
    return [np.matmul(a, b)]


@kernel("gemm")
def _gemm(inputs, attrs, outs):
    a, b = _common_float(_mm_operand(inputs[0]), _mm_operand(inputs[1]))
    c = inputs[2] if len(inputs) > 2 else None
    if int(attr(attrs, "transA", 0)):
        a = a.T
    if int(attr(attrs, "transB", 0)):
        b = b.T
    alpha = float(attr(attrs, "alpha", 1.0))
    beta = float(attr(attrs, "beta", 1.0))
    y = a @ b
    if alpha != 1.0:
        y = y * alpha if y.dtype.kind == "f" else (y * alpha).astype(y.dtype)
    if c is not None and beta != 0.0:
        cc = _mm_operand(c)
        cc = cc * beta if beta != 1.0 else cc
        y = y + cc.astype(y.dtype) if y.dtype.kind == "f" else y + cc
    return [y]


# ---- convolution -----------------------------------------------------------------
def _spatial_attrs(attrs, nsp):
    strides = list(attr(attrs, "strides", [1] * nsp))
    dilations = list(attr(attrs, "dilations", [1] * nsp))
    pads = list(attr(attrs, "pads", [0] * (2 * nsp)))
    return strides, dilations, pads


@kernel("conv")
def _conv(inputs, attrs, outs):
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    dt = cdtype(x, w, b)
    x, w = fl(x, dt), fl(w, dt)
    nsp = x.ndim - 2
    ks = w.shape[2:]
    strides, dilations, pads = _spatial_attrs(attrs, nsp)
    G = int(attr(attrs, "group", 1))
    N, C = x.shape[:2]
    M, Cg = w.shape[:2]
    Mg = M // G
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[nsp + i]) for i in range(nsp)])
    osp = [(xp.shape[2 + i] - ((ks[i] - 1) * dilations[i] + 1)) // strides[i] + 1 for i in range(nsp)]
    P = math.prod(osp)
    wr = w.reshape(G, Mg, Cg, *ks)
    y = np.zeros((N, G, Mg, P), dt)
    for k in np.ndindex(*ks):
        sl = tuple(
            slice(k[i] * dilations[i], k[i] * dilations[i] + strides[i] * (osp[i] - 1) + 1, strides[i])
            for i in range(nsp)
        )
        xs = xp[(slice(None), slice(None)) + sl].reshape(N, G, Cg, P)
        y += wr[(slice(None),) * 3 + k] @ xs  # (G,Mg,Cg) @ (N,G,Cg,P)
    y = y.reshape(N, M, *osp)
    if b is not None:
        y += fl(b, dt).reshape([M] + [1] * nsp)
    return [y]


@kernel("conv_transpose")
def _conv_transpose(inputs, attrs, outs):
    x, w = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    dt = cdtype(x, w, b)
    x, w = fl(x, dt), fl(w, dt)
    nsp = x.ndim - 2
    ks = w.shape[2:]
    strides, dilations, pads = _spatial_attrs(attrs, nsp)
    G = int(attr(attrs, "group", 1))
    N, C = x.shape[:2]
    Cg, Mg = C // G, w.shape[1]
    M = Mg * G
    isp = x.shape[2:]
    osp = out_shape(outs)[2:]
    begin = pads[:nsp]
    full = [strides[i] * (isp[i] - 1) + (ks[i] - 1) * dilations[i] + 1 for i in range(nsp)]
    # `begin` may be negative only in degenerate models; shift the buffer so every index is >= 0
    shift = [max(0, -begin[i]) for i in range(nsp)]
    blen = [max(full[i], begin[i] + osp[i]) + shift[i] for i in range(nsp)]
    buf = np.zeros((N, G, Mg, *blen), dt)
    P = math.prod(isp)
    xr = x.reshape(N, G, Cg, P)
    wr = w.reshape(G, Cg, Mg, *ks)
    for k in np.ndindex(*ks):
        wk = np.swapaxes(wr[(slice(None),) * 3 + k], -1, -2)  # (G, Mg, Cg)
        contrib = (wk @ xr).reshape(N, G, Mg, *isp)
        sl = tuple(
            slice(shift[i] + k[i] * dilations[i], shift[i] + k[i] * dilations[i] + strides[i] * (isp[i] - 1) + 1, strides[i])
            for i in range(nsp)
        )
        buf[(slice(None),) * 3 + sl] += contrib
    crop = tuple(slice(shift[i] + begin[i], shift[i] + begin[i] + osp[i]) for i in range(nsp))
    y = buf[(slice(None),) * 3 + crop].reshape(N, M, *osp)
    if b is not None:
        y = y + fl(b, dt).reshape([M] + [1] * nsp)
    return [y]


# ---- pooling ---------------------------------------------------------------------
def pool_output_size(n, k, s, d, pb, pe, ceil_mode):
    span = (k - 1) * d + 1
    if ceil_mode:
        o = -(-(n + pb + pe - span) // s) + 1
        if (o - 1) * s >= n + pb:  # the last window must start inside the input or the begin pad
            o -= 1
    else:
        o = (n + pb + pe - span) // s + 1
    return max(o, 0)


class _Windows:
    """Kernel-window geometry of a pooling op over x[N, C, *spatial]."""

    def __init__(self, x, attrs, kernel_shape=None):
        self.nsp = nsp = x.ndim - 2
        self.ks = list(kernel_shape if kernel_shape is not None else attr(attrs, "kernel_shape"))
        self.strides, self.dilations, self.pads = _spatial_attrs(attrs, nsp)
        ceil_mode = int(attr(attrs, "ceil_mode", 0))
        self.isp = x.shape[2:]
        self.osp = [
            pool_output_size(self.isp[i], self.ks[i], self.strides[i], self.dilations[i],
                             self.pads[i], self.pads[nsp + i], ceil_mode)
            for i in range(nsp)
        ]

    def taps(self):
        """For each kernel position: per-axis input index arrays (length osp[i]) in input coordinates."""
        for k in np.ndindex(*self.ks):
            yield [
                np.arange(self.osp[i]) * self.strides[i] + k[i] * self.dilations[i] - self.pads[i]
                for i in range(self.nsp)
            ]

    def gather(self, x, idx, fill):
        """x[..., idx0, idx1, ...] (outer product of the per-axis indices), `fill` where out of range,
        plus the validity mask (shape osp)."""
        valid = None
        clipped = []
        for i, ix in enumerate(idx):
            v = (ix >= 0) & (ix < self.isp[i])
            shape = [1] * self.nsp
            shape[i] = -1
            v = v.reshape(shape)
            valid = v if valid is None else valid & v
            clipped.append(np.clip(ix, 0, max(self.isp[i] - 1, 0)))
        vals = x[(Ellipsis,) + tuple(np.ix_(*clipped))] if self.nsp else x
        return np.where(valid, vals, fill), valid

    def in_padded(self, idx):
        """Mask of the window positions inside the explicitly padded input (count_include_pad)."""
        m = None
        for i, ix in enumerate(idx):
            v = (ix >= -self.pads[i]) & (ix < self.isp[i] + self.pads[self.nsp + i])
            shape = [1] * self.nsp
            shape[i] = -1
            v = v.reshape(shape)
            m = v if m is None else m & v
        return m


@kernel("max_pool")
def _max_pool(inputs, attrs, outs):
    x = wide(inputs[0])
    win = _Windows(x, attrs)
    N, C = x.shape[:2]
    best = np.zeros((N, C, *win.osp), x.dtype)
    have = np.zeros((N, C, *win.osp), bool)
    arg = np.full((N, C, *win.osp), -1, np.int64)
    order = "F" if int(attr(attrs, "storage_order", 0)) else "C"
    for idx in win.taps():
        vals, valid = win.gather(x, idx, np.zeros((), x.dtype))
        take = valid & (~have | (vals > best))
        best = np.where(take, vals, best)
        have |= valid
        if len(outs) > 1:
            grids = np.meshgrid(*[np.clip(ix, 0, None) for ix in idx], indexing="ij")
            flat = np.ravel_multi_index(
                [np.clip(g, 0, win.isp[i] - 1) for i, g in enumerate(grids)], win.isp, order=order
            ) if win.nsp else np.zeros((), np.int64)
            arg = np.where(take, flat, arg)
    res = [best]
    if len(outs) > 1:
        base = (np.arange(N * C).reshape(N, C) * math.prod(win.isp)).reshape(N, C, *([1] * win.nsp))
        res.append(np.where(arg >= 0, arg + base, -1).astype(np.int64))
    return res


@kernel("average_pool")
def _average_pool(inputs, attrs, outs):
    x = fl(inputs[0])
    win = _Windows(x, attrs)
    include_pad = int(attr(attrs, "count_include_pad", 0))
    total = np.zeros(x.shape[:2] + tuple(win.osp), x.dtype)
    count = np.zeros(win.osp, np.int64)
    for idx in win.taps():
        vals, valid = win.gather(x, idx, np.zeros((), x.dtype))
        total += vals
        count = count + (win.in_padded(idx) if include_pad else valid)
    return [total / count]


def _lp(x, p):
    return np.abs(x) if p == 1 else np.abs(x) ** p


def _lp_root(s, p):
    return s if p == 1 else (np.sqrt(s) if p == 2 else s ** (1.0 / p))


@kernel("lp_pool")
def _lp_pool(inputs, attrs, outs):
    x = fl(inputs[0])
    p = float(attr(attrs, "p", 2))
    win = _Windows(x, attrs)
    total = np.zeros(x.shape[:2] + tuple(win.osp), x.dtype)
    for idx in win.taps():
        vals, _ = win.gather(x, idx, np.zeros((), x.dtype))
        total += _lp(vals, p)
    return [_lp_root(total, p)]


def _spatial_axes(x):
    return tuple(range(2, x.ndim))


@kernel("global_average_pool")
def _global_average_pool(inputs, attrs, outs):
    x = fl(inputs[0])
    return [np.mean(x, axis=_spatial_axes(x), keepdims=True)]


@kernel("global_max_pool")
def _global_max_pool(inputs, attrs, outs):
    x = wide(inputs[0])
    return [np.max(x, axis=_spatial_axes(x), keepdims=True)]


@kernel("global_lp_pool")
def _global_lp_pool(inputs, attrs, outs):
    x = fl(inputs[0])
    p = float(attr(attrs, "p", 2))
    return [_lp_root(np.sum(_lp(x, p), axis=_spatial_axes(x), keepdims=True), p)]


# ---- normalizations --------------------------------------------------------------
def _chan(v, x, dt):
    """Per-channel vector (C,) broadcast against x[N, C, ...]."""
    return fl(v, dt).reshape([1, -1] + [1] * (x.ndim - 2))


@kernel("batch_normalization")
def _batch_normalization(inputs, attrs, outs):
    x, scale, b, mean, var = inputs[:5]
    dt = cdtype(x, scale, b, mean, var)
    xf = fl(x, dt)
    eps = float(attr(attrs, "epsilon", 1e-5))
    inv = 1.0 / np.sqrt(fl(var, dt) + dt.type(eps))
    y = (xf - _chan(mean, xf, dt)) * _chan(inv, xf, dt) * _chan(scale, xf, dt) + _chan(b, xf, dt)
    return [y]


def _stash(x, attrs):
    # stash_type 1 = float32 statistics; float64 inputs keep float64
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


@kernel("instance_normalization")
def _instance_normalization(inputs, attrs, outs):
    x, scale, b = inputs[:3]
    dt = cdtype(x, scale, b)
    xf = fl(x, dt)
    eps = float(attr(attrs, "epsilon", 1e-5))
    ax = _spatial_axes(xf)
    mean = np.mean(xf, axis=ax, keepdims=True)
    var = np.mean(np.square(xf - mean), axis=ax, keepdims=True)
    y = (xf - mean) / np.sqrt(var + dt.type(eps)) * _chan(scale, xf, dt) + _chan(b, xf, dt)
    return [y]


@kernel("group_normalization")
def _group_normalization(inputs, attrs, outs):
    x, scale, b = inputs[:3]
    dt = cdtype(x, scale, b)
    xf = fl(x, dt)
    G = int(attr(attrs, "num_groups"))
    eps = float(attr(attrs, "epsilon", 1e-5))
    N, C = xf.shape[:2]
    xg = xf.reshape(N, G, -1)
    mean = np.mean(xg, axis=2, keepdims=True)
    var = np.mean(np.square(xg - mean), axis=2, keepdims=True)
    y = ((xg - mean) / np.sqrt(var + dt.type(eps))).reshape(xf.shape)
    return [y * _chan(scale, xf, dt) + _chan(b, xf, dt)]


@kernel("layer_normalization")
def _layer_normalization(inputs, attrs, outs):
    x, scale = inputs[0], inputs[1]
    b = inputs[2] if len(inputs) > 2 else None
    ax0 = norm_axis(attr(attrs, "axis", -1), x.ndim)
    eps = float(attr(attrs, "epsilon", 1e-5))
    sdt = _stash(x, attrs)
    xf = fl(x, sdt)
    axes = tuple(range(ax0, x.ndim))
    mean = np.mean(xf, axis=axes, keepdims=True)
    var = np.mean(np.square(xf - mean), axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + sdt.type(eps))
    y = (xf - mean) * inv * fl(scale, sdt)
    if b is not None:
        y = y + fl(b, sdt)
    return [y, mean, inv]


@kernel("rms_normalization")
def _rms_normalization(inputs, attrs, outs):
    x, scale = inputs[0], inputs[1]
    ax0 = norm_axis(attr(attrs, "axis", -1), x.ndim)
    eps = float(attr(attrs, "epsilon", 1e-5))
    sdt = _stash(x, attrs)
    xf = fl(x, sdt)
    axes = tuple(range(ax0, x.ndim))
    ms = np.mean(np.square(xf), axis=axes, keepdims=True)
    y = xf / np.sqrt(ms + sdt.type(eps))
    return [y * fl(scale, sdt)]


@kernel("lrn")
def _lrn(inputs, attrs, outs):
    x = fl(inputs[0])
    alpha = float(attr(attrs, "alpha", 1e-4))
    beta = float(attr(attrs, "beta", 0.75))
    bias = float(attr(attrs, "bias", 1.0))
    size = int(attr(attrs, "size"))
    C = x.shape[1]
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)  # floor, ceil
    sq = np.square(x)
    csum = np.concatenate([np.zeros_like(sq[:, :1]), np.cumsum(sq, axis=1, dtype=np.float64)], axis=1)
    c = np.arange(C)
    start = np.clip(c - lo, 0, C)
    end = np.clip(c + hi + 1, 0, C)
    ssum = (np.take(csum, end, axis=1) - np.take(csum, start, axis=1)).astype(x.dtype)
    return [x / (bias + alpha / size * ssum) ** beta]


@kernel("lp_normalization")
def _lp_normalization(inputs, attrs, outs):
    x = fl(inputs[0])
    ax = norm_axis(attr(attrs, "axis", -1), x.ndim)
    p = int(attr(attrs, "p", 2))
    if p == 1:
        n = np.sum(np.abs(x), axis=ax, keepdims=True)
    else:
        n = np.sqrt(np.sum(np.square(x), axis=ax, keepdims=True))
    # a zero vector stays zero (as onnx.reference and onnxruntime), not 0/0
    return [np.where(n == 0, x.dtype.type(0), x / np.where(n == 0, 1, n))]


@kernel("mean_variance_normalization")
def _mvn(inputs, attrs, outs):
    x = fl(inputs[0])
    axes = tuple(norm_axis(a, x.ndim) for a in attr(attrs, "axes", [0, 2, 3]))
    mean = np.mean(x, axis=axes, keepdims=True)
    var = np.mean(np.square(x - mean), axis=axes, keepdims=True)
    return [(x - mean) / (np.sqrt(var) + x.dtype.type(1e-9))]


# ---- attention (ONNX Attention: opset 23, plus the opset-24/25 additions) -----------
@kernel("attention")
def _attention(inputs, attrs, outs):
    """Q, K, V, attn_mask?, past_key?, past_value?, nonpad_kv_seqlen? -> Y, present_key,
    present_value, qk_matmul_output.  Computed in float32 (float64 for float64 inputs); the
    softmax is cast back to the input type before the last matmul, as the spec says."""
    ins = list(inputs) + [None] * (7 - len(inputs))
    q, k, v, mask, past_k, past_v, nonpad = ins[:7]
    qdt = np.dtype(q.dtype)
    dt = cdtype(q, k, v)
    q, k, v = fl(q, dt), fl(k, dt), fl(v, dt)
    three_d = q.ndim == 3
    B = q.shape[0]
    if three_d:
        qh = int(attr(attrs, "q_num_heads"))
        kvh = int(attr(attrs, "kv_num_heads"))
        q = q.reshape(B, q.shape[1], qh, -1).transpose(0, 2, 1, 3)
        k = k.reshape(B, k.shape[1], kvh, -1).transpose(0, 2, 1, 3)
        v = v.reshape(B, v.shape[1], kvh, -1).transpose(0, 2, 1, 3)
    scale = attrs.get("scale")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    if past_k is not None:
        k = np.concatenate([fl(past_k, dt), k], axis=2)
    if past_v is not None:
        v = np.concatenate([fl(past_v, dt), v], axis=2)
    present_k, present_v = k, v
    Lq, Lkv = q.shape[2], k.shape[2]
    ninf = dt.type(-np.inf)

    # additive bias, broadcast over (batch, heads, q, kv)
    bias = np.zeros((Lq, Lkv), dt)
    if mask is not None:
        mb = np.where(mask, dt.type(0), ninf) if mask.dtype == np.bool_ else fl(mask, dt)
        pad = Lkv - mb.shape[-1]
        if pad > 0:  # a shorter mask is padded with -inf (False)
            mb = np.pad(mb, [(0, 0)] * (mb.ndim - 1) + [(0, pad)], constant_values=-np.inf)
        bias = bias + mb
    # position of query i: i + offset (past keys, or the external cache's valid length)
    if past_k is not None:
        offset = np.asarray(past_k.shape[2]).reshape(1, 1)
    elif nonpad is not None:
        offset = (np.asarray(nonpad).astype(np.int64).reshape(-1) - Lq).reshape(-1, 1, 1, 1)
    else:
        offset = np.zeros((1, 1), np.int64)
    diff = (np.arange(Lq)[:, None] + offset) - np.arange(Lkv)[None, :]  # query pos - key pos
    if int(attr(attrs, "is_causal", 0)):
        bias = bias + np.where(diff >= 0, dt.type(0), ninf)
    left = int(attr(attrs, "left_window_size", -1))
    right = int(attr(attrs, "right_window_size", -1))
    if left >= 0 or right >= 0:
        ok = np.ones(diff.shape, bool)
        if left >= 0:
            ok &= diff <= left
        if right >= 0:
            ok &= -diff <= right
        bias = bias + np.where(ok, dt.type(0), ninf)
    if nonpad is not None:
        valid = np.arange(Lkv)[None, :] < np.asarray(nonpad).astype(np.int64).reshape(-1, 1)
        bias = bias + np.where(valid, dt.type(0), ninf).reshape(B, 1, 1, Lkv)

    hq, hk = q.shape[1], k.shape[1]
    if hq != hk:  # grouped-query attention: each KV head serves hq/hk query heads
        k = np.repeat(k, hq // hk, axis=1)
        v = np.repeat(v, hq // hk, axis=1)
    qk = (q @ np.swapaxes(k, -1, -2)) * dt.type(scale)
    qk_raw = qk
    softcap = float(attr(attrs, "softcap", 0.0))
    if softcap > 0:
        qk = softcap * np.tanh(qk / softcap)
    # modes: 0 = Q K^T (scaled), 1 = after softcap, 2 = after the mask, 3 = after softmax
    mode = int(attr(attrs, "qk_matmul_output_mode", 0))
    qk_out = qk_raw if mode == 0 else qk
    qkb = qk + bias
    if mode == 2:
        qk_out = qkb
    sp = attrs.get("softmax_precision")
    sdt = np.dtype(np.float64) if sp is not None and int(sp) == 11 else dt
    s_ = qkb.astype(sdt)
    m = np.max(s_, axis=-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    e = np.exp(s_ - m)
    den = np.sum(e, axis=-1, keepdims=True)
    probs = e / np.where(den == 0, 1, den)
    # a query row whose keys are all masked out gives zeros, not NaN
    all_masked = np.isneginf(np.max(np.broadcast_to(bias, bias.shape), axis=-1, keepdims=True))
    probs = np.where(all_masked, 0, probs).astype(dt)
    if mode == 3:
        qk_out = probs
    if is_float(qdt) and qdt != dt:
        probs = probs.astype(qdt).astype(dt)  # the spec casts the softmax back to T1
    y = probs @ v
    if three_d:
        y = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
    qk_out = np.broadcast_to(qk_out, qk.shape[:2] + qk_out.shape[2:]) if qk_out.ndim == 4 else qk_out
    return [y, present_k, present_v, qk_out]
