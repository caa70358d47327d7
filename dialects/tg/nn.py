"""Neural-network tg ops: matmul/gemm, convolution, pooling, normalization, softmax."""

from __future__ import annotations


from xdsl.dialects import builtin as B
from xdsl.irdl import irdl_op_definition

from .base import Float, Int, Ints, Str, TGOp, broadcast_shapes, fail, norm_axis, tt


def _same_elem(op, ins):
    elems = {t.element_type for t in ins}
    if len(elems) > 1:
        fail(op, "operand element types differ: " + ", ".join(sorted(map(str, elems))))


@irdl_op_definition
class MatMulOp(TGOp):
    """numpy.matmul semantics: 1-D promotion and broadcast batch dimensions."""

    name = "tg.matmul"
    OPERANDS = (2, 2)

    def infer(self, ins, num_results=None):
        _same_elem(self, ins)
        a, b = (list(t.get_shape()) for t in ins)
        if not a or not b:
            fail(self, "matmul operands must have rank >= 1")
        a2 = [1] + a if len(a) == 1 else a
        b2 = b + [1] if len(b) == 1 else b
        if a2[-1] != b2[-2]:
            fail(self, f"contraction sizes differ: {a} x {b}")
        batch = broadcast_shapes(self, a2[:-2], b2[:-2])
        out = list(batch) + [a2[-2], b2[-1]]
        if len(a) == 1:
            del out[-2]
        if len(b) == 1:
            del out[-1]
        return [tt(out, ins[0].element_type)]


@irdl_op_definition
class GemmOp(TGOp):
    """Y = alpha * op(A) @ op(B) + beta * C, C broadcast to [M, N]."""

    name = "tg.gemm"
    OPERANDS = (2, 3)
    ATTRS = {"alpha": Float(1.0), "beta": Float(1.0), "transA": Int(0), "transB": Int(0)}

    def infer(self, ins, num_results=None):
        _same_elem(self, ins)
        a, b = (list(t.get_shape()) for t in ins[:2])
        if len(a) != 2 or len(b) != 2:
            fail(self, "gemm operands must be 2-D")
        m, k = a[::-1] if self.attr("transA") else a
        k2, n = b[::-1] if self.attr("transB") else b
        if k != k2:
            fail(self, f"contraction sizes differ: {k} vs {k2}")
        if len(ins) == 3:
            broadcast_shapes(self, ins[2].get_shape(), [m, n])
        return [tt([m, n], ins[0].element_type)]


