"""Shape and data-movement ONNX ops. Shape/Size are static here, so they fold to constants."""

from __future__ import annotations

import numpy as np

from tensorc.dialects import dtypes

from ..importer import NodeContext, converter


@converter("Constant")
def constant(ctx: NodeContext):
    for key, conv in (
        ("value", lambda v: v),
        ("value_float", lambda v: np.array(v, dtype=np.float32)),
        ("value_floats", lambda v: np.array(v, dtype=np.float32)),
        ("value_int", lambda v: np.array(v, dtype=np.int64)),
        ("value_ints", lambda v: np.array(v, dtype=np.int64)),
    ):
        if ctx.has_attr(key):
            return [ctx.const_val(conv(ctx.attr(key)))]
    if ctx.has_attr("sparse_value"):
        from onnx import numpy_helper

        return [ctx.const_val(numpy_helper.to_array(ctx.node.attribute[0].sparse_tensor))]
    raise ctx.unsupported("string or missing constant value")


@converter("ConstantOfShape")
def constant_of_shape(ctx: NodeContext):
    shape = ctx.ints(0, "shape")
    value = ctx.attr("value")
    fill = np.zeros(1, dtype=np.float32) if value is None else value.reshape(-1)
    return [ctx.const_val(np.full(shape, fill[0], dtype=fill.dtype))]


@converter("Shape")
def shape_(ctx: NodeContext):
    shape = ctx.val(0).shape
    start, end = ctx.attr("start", 0), ctx.attr("end")
    return [ctx.const_val(np.array(shape[slice(start, end)], dtype=np.int64))]


@converter("Size")
def size(ctx: NodeContext):
    return [ctx.const_val(np.array(int(np.prod(ctx.val(0).shape)), dtype=np.int64))]


def resolve_reshape(ctx: NodeContext, in_shape, target, allowzero=0) -> list[int]:
    out = [in_shape[i] if (d == 0 and not allowzero and i < len(in_shape)) else d for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise ctx.unsupported(f"shape {target} has more than one -1")
    total = int(np.prod(in_shape))
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1]))
        if known == 0 or total % known:
            raise ctx.unsupported(f"cannot reshape {list(in_shape)} to {target}")
        out[out.index(-1)] = total // known
    if int(np.prod(out)) != total:
        raise ctx.unsupported(f"cannot reshape {list(in_shape)} to {target}")
    return out


@converter("Reshape")
def reshape(ctx: NodeContext):
    x = ctx.val(0)
    target = list(ctx.attr("shape")) if ctx.opset < 5 else ctx.ints(1, "shape")
    shape = resolve_reshape(ctx, x.shape, target, ctx.attr("allowzero", 0))
    return ctx.emit("reshape", [x], {"shape": shape})


@converter("Flatten")
def flatten(ctx: NodeContext):
    x = ctx.val(0)
    axis = ctx.attr("axis", 1)
    return ctx.emit("flatten", [x], {"axis": axis + x.rank if axis < 0 else axis})


@converter("Transpose")
def transpose(ctx: NodeContext):
    x = ctx.val(0)
    perm = ctx.attr("perm") or list(range(x.rank))[::-1]
    return ctx.emit("transpose", [x], {"perm": [p % x.rank for p in perm]})


def _axes(ctx: NodeContext, since: int) -> list[int] | None:
    if ctx.opset >= since:
        return ctx.ints(1, "axes") if ctx.has(1) else None
    return ctx.attr("axes")


@converter("Squeeze")
def squeeze(ctx: NodeContext):
    x = ctx.val(0)
    axes = _axes(ctx, 13)
    axes = [i for i, d in enumerate(x.shape) if d == 1] if axes is None else [a % x.rank for a in axes]
    return ctx.emit("squeeze", [x], {"axes": sorted(axes)})


@converter("Unsqueeze")
def unsqueeze(ctx: NodeContext):
    x = ctx.val(0)
    axes = _axes(ctx, 13)
    r = x.rank + len(axes)
    return ctx.emit("unsqueeze", [x], {"axes": sorted(a % r for a in axes)})


