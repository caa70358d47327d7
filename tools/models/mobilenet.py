"""MobileNetV2 written out by hand (torchvision's architecture, no torchvision import).

torchvision does not import beside the CPU torch we pin, so the architecture
is reproduced here; module and parameter names match torchvision's
``mobilenet_v2`` (``features.0.0``, ``features.1.conv.0.0``, ``classifier.1``
...), so its state dicts load unchanged. Weights are random from a fixed seed
(a private generator), BatchNorm statistics included.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def _make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's channel rounding: to a multiple of 8, never down by more than 10%."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> ReLU6, torchvision's Conv2dNormActivation."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        pad = (kernel - 1) // 2
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depthwise, 1x1 linear projection; identity shortcut when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, kernel=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    # (expansion t, channels c, repeats n, first stride s), as in the paper and torchvision
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0):
        super().__init__()
        cin = _make_divisible(32 * width_mult)
        last = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNReLU(3, cin, stride=2)]
        for t, c, n, s in self.SETTINGS:
            cout = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        features.append(ConvBNReLU(cin, last, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


@torch.no_grad()
def _randomize(model: nn.Module, seed: int) -> None:
    """torchvision's init plus random, well-scaled BatchNorm state (a BN-folding bug must show)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", generator=g)
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.copy_(1.0 + 0.1 * torch.randn(n, generator=g))
            m.bias.copy_(0.1 * torch.randn(n, generator=g))
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
        elif isinstance(m, nn.Linear):
            m.weight.copy_(0.01 * torch.randn(m.weight.shape, generator=g))
            m.bias.zero_()


def mobilenet_v2(num_classes: int = 1000, seed: int = 0) -> MobileNetV2:
    """MobileNetV2 (width 1.0) in eval mode with deterministic random weights."""
    model = MobileNetV2(num_classes)
    _randomize(model, seed)
    return model.eval()


def export_mobilenet_v2_onnx(path, seed: int = 0, opset: int = 17) -> Path:
    """Export :func:`mobilenet_v2` to ONNX: input ``input`` [1,3,224,224], output ``logits`` [1,1000].

    In eval mode the exporter folds BatchNorm into the convolutions.
    """
    from ._onnx_export import export_onnx

    model = mobilenet_v2(seed=seed)
    example = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed))
    return export_onnx(model, (example,), path, input_names=["input"], output_names=["logits"], opset=opset)
