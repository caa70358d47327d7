"""Neural-network ATen ops: linear/matmul/einsum, convolution, normalization, pooling, resize, attention."""

from __future__ import annotations

import math

import numpy as np

from tensorc.dialects import dtypes

from ..importer import OpContext, Val, aten, norm_dim
from .shape import slice_val


# ---- matrix products -------------------------------------------------------------
@aten("linear")
def linear(cx: OpContext):
    """y = x W^T + b as tg.gemm(transB=1) on the 2-D view of x: the weight stays as stored."""
    x, w, b = cx["input"], cx["weight"], cx.get("bias")
    lead = list(x.shape[:-1])
    x2 = cx.reshape(x, [math.prod(lead), x.shape[-1]])
    y = cx.emit1("gemm", [x2, w, b], {"transB": 1})
    return cx.reshape(y, lead + [w.shape[0]])


@aten("mm", "bmm", "matmul", "mv", "dot", "vdot")
def matmul(cx: OpContext):
    return cx.emit1("matmul", [cx["self"], cx.get("mat2", cx.get("other", cx.get("vec", cx.get("tensor"))))])


@aten("addmm")
def addmm(cx: OpContext):
    bias, a, b = cx["self"], cx["mat1"], cx["mat2"]
    alpha, beta = float(cx.get("alpha", 1)), float(cx.get("beta", 1))
    return cx.emit1("gemm", [a, b, bias], {"alpha": alpha if alpha != 1 else None, "beta": beta if beta != 1 else None})


@aten("einsum")
def einsum(cx: OpContext):
    xs = list(cx["tensors"])
    eq = str(cx["equation"]).replace(" ", "")
    return cx.emit1("einsum", xs, {"equation": eq}, result_types=[cx.out_type()])


