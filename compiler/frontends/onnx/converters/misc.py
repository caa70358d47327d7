"""Einsum, Resize/Upsample, Quantize/DequantizeLinear, Det."""

from __future__ import annotations

import numpy as np

from tensorc.dialects import dtypes

from ..importer import NodeContext, converter
from .lowbit import check_quant_params


def einsum_shape(ctx: NodeContext, equation: str, shapes: list[tuple[int, ...]]) -> list[int]:
    """The output shape of an einsum equation (explicit or implicit output, with ellipsis)."""
    eq = equation.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ctx.unsupported(f"equation '{equation}' has {len(terms)} operands, got {len(shapes)}")
    sizes: dict[str, int] = {}
    ell: tuple[int, ...] = ()
    for term, shape in zip(terms, shapes):
        n_letters = len(term.replace("...", ""))
        n_ell = len(shape) - n_letters
        labels = term.replace("...", "." * n_ell) if "..." in term else term
        if len(labels) != len(shape):
            raise ctx.unsupported(f"term '{term}' does not match rank {len(shape)}")
        e = tuple(d for c, d in zip(labels, shape) if c == ".")
        ell = tuple(np.broadcast_shapes(ell, e))
        for c, d in zip(labels, shape):
            if c != ".":
                if sizes.get(c, d) not in (d, 1) and d != 1:
                    raise ctx.unsupported(f"label '{c}' has sizes {sizes[c]} and {d}")
                sizes[c] = max(sizes.get(c, d), d)
    if "->" not in eq:
        letters = [c for c in lhs if c.isalpha()]
        rhs = ("..." if ell or "..." in lhs else "") + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    out: list[int] = []
    i = 0
    while i < len(rhs):
        if rhs.startswith("...", i):
            out += list(ell)
            i += 3
        else:
            out.append(sizes[rhs[i]])
            i += 1
    return out


@converter("Einsum")
def einsum(ctx: NodeContext):
    vals = [ctx.val(i) for i in range(ctx.num_inputs)]
    eq = ctx.attr("equation")
    shape = einsum_shape(ctx, eq, [v.shape for v in vals])
    return ctx.emit("einsum", vals, {"equation": eq}, result_types=[dtypes.tensor_type(shape, vals[0].dtype)])


@converter("Resize", "Upsample")
def resize(ctx: NodeContext):
    x = ctx.val(0)
    r = x.rank
    roi = None
    if ctx.node.op_type == "Upsample":
        scales = list(ctx.attr("scales")) if ctx.opset < 9 else [float(s) for s in ctx.const(1, "scales")]
        sizes = None
    elif ctx.opset < 11:
        scales, sizes = [float(s) for s in ctx.const(1, "scales")], None
    else:
        roi = [float(v) for v in ctx.const(1, "roi")] if ctx.has(1) and ctx.const(1).size else None
        scales = [float(s) for s in ctx.const(2, "scales")] if ctx.has(2) and ctx.const(2).size else None
        sizes = ctx.ints(3, "sizes") if ctx.has(3) and ctx.const(3).size else None
    axes = [a % r for a in ctx.attr("axes", list(range(r)))]
    mode = ctx.attr("mode", "nearest")
    if ctx.opset < 11 and mode == "bilinear":
        mode = "linear"
    full_scales = [1.0] * r
    full_sizes = list(x.shape)
    if sizes is not None:
        policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
        sub = [sizes[i] / x.shape[a] for i, a in enumerate(axes)]
        if policy != "stretch":
            s = min(sub) if policy == "not_larger" else max(sub)
            sub = [s] * len(axes)
            sizes = [int(round(s * x.shape[a])) for a in axes]
        for i, a in enumerate(axes):
            full_scales[a], full_sizes[a] = sub[i], sizes[i]
    elif scales is not None:
        for i, a in enumerate(axes):
            full_scales[a] = scales[i]
            full_sizes[a] = int(np.floor(x.shape[a] * scales[i]))
    else:
        raise ctx.unsupported("neither scales nor sizes given")
    if roi is not None and len(roi) == 2 * len(axes) and len(axes) != r:
        full = [0.0] * r + [1.0] * r
        for i, a in enumerate(axes):
            full[a], full[a + r] = roi[i], roi[i + len(axes)]
        roi = full
    ctm = "asymmetric" if ctx.opset < 11 else ctx.attr("coordinate_transformation_mode", "half_pixel")
    attrs = {
        "scales": full_scales, "roi": roi, "mode": mode, "coordinate_transformation_mode": ctm,
        "nearest_mode": ctx.attr("nearest_mode", "round_prefer_floor" if ctx.opset >= 11 else "floor"),
        "cubic_coeff_a": ctx.attr("cubic_coeff_a", -0.75), "exclude_outside": ctx.attr("exclude_outside", 0),
        "extrapolation_value": ctx.attr("extrapolation_value", 0.0), "antialias": ctx.attr("antialias", 0),
    }
    return ctx.emit("resize", [x], attrs, result_types=[dtypes.tensor_type(full_sizes, x.dtype)])


@converter("DequantizeLinear")
def dequantize_linear(ctx: NodeContext):
    x, scale = ctx.val(0), ctx.val(1)
    attrs = {"axis": ctx.attr("axis", 1), "block_size": ctx.attr("block_size", 0)}
    check_quant_params(ctx, x.shape, attrs["axis"], attrs["block_size"], scale.shape,
                       ctx.opt(2).shape if ctx.has(2) else None)
    out_dt = dtypes.onnx_to_numpy(ctx.attr("output_dtype")) if ctx.attr("output_dtype") else scale.dtype
    return ctx.emit("dequantize_linear", [x, scale, ctx.opt(2)], attrs,
                    result_types=[dtypes.tensor_type(x.shape, out_dt)])


@converter("QuantizeLinear")
def quantize_linear(ctx: NodeContext):
    x = ctx.val(0)
    zp = ctx.opt(2)
    if zp is not None:
        out_dt = zp.dtype
    elif ctx.attr("output_dtype"):
        out_dt = dtypes.onnx_to_numpy(ctx.attr("output_dtype"))
    else:
        out_dt = np.dtype(np.uint8)
    attrs = {"axis": ctx.attr("axis", 1), "block_size": ctx.attr("block_size", 0), "saturate": ctx.attr("saturate", 1)}
    check_quant_params(ctx, x.shape, attrs["axis"], attrs["block_size"], ctx.val(1).shape, zp.shape if zp else None)
    return ctx.emit("quantize_linear", [x, ctx.val(1), zp], attrs, result_types=[dtypes.tensor_type(x.shape, out_dt)])


@converter("Det")
def det(ctx: NodeContext):
    return ctx.emit("det", [ctx.val(0)])
