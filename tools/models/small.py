"""Small ONNX benchmark/demo models built directly with ``onnx.helper``.

No torch: these must build wherever ``onnx`` and numpy are installed.  Weights
are random from a fixed seed, scaled by 1/sqrt(fan_in) so activations stay
O(1) through every layer (unscaled N(0,1) weights blow values up and make
tolerance comparisons meaningless).  Every model is opset 17, IR version 8 (the
IR that goes with opset 17, readable by older peers too), passes
``onnx.checker`` with full shape inference, and every node and value has a
readable name, because importers keep node names as provenance.

- :func:`mlp`   -- ``mlp_b1`` / ``mlp_b64`` of research/peers-and-data.md
- :func:`convnet` -- ``convnet`` of the same page
- :func:`tiny_transformer_block` -- one post-LN encoder layer, the ``make demo`` model
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8


class _Graph:
    """Collects nodes and initializers; gives every node a unique name."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def weight(self, name: str, shape, fan_in: int | None = None) -> str:
        scale = 1.0 / math.sqrt(fan_in) if fan_in else 0.1
        arr = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        return self.const(name, arr)

    def const(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type: str, inputs, output: str, *, node: str | None = None,
           **attrs) -> str:
        """Append a node; it is named after its output unless ``node`` is given."""
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [output], name=node or output, **attrs)
        )
        return output

    def model(self, name: str, inputs, outputs, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="tensorc.tools.models.small",
            doc_string=doc,
        )
        onnx.checker.check_model(model, full_check=True)
        return model


