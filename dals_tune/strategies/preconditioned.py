"""The builders of the matrix-aware optimizers: Muon (orthogonalized momentum on the hidden
weight matrices), SOAP and Shampoo (Kronecker-factored preconditioners), all from
pytorch-optimizer.

Muon's special case is its parameter split, which :func:`muon_groups` makes from the depth
mapping: only matrices of the hidden layers are orthogonalized; the input and output layers
(embeddings, heads) and every tensor that is not a matrix (biases, norms) take AdamW.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from dals_tune.layers import LayerMapping, layers_of
from dals_tune.precision import native_bf16
from dals_tune.strategies.param_groups import trainable_parameters
from dals_tune.strategies.registry import BuildContext, Built

MUON_GROUP_NAME, ADAMW_GROUP_NAME = "hidden matrices (muon)", "the rest (adamw)"


def muon_groups(
    model: nn.Module, mapping: LayerMapping | None = None
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(hidden matrices, the rest) of ``model``'s trainable parameters. A parameter of two or
    more dimensions in a layer between the first and the last one of the depth mapping is a
    hidden matrix; convolution kernels count, as flattened matrices."""
    layers = layers_of(model, mapping)
    hidden, rest = [], []
    for layer in layers:
        inner = 0 < layer.index < layer.num_layers - 1
        for parameter in layer.parameters:
            if parameter.requires_grad:
                (hidden if inner and parameter.ndim >= 2 else rest).append(parameter)
    if not hidden and not rest:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    return hidden, rest


def newton_schulz_dtype(device: torch.device) -> torch.dtype:
    """bf16, the libraries' choice for the Newton–Schulz iteration, where matrix products run
    natively in it (GPUs; CPUs with AVX-512-BF16 or AMX); fp32 on a CPU that emulates bf16,
    where a bf16 product is tens of times slower (256×256 on an AVX2 CPU: 15 ms, fp32 0.4 ms).
    Native bf16 is detected in one place, :func:`dals_tune.precision.native_bf16`."""
    if device.type != "cpu" or native_bf16(device):
        return torch.bfloat16
    return torch.float32


@functools.cache
def muon_class() -> type:
    """pytorch-optimizer's Muon, orthogonalizing in :func:`newton_schulz_dtype`: the library
    fixes bf16, which would make Muon a hundred times slower than AdamW on a laptop's CPU.
    Defined once, on first use, so that the library is imported only by a study that uses it."""
    from pytorch_optimizer import Muon
    from pytorch_optimizer.optimizer.utils.matrix import zero_power_via_newton_schulz_5

    class DeviceAwareMuon(Muon):
        @staticmethod
        def _orthogonalize(group: dict[str, Any], updates: list[torch.Tensor]) -> list:
            dtype = newton_schulz_dtype(updates[0].device)
            if dtype == torch.bfloat16:
                return Muon._orthogonalize(group, updates)
            return [
                zero_power_via_newton_schulz_5(
                    update.reshape(update.size(0), -1),
                    num_steps=group["ns_steps"],
                    weights=group["ns_coeffs"],
                    dtype=dtype,
                )
                for update in updates
            ]

    return DeviceAwareMuon


def build_muon(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Muon on the hidden matrices (Nesterov momentum, 5 Newton–Schulz steps), AdamW on the
    rest, with one LR and weight decay for both. The AdamW-matched RMS scaling (Moonlight's
    ``use_adjusted_lr``) multiplies the orthogonalized update of an m×n matrix by
    0.2·sqrt(max(m, n)), which gives it AdamW's update RMS: AdamW's LR and weight decay carry
    over."""
    hidden, rest = muon_groups(model, context.layer_mapping)
    shared = {"lr": c["lr"], "weight_decay": c["weight_decay"], "cautious": c["cautious"]}
    groups = []
    if hidden:
        groups.append({"params": hidden, "use_muon": True, "layer_name": MUON_GROUP_NAME, **shared})
    if rest:
        adamw = {"betas": (c["beta1"], c["beta2"]), "eps": c["eps"]}
        groups.append(
            {"params": rest, "use_muon": False, "layer_name": ADAMW_GROUP_NAME, **adamw, **shared}
        )
    optimizer = muon_class()(groups, momentum=c["momentum"], nesterov=True, use_adjusted_lr=True)
    return optimizer, None


def build_soap(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """SOAP: Adam run in the eigenbasis of Shampoo's preconditioner, refreshed every
    ``precondition_frequency`` steps."""
    from pytorch_optimizer import SOAP

    optimizer = SOAP(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
        precondition_frequency=c["precondition_frequency"],
        eps=c["eps"],
    )
    return optimizer, None


def build_shampoo(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Blocked Shampoo (the scalable version) with RMSProp grafting: each block's update takes
    Shampoo's direction and the size of an Adam-style (RMSProp with momentum) update; the
    inverse roots are recomputed every ``precondition_frequency`` steps."""
    from pytorch_optimizer import ScalableShampoo
    from pytorch_optimizer.optimizer.utils.graft import LayerWiseGrafting

    frequency = c["precondition_frequency"]
    optimizer = ScalableShampoo(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
        decoupled_weight_decay=True,
        start_preconditioning_step=frequency,
        preconditioning_compute_steps=frequency,
        block_size=c["block_size"],
        graft_type=LayerWiseGrafting.RMSPROP,
    )
    return optimizer, None
