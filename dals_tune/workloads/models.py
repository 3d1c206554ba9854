"""The from-scratch models of DESIGN §6: MLPs and the CIFAR-10 ConvNets.

They are ``nn.Sequential`` stacks (or torchvision's ResNet) so that the default depth
mapping of :mod:`dals_tune.layers`, the model's top-level children in order, gives one
layer per weight-bearing block from input to output.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """``mlp([20, 256, 256, 256, 2])``: Linear layers with ReLU between them."""
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs an input and an output size, got {list(sizes)}")
    modules: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        modules.append(nn.Linear(fan_in, fan_out))
        if index < len(sizes) - 2:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


class SmallConvNet(nn.Sequential):
    """Three 3×3 conv blocks (32, 64, 128 channels, each ReLU + 2×2 max-pool, so 32 → 4
    pixels) and an MLP head 2048 → 256 → classes: five layers for the depth mapping."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(3, 32, kernel_size=3, padding=1)),
                    ("relu1", nn.ReLU()),
                    ("pool1", nn.MaxPool2d(2)),
                    ("conv2", nn.Conv2d(32, 64, kernel_size=3, padding=1)),
                    ("relu2", nn.ReLU()),
                    ("pool2", nn.MaxPool2d(2)),
                    ("conv3", nn.Conv2d(64, 128, kernel_size=3, padding=1)),
                    ("relu3", nn.ReLU()),
                    ("pool3", nn.MaxPool2d(2)),
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(128 * 4 * 4, 256)),
                    ("relu4", nn.ReLU()),
                    ("fc2", nn.Linear(256, num_classes)),
                ]
            )
        )


def resnet18(num_classes: int = 10) -> nn.Module:
    """torchvision's ResNet-18, randomly initialized (no download)."""
    from torchvision.models import resnet18 as torchvision_resnet18

    return torchvision_resnet18(weights=None, num_classes=num_classes)