@converter("Concat")
def concat(ctx: NodeContext):
    vals = [ctx.val(i) for i in range(ctx.num_inputs) if ctx.has(i)]
    axis = ctx.attr("axis", 1 if ctx.opset < 4 else None)
    vals = [v for v in vals if v.shape[axis % v.rank] != 0] or vals[:1]  # empty pieces add nothing
    if len(vals) == 1:
        return [vals[0]]
    return ctx.emit("concat", vals, {"axis": axis % vals[0].rank})


@converter("Split")
def split(ctx: NodeContext):
    x = ctx.val(0)
    axis = ctx.attr("axis", 0) % x.rank
    n_out = len(ctx.node.output)
    if ctx.opset >= 13:
        sizes = ctx.ints(1, "split") if ctx.has(1) else None
    else:
        sizes = ctx.attr("split") or (ctx.ints(1, "split") if ctx.has(1) else None)
    if sizes is None:
        n = ctx.attr("num_outputs", n_out)
        chunk = -(-x.shape[axis] // n)
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(n)]
    return ctx.emit("split", [x], {"axis": axis, "split": list(sizes)})


@converter("Slice")
def slice_(ctx: NodeContext):
    x = ctx.val(0)
    if ctx.opset < 10:
        starts, ends = list(ctx.attr("starts")), list(ctx.attr("ends"))
        axes = ctx.attr("axes") or list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
        axes = ctx.ints(3, "axes") if ctx.has(3) else list(range(len(starts)))
        steps = ctx.ints(4, "steps") if ctx.has(4) else [1] * len(starts)
    # clamp the INT64 sentinels exporters use, so they fit our i64 attributes comfortably
    big = 2**62
    starts = [max(-big, min(big, s)) for s in starts]
    ends = [max(-big, min(big, e)) for e in ends]
    return ctx.emit("slice", [x], {"starts": starts, "ends": ends, "axes": [a % x.rank for a in axes], "steps": steps})


@converter("Gather")
def gather(ctx: NodeContext):
    return ctx.emit("gather", [ctx.val(0), ctx.val(1)], {"axis": ctx.attr("axis", 0)})


@converter("GatherElements")
def gather_elements(ctx: NodeContext):
    return ctx.emit("gather_elements", [ctx.val(0), ctx.val(1)], {"axis": ctx.attr("axis", 0)})


@converter("GatherND")
def gather_nd(ctx: NodeContext):
    return ctx.emit("gather_nd", [ctx.val(0), ctx.val(1)], {"batch_dims": ctx.attr("batch_dims", 0)})


@converter("ScatterElements", "Scatter")
def scatter_elements(ctx: NodeContext):
    attrs = {"axis": ctx.attr("axis", 0), "reduction": ctx.attr("reduction", "none")}
    return ctx.emit("scatter_elements", [ctx.val(0), ctx.val(1), ctx.val(2)], attrs)


@converter("ScatterND")
def scatter_nd(ctx: NodeContext):
    return ctx.emit("scatter_nd", [ctx.val(0), ctx.val(1), ctx.val(2)], {"reduction": ctx.attr("reduction", "none")})


@converter("Expand")
def expand(ctx: NodeContext):
    return ctx.emit("expand", [ctx.val(0)], {"shape": ctx.ints(1, "shape")})


@converter("Tile")
def tile(ctx: NodeContext):
    x = ctx.val(0)
    if ctx.opset < 6:
        reps = [1] * x.rank
        reps[int(ctx.const(2))] = int(ctx.const(1))
    else:
        reps = ctx.ints(1, "repeats")
    return ctx.emit("tile", [x], {"repeats": reps})


@converter("Pad")
def pad(ctx: NodeContext):
    x = ctx.val(0)
    mode = ctx.attr("mode", "constant")
    if ctx.opset < 11:
        pads = list(ctx.attr("pads") or ctx.attr("paddings"))
        value = ctx.attr("value", 0.0)
    else:
        pads = ctx.ints(1, "pads")
        value = ctx.const(2, "constant_value").reshape(-1)[0].item() if ctx.has(2) else 0
        if ctx.has(3):  # opset 18: pads only for the given axes
            axes = [a % x.rank for a in ctx.ints(3, "axes")]
            full = [0] * (2 * x.rank)
            for j, a in enumerate(axes):
                full[a], full[a + x.rank] = pads[j], pads[j + len(axes)]
            pads = full
    return ctx.emit("pad", [x], {"pads": pads, "mode": mode, "constant_value": float(value)})