def _window_out(size, k, s, d, pb, pe, ceil_mode=0):
    eff = (k - 1) * d + 1
    span = size + pb + pe - eff
    if ceil_mode:
        out = -(-span // s) + 1
        # ONNX/PyTorch: the last window must start inside the input or left padding
        if (out - 1) * s >= size + pb:
            out -= 1
        return out
    return span // s + 1


class Windowed(TGOp):
    """Ops sliding a window over the spatial dims of an N x C x D1 x ... tensor."""

    def spatial(self, x_shape, kernel):
        r = len(x_shape) - 2
        if r < 1:
            fail(self, f"input must be N x C x spatial..., got {list(x_shape)}")
        strides = self.attr("strides") or [1] * r
        dil = self.attr("dilations") or [1] * r
        pads = self.attr("pads") or [0] * (2 * r)
        if len(kernel) != r or len(strides) != r or len(dil) != r or len(pads) != 2 * r:
            fail(self, f"kernel/strides/dilations/pads do not match {r} spatial dims")
        if min(strides) < 1 or min(dil) < 1:
            fail(self, "strides and dilations must be positive")
        ceil_mode = self.attr("ceil_mode") if "ceil_mode" in self.ATTRS else 0
        out = [
            _window_out(x_shape[2 + i], kernel[i], strides[i], dil[i], pads[i], pads[r + i], ceil_mode)
            for i in range(r)
        ]
        if min(out) < 1:
            fail(self, f"window larger than padded input: output spatial size {out}")
        return out


_CONV_ATTRS = {"strides": Ints(None), "pads": Ints(None), "dilations": Ints(None), "group": Int(1)}


@irdl_op_definition
class ConvOp(Windowed):
    """X[N,C,*] (*) W[M, C/group, *k] + B[M]; pads explicit (auto_pad resolved at import)."""

    name = "tg.conv"
    OPERANDS = (2, 3)
    ATTRS = _CONV_ATTRS

    def infer(self, ins, num_results=None):
        _same_elem(self, ins)
        x, w = (list(t.get_shape()) for t in ins[:2])
        g = self.attr("group")
        if len(w) != len(x):
            fail(self, f"weight rank {len(w)} != input rank {len(x)}")
        if x[1] != w[1] * g or w[0] % g:
            fail(self, f"channels: input {x[1]}, weight {w[:2]}, group {g}")
        if len(ins) == 3 and list(ins[2].get_shape()) != [w[0]]:
            fail(self, f"bias must be [{w[0]}]")
        return [tt([x[0], w[0]] + self.spatial(x, w[2:]), ins[0].element_type)]


@irdl_op_definition
class ConvTransposeOp(TGOp):
    """Gradient of conv: X[N,C,*], W[C, M/group, *k]; output_shape resolved into pads at import."""

    name = "tg.conv_transpose"
    OPERANDS = (2, 3)
    ATTRS = {**_CONV_ATTRS, "output_padding": Ints(None)}

    def infer(self, ins, num_results=None):
        _same_elem(self, ins)
        x, w = (list(t.get_shape()) for t in ins[:2])
        r, g = len(x) - 2, self.attr("group")
        if x[1] != w[0]:
            fail(self, f"channels: input {x[1]}, weight {w[:2]}")
        s = self.attr("strides") or [1] * r
        d = self.attr("dilations") or [1] * r
        p = self.attr("pads") or [0] * (2 * r)
        op_ = self.attr("output_padding") or [0] * r
        sp = [s[i] * (x[2 + i] - 1) + op_[i] + (w[2 + i] - 1) * d[i] + 1 - p[i] - p[r + i] for i in range(r)]
        return [tt([x[0], w[1] * g] + sp, ins[0].element_type)]


_POOL = {"kernel_shape": Ints(), "strides": Ints(None), "pads": Ints(None), "dilations": Ints(None), "ceil_mode": Int(0)}


class Pool(Windowed):
    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        out = [tt(x[:2] + self.spatial(x, self.attr("kernel_shape")), ins[0].element_type)]
        if (num_results or 1) == 2:
            out.append(tt(out[0].get_shape(), B.i64))
        return out


@irdl_op_definition
class MaxPoolOp(Pool):
    name = "tg.max_pool"
    RESULTS = (1, 2)
    ATTRS = {**_POOL, "storage_order": Int(0)}


@irdl_op_definition
class AveragePoolOp(Pool):
    name = "tg.average_pool"
    ATTRS = {**_POOL, "count_include_pad": Int(0)}


@irdl_op_definition
class LpPoolOp(Pool):
    name = "tg.lp_pool"
    ATTRS = {**_POOL, "p": Int(2)}


class GlobalPool(TGOp):
    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        if len(x) < 3:
            fail(self, f"input must be N x C x spatial..., got {x}")
        return [tt(x[:2] + [1] * (len(x) - 2), ins[0].element_type)]


@irdl_op_definition
class GlobalAveragePoolOp(GlobalPool):
    name = "tg.global_average_pool"


@irdl_op_definition
class GlobalMaxPoolOp(GlobalPool):
    name = "tg.global_max_pool"


@irdl_op_definition
class GlobalLpPoolOp(GlobalPool):
    name = "tg.global_lp_pool"
    ATTRS = {"p": Int(2)}


def _per_channel(op, ins, first):
    c = ins[0].get_shape()[1] if len(ins[0].get_shape()) > 1 else 1
    for t in ins[first:]:
        if list(t.get_shape()) != [c]:
            fail(op, f"per-channel operands must be [{c}], got {list(t.get_shape())}")


@irdl_op_definition
class BatchNormalizationOp(TGOp):
    """Inference-mode batch norm: (x - mean) / sqrt(var + eps) * scale + b."""

    name = "tg.batch_normalization"
    OPERANDS = (5, 5)
    ATTRS = {"epsilon": Float(1e-5)}

    def infer(self, ins, num_results=None):
        _per_channel(self, ins, 1)
        return [ins[0]]


@irdl_op_definition
class InstanceNormalizationOp(TGOp):
    name = "tg.instance_normalization"
    OPERANDS = (3, 3)
    ATTRS = {"epsilon": Float(1e-5)}

    def infer(self, ins, num_results=None):
        _per_channel(self, ins, 1)
        return [ins[0]]


@irdl_op_definition
class GroupNormalizationOp(TGOp):
    name = "tg.group_normalization"
    OPERANDS = (3, 3)
    ATTRS = {"num_groups": Int(), "epsilon": Float(1e-5), "stash_type": Int(1)}

    def infer(self, ins, num_results=None):
        _per_channel(self, ins, 1)
        if ins[0].get_shape()[1] % self.attr("num_groups"):
            fail(self, "channels not divisible by num_groups")
        return [ins[0]]


class LastAxesNorm(TGOp):
    """Normalization over the axes from `axis` to the end; scale/bias broadcast there."""

    def infer(self, ins, num_results=None):
        x = list(ins[0].get_shape())
        axis = norm_axis(self, self.attr("axis"), len(x))
        for t in ins[1:]:
            broadcast_shapes(self, x, t.get_shape())
        stats = tt(x[:axis] + [1] * (len(x) - axis), B.f32)
        return [ins[0]] + [stats] * ((num_results or 1) - 1)


@irdl_op_definition
class LayerNormalizationOp(LastAxesNorm):
    name = "tg.layer_normalization"
    OPERANDS = (2, 3)
    RESULTS = (1, 3)
    ATTRS = {"axis": Int(-1), "epsilon": Float(1e-5), "stash_type": Int(1)}


@irdl_op_definition
class RmsNormalizationOp(LastAxesNorm):
    name = "tg.rms_normalization"
    OPERANDS = (2, 2)
    ATTRS = {"axis": Int(-1), "epsilon": Float(1e-5), "stash_type": Int(1)}


class SameShape(TGOp):
    def infer(self, ins, num_results=None):
        return [ins[0]]


@irdl_op_definition
class LrnOp(SameShape):
    name = "tg.lrn"
    ATTRS = {"alpha": Float(1e-4), "beta": Float(0.75), "bias": Float(1.0), "size": Int()}


@irdl_op_definition
class LpNormalizationOp(SameShape):
    name = "tg.lp_normalization"
    ATTRS = {"axis": Int(-1), "p": Int(2)}


@irdl_op_definition
class MeanVarianceNormalizationOp(SameShape):
    name = "tg.mean_variance_normalization"
    ATTRS = {"axes": Ints([0, 2, 3])}


class AxisOp(SameShape):
    ATTRS = {"axis": Int(-1)}

    def infer(self, ins, num_results=None):
        norm_axis(self, self.attr("axis"), len(ins[0].get_shape()))
        return [ins[0]]


@irdl_op_definition
class SoftmaxOp(AxisOp):
    name = "tg.softmax"


@irdl_op_definition
class LogSoftmaxOp(AxisOp):
    name = "tg.log_softmax"


@irdl_op_definition
class HardmaxOp(AxisOp):
    name = "tg.hardmax"


@irdl_op_definition
class AttentionOp(TGOp):
    """ONNX Attention (opset 23-25): softmax(Q K^T * scale + mask) V, with GQA and an optional KV cache.

    Operands are Q, K, V, then the optional attn_mask, past_key, past_value,
    nonpad_kv_seqlen; `operand_slots` gives the ONNX input position of each
    operand when optional ones are left out in the middle. Results are
    positional (Y, present_key, present_value, qk_matmul_output).
    """

    name = "tg.attention"
    OPERANDS = (3, 7)
    RESULTS = (1, 4)
    ATTRS = {
        "is_causal": Int(0), "kv_num_heads": Int(None), "q_num_heads": Int(None),
        "qk_matmul_output_mode": Int(0), "scale": Float(None), "softcap": Float(0.0),
        "softmax_precision": Int(None), "left_window_size": Int(-1), "right_window_size": Int(-1),
        "operand_slots": Ints(None),
    }
    # result types depend on the layout and the cache; the importer computes them


OPS = {
    c.name[3:]: c
    for c in [
        MatMulOp, GemmOp, ConvOp, ConvTransposeOp, MaxPoolOp, AveragePoolOp, LpPoolOp,
        GlobalAveragePoolOp, GlobalMaxPoolOp, GlobalLpPoolOp, BatchNormalizationOp,
        InstanceNormalizationOp, GroupNormalizationOp, LayerNormalizationOp, RmsNormalizationOp,
        LrnOp, LpNormalizationOp, MeanVarianceNormalizationOp, SoftmaxOp, LogSoftmaxOp, HardmaxOp,
        AttentionOp,
    ]
}
