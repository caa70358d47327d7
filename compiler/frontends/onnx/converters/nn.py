"""Neural-network ONNX ops: MatMul, Gemm, Conv, ConvTranspose, pooling, normalization, Dropout."""

from __future__ import annotations


import numpy as np

from tensorc.dialects import dtypes

from ..importer import NodeContext, converter
from .lowbit import dequantized_matmul


@converter("MatMul")
def matmul(ctx: NodeContext):
    # B from a constant int4/uint4 DequantizeLinear stays low-bit: tg.matmul_nbits (lowbit.py)
    return dequantized_matmul(ctx) or ctx.emit("matmul", [ctx.val(0), ctx.val(1)])


@converter("Gemm")
def gemm(ctx: NodeContext):
    lowbit = dequantized_matmul(ctx)
    if lowbit is not None:
        return lowbit
    attrs = {k: ctx.attr(k) for k in ("alpha", "beta", "transA", "transB")}
    return ctx.emit("gemm", [ctx.val(0), ctx.val(1), ctx.opt(2)], attrs)


def window_attrs(ctx: NodeContext, spatial: list[int], kernel: list[int], ceil_mode: int = 0) -> dict:
    """strides, dilations and explicit pads, with auto_pad resolved on the static shape."""
    r = len(kernel)
    strides = ctx.attr("strides") or [1] * r
    dil = ctx.attr("dilations") or [1] * r
    pads = ctx.attr("pads") or [0] * (2 * r)
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * r)
        for i in range(r):
            out = -(-spatial[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - spatial[i])
            small, big = total // 2, total - total // 2
            pads[i], pads[r + i] = (small, big) if auto == "SAME_UPPER" else (big, small)
    elif auto == "VALID":
        pads = [0] * (2 * r)
    elif auto != "NOTSET":
        raise ctx.unsupported(f"auto_pad={auto}")
    return {"strides": list(strides), "dilations": list(dil), "pads": list(pads)}


@converter("Conv")
def conv(ctx: NodeContext):
    x, w = ctx.val(0), ctx.val(1)
    attrs = window_attrs(ctx, list(x.shape[2:]), list(w.shape[2:]))
    attrs["group"] = ctx.attr("group", 1)
    return ctx.emit("conv", [x, w, ctx.opt(2)], attrs)


@converter("ConvTranspose")
def conv_transpose(ctx: NodeContext):
    x, w = ctx.val(0), ctx.val(1)
    r = x.rank - 2
    kernel = list(w.shape[2:])
    s = ctx.attr("strides") or [1] * r
    d = ctx.attr("dilations") or [1] * r
    op_ = list(ctx.attr("output_padding") or [0] * r)
    pads = list(ctx.attr("pads") or [0] * (2 * r))
    out_shape = ctx.attr("output_shape")
    auto = ctx.attr("auto_pad", "NOTSET")
    if out_shape or auto in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = list(out_shape)[-r:] if out_shape else [x.shape[2 + i] * s[i] for i in range(r)]
        for i in range(r):
            total = s[i] * (x.shape[2 + i] - 1) + op_[i] + (kernel[i] - 1) * d[i] + 1 - out_shape[i]
            if total < 0:  # asked for more than the full result: the rest is output padding
                op_[i] -= total
                total = 0
            begin = total // 2 if auto == "SAME_UPPER" else total - total // 2  # the ONNX spec's rule
            pads[i], pads[r + i] = begin, total - begin
    attrs = {"strides": list(s), "dilations": list(d), "pads": pads, "group": ctx.attr("group", 1),
             "output_padding": op_}
    return ctx.emit("conv_transpose", [x, w, ctx.opt(2)], attrs)


def _pool(ctx: NodeContext, op: str, extra: dict):
    x = ctx.val(0)
    kernel = list(ctx.attr("kernel_shape"))
    ceil_mode = ctx.attr("ceil_mode", 0)
    attrs = window_attrs(ctx, list(x.shape[2:]), kernel, ceil_mode)
    attrs.update(kernel_shape=kernel, ceil_mode=ceil_mode, **extra)
    n = len([o for o in ctx.node.output if o])
    return ctx.emit(op, [x], attrs, num_results=n)


@converter("MaxPool")
def max_pool(ctx: NodeContext):
    return _pool(ctx, "max_pool", {"storage_order": ctx.attr("storage_order", 0)})


@converter("AveragePool")
def average_pool(ctx: NodeContext):
    return _pool(ctx, "average_pool", {"count_include_pad": ctx.attr("count_include_pad", 0)})


@converter("LpPool")
def lp_pool(ctx: NodeContext):
    return _pool(ctx, "lp_pool", {"p": int(ctx.attr("p", 2))})


@converter("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def global_pool(ctx: NodeContext):
    op = {"GlobalAveragePool": "global_average_pool", "GlobalMaxPool": "global_max_pool",
          "GlobalLpPool": "global_lp_pool"}[ctx.node.op_type]
    attrs = {"p": int(ctx.attr("p", 2))} if op == "global_lp_pool" else {}
    return ctx.emit(op, [ctx.val(0)], attrs)


@converter("BatchNormalization")
def batch_norm(ctx: NodeContext):
    if ctx.attr("training_mode", 0) or (ctx.opset < 7 and not ctx.attr("is_test", 0) and len(ctx.node.output) > 1):
        raise ctx.unsupported("training mode")
    outs = ctx.emit("batch_normalization", [ctx.val(i) for i in range(5)], {"epsilon": ctx.attr("epsilon", 1e-5)})
    return outs + [ctx.val(3), ctx.val(4)][: max(0, len(ctx.node.output) - 1)]


@converter("InstanceNormalization")
def instance_norm(ctx: NodeContext):
    return ctx.emit("instance_normalization", [ctx.val(0), ctx.val(1), ctx.val(2)], {"epsilon": ctx.attr("epsilon", 1e-5)})


@converter("LayerNormalization")
def layer_norm(ctx: NodeContext):
    n = len([o for o in ctx.node.output if o])
    attrs = {"axis": ctx.attr("axis", -1), "epsilon": ctx.attr("epsilon", 1e-5), "stash_type": ctx.attr("stash_type", 1)}
    return ctx.emit("layer_normalization", [ctx.val(0), ctx.val(1), ctx.opt(2)], attrs, num_results=n)


@converter("RMSNormalization")
def rms_norm(ctx: NodeContext):
    attrs = {"axis": ctx.attr("axis", -1), "epsilon": ctx.attr("epsilon", 1e-5), "stash_type": ctx.attr("stash_type", 1)}
    return ctx.emit("rms_normalization", [ctx.val(0), ctx.val(1)], attrs)


@converter("GroupNormalization")
def group_norm(ctx: NodeContext):
    x, scale, bias = ctx.val(0), ctx.val(1), ctx.val(2)
    groups = ctx.attr("num_groups")
    if ctx.opset < 21 and scale.shape == (groups,) and x.shape[1] != groups:
        # opset 18: scale and bias are per group; repeat them per channel
        reps = x.shape[1] // groups
        scale = ctx.emit1("reshape", [ctx.emit1("tile", [ctx.emit1("unsqueeze", [scale], {"axes": [1]})], {"repeats": [1, reps]})], {"shape": [x.shape[1]]})
        bias = ctx.emit1("reshape", [ctx.emit1("tile", [ctx.emit1("unsqueeze", [bias], {"axes": [1]})], {"repeats": [1, reps]})], {"shape": [x.shape[1]]})
    attrs = {"num_groups": groups, "epsilon": ctx.attr("epsilon", 1e-5), "stash_type": ctx.attr("stash_type", 1)}
    return ctx.emit("group_normalization", [x, scale, bias], attrs)


@converter("LRN")
def lrn(ctx: NodeContext):
    attrs = {k: ctx.attr(k) for k in ("alpha", "beta", "bias", "size")}
    return ctx.emit("lrn", [ctx.val(0)], attrs)


@converter("LpNormalization")
def lp_normalization(ctx: NodeContext):
    return ctx.emit("lp_normalization", [ctx.val(0)], {"axis": ctx.attr("axis", -1), "p": ctx.attr("p", 2)})


@converter("MeanVarianceNormalization")
def mvn(ctx: NodeContext):
    x = ctx.val(0)
    axes = [a % x.rank for a in ctx.attr("axes", [0, 2, 3])]
    return ctx.emit("mean_variance_normalization", [x], {"axes": axes})


@converter("Dropout")
def dropout(ctx: NodeContext):
    """Inference: the identity, and an all-true mask when asked for."""
    if ctx.opset >= 12 and ctx.has(2) and (ctx.val(2).const is None or bool(ctx.val(2).const)):
        raise ctx.unsupported("training mode (random masks) is not supported")
    x = ctx.val(0)
    outs = [x]
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        outs.append(ctx.const_val(np.ones(x.shape, dtype=bool)))
    return outs




@converter("Attention")
def attention(ctx: NodeContext):
    q, k, v = ctx.val(0), ctx.val(1), ctx.val(2)
    slots = [i for i in range(min(ctx.num_inputs, 7)) if ctx.has(i)]
    operands = [ctx.val(i) for i in slots]
    attrs = {n: ctx.attr(n) for n in ("is_causal", "kv_num_heads", "q_num_heads", "qk_matmul_output_mode",
                                      "scale", "softcap", "softmax_precision", "left_window_size", "right_window_size")}
    attrs["operand_slots"] = slots if slots != list(range(len(slots))) else None
    b = q.shape[0]
    if q.rank == 4:
        hq, sq, hk, skv, dv = q.shape[1], q.shape[2], k.shape[1], k.shape[2], v.shape[3]
        dk = k.shape[3]
    else:
        hq, hk = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
        if not hq or not hk:
            raise ctx.unsupported("3-D inputs need q_num_heads and kv_num_heads")
        sq, skv, dk, dv = q.shape[1], k.shape[1], k.shape[2] // hk, v.shape[2] // hk
    past = ctx.val(4).shape[2] if ctx.has(4) else 0
    total = past + skv
    y_shape = [b, hq, sq, dv] if q.rank == 4 else [b, sq, hq * dv]
    types = [
        dtypes.tensor_type(y_shape, q.dtype),
        dtypes.tensor_type([b, hk, total, dk], k.dtype),
        dtypes.tensor_type([b, hk, total, dv], v.dtype),
        dtypes.tensor_type([b, hq, sq, total], q.dtype),
    ]
    n = max(i for i, o in enumerate(ctx.node.output) if o) + 1
    return ctx.emit("attention", operands, attrs, result_types=types[:n])
