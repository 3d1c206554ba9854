"""Which parameters a strategy trains, and the per-layer LR splits of the layer-wise ones."""

from __future__ import annotations

from typing import Any

from torch import nn

from dals_tune.layers import LayerMapping, depth_param_groups


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    return params


def layerwise_groups(
    model: nn.Module, top_lr: float, decay: float, mapping: LayerMapping | None = None
) -> list[dict[str, Any]]:
    """One group per layer with lr_l = top_lr · decay^(L−1−l): the output layer gets
    ``top_lr`` and each layer below ``decay`` times its upper neighbour's LR."""
    groups = depth_param_groups(model, mapping)
    for group in groups:
        group["lr"] = top_lr * decay ** group["layers_above"]
    return groups


def discriminative_groups(
    model: nn.Module, top_lr: float, divisor: float, mapping: LayerMapping | None = None
) -> list[dict[str, Any]]:
    """ULMFiT's discriminative fine-tuning split, lr_l = top_lr · divisor^−(L−1−l)
    (divisor 2.6: each layer gets the LR of the one above it ÷ 2.6)."""
    if divisor <= 0:
        raise ValueError(f"layer_divisor must be positive, got {divisor}")
    groups = depth_param_groups(model, mapping)
    for group in groups:
        group["lr"] = top_lr * divisor ** -group["layers_above"]
    return groups