# ---- convolution -----------------------------------------------------------------
def _spatial(v, r: int, name: str) -> list[int]:
    v = [int(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
    if len(v) == 1 and r > 1:
        v = v * r
    if len(v) != r:
        raise ValueError(f"{name} has {len(v)} entries for {r} spatial dims")
    return v


def _batched(cx: OpContext, x: Val, r: int) -> tuple[Val, bool]:
    """An unbatched (C x spatial) input as 1 x C x spatial."""
    if x.rank == r + 1:
        return cx.reshape(x, [1] + list(x.shape)), True
    return x, False


def _unbatch(cx: OpContext, y: Val, was: bool) -> Val:
    return cx.reshape(y, list(y.shape[1:])) if was else y


@aten("convolution", "_convolution")
def convolution(cx: OpContext):
    x, w, b = cx["input"], cx["weight"], cx.get("bias")
    r = w.rank - 2
    x, unb = _batched(cx, x, r)
    pad = _spatial(cx["padding"], r, "padding")
    attrs = {
        "strides": _spatial(cx["stride"], r, "stride"), "dilations": _spatial(cx["dilation"], r, "dilation"),
        "pads": pad + pad, "group": int(cx["groups"]),
    }
    if cx["transposed"]:
        attrs["output_padding"] = _spatial(cx["output_padding"], r, "output_padding")
        y = cx.emit1("conv_transpose", [x, w, b], attrs)
    else:
        y = cx.emit1("conv", [x, w, b], attrs)
    return _unbatch(cx, y, unb)


@aten("conv1d", "conv2d", "conv3d")
def conv_nd(cx: OpContext):
    if isinstance(cx["padding"], str):
        raise cx.unsupported(f"padding='{cx['padding']}'")
    x, w = cx["input"], cx["weight"]
    r = w.rank - 2
    x, unb = _batched(cx, x, r)
    pad = _spatial(cx["padding"], r, "padding")
    attrs = {"strides": _spatial(cx["stride"], r, "stride"), "dilations": _spatial(cx["dilation"], r, "dilation"),
             "pads": pad + pad, "group": int(cx["groups"])}
    return _unbatch(cx, cx.emit1("conv", [x, w, cx.get("bias")], attrs), unb)


# ---- normalization ---------------------------------------------------------------
def _ones(cx: OpContext, shape, dtype) -> Val:
    return cx.tensor(np.ones(shape, dtype))


def _zeros(cx: OpContext, shape, dtype) -> Val:
    return cx.tensor(np.zeros(shape, dtype))


def _per_channel(cx: OpContext, v: Val, rank: int) -> Val:
    """A [C] vector shaped to broadcast against N x C x spatial."""
    return cx.reshape(v, [v.shape[0]] + [1] * (rank - 2))


def _batch_norm(cx: OpContext, batch_stats: bool):
    """Inference batch norm on the running statistics, or normalization by the batch's own statistics
    (training-mode `F.batch_norm`, and `F.instance_norm`, which is a batch norm of the N*C-channel view)."""
    x, w, b, mean, var = (cx.get(k) for k in ("input", "weight", "bias", "running_mean", "running_var"))
    eps = float(cx["eps"])
    c = x.shape[1] if x.rank > 1 else 1
    w = w if w is not None else _ones(cx, [c], x.dtype)
    b = b if b is not None else _zeros(cx, [c], x.dtype)
    stats = [cx.unavailable("saved mean"), cx.unavailable("saved inverse std"), cx.unavailable("reserve")]
    if not batch_stats:
        if mean is None or var is None:
            raise cx.unsupported("batch norm without running statistics")
        return [cx.emit1("batch_normalization", [x, w, b, mean, var], {"epsilon": eps})] + stats
    if x.rank >= 3 and x.shape[0] == 1:  # one sample: per-channel statistics over the spatial dims
        return [cx.emit1("instance_normalization", [x, w, b], {"epsilon": eps})] + stats
    axes = [0] + list(range(2, x.rank))
    m = cx.emit1("reduce_mean", [x], {"axes": axes, "keepdims": 1})
    d = cx.emit1("sub", [x, m])
    v = cx.emit1("reduce_mean", [cx.emit1("mul", [d, d])], {"axes": axes, "keepdims": 1})
    inv = cx.emit1("sqrt", [cx.emit1("add", [v, cx.tensor(eps, x.dtype)])])
    y = cx.emit1("div", [d, inv])
    y = cx.emit1("add", [cx.emit1("mul", [y, _per_channel(cx, w, x.rank)]), _per_channel(cx, b, x.rank)])
    return [y] + stats


@aten("_native_batch_norm_legit_no_training")
def batch_norm_no_training(cx: OpContext):
    return _batch_norm(cx, False)[:3]


@aten("_native_batch_norm_legit.default", "native_batch_norm")
def native_batch_norm(cx: OpContext):
    return _batch_norm(cx, bool(cx["training"]))[:3]


@aten("batch_norm")
def batch_norm(cx: OpContext):
    return _batch_norm(cx, bool(cx["training"]))[0]


@aten("_native_batch_norm_legit.no_stats")
def batch_norm_no_stats(cx: OpContext):
    return _batch_norm(cx, True)[:3]


def _layer_norm(cx: OpContext) -> Val:
    x, ns = cx["input"], [int(d) for d in cx["normalized_shape"]]
    w, b = cx.get("weight"), cx.get("bias")
    w = w if w is not None else _ones(cx, ns, x.dtype)
    attrs = {"axis": x.rank - len(ns), "epsilon": float(cx.get("eps", 1e-5))}
    return cx.emit("layer_normalization", [x, w, b], attrs, num_results=1)[0]


@aten("layer_norm")
def layer_norm(cx: OpContext):
    return _layer_norm(cx)


@aten("native_layer_norm")
def native_layer_norm(cx: OpContext):
    return [_layer_norm(cx), cx.unavailable("mean"), cx.unavailable("inverse std")]


def _group_norm(cx: OpContext, groups: int) -> Val:
    x, w, b = cx["input"], cx.get("weight"), cx.get("bias")
    c = x.shape[1]
    w = w if w is not None else _ones(cx, [c], x.dtype)
    b = b if b is not None else _zeros(cx, [c], x.dtype)
    return cx.emit1("group_normalization", [x, w, b], {"num_groups": groups, "epsilon": float(cx["eps"])})


@aten("group_norm")
def group_norm(cx: OpContext):
    return _group_norm(cx, int(cx["num_groups"]))


@aten("native_group_norm")
def native_group_norm(cx: OpContext):
    return [_group_norm(cx, int(cx["group"])), cx.unavailable("mean"), cx.unavailable("inverse std")]


@aten("rms_norm")
def rms_norm(cx: OpContext):
    x, ns, w = cx["input"], [int(d) for d in cx["normalized_shape"]], cx.get("weight")
    eps = cx.get("eps")
    eps = float(np.finfo(x.dtype).eps) if eps is None else float(eps)
    w = w if w is not None else _ones(cx, ns, x.dtype)
    return cx.emit1("rms_normalization", [x, w], {"axis": x.rank - len(ns), "epsilon": eps})


# ---- pooling ---------------------------------------------------------------------
def _pool_attrs(cx: OpContext, r: int) -> dict:
    kernel = _spatial(cx["kernel_size"], r, "kernel_size")
    stride = cx.get("stride") or kernel
    pad = _spatial(cx.get("padding", 0), r, "padding")
    return {"kernel_shape": kernel, "strides": _spatial(stride, r, "stride"), "pads": pad + pad,
            "ceil_mode": int(bool(cx.get("ceil_mode", False)))}


def _rank_of(cx: OpContext) -> int:
    name = cx.op.split(".")[1]
    return int(name[name.index("pool") + 4])  # max_pool2d_with_indices → 2


@aten("max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
      "max_pool3d_with_indices")
def max_pool(cx: OpContext):
    r = _rank_of(cx)
    x, unb = _batched(cx, cx["self"], r)
    attrs = _pool_attrs(cx, r)
    attrs["dilations"] = _spatial(cx.get("dilation", 1), r, "dilation")
    y = _unbatch(cx, cx.emit1("max_pool", [x], attrs), unb)
    return [y, cx.unavailable("indices")] if "with_indices" in cx.op else y


@aten("avg_pool1d", "avg_pool2d", "avg_pool3d")
def avg_pool(cx: OpContext):
    if cx.get("divisor_override") is not None:
        raise cx.unsupported("divisor_override")
    r = _rank_of(cx)
    x, unb = _batched(cx, cx["self"], r)
    attrs = _pool_attrs(cx, r)
    attrs["count_include_pad"] = int(bool(cx.get("count_include_pad", True)))
    return _unbatch(cx, cx.emit1("average_pool", [x], attrs), unb)


def _adaptive(cx: OpContext, kind: str) -> Val:
    """Adaptive pooling: a global pool, a strided pool when the sizes divide, else per-bin slices."""
    x, out = cx["self"], [int(o) for o in cx["output_size"]]
    r = len(out)
    x, unb = _batched(cx, x, r)
    ins = list(x.shape[2:])
    reduce_op = "reduce_mean" if kind == "avg" else "reduce_max"
    if all(o == 1 for o in out):
        y = cx.emit1("global_average_pool" if kind == "avg" else "global_max_pool", [x])
    elif all(i % o == 0 for i, o in zip(ins, out)):
        k = [i // o for i, o in zip(ins, out)]
        y = cx.emit1("average_pool" if kind == "avg" else "max_pool", [x], {"kernel_shape": k, "strides": k})
    else:  # torch's bins: [floor(j * in / out), ceil((j + 1) * in / out)); pooling is separable per axis
        y = x
        for a, (i, o) in enumerate(zip(ins, out)):
            if i == o:
                continue
            axis = 2 + a
            bins = []
            for j in range(o):
                lo, hi = (j * i) // o, -(-((j + 1) * i) // o)
                part = slice_val(cx, y, axis, lo, hi)
                bins.append(cx.emit1(reduce_op, [part], {"axes": [axis], "keepdims": 1}))
            y = bins[0] if len(bins) == 1 else cx.emit1("concat", bins, {"axis": axis})
    return _unbatch(cx, y, unb)


@aten("_adaptive_avg_pool1d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d",
      "adaptive_avg_pool2d", "adaptive_avg_pool3d")
def adaptive_avg_pool(cx: OpContext):
    return _adaptive(cx, "avg")


@aten("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")
def adaptive_max_pool(cx: OpContext):
    return [_adaptive(cx, "max"), cx.unavailable("indices")]


# ---- resize ----------------------------------------------------------------------
def _resize(cx: OpContext, mode: str, ctm: str) -> Val:
    x = cx["input"] if "input" in cx.args else cx["self"]
    out = cx.out_shape
    scales = [1.0, 1.0] + [o / i for o, i in zip(out[2:], x.shape[2:])]
    attrs = {"scales": scales, "mode": mode, "coordinate_transformation_mode": ctm}
    if mode == "nearest":
        attrs["nearest_mode"] = "floor"
    return cx.emit1("resize", [x], attrs, result_types=[cx.out_type()])


@aten("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d")
def upsample_nearest(cx: OpContext):
    return _resize(cx, "nearest", "asymmetric")


@aten("upsample_bilinear2d", "upsample_linear1d", "upsample_trilinear3d")
def upsample_linear(cx: OpContext):
    return _resize(cx, "linear", "align_corners" if cx["align_corners"] else "pytorch_half_pixel")


# ---- attention -------------------------------------------------------------------
@aten("scaled_dot_product_attention")
def sdpa(cx: OpContext):
    """softmax(q k^T * scale + mask) v as tg.attention (ONNX Attention, 4-D [B, H, L, E] form).

    Boolean masks mean the same in both (True = attend); float masks are added.
    Causal masks are aligned top-left in both (query i sees keys 0..i).
    """
    q, k, v, mask = cx["query"], cx["key"], cx["value"], cx.get("attn_mask")
    if float(cx.get("dropout_p", 0.0)) != 0.0:
        raise cx.unsupported(f"dropout_p={cx['dropout_p']} (random)")
    causal = bool(cx.get("is_causal", False))
    if causal and mask is not None:
        raise cx.unsupported("both attn_mask and is_causal")
    rank = q.rank
    if rank < 3 or k.rank != rank or v.rank != rank:
        raise cx.unsupported(f"query/key/value ranks {q.rank}/{k.rank}/{v.rank}")
    lead = list(q.shape[:-2])
    if rank == 3:  # [N, L, E]: one head per batch entry
        q4, k4, v4 = (cx.reshape(t, [t.shape[0], 1] + list(t.shape[1:])) for t in (q, k, v))
        if mask is not None and mask.rank == 3:
            mask = cx.reshape(mask, [mask.shape[0], 1] + list(mask.shape[1:]))
    elif rank == 4:
        q4, k4, v4 = q, k, v
    else:
        if mask is not None and mask.rank > 2:
            raise cx.unsupported(f"rank-{rank} inputs with a rank-{mask.rank} mask")
        q4, k4, v4 = (cx.reshape(t, [math.prod(t.shape[:-3])] + list(t.shape[-3:])) for t in (q, k, v))
    if mask is not None and mask.dtype != np.bool_:
        mask = cx.tensor(mask, q.dtype)
    b, h, lq = q4.shape[0], q4.shape[1], q4.shape[2]
    out = dtypes.tensor_type([b, h, lq, v4.shape[3]], q.dtype)
    attrs = {"is_causal": int(causal), "scale": None if cx.get("scale") is None else float(cx["scale"])}
    y = cx.emit1("attention", [q4, k4, v4, mask], attrs, result_types=[out])
    return cx.reshape(y, lead + [lq, v.shape[-1]])
