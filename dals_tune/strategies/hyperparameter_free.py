"""The builders of the optimizers that estimate their own step size or need no schedule:
Prodigy, D-Adaptation, DoG and COCOB (hyperparameter-free), and the schedule-free family.

Schedule-free optimizers (and Prodigy schedule-free) train at one point and evaluate at an
average of the iterates; their records set ``has_train_eval_modes``, and the training loop
switches them with ``optimizer.train()``/``optimizer.eval()``.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from torch import nn
from torch.optim import Optimizer

from dals_tune.strategies.builders import warmup_steps
from dals_tune.strategies.param_groups import trainable_parameters
from dals_tune.strategies.registry import BuildContext, Built


def _quiet() -> contextlib.AbstractContextManager:
    """Prodigy, D-Adaptation and Prodigy-plus print a notice when built; it would break
    progress bars."""
    return contextlib.redirect_stdout(io.StringIO())


def keep_state_dtypes(optimizer: Optimizer) -> Optimizer:
    """Make ``load_state_dict`` give each state tensor back the dtype it was saved in. torch
    casts every floating state tensor to its parameter's dtype on loading; Prodigy-plus keeps
    its initial-weight sketch (``p0``, ``s``) in bf16 to save memory, and a resumed run that
    computed with fp32 copies would drift from the uninterrupted one."""
    saved: dict[tuple[int, str], object] = {}

    def remember(_: Optimizer, state_dict: dict) -> None:
        saved.clear()
        for index, state in state_dict["state"].items():
            for key, value in state.items():
                if hasattr(value, "dtype"):
                    saved[(index, key)] = value.dtype

    def restore(loaded: Optimizer) -> None:
        params = [p for group in loaded.param_groups for p in group["params"]]
        for (index, key), dtype in saved.items():
            state = loaded.state[params[index]]
            state[key] = state[key].to(dtype)

    optimizer.register_load_state_dict_pre_hook(remember)
    optimizer.register_load_state_dict_post_hook(restore)
    return optimizer


# --- step sizes estimated on the fly ------------------------------------------------------


def build_prodigy(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from prodigyopt import Prodigy

    with _quiet():
        optimizer = Prodigy(
            trainable_parameters(model),
            lr=c["lr"],
            betas=(c["beta1"], c["beta2"]),
            weight_decay=c["weight_decay"],
            d_coef=c["d_coef"],
            safeguard_warmup=c["safeguard_warmup"],
        )
    return optimizer, None


def build_dadapt_adam(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from dadaptation import DAdaptAdam

    with _quiet():
        optimizer = DAdaptAdam(
            trainable_parameters(model),
            lr=c["lr"],
            betas=(c["beta1"], c["beta2"]),
            weight_decay=c["weight_decay"],
            decouple=True,
        )
    return optimizer, None


def build_dog(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """DoG: SGD with η_t = lr · max_{i≤t}‖x_i − x_0‖ / sqrt(Σ_{i≤t}‖g_i‖²), the first
    distance being reps_rel·(1 + ‖x_0‖)."""
    from dog import DoG

    optimizer = DoG(
        trainable_parameters(model),
        lr=c["lr"],
        reps_rel=c["reps_rel"],
        weight_decay=c["weight_decay"],
    )
    return optimizer, None


def build_cocob(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """COCOB-Backprop: each coordinate bets a fraction of the wealth it has won from the
    gradients so far; ``cocob_alpha`` caps the first bets (about that many warm-up steps)."""
    from parameterfree import COCOB

    optimizer = COCOB(
        trainable_parameters(model), alpha=c["cocob_alpha"], weight_decay=c["weight_decay"]
    )
    return optimizer, None


# --- schedule-free ------------------------------------------------------------------------


def build_schedulefree_adamw(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from schedulefree import AdamWScheduleFree

    optimizer = AdamWScheduleFree(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
        warmup_steps=round(warmup_steps(c, context)),
    )
    return optimizer, None


def build_schedulefree_sgd(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from schedulefree import SGDScheduleFree

    optimizer = SGDScheduleFree(
        trainable_parameters(model),
        lr=c["lr"],
        momentum=c["momentum"],
        weight_decay=c["weight_decay"],
        warmup_steps=round(warmup_steps(c, context)),
    )
    return optimizer, None


def build_schedulefree_radam(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Schedule-free RAdam: RAdam's rectification stands in for the warmup, so it has none."""
    from schedulefree import RAdamScheduleFree

    optimizer = RAdamScheduleFree(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
    )
    return optimizer, None


def build_prodigy_schedulefree(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Prodigy's step-size estimate with schedule-free averaging (prodigy-plus-schedule-free),
    with the package's other defaults (factored second moments, StableAdamW clipping)."""
    from prodigyplus import ProdigyPlusScheduleFree

    with _quiet():
        optimizer = ProdigyPlusScheduleFree(
            trainable_parameters(model),
            lr=c["lr"],
            betas=(c["beta1"], c["beta2"]),
            weight_decay=c["weight_decay"],
            d_coef=c["d_coef"],
            use_cautious=c["cautious"],
        )
    return keep_state_dtypes(optimizer), None
