"""Default hyperparameters per regime ("scratch", "finetune"), shared by families of records.

Every helper returns ``{"scratch": {...}, "finetune": {...}}`` with the same keys in both, as
:func:`dals_tune.strategies.registry.register` requires.
"""

from __future__ import annotations

from typing import Any

FINETUNE_ADAM_LR = 5e-5
FINETUNE_SGD_DIVISOR = 20  # fixed_sgd: lr 0.01 from scratch, 5e-4 fine-tuning


def both_regimes(scratch: dict[str, Any], **finetune: Any) -> dict[str, dict[str, Any]]:
    """Both regimes: the scratch defaults, and the same with the fine-tuning changes."""
    unknown = set(finetune) - set(scratch)
    if unknown:
        raise ValueError(f"fine-tuning defaults {sorted(unknown)} are not scratch defaults")
    return {"scratch": dict(scratch), "finetune": {**scratch, **finetune}}


def sgd_defaults(lr: float, **extra: Any) -> dict[str, dict[str, Any]]:
    """SGD momentum 0.9, wd 5e-4; fine-tuning divides the LR by 20."""
    scratch = {"lr": lr, "momentum": 0.9, "weight_decay": 5e-4, **extra}
    return both_regimes(scratch, lr=lr / FINETUNE_SGD_DIVISOR)


def adam_defaults(
    lr: float = 3e-4,
    weight_decay: float = 0.0,
    finetune_lr: float = FINETUNE_ADAM_LR,
    **extra: Any,
) -> dict[str, dict[str, Any]]:
    """Adam-type betas (0.9, 0.999), eps 1e-8; fine-tuning LR 5e-5 unless given."""
    scratch = {"lr": lr, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": weight_decay}
    return both_regimes({**scratch, **extra}, lr=finetune_lr)


def dals_defaults(**changes: Any) -> dict[str, dict[str, Any]]:
    """DESIGN §3's defaults with a variant's changes; fine-tuning wd 0.01, warmup_frac 0.10."""
    scratch = {
        "lr": 0.03,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "warmup_frac": 0.05,
        "tau_hi": 0.01,
        "tau_lo": 0.002,
        "depth_decay": 1.0,
        "alpha0": 0.6,
        "grokfast_lambda": 0.0,
        "blend_lo": 0.3,
        "blend_hi": 0.7,
        "trust_coefficient": 0.02,
        "trust_min": 0.2,
        "trust_max": 5.0,
        "bypass_filter_in_explore": False,
        **changes,
    }
    if "restart_epochs" in scratch:  # DALS-Acc restarts without warmup
        del scratch["warmup_frac"]
        return both_regimes(scratch, weight_decay=0.01)
    return both_regimes(scratch, weight_decay=0.01, warmup_frac=0.10)
