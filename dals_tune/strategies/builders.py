"""The builders: one function per strategy or family, ``(model, config, context) ->
(optimizer, scheduler or None)``, and the few optimizer constructors they share.

A strategy's special case (SGDR's epoch-based cycle, DALS-Acc's restarts) lives in its
builder, or, when it has more than a builder (refined), in a module of its own;
:mod:`dals_tune.strategies.catalog` says which builder each id uses with which defaults.
Optional libraries are imported inside the builder that needs them. Builders check nothing:
:func:`~dals_tune.strategies.build` has checked the config against :mod:`.bounds` first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from dals_tune.schedules import EpochStepped, Scaled, SlantedTriangular, WarmupLinearDecay
from dals_tune.strategies.param_groups import (
    discriminative_groups,
    layerwise_groups,
    trainable_parameters,
)
from dals_tune.strategies.registry import BuildContext, Builder, Built

# --- optimizers shared by several builders ------------------------------------------------


def sgd_optimizer(params: Any, c: dict[str, Any]) -> Optimizer:
    return torch.optim.SGD(
        params, lr=c["lr"], momentum=c["momentum"], weight_decay=c["weight_decay"], foreach=True
    )


def adam_family_optimizer(
    optimizer_class: type[Optimizer], params: Any, c: dict[str, Any]
) -> Optimizer:
    """torch's Adam, AdamW or RAdam from the shared hyperparameter names."""
    return optimizer_class(
        params,
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        eps=c.get("eps", 1e-8),
        weight_decay=c["weight_decay"],
        foreach=True,
    )


def adamw_optimizer(params: Any, c: dict[str, Any]) -> Optimizer:
    return adam_family_optimizer(torch.optim.AdamW, params, c)


def sam_optimizer(params: Any, c: dict[str, Any]) -> Optimizer:
    """Adaptive SAM (ASAM) over SGD: perturb by ε = ρ·θ²⊙g/‖θ⊙g‖, take the gradient there,
    step from the original weights."""
    from pytorch_optimizer import SAM

    return SAM(
        params,
        base_optimizer=torch.optim.SGD,
        rho=c["rho"],
        adaptive=True,
        lr=c["lr"],
        momentum=c["momentum"],
        weight_decay=c["weight_decay"],
    )


def warmup_steps(c: dict[str, Any], context: BuildContext) -> float:
    return c["warmup_frac"] * context.total_steps


# --- SGD and AdamW with an LR schedule ----------------------------------------------------