@converter("Range")
def range_(ctx: NodeContext):
    start, limit, delta = (ctx.const(i, n) for i, n in enumerate(("start", "limit", "delta")))
    n = max(int(np.ceil((limit - start) / delta)), 0)
    return [ctx.const_val((start + np.arange(n) * delta).astype(start.dtype))]


@converter("CumSum")
def cum_sum(ctx: NodeContext):
    attrs = {"axis": int(ctx.const(1, "axis")), "exclusive": ctx.attr("exclusive", 0), "reverse": ctx.attr("reverse", 0)}
    return ctx.emit("cum_sum", [ctx.val(0)], attrs)


@converter("TopK")
def top_k(ctx: NodeContext):
    k = ctx.attr("k") if ctx.opset < 10 else int(ctx.const(1, "K").reshape(-1)[0])
    attrs = {"k": k, "axis": ctx.attr("axis", -1), "largest": ctx.attr("largest", 1), "sorted": ctx.attr("sorted", 1)}
    return ctx.emit("top_k", [ctx.val(0)], attrs)


@converter("OneHot")
def one_hot(ctx: NodeContext):
    depth = int(ctx.const(1, "depth").reshape(-1)[0])
    return ctx.emit("one_hot", [ctx.val(0), ctx.val(2)], {"depth": depth, "axis": ctx.attr("axis", -1)})


@converter("Trilu")
def trilu(ctx: NodeContext):
    k = int(ctx.const(1, "k").reshape(-1)[0]) if ctx.has(1) else 0
    return ctx.emit("trilu", [ctx.val(0)], {"upper": ctx.attr("upper", 1), "k": k})


@converter("DepthToSpace")
def depth_to_space(ctx: NodeContext):
    return ctx.emit("depth_to_space", [ctx.val(0)], {"blocksize": ctx.attr("blocksize"), "mode": ctx.attr("mode", "DCR")})


@converter("SpaceToDepth")
def space_to_depth(ctx: NodeContext):
    return ctx.emit("space_to_depth", [ctx.val(0)], {"blocksize": ctx.attr("blocksize"), "mode": ctx.attr("mode")})


@converter("ReverseSequence")
def reverse_sequence(ctx: NodeContext):
    attrs = {"batch_axis": ctx.attr("batch_axis", 1), "time_axis": ctx.attr("time_axis", 0)}
    return ctx.emit("reverse_sequence", [ctx.val(0), ctx.val(1)], attrs)


@converter("Compress")
def compress(ctx: NodeContext):
    x, cond = ctx.val(0), ctx.const(1, "condition").astype(bool)
    axis = ctx.attr("axis")
    n = int(cond[: (x.shape[axis % x.rank] if axis is not None else int(np.prod(x.shape)))].sum())
    shape = [n] if axis is None else [n if i == axis % x.rank else d for i, d in enumerate(x.shape)]
    return ctx.emit("compress", [x, ctx.val(1)], {"axis": None if axis is None else axis % x.rank},
                    result_types=[dtypes.tensor_type(shape, x.dtype)])


@converter("EyeLike")
def eye_like(ctx: NodeContext):
    x = ctx.val(0)
    dt = dtypes.onnx_to_numpy(ctx.attr("dtype")) if ctx.has_attr("dtype") else x.dtype
    return [ctx.const_val(np.eye(x.shape[0], x.shape[1], k=ctx.attr("k", 0), dtype=dt))]


@converter("NonZero")
def non_zero(ctx: NodeContext):
    """Data-dependent shape: only when the input is known at import."""
    return [ctx.const_val(np.array(np.nonzero(ctx.const(0, "X")), dtype=np.int64))]
