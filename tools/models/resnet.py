"""ResNet-18 written out by hand (torchvision's architecture, no torchvision import).

torchvision from PyPI is a CUDA build that does not import beside the CPU
torch we pin, so the architecture is reproduced here.  Module and parameter
names match torchvision's ``resnet18`` (``conv1``, ``layer1.0.bn2``,
``layer2.0.downsample.0``, ``fc`` ...), so its state dicts load unchanged.

Weights are random from a fixed seed, drawn from a private generator (the
global torch RNG is left alone).  BatchNorm statistics and affine parameters
are randomised too -- with the default mean 0 / var 1 / gamma 1 / beta 0 a
BN-folding bug would go unnoticed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN stages plus identity (or 1x1 conv-BN projection) shortcut."""

    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet with BasicBlock: stem, four stages, global pool, fc."""

    def __init__(self, layers=(2, 2, 2, 2), num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        for i, (width, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            stride = 1 if i == 1 else 2
            stage = [BasicBlock(cin, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*stage))
            cin = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@torch.no_grad()
def _randomize(model: nn.Module, seed: int) -> None:
    """torchvision's init (Kaiming fan_out convs) plus random, well-scaled BN state."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.copy_(1.0 + 0.1 * torch.randn(n, generator=g))
            m.bias.copy_(0.1 * torch.randn(n, generator=g))
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.in_features ** 0.5
            m.weight.copy_((torch.rand(m.weight.shape, generator=g) * 2 - 1) * bound)
            m.bias.copy_((torch.rand(m.bias.shape, generator=g) * 2 - 1) * bound)


def resnet18(num_classes: int = 1000, seed: int = 0) -> ResNet:
    """ResNet-18 in eval mode with deterministic random weights."""
    model = ResNet((2, 2, 2, 2), num_classes)
    _randomize(model, seed)
    return model.eval()


def export_resnet18_onnx(path, seed: int = 0, opset: int = 17) -> Path:
    """Export :func:`resnet18` to ONNX: input ``input`` [1,3,224,224], output ``logits`` [1,1000].

    The exporter runs in eval mode, so BatchNorm is folded into the preceding
    convolutions (as in any real ResNet export).
    """
    from ._onnx_export import export_onnx

    model = resnet18(seed=seed)
    example = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed))
    return export_onnx(model, (example,), path, input_names=["input"],
                       output_names=["logits"], opset=opset)