def build_fixed_sgd(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    return sgd_optimizer(trainable_parameters(model), c), None


def build_cosine_sgd(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """η_t = η_min + (η0 − η_min)·½(1 + cos(π t/T)) (torch CosineAnnealingLR)."""
    optimizer = sgd_optimizer(trainable_parameters(model), c)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=context.total_steps, eta_min=c["eta_min"]
    )
    return optimizer, scheduler


def build_sgdr(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Warm restarts (torch CosineAnnealingWarmRestarts): first cycle ``first_cycle_epochs``
    epochs of steps, each next cycle ``cycle_mult`` times longer, floor ``eta_min``."""
    optimizer = sgd_optimizer(trainable_parameters(model), c)
    first_cycle = max(1, round(c["first_cycle_epochs"] * context.steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=first_cycle, T_mult=int(c["cycle_mult"]), eta_min=c["eta_min"]
    )
    return optimizer, scheduler


def build_linear_decay(make: Callable[[Any, dict[str, Any]], Optimizer]) -> Builder:
    def builder(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
        optimizer = make(trainable_parameters(model), c)
        schedule = WarmupLinearDecay(context.total_steps, warmup_steps(c, context))
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    return builder


def build_onecycle(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Smith's one-cycle policy (torch OneCycleLR): LR from lr/div_factor up to lr over
    pct_start of the run, then cosine down to lr/(div_factor·final_div_factor), with the
    momentum cycled the other way, from max_momentum down to base_momentum and back."""
    optimizer = sgd_optimizer(trainable_parameters(model), {**c, "momentum": c["max_momentum"]})
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=c["lr"],
        total_steps=context.total_steps,
        pct_start=c["pct_start"],
        div_factor=c["div_factor"],
        final_div_factor=c["final_div_factor"],
        base_momentum=c["base_momentum"],
        max_momentum=c["max_momentum"],
    )
    return optimizer, scheduler


def build_wsd(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Warmup–stable–decay over AdamW (pytorch-optimizer get_wsd_schedule): linear warmup
    over warmup_frac·T, constant, then the last decay_frac·T steps cool down to 0."""
    from pytorch_optimizer import get_wsd_schedule

    optimizer = adamw_optimizer(trainable_parameters(model), c)
    total = context.total_steps
    warmup = round(c["warmup_frac"] * total)
    # warmup_frac + decay_frac ≤ 1 (bounds.CONSTRAINTS); rounding both up must not overrun.
    decay = min(round(c["decay_frac"] * total), total - warmup)
    scheduler = get_wsd_schedule(
        optimizer,
        num_warmup_steps=warmup,
        num_stable_steps=total - warmup - decay,
        num_decay_steps=decay,
        cooldown_type=c["cooldown"],
    )
    return optimizer, scheduler


# --- adaptive optimizers ------------------------------------------------------------------


def build_adam(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    return adam_family_optimizer(torch.optim.Adam, trainable_parameters(model), c), None


def build_adamw(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    return adamw_optimizer(trainable_parameters(model), c), None


def build_radam(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    return adam_family_optimizer(torch.optim.RAdam, trainable_parameters(model), c), None


def build_adabound(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import AdaBound

    optimizer = AdaBound(
        trainable_parameters(model),
        lr=c["lr"],
        final_lr=c["final_lr"],
        gamma=c["gamma"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
    )
    return optimizer, None


def build_lion(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import Lion

    optimizer = Lion(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
        cautious=c["cautious"],
    )
    return optimizer, None


def build_lookahead_adamw(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import Lookahead

    inner = adamw_optimizer(trainable_parameters(model), c)
    return Lookahead(inner, k=c["lookahead_k"], alpha=c["lookahead_alpha"]), None


def build_ademamix(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """AdEMAMix: Adam's update plus ``ademamix_alpha`` times a second, slow momentum (β3).
    α and β3 are warmed up over the whole run (the paper's T_α = T_β3 = T), so the slow
    momentum, which would otherwise dominate the first steps, grows in as it fills."""
    from pytorch_optimizer import AdEMAMix

    optimizer = AdEMAMix(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"], c["beta3"]),
        alpha=c["ademamix_alpha"],
        t_alpha_beta3=context.total_steps,
        weight_decay=c["weight_decay"],
        weight_decouple=True,
        eps=c["eps"],
        cautious=c["cautious"],
    )
    return optimizer, None


def build_mars(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """MARS-AdamW: AdamW on a variance-reduced gradient, g_t + γ·β1/(1−β1)·(g_t − g_{t−1})
    (γ = ``mars_gamma``), for the matrices; vectors (biases, norms) take plain AdamW with the
    same LR, betas and decoupled weight decay, as in the paper."""
    from pytorch_optimizer import MARS

    optimizer = MARS(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        gamma=c["mars_gamma"],
        mars_type="adamw",
        optimize_1d=False,
        weight_decay=c["weight_decay"],
        weight_decay_1d=c["weight_decay"],
        lr_1d=c["lr"],
        betas_1d=(c["beta1"], c["beta2"]),
        eps=c["eps"],
        cautious=c["cautious"],
    )
    return optimizer, None


def build_adopt(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """ADOPT: the gradient is normalized by the second moment of the *previous* steps before
    it enters the momentum, which makes β2 = 0.9999 converge without Adam's bias."""
    from pytorch_optimizer import ADOPT

    optimizer = ADOPT(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
        weight_decouple=True,
        eps=c["eps"],
        cautious=c["cautious"],
    )
    return optimizer, None


# --- layer-wise: per-tensor trust ratios and per-layer LR splits --------------------------


def build_lars(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import LARS

    optimizer = LARS(
        trainable_parameters(model),
        lr=c["lr"],
        momentum=c["momentum"],
        weight_decay=c["weight_decay"],
        trust_coefficient=c["trust_coefficient"],
    )
    return optimizer, None


def build_lamb(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import Lamb

    optimizer = Lamb(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
        eps=c["eps"],
    )
    return optimizer, None


def build_discriminative(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    groups = discriminative_groups(model, c["lr"], c["layer_divisor"], context.layer_mapping)
    return sgd_optimizer(groups, c), None


def build_stlr_discriminative(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """The discriminative split as each group's base LR, once, and the slanted triangular
    multiplier on top: lr_l(t) = lr·2.6^−(L−1−l)·s_STLR(t)."""
    groups = discriminative_groups(model, c["lr"], c["layer_divisor"], context.layer_mapping)
    optimizer = sgd_optimizer(groups, c)
    schedule = SlantedTriangular(context.total_steps, c["cut_frac"], c["ratio"])
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def build_stlr_discriminative_paper(
    model: nn.Module, c: dict[str, Any], context: BuildContext
) -> Built:
    """The DALS paper code's STLR + discriminative, defect included, so that a study can set
    it beside the correct ``stlr_discriminative``. The code divides each group's base LR by
    2.6^(L−1−l) and then gives the scheduler a per-group lambda that divides by it again,
    and it steps that scheduler once per epoch. With E = max(1, ⌊T/N⌋) epochs of N steps:

        lr_l(t) = lr · 2.6^−2(L−1−l) · s_STLR,E(⌊t/N⌋)

    The STLR runs over E epochs, so cut = ⌊E·cut_frac⌋ is 0 for fewer than 1/cut_frac
    epochs; SlantedTriangular takes it as 1 (no division by zero): the first epoch is at
    1/ratio, the second at the peak, and the fall, cut·(1/cut_frac − 1) epochs long, is
    longer than such a run (one epoch: the whole run at 1/ratio)."""
    groups = discriminative_groups(model, c["lr"], c["layer_divisor"], context.layer_mapping)
    optimizer = sgd_optimizer(groups, c)
    epochs = max(1, context.total_steps // context.steps_per_epoch)
    per_epoch = EpochStepped(
        SlantedTriangular(epochs, c["cut_frac"], c["ratio"]), context.steps_per_epoch
    )
    lambdas = [Scaled(per_epoch, c["layer_divisor"] ** -g["layers_above"]) for g in groups]
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


def build_llrd_adamw(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Layer-wise LR decay: lr_l = lr·decay^(L−1−l) over AdamW."""
    groups = layerwise_groups(model, c["lr"], c["layer_decay"], context.layer_mapping)
    return adamw_optimizer(groups, c), None


# --- sharpness-aware and gradient-filtered ------------------------------------------------


def build_sam(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    return sam_optimizer(trainable_parameters(model), c), None


def build_sam_discriminative(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    groups = discriminative_groups(model, c["lr"], c["layer_divisor"], context.layer_mapping)
    return sam_optimizer(groups, c), None


def build_grokfast(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from dals_tune.optim.grokfast import GrokfastFilter

    base = sgd_optimizer(trainable_parameters(model), c)
    return GrokfastFilter(base, alpha=c["grokfast_alpha"], lamb=c["grokfast_lambda"]), None


# --- DALS ---------------------------------------------------------------------------------


def build_dals(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """DALS and its variants; the schedule lives inside the optimizer, so no scheduler.
    ``restart_epochs`` (DALS-Acc) becomes ``restart_steps`` = restart_epochs·steps per epoch."""
    from dals_tune.optim import DALS

    c = dict(c)
    if "restart_epochs" in c:
        c["restart_steps"] = max(1, round(c.pop("restart_epochs") * context.steps_per_epoch))
    optimizer = DALS(
        model, total_steps=context.total_steps, layer_mapping=context.layer_mapping, **c
    )
    return optimizer, None
