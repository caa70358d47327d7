"""Small attention models for the bfp tests, exported to ONNX and imported as tg Programs.

* tiny_bert: MiniLM's own BERT layer code (tools/models/minilm.py) at 2 layers, 4 heads x 16;
* tiny_rope: tools/models/rope_decoder.py at 4 query / 2 KV heads x 32 with RoPE;
* fused_gemm: one fused c_attn projection on 2-D input (exported as Gemm), split into q, k, v,
  q pre-scaled by 1/sqrt(d) before Q·Kᵀ;
* onnx_attention: projections feeding the ONNX Attention op (opset 23): tg.attention.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _import(path, shapes=None):
    import tensorc

    prog = tensorc.import_onnx(str(path), input_shapes=shapes)
    return tensorc.lower(prog, "cleanup")


def tiny_bert(tmp: Path):
    import torch

    from tensorc.tools.models._onnx_export import export_onnx
    from tensorc.tools.models.minilm import BertEncoder

    cfg = dict(hidden_size=64, num_attention_heads=4, layer_norm_eps=1e-12, vocab_size=100,
               max_position_embeddings=32, type_vocab_size=2, num_hidden_layers=2, intermediate_size=128)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BertEncoder(cfg).eval()
        with torch.no_grad():  # give K a few strong channels
            for layer in model.layers:
                layer.k.weight[[3, 17, 40]] *= 12.0
    ids = torch.randint(1, 100, (2, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    path = export_onnx(model, (ids, mask), tmp / "tiny_bert.onnx", input_names=["input_ids", "attention_mask"],
                       output_names=["embedding"])
    inputs = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    calib_ids = torch.randint(1, 100, (2, 12), generator=torch.Generator().manual_seed(2))
    calib = {"input_ids": calib_ids.numpy(), "attention_mask": np.ones((2, 12), np.int64)}
    return _import(path), inputs, calib


def tiny_rope(tmp: Path, seq: int = 16):
    from tensorc.tools.models.rope_decoder import Config, rope_decoder_onnx, sample_ids

    cfg = Config(vocab=64, dim=128, heads=4, kv_heads=2, layers=2, ffn=128, max_len=32, outlier_pairs=2)
    path = rope_decoder_onnx(tmp / "tiny_rope.onnx", batch=1, seq=seq, config=cfg)
    return (_import(path), {"ids": sample_ids(1, seq, seed=1, vocab=64).numpy()},
            {"ids": sample_ids(1, seq, seed=2, vocab=64).numpy()})


def fused_gemm(tmp: Path):
    import torch
    from torch import nn

    from tensorc.tools.models._onnx_export import export_onnx

    class Fused(nn.Module):
        def __init__(self, d=48, h=3):
            super().__init__()
            self.h, self.hd = h, d // h
            self.c_attn = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)

        def forward(self, x):  # x [T, d]: 2-D, so Linear exports as Gemm
            t, d = x.shape
            q, k, v = self.c_attn(x).split(d, dim=1)
            q = q.view(t, self.h, self.hd).transpose(0, 1) * (1.0 / math.sqrt(self.hd))
            k = k.view(t, self.h, self.hd).transpose(0, 1)
            v = v.view(t, self.h, self.hd).transpose(0, 1)
            att = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
            return self.proj((att @ v).transpose(0, 1).reshape(t, d))

    with torch.random.fork_rng():
        torch.manual_seed(3)
        model = Fused().eval()
        with torch.no_grad():
            model.c_attn.weight[48 + 5] *= 10.0
    x = torch.randn(10, 48, generator=torch.Generator().manual_seed(4))
    path = export_onnx(model, (x,), tmp / "fused.onnx", input_names=["x"], output_names=["y"])
    return _import(path), {"x": x.numpy()}, {"x": np.random.default_rng(5).standard_normal((10, 48)).astype(np.float32)}


def onnx_attention(tmp: Path, B=1, S=6, E=32, H=4, Hkv=2):
    """x @ Wq / Wk / Wv -> reshape [B,S,H,D] -> transpose [B,H,S,D] -> Attention (GQA)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    D = E // H
    rng = np.random.default_rng(6)
    wq = rng.standard_normal((E, H * D)).astype(np.float32)
    wk = rng.standard_normal((E, Hkv * D)).astype(np.float32) * np.where(rng.random(Hkv * D) < 0.1, 10, 1)
    wv = rng.standard_normal((E, Hkv * D)).astype(np.float32)
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in ((wq, "wq"), (wk, "wk"), (wv, "wv"))]
    inits += [numpy_helper.from_array(np.array(s, np.int64), n) for s, n in
              (([B, S, H, D], "sq"), ([B, S, Hkv, D], "skv"))]
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q0"]), helper.make_node("MatMul", ["x", "wk"], ["k0"]),
        helper.make_node("MatMul", ["x", "wv"], ["v0"]),
        helper.make_node("Reshape", ["q0", "sq"], ["q1"]), helper.make_node("Reshape", ["k0", "skv"], ["k1"]),
        helper.make_node("Reshape", ["v0", "skv"], ["v1"]),
        helper.make_node("Transpose", ["q1"], ["q"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["k1"], ["k"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["v1"], ["v"], perm=[0, 2, 1, 3]),
        helper.make_node("Attention", ["q", "k", "v"], ["y"], name="attn"),
    ]
    g = helper.make_graph(nodes, "attn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, S, E])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [B, H, S, D])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 23)])
    path = tmp / "attention.onnx"
    onnx.save(model, str(path))
    x = rng.standard_normal((B, S, E)).astype(np.float32)
    return _import(path), {"x": x}, {"x": rng.standard_normal((B, S, E)).astype(np.float32)}
