"""Everything else: einsum, resize, quantization, det."""

from __future__ import annotations

import numpy as np

from . import kernel
from ._common import attr, fl, int_range, is_float, is_int, norm_axis, out_dtype, out_shape, wide
from .elementwise import cast_array


@kernel("einsum")
def _einsum(inputs, attrs, outs):
    eq = str(attr(attrs, "equation")).replace(" ", "")
    ops = []
    for x in inputs:
        x = wide(x)
        if is_float(x.dtype):
            ops.append(fl(x))
        else:
            ops.append(x.astype(np.uint64 if x.dtype == np.uint64 else np.int64))
    if all(o.dtype.kind == "f" for o in ops):
        dt = np.result_type(*ops)
        ops = [o.astype(dt) for o in ops]
    return [np.einsum(eq, *ops)]


@kernel("det")
def _det(inputs, attrs, outs):
    return [np.linalg.det(fl(inputs[0]))]


# ---- resize ----------------------------------------------------------------------
def _source_coords(ctm, n_in, n_out, scale, roi_lo, roi_hi):
    """Source coordinate of each output index (float64), and the tf_crop_and_resize
    out-of-range mask (or None)."""
    y = np.arange(n_out, dtype=np.float64)
    out_f = scale * n_in
    if ctm == "align_corners":
        x = np.zeros(n_out) if out_f == 1 else y * (n_in - 1) / (out_f - 1)
    elif ctm == "asymmetric":
        x = y / scale
    elif ctm == "tf_crop_and_resize":
        if out_f == 1:
            x = np.full(n_out, (roi_hi - roi_lo) * (n_in - 1) / 2)
        else:
            x = y * (roi_hi - roi_lo) * (n_in - 1) / (out_f - 1)
        x = x + roi_lo * (n_in - 1)
        return x, (x < 0) | (x > n_in - 1)
    elif ctm == "pytorch_half_pixel":
        x = np.full(n_out, -0.5) if out_f == 1 else (y + 0.5) / scale - 0.5
    elif ctm == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif ctm == "half_pixel_symmetric":
        adjustment = n_out / out_f
        offset = n_in / 2 * (1 - adjustment)
        x = offset + (y + 0.5) / scale - 0.5
    else:
        raise ValueError(f"unsupported coordinate_transformation_mode {ctm!r}")
    return x, None


def _cubic_kernel(t, a):
    t = np.abs(t)
    t2, t3 = t * t, t * t * t
    return np.where(
        t <= 1,
        (a + 2) * t3 - (a + 3) * t2 + 1,
        np.where(t < 2, a * t3 - 5 * a * t2 + 8 * a * t - 4 * a, 0.0),
    )


def _resize_axis(y, axis, n_out, scale, attrs, roi_lo, roi_hi):
    mode = attr(attrs, "mode", "nearest")
    ctm = attr(attrs, "coordinate_transformation_mode", "half_pixel")
    n_in = y.shape[axis]
    xs, extrap = _source_coords(ctm, n_in, n_out, scale, roi_lo, roi_hi)
    if mode == "nearest":
        nm = attr(attrs, "nearest_mode", "round_prefer_floor")
        if nm == "round_prefer_floor":
            idx = np.ceil(xs - 0.5)
        elif nm == "round_prefer_ceil":
            idx = np.floor(xs + 0.5)
        elif nm == "floor":
            idx = np.floor(xs)
        elif nm == "ceil":
            idx = np.ceil(xs)
        else:
            raise ValueError(f"unsupported nearest_mode {nm!r}")
        idx = np.clip(idx, 0, n_in - 1).astype(np.intp)
        res = np.take(y, idx, axis=axis)
    else:
        if mode == "linear":
            support = 1.0
            fn = lambda t: np.clip(1 - np.abs(t), 0, 1)  # noqa: E731
        elif mode == "cubic":
            support = 2.0
            a = float(attr(attrs, "cubic_coeff_a", -0.75))
            fn = lambda t: _cubic_kernel(t, a)  # noqa: E731
        else:
            raise ValueError(f"unsupported resize mode {mode!r}")
        antialias = int(attr(attrs, "antialias", 0))
        s_eff = min(scale, 1.0) if antialias else 1.0
        start = int(np.floor(-support / s_eff)) + 1
        n = 2 - 2 * start
        # the n input indices nearest the source coordinate (ties to the smaller index)
        base = np.ceil(xs).astype(np.int64) - 1
        idx = base[:, None] + np.arange(start, start + n)[None, :]
        w = fn((idx - xs[:, None]) * s_eff)
        if antialias:
            w = w / w.sum(axis=1, keepdims=True)
        if int(attr(attrs, "exclude_outside", 0)):
            w = np.where((idx < 0) | (idx >= n_in), 0.0, w)
            tot = w.sum(axis=1, keepdims=True)
            w = w / np.where(tot == 0, 1.0, tot)
        W = np.zeros((n_out, n_in))
        rows = np.broadcast_to(np.arange(n_out)[:, None], idx.shape)
        np.add.at(W, (rows, np.clip(idx, 0, n_in - 1)), w)
        res = np.moveaxis(np.tensordot(W, y, axes=([1], [axis])), 0, axis)
    if extrap is not None and extrap.any():
        ev = float(attr(attrs, "extrapolation_value", 0.0))
        shape = [1] * y.ndim
        shape[axis] = n_out
        res = np.where(extrap.reshape(shape), np.asarray(ev).astype(res.dtype), res)
    return res