def _f32(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def mlp(batch: int | None = 1, seed: int = 0) -> onnx.ModelProto:
    """``x[B,256] -> Gemm(256x1024) -> Relu -> Gemm(1024x256) -> y[B,256]``.

    Weights are stored ``[out, in]`` with ``transB=1``, the layout torch
    exporters produce for ``nn.Linear``.  ``batch=None`` makes the batch a
    symbolic dimension ``"batch"``.
    """
    g = _Graph(seed)
    b = batch if batch is not None else "batch"
    h = g.op("Gemm", ["x", g.weight("fc1.weight", (1024, 256), 256),
                      g.weight("fc1.bias", (1024,), 256)], "fc1", transB=1)
    h = g.op("Relu", [h], "relu")
    g.op("Gemm", [h, g.weight("fc2.weight", (256, 1024), 1024),
                  g.weight("fc2.bias", (256,), 1024)], "y", node="fc2", transB=1)
    return g.model(f"mlp_b{batch or 'N'}", [_f32("x", (b, 256))], [_f32("y", (b, 256))],
                   "MLP 256-1024-256 with ReLU (tensorc benchmark workload)")


def convnet(batch: int = 1, seed: int = 1) -> onnx.ModelProto:
    """``x[1,3,32,32]`` -> 2x (Conv3x3 pad 1 -> Relu -> MaxPool 2x2) -> Flatten -> Gemm(2048->10)."""
    g = _Graph(seed)
    h = "x"
    for i, (cin, cout) in enumerate([(3, 16), (16, 32)], start=1):
        fan_in = cin * 9
        h = g.op("Conv", [h, g.weight(f"conv{i}.weight", (cout, cin, 3, 3), fan_in),
                          g.weight(f"conv{i}.bias", (cout,), fan_in)],
                 f"conv{i}", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
        h = g.op("Relu", [h], f"relu{i}")
        h = g.op("MaxPool", [h], f"pool{i}", kernel_shape=[2, 2], strides=[2, 2])
    h = g.op("Flatten", [h], "flatten", axis=1)                       # [B, 32*8*8]
    g.op("Gemm", [h, g.weight("fc.weight", (10, 2048), 2048),
                  g.weight("fc.bias", (10,), 2048)], "logits", node="fc", transB=1)
    return g.model("convnet", [_f32("x", (batch, 3, 32, 32))], [_f32("logits", (batch, 10))],
                   "Two conv/relu/maxpool stages and a linear classifier (tensorc benchmark)")


def tiny_transformer_block(batch: int = 1, seq: int = 16, hidden: int = 64,
                           heads: int = 4, ffn: int = 256, seed: int = 2) -> onnx.ModelProto:
    """One BERT-style (post-LayerNorm) encoder layer: ``x[B,S,H] -> y[B,S,H]``.

    Written out op by op the way exporters emit it -- MatMul+Add projections,
    Reshape/Transpose into heads, MatMul/Mul/Softmax/MatMul attention,
    residual Adds, LayerNormalization, and exact GELU as
    ``0.5*x*(1+Erf(x/sqrt(2)))`` (the Gelu op needs opset 20) -- so it
    exercises the same patterns as real transformer exports, at demo size.
    """
    if hidden % heads:
        raise ValueError("hidden must be divisible by heads")
    d = hidden // heads
    g = _Graph(seed)

    def linear(x, name, fin, fout):
        y = g.op("MatMul", [x, g.weight(f"{name}.weight", (fin, fout), fin)], f"{name}.matmul")
        return g.op("Add", [y, g.weight(f"{name}.bias", (fout,), fin)], name)

    def layer_norm(x, name, out=None):
        # Near-identity affine parameters, like a trained LayerNorm.
        gamma = g.const(f"{name}.weight", (1.0 + 0.1 * g.rng.standard_normal(hidden)).astype(np.float32))
        beta = g.const(f"{name}.bias", (0.1 * g.rng.standard_normal(hidden)).astype(np.float32))
        return g.op("LayerNormalization", [x, gamma, beta], out or name, node=name,
                    axis=-1, epsilon=1e-5)

    heads_shape = g.const("heads_shape", np.array([batch, seq, heads, d], np.int64))
    merged_shape = g.const("merged_shape", np.array([batch, seq, hidden], np.int64))

    q = linear("x", "attn.q", hidden, hidden)
    k = linear("x", "attn.k", hidden, hidden)
    v = linear("x", "attn.v", hidden, hidden)
    q = g.op("Transpose", [g.op("Reshape", [q, heads_shape], "attn.q.heads")], "attn.q.bhsd", perm=[0, 2, 1, 3])
    kt = g.op("Transpose", [g.op("Reshape", [k, heads_shape], "attn.k.heads")], "attn.k.bhds", perm=[0, 2, 3, 1])
    v = g.op("Transpose", [g.op("Reshape", [v, heads_shape], "attn.v.heads")], "attn.v.bhsd", perm=[0, 2, 1, 3])
    scores = g.op("MatMul", [q, kt], "attn.scores")
    scale = g.const("attn.scale", np.array(1.0 / math.sqrt(d), np.float32))
    scores = g.op("Mul", [scores, scale], "attn.scores.scaled")
    probs = g.op("Softmax", [scores], "attn.probs", axis=-1)
    ctx = g.op("MatMul", [probs, v], "attn.ctx")
    ctx = g.op("Transpose", [ctx], "attn.ctx.bshd", perm=[0, 2, 1, 3])
    ctx = g.op("Reshape", [ctx, merged_shape], "attn.ctx.merged")
    h = g.op("Add", ["x", linear(ctx, "attn.out", hidden, hidden)], "attn.residual")
    h = layer_norm(h, "attn.norm")

    f = linear(h, "ffn.in", hidden, ffn)
    sqrt2 = g.const("gelu.sqrt2", np.array(math.sqrt(2.0), np.float32))
    one = g.const("gelu.one", np.array(1.0, np.float32))
    half = g.const("gelu.half", np.array(0.5, np.float32))
    e = g.op("Erf", [g.op("Div", [f, sqrt2], "ffn.gelu.div")], "ffn.gelu.erf")
    e = g.op("Add", [e, one], "ffn.gelu.add")
    f = g.op("Mul", [g.op("Mul", [f, e], "ffn.gelu.mul"), half], "ffn.gelu")
    h = g.op("Add", [h, linear(f, "ffn.out", ffn, hidden)], "ffn.residual")
    layer_norm(h, "ffn.norm", out="y")

    return g.model("tiny_transformer_block",
                   [_f32("x", (batch, seq, hidden))], [_f32("y", (batch, seq, hidden))],
                   f"One post-LN transformer encoder layer: seq {seq}, hidden {hidden}, "
                   f"{heads} heads, FFN {ffn} (tensorc demo model)")
