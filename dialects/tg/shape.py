"""Reductions and data-movement tg ops: reshape, transpose, slice, gather, concat, ..."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import builtin as B
from xdsl.irdl import irdl_op_definition

from .base import Float, Floats, Int, Ints, Str, TGOp, broadcast_shapes, fail, norm_axis, tt


# ---- reductions ---------------------------------------------------------
class Reduce(TGOp):
    """Reduce over explicit `axes` (normalized at import; empty = reduce nothing)."""

    ATTRS = {"axes": Ints(), "keepdims": Int(1)}

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        axes = {norm_axis(self, a, len(x)) for a in self.attr("axes")}
        keep = self.attr("keepdims")
        out = [1 if i in axes else d for i, d in enumerate(x)] if keep else [d for i, d in enumerate(x) if i not in axes]
        return [tt(out, ins[0].element_type)]


def _define(base, name, **extra):
    cls_name = "".join(p.capitalize() for p in name.split("_")) + "Op"
    return irdl_op_definition(type(cls_name, (base,), {"name": f"tg.{name}", **extra}))


OPS: dict[str, type[TGOp]] = {
    n: _define(Reduce, n)
    for n in "reduce_sum reduce_mean reduce_max reduce_min reduce_prod reduce_l1 reduce_l2 "
    "reduce_log_sum reduce_log_sum_exp reduce_sum_square".split()
}


class ArgReduce(TGOp):
    ATTRS = {"axis": Int(0), "keepdims": Int(1), "select_last_index": Int(0)}

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        a = norm_axis(self, self.attr("axis"), len(x))
        out = x[:a] + ([1] if self.attr("keepdims") else []) + x[a + 1 :]
        return [tt(out, B.i64)]


OPS["arg_max"] = _define(ArgReduce, "arg_max")
OPS["arg_min"] = _define(ArgReduce, "arg_min")


# ---- layout -------------------------------------------------------------
def _op(cls):
    cls = irdl_op_definition(cls)
    OPS[cls.name[3:]] = cls
    return cls


@_op
class ReshapeOp(TGOp):
    """Reshape to a fully resolved `shape` (no 0 / -1: the importer resolves them)."""

    name = "tg.reshape"
    ATTRS = {"shape": Ints()}

    def infer(self, ins, num_results=None):
        shape = self.attr("shape")
        if any(d < 0 for d in shape):
            fail(self, f"shape {shape} must be fully resolved")
        if int(np.prod(shape)) != int(np.prod(ins[0].get_shape())):
            fail(self, f"cannot reshape {list(ins[0].get_shape())} to {shape}")
        return [tt(shape, ins[0].element_type)]


@_op
class TransposeOp(TGOp):
    name = "tg.transpose"
    ATTRS = {"perm": Ints()}

    def infer(self, ins, num_results=None):
        x, perm = list(ins[0].get_shape()), self.attr("perm")
        if sorted(perm) != list(range(len(x))):
            fail(self, f"perm {perm} is not a permutation of rank {len(x)}")
        return [tt([x[p] for p in perm], ins[0].element_type)]


@_op
class FlattenOp(TGOp):
    name = "tg.flatten"
    ATTRS = {"axis": Int(1)}

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        a = self.attr("axis")
        if not -len(x) <= a <= len(x):
            fail(self, f"axis {a} out of range")
        a = a + len(x) if a < 0 else a
        return [tt([int(np.prod(x[:a])), int(np.prod(x[a:]))], ins[0].element_type)]


@_op
class SqueezeOp(TGOp):
    name = "tg.squeeze"
    ATTRS = {"axes": Ints()}

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        axes = {norm_axis(self, a, len(x)) for a in self.attr("axes")}
        if any(x[a] != 1 for a in axes):
            fail(self, f"cannot squeeze non-unit axes {sorted(axes)} of {x}")
        return [tt([d for i, d in enumerate(x) if i not in axes], ins[0].element_type)]


@_op
class UnsqueezeOp(TGOp):
    name = "tg.unsqueeze"
    ATTRS = {"axes": Ints()}

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        r = len(x) + len(self.attr("axes"))
        axes = sorted(norm_axis(self, a, r) for a in self.attr("axes"))
        if len(set(axes)) != len(axes):
            fail(self, "repeated axes")
        it = iter(x)
        return [tt([1 if i in axes else next(it) for i in range(r)], ins[0].element_type)]


@_op
class ConcatOp(TGOp):
    name = "tg.concat"
    OPERANDS = (1, None)
    ATTRS = {"axis": Int()}

    def infer(self, ins, num_results=None):
        shapes = [list(t.get_shape()) for t in ins]
        a = norm_axis(self, self.attr("axis"), len(shapes[0]))
        for s in shapes[1:]:
            if len(s) != len(shapes[0]) or s[:a] + s[a + 1 :] != shapes[0][:a] + shapes[0][a + 1 :]:
                fail(self, f"shapes {shapes} do not concatenate on axis {a}")
        if len({t.element_type for t in ins}) > 1:
            fail(self, "operand element types differ")
        out = list(shapes[0])
        out[a] = sum(s[a] for s in shapes)
        return [tt(out, ins[0].element_type)]


@_op
class SplitOp(TGOp):
    name = "tg.split"
    RESULTS = (1, None)
    ATTRS = {"axis": Int(0), "split": Ints()}

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        a = norm_axis(self, self.attr("axis"), len(x))
        sizes = self.attr("split")
        if sum(sizes) != x[a] or min(sizes, default=0) < 0:
            fail(self, f"split sizes {sizes} do not add up to {x[a]}")
        return [tt(x[:a] + [s] + x[a + 1 :], ins[0].element_type) for s in sizes]


def slice_bounds(dim: int, start: int, end: int, step: int) -> int:
    """Number of elements ONNX Slice takes along one axis (its clamping rules)."""
    return len(range(*slice(start, end, step).indices(dim)))


@_op
class SliceOp(TGOp):
    name = "tg.slice"
    ATTRS = {"starts": Ints(), "ends": Ints(), "axes": Ints(), "steps": Ints()}

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        st, en, ax, sp = (self.attr(k) for k in ("starts", "ends", "axes", "steps"))
        if not len(st) == len(en) == len(ax) == len(sp):
            fail(self, "starts/ends/axes/steps lengths differ")
        out = list(x)
        for s, e, a, p in zip(st, en, ax, sp):
            if p == 0:
                fail(self, "slice step 0")
            a = norm_axis(self, a, len(x))
            out[a] = slice_bounds(x[a], s, e, p)
        return [tt(out, ins[0].element_type)]


def _index_type(op, t):
    if t.element_type not in (B.i32, B.i64):
        fail(op, f"indices must be i32 or i64, got {t.element_type}")


@_op
class GatherOp(TGOp):
    name = "tg.gather"
    OPERANDS = (2, 2)
    ATTRS = {"axis": Int(0)}

    def infer(self, ins, num_results=None):
        _index_type(self, ins[1])
        x, idx = list(ins[0].get_shape()), list(ins[1].get_shape())
        a = norm_axis(self, self.attr("axis"), len(x))
        return [tt(x[:a] + idx + x[a + 1 :], ins[0].element_type)]


@_op
class GatherElementsOp(TGOp):
    name = "tg.gather_elements"
    OPERANDS = (2, 2)
    ATTRS = {"axis": Int(0)}

    def infer(self, ins, num_results=None):
        _index_type(self, ins[1])
        norm_axis(self, self.attr("axis"), len(ins[0].get_shape()))
        if len(ins[0].get_shape()) != len(ins[1].get_shape()):
            fail(self, "data and indices ranks differ")
        return [tt(ins[1].get_shape(), ins[0].element_type)]


@_op
class GatherNdOp(TGOp):
    name = "tg.gather_nd"
    OPERANDS = (2, 2)
    ATTRS = {"batch_dims": Int(0)}

    def infer(self, ins, num_results=None):
        x, idx = list(ins[0].get_shape()), list(ins[1].get_shape())
        b = self.attr("batch_dims")
        k = idx[-1]
        return [tt(idx[:-1] + x[b + k :], ins[0].element_type)]


class Scatter(TGOp):
    OPERANDS = (3, 3)

    def infer(self, ins, num_results=None):
        return [ins[0]]


@_op
class ScatterElementsOp(Scatter):
    name = "tg.scatter_elements"
    ATTRS = {"axis": Int(0), "reduction": Str("none")}


@_op
class ScatterNdOp(Scatter):
    name = "tg.scatter_nd"
    ATTRS = {"reduction": Str("none")}


@_op
class ExpandOp(TGOp):
    name = "tg.expand"
    ATTRS = {"shape": Ints()}

    def infer(self, ins, num_results=None):
        return [tt(broadcast_shapes(self, ins[0].get_shape(), self.attr("shape")), ins[0].element_type)]


@_op
class TileOp(TGOp):
    name = "tg.tile"
    ATTRS = {"repeats": Ints()}

    def infer(self, ins, num_results=None):
        x, r = list(ins[0].get_shape()), self.attr("repeats")
        if len(r) != len(x):
            fail(self, f"repeats {r} must have rank {len(x)} entries")
        return [tt([d * k for d, k in zip(x, r)], ins[0].element_type)]


@_op
class PadOp(TGOp):
    name = "tg.pad"
    ATTRS = {"pads": Ints(), "mode": Str("constant"), "constant_value": Float(0.0)}

    def infer(self, ins, num_results=None):
        x, p = list(ins[0].get_shape()), self.attr("pads")
        if len(p) != 2 * len(x):
            fail(self, f"pads must have {2 * len(x)} entries, got {len(p)}")
        return [tt([d + p[i] + p[i + len(x)] for i, d in enumerate(x)], ins[0].element_type)]


@_op
class DepthToSpaceOp(TGOp):
    name = "tg.depth_to_space"
    ATTRS = {"blocksize": Int(), "mode": Str("DCR")}

    def infer(self, ins, num_results=None):
        n, c, h, w = ins[0].get_shape()
        b = self.attr("blocksize")
        if c % (b * b):
            fail(self, f"channels {c} not divisible by blocksize^2")
        return [tt([n, c // (b * b), h * b, w * b], ins[0].element_type)]


@_op
class SpaceToDepthOp(TGOp):
    name = "tg.space_to_depth"
    ATTRS = {"blocksize": Int(), "mode": Str("DCR")}

    def infer(self, ins, num_results=None):
        n, c, h, w = ins[0].get_shape()
        b = self.attr("blocksize")
        if h % b or w % b:
            fail(self, "spatial dims not divisible by blocksize")
        return [tt([n, c * b * b, h // b, w // b], ins[0].element_type)]


@_op
class CumSumOp(TGOp):
    name = "tg.cum_sum"
    ATTRS = {"axis": Int(), "exclusive": Int(0), "reverse": Int(0)}

    def infer(self, ins, num_results=None):
        norm_axis(self, self.attr("axis"), len(ins[0].get_shape()))
        return [ins[0]]


@_op
class TriluOp(TGOp):
    name = "tg.trilu"
    ATTRS = {"upper": Int(1), "k": Int(0)}

    def infer(self, ins, num_results=None):
        if len(ins[0].get_shape()) < 2:
            fail(self, "trilu needs rank >= 2")
        return [ins[0]]


@_op
class TopKOp(TGOp):
    name = "tg.top_k"
    RESULTS = (2, 2)
    ATTRS = {"k": Int(), "axis": Int(-1), "largest": Int(1), "sorted": Int(1)}

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        a = norm_axis(self, self.attr("axis"), len(x))
        if not 0 <= self.attr("k") <= x[a]:
            fail(self, f"k={self.attr('k')} out of range for axis size {x[a]}")
        x[a] = self.attr("k")
        return [tt(x, ins[0].element_type), tt(x, B.i64)]


@_op
class OneHotOp(TGOp):
    name = "tg.one_hot"
    OPERANDS = (2, 2)
    ATTRS = {"depth": Int(), "axis": Int(-1)}

    def infer(self, ins, num_results=None):
        idx = list(ins[0].get_shape())
        a = norm_axis(self, self.attr("axis"), len(idx) + 1)
        return [tt(idx[:a] + [self.attr("depth")] + idx[a:], ins[1].element_type)]


@_op
class RangeOp(TGOp):
    """start, limit, delta as scalar operands; the length is in the result type."""

    name = "tg.range"
    OPERANDS = (3, 3)


@_op
class ResizeOp(TGOp):
    """Resize to the result shape; `scales` drive the coordinate transform."""

    name = "tg.resize"
    ATTRS = {
        "scales": Floats(), "roi": Floats(None), "mode": Str("nearest"),
        "coordinate_transformation_mode": Str("half_pixel"), "nearest_mode": Str("round_prefer_floor"),
        "cubic_coeff_a": Float(-0.75), "exclude_outside": Int(0), "extrapolation_value": Float(0.0),
        "antialias": Int(0),
    }


@_op
class EinsumOp(TGOp):
    name = "tg.einsum"
    OPERANDS = (1, None)
    ATTRS = {"equation": Str()}


@_op
class ReverseSequenceOp(TGOp):
    name = "tg.reverse_sequence"
    OPERANDS = (2, 2)
    ATTRS = {"batch_axis": Int(1), "time_axis": Int(0)}

    def infer(self, ins, num_results=None):
        return [ins[0]]


@_op
class CompressOp(TGOp):
    """Selection by a boolean mask: the result length is data-dependent and recorded in its type."""

    name = "tg.compress"
    OPERANDS = (2, 2)
    ATTRS = {"axis": Int(None)}


@_op
class DetOp(TGOp):
    name = "tg.det"

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        return [tt(x[:-2], ins[0].element_type)]


class Quant(TGOp):
    OPERANDS = (2, 3)
    ATTRS = {"axis": Int(1), "block_size": Int(0)}


@_op
class DequantizeLinearOp(Quant):
    name = "tg.dequantize_linear"

    def infer(self, ins, num_results=None):
        return [tt(ins[0].get_shape(), ins[1].element_type)]


@_op
class QuantizeLinearOp(Quant):
    """The target type is the result type (the zero point's type at import)."""

    name = "tg.quantize_linear"
    ATTRS = {**Quant.ATTRS, "saturate": Int(1)}




@_op
class ShapeOp(TGOp):
    """The (static) shape of a tensor as i64s; folded to a constant by fold-shapes."""

    name = "tg.shape"
    ATTRS = {"start": Int(0), "end": Int(None)}

    def infer(self, ins, num_results=None):
        r = len(ins[0].get_shape())
        start, end = self.attr("start"), self.attr("end")
        n = len(range(r)[slice(start, end)])
        return [tt([n], B.i64)]


@_op
class SizeOp(TGOp):
    name = "tg.size"

    def infer(self, ins, num_results=None):
        return [tt([], B.i64)]