@kernel("resize")
def _resize(inputs, attrs, outs):
    x = inputs[0]
    mode = attr(attrs, "mode", "nearest")
    ctm = attr(attrs, "coordinate_transformation_mode", "half_pixel")
    oshape = out_shape(outs)
    r = x.ndim
    scales = [float(s) for s in attr(attrs, "scales", [o / i if i else 1.0 for o, i in zip(oshape, x.shape)])]
    roi = attrs.get("roi")
    roi = [float(v) for v in roi] if roi else [0.0] * r + [1.0] * r
    y = x if mode == "nearest" else (fl(x) if is_float(x.dtype) else x.astype(np.float64))
    for ax in range(r):
        if oshape[ax] == y.shape[ax] and scales[ax] == 1.0 and ctm != "tf_crop_and_resize":
            continue  # identity along this axis for every mode
        y = _resize_axis(y, ax, oshape[ax], scales[ax], attrs, roi[ax], roi[r + ax])
    if is_int(x.dtype) and y.dtype.kind == "f":
        # integer images: round half to even and saturate (as onnx.reference; onnxruntime's
        # fixed-point uint8 path can differ by one)
        lo, hi = int_range(x.dtype)
        y = np.clip(np.round(y), lo, hi)
    return [y]


# ---- quantization ----------------------------------------------------------------
def _param(p, x, axis, block_size):
    """Broadcast a scale / zero point against x (per-tensor, per-axis or blocked);
    `axis` matters only for the last two."""
    p = np.asarray(p)
    if p.ndim == 0 or (p.size == 1 and not block_size):
        return p.reshape(())
    axis = norm_axis(axis, x.ndim)
    if block_size:
        p = np.repeat(p, block_size, axis=axis)
        return np.take(p, np.arange(x.shape[axis]), axis=axis)
    return p.reshape([-1 if i == axis else 1 for i in range(x.ndim)])


def _num(a):
    """Exact numeric view of a quantized / scale array (ints as int64, floats as float32/64)."""
    a = wide(np.asarray(a))
    return fl(a) if is_float(a.dtype) else a.astype(np.int64)


@kernel("dequantize_linear")
def _dequantize_linear(inputs, attrs, outs):
    x, scale = inputs[0], inputs[1]
    zp = inputs[2] if len(inputs) > 2 else None
    axis = int(attr(attrs, "axis", 1))
    bs = int(attr(attrs, "block_size", 0))
    odt = out_dtype(outs)
    cdt = np.float64 if odt == np.float64 else np.float32
    d = _num(x)
    if zp is not None:
        d = d - _num(_param(zp, x, axis, bs))
    return [d.astype(cdt) * fl(_param(scale, x, axis, bs)).astype(cdt)]


@kernel("quantize_linear")
def _quantize_linear(inputs, attrs, outs):
    x, scale = inputs[0], inputs[1]
    zp = inputs[2] if len(inputs) > 2 else None
    axis = int(attr(attrs, "axis", 1))
    bs = int(attr(attrs, "block_size", 0))
    odt = out_dtype(outs)
    sc = fl(_param(scale, x, axis, bs))
    xf = fl(wide(x))
    prec = attrs.get("precision")
    if prec:
        pdt = {1: np.float32, 10: np.float16, 11: np.float64, 16: np.float32}.get(int(prec), np.float32)
        q = xf.astype(pdt) / sc.astype(pdt)
    else:
        q = xf / sc.astype(np.promote_types(sc.dtype, xf.dtype))
    zpv = None if zp is None else _num(_param(zp, x, axis, bs))
    if is_int(odt):
        q = np.rint(q).astype(np.float64)  # round half to even
        if zpv is not None:
            q = q + zpv
        lo, hi = int_range(odt)
        q = np.clip(q, lo, hi)
        return [q.astype(np.int64).astype(odt) if odt.kind in "iu" else q.astype(odt)]
    if zpv is not None:
        q = q + zpv
    return [cast_array(q, odt, saturate=bool(int(attr(attrs, "saturate", 1))))]
