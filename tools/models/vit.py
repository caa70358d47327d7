"""ViT-tiny/16 written out by hand (timm's ``vit_tiny_patch16_224`` architecture, no timm import).

Patch embedding by a 16x16 stride-16 convolution, a class token, learned
position embeddings, 12 pre-norm transformer blocks (width 192, 3 heads,
MLP 768, GELU, LayerNorm eps 1e-6), final norm and a linear head on the
class token. Parameter names follow timm (``patch_embed.proj``,
``blocks.0.attn.qkv``, ``blocks.0.mlp.fc1``, ``head`` ...). Weights are
random from a fixed seed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, N, C]


class VisionTransformer(nn.Module):
    def __init__(self, img: int = 224, patch: int = 16, dim: int = 192, depth: int = 12, heads: int = 3,
                 num_classes: int = 1000):
        super().__init__()
        self.patch_embed = PatchEmbed(patch, dim)
        n = (img // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


@torch.no_grad()
def _randomize(model: nn.Module, seed: int) -> None:
    """timm-like init: truncated-normal-ish (std 0.02) weights, small random biases and norms."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if p.dim() > 1 or name.endswith(("cls_token", "pos_embed")):
            p.copy_(0.02 * torch.randn(p.shape, generator=g).clamp_(-2, 2))
        elif name.endswith("weight"):  # LayerNorm gain
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
        else:
            p.copy_(0.02 * torch.randn(p.shape, generator=g))


def vit_tiny(num_classes: int = 1000, seed: int = 0) -> VisionTransformer:
    """ViT-tiny/16 at 224x224 in eval mode with deterministic random weights."""
    model = VisionTransformer(num_classes=num_classes)
    _randomize(model, seed)
    return model.eval()


def export_vit_tiny_onnx(path, seed: int = 0, opset: int = 17) -> Path:
    """Export :func:`vit_tiny` to ONNX: input ``input`` [1,3,224,224], output ``logits`` [1,1000]."""
    from ._onnx_export import export_onnx

    model = vit_tiny(seed=seed)
    example = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed))
    return export_onnx(model, (example,), path, input_names=["input"], output_names=["logits"], opset=opset)
