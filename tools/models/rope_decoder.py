"""A small GPT-style decoder with head_dim 128, rotary embeddings and outlier channels in K.

LLaMA's layout, written out in plain torch (no transformers import): pre-RMSNorm
blocks of causal grouped-query self-attention (separate q/k/v projections with
biases, rotary position embedding of the GPT-NeoX / LLaMA "rotate half" kind:
channel j pairs with j + head_dim/2) and a SwiGLU MLP, token embeddings, a
final RMSNorm. The output is the final hidden state [B, T, dim].

Weights are random from a fixed seed (a private generator; the global torch RNG
is left alone), then K is given the channel statistics of real LLM keys: each KV
head's channel pairs get a log-normal scale, and a few pairs per head (the
low-frequency ones, where trained models put them) are outliers, 8-20x the rest.
Both channels of a rotary pair get the same scale: RoPE mixes them, so their
joint magnitude is what a real model's statistics fix.

    model = rope_decoder()                    # ids [B, T] int64 -> hidden [B, T, 512]
    path = rope_decoder_onnx(path, batch=2, seq=64)
    ids = sample_ids(batch=2, seq=64)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Config:
    vocab: int = 1024
    dim: int = 512
    heads: int = 4  # query heads: head_dim = 128
    kv_heads: int = 2  # grouped-query attention: 2 query heads per KV head
    layers: int = 2
    ffn: int = 1024
    max_len: int = 256
    rope_base: float = 10000.0
    outlier_pairs: int = 3  # per KV head
    seed: int = 0

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.c = c
        d = c.head_dim
        self.q = nn.Linear(c.dim, c.heads * d)
        self.k = nn.Linear(c.dim, c.kv_heads * d)
        self.v = nn.Linear(c.dim, c.kv_heads * d)
        self.o = nn.Linear(c.heads * d, c.dim, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        c, d = self.c, self.c.head_dim
        q = self.q(x).view(b, t, c.heads, d).transpose(1, 2)  # [B, H, T, D]
        k = self.k(x).view(b, t, c.kv_heads, d).transpose(1, 2)  # [B, Hkv, T, D]
        v = self.v(x).view(b, t, c.kv_heads, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = c.heads // c.kv_heads  # LLaMA's repeat_kv: expand then reshape
        k = k[:, :, None].expand(b, c.kv_heads, rep, t, d).reshape(b, c.heads, t, d)
        v = v[:, :, None].expand(b, c.kv_heads, rep, t, d).reshape(b, c.heads, t, d)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(d)
        probs = torch.softmax(scores + mask, dim=-1)
        y = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, c.heads * d)
        return self.o(y)


class Block(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.attn_norm = RMSNorm(c.dim)
        self.attn = Attention(c)
        self.ffn_norm = RMSNorm(c.dim)
        self.gate = nn.Linear(c.dim, c.ffn, bias=False)
        self.up = nn.Linear(c.dim, c.ffn, bias=False)
        self.down = nn.Linear(c.ffn, c.dim, bias=False)

    def forward(self, x, cos, sin, mask):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask)
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class RopeDecoder(nn.Module):
    """ids [B, T] int64 -> final hidden state [B, T, dim] (causal)."""

    def __init__(self, c: Config = Config()):
        super().__init__()
        self.c = c
        self.emb = nn.Embedding(c.vocab, c.dim)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.dim)
        d = c.head_dim
        inv = 1.0 / (c.rope_base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        ang = torch.arange(c.max_len, dtype=torch.float64)[:, None] * inv[None, :]
        ang = torch.cat([ang, ang], dim=-1)  # [max_len, D]: pair (j, j + D/2) shares a frequency
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)
        mask = torch.full((c.max_len, c.max_len), -1.0e4).triu(1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin, mask = self.cos[:t], self.sin[:t], self.mask[:t, :t]
        x = self.emb(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        return self.norm(x)


def _init(model: RopeDecoder) -> RopeDecoder:
    c = model.c
    g = torch.Generator().manual_seed(c.seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name == "emb.weight":
                p.copy_(torch.randn(p.shape, generator=g))
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
            else:  # biases
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
        d, half = c.head_dim, c.head_dim // 2
        for blk in model.blocks:
            a = blk.attn
            for h in range(c.kv_heads):
                # per pair: log-normal scale; a few low-frequency pairs are outliers
                pair_scale = torch.exp(0.5 * torch.randn(half, generator=g))
                low = torch.arange(half // 2, half)  # low rotary frequencies
                pick = low[torch.randperm(low.numel(), generator=g)[: c.outlier_pairs]]
                pair_scale[pick] *= 8.0 + 12.0 * torch.rand(c.outlier_pairs, generator=g)
                scale = torch.cat([pair_scale, pair_scale])
                rows = slice(h * d, (h + 1) * d)
                a.k.weight[rows] *= scale[:, None]
                a.k.bias[rows] *= scale
                # queries: milder, independent channel scales
                for r in range(c.heads // c.kv_heads):
                    qh = h * (c.heads // c.kv_heads) + r
                    qs = torch.exp(0.3 * torch.randn(half, generator=g))
                    qrows = slice(qh * d, (qh + 1) * d)
                    a.q.weight[qrows] *= torch.cat([qs, qs])[:, None]
    return model.eval()


def rope_decoder(config: Config = Config()) -> RopeDecoder:
    """The decoder with its deterministic weights (K outlier channels included)."""
    return _init(RopeDecoder(config))


def sample_ids(batch: int = 2, seq: int = 64, seed: int = 1, vocab: int = Config.vocab) -> torch.Tensor:
    """Random token ids (the model is untrained: any ids are as good as text)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, seq), generator=g)


def rope_decoder_onnx(path, batch: int = 2, seq: int = 64, config: Config = Config(), opset: int = 17):
    """Export the decoder with static shapes [batch, seq] to `path` (input `ids`, output `hidden`)."""
    from ._onnx_export import export_onnx

    model = rope_decoder(config)
    return export_onnx(model, (sample_ids(batch, seq, vocab=config.vocab),), path,
                       input_names=["ids"], output_names=["hidden"], opset=opset)


__all__ = ["Config", "RopeDecoder", "rope_decoder", "rope_decoder_onnx", "sample_ids", "rotate_half"]
