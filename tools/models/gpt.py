"""A GPT-2-style decoder written out by hand (nanoGPT's layout, no transformers import).

Pre-LayerNorm blocks of causal multi-head self-attention (one fused ``c_attn``
projection split into q, k, v) and a GELU MLP (GPT-2's tanh approximation),
token and learned position embeddings, a final LayerNorm and a language-model
head tied to the token embedding. Names follow GPT-2 (``wte``, ``wpe``,
``h.0.ln_1``, ``h.0.attn.c_attn``, ``h.0.mlp.c_fc``, ``ln_f``), with
``nn.Linear`` in place of GPT-2's transposed ``Conv1D``.

The attention has two implementations with the same numbers:

- ``sdpa=True``: ``F.scaled_dot_product_attention(q, k, v, is_causal=True)``;
- ``sdpa=False``: the textbook form of GPT-2 and nanoGPT, ``q @ k^T * scale``,
  ``masked_fill`` with a slice of a registered lower-triangular ``bias``
  buffer, softmax, ``@ v``.

Weights are random from a fixed seed (a private generator; the global torch RNG
is left alone).

    block = gpt2_block()                       # one decoder block, [B, T, 128] -> [B, T, 128]
    model = gpt2_tiny()                        # ids [B, T] int64 -> logits [B, T, vocab]
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, max_len: int, sdpa: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not a multiple of {heads} heads")
        self.heads, self.sdpa = heads, sdpa
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)
        # GPT-2's causal mask buffer: [1, 1, max_len, max_len], 1 on and below the diagonal
        mask = torch.tril(torch.ones(max_len, max_len, dtype=torch.bool))
        self.register_buffer("bias", mask.view(1, 1, max_len, max_len), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.heads, c // self.heads).transpose(1, 2)  # [B, H, T, D]
        k = k.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(~self.bias[:, :, :t, :t], float("-inf"))
            y = F.softmax(att, dim=-1) @ v
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU(approximate="tanh")  # GPT-2's "gelu_new"
        self.c_proj = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


class Block(nn.Module):
    """x + attn(ln_1(x)), then + mlp(ln_2(x)): GPT-2's pre-norm decoder block."""

    def __init__(self, dim: int = 128, heads: int = 4, max_len: int = 64, sdpa: bool = True):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, max_len, sdpa)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token + position embeddings, `depth` blocks, final LayerNorm, tied LM head."""

    def __init__(self, vocab: int = 512, dim: int = 128, depth: int = 2, heads: int = 4, max_len: int = 64,
                 sdpa: bool = True):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(max_len, dim)
        self.h = nn.ModuleList(Block(dim, heads, max_len, sdpa) for _ in range(depth))
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as in GPT-2

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


@torch.no_grad()
def _randomize(model: nn.Module, seed: int) -> None:
    """GPT-2's init (normal, std 0.02; residual projections scaled down), random LayerNorm gains/biases."""
    g = torch.Generator().manual_seed(seed)
    n_layers = max(1, sum(1 for m in model.modules() if isinstance(m, Block)))
    for name, p in model.named_parameters():
        if name.endswith("c_proj.weight"):
            p.copy_(0.02 / math.sqrt(2 * n_layers) * torch.randn(p.shape, generator=g))
        elif p.dim() > 1:
            p.copy_(0.02 * torch.randn(p.shape, generator=g))
        elif ".ln_" in f".{name}" and name.endswith("weight"):
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
        else:
            p.copy_(0.02 * torch.randn(p.shape, generator=g))


def gpt2_block(dim: int = 128, heads: int = 4, max_len: int = 64, sdpa: bool = True, seed: int = 0) -> Block:
    """One GPT-2-style decoder block in eval mode with deterministic random weights."""
    block = Block(dim, heads, max_len, sdpa)
    _randomize(block, seed)
    return block.eval()


def gpt2_tiny(vocab: int = 512, dim: int = 128, depth: int = 2, heads: int = 4, max_len: int = 64,
              sdpa: bool = True, seed: int = 0) -> GPT:
    """A small GPT-2-style language model in eval mode with deterministic random weights."""
    model = GPT(vocab, dim, depth, heads, max_len, sdpa)
    _randomize(model, seed)
    return model.eval()
