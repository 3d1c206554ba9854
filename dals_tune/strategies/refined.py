"""The ``refined`` strategy (DESIGN §4), all its special cases in one place: a previous run's
gradient norms turned into a schedule over SGD or AdamW.

- :data:`REFINED`, its id, for the few modules that must name it (the benchmark's pilot);
- :data:`REFINED_DEFAULTS` and :data:`REFINED_BASES`: ``None`` in ``lr``, ``weight_decay`` or
  ``grad_norm_kind`` means the base optimizer's default, which :func:`with_base_defaults` fills
  in (the record's ``fill_defaults``, so the search space has a value to search around);
- :data:`SOURCE_RUN_INPUTS`: it takes ``grad_norms`` from a finished run, not from a search
  (the record's ``source_run_inputs``, which :func:`dals_tune.strategies.supply_inputs` reads);
- :func:`build_refined`, its builder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from dals_tune.schedules import TabulatedSchedule, refined_schedule
from dals_tune.strategies.builders import adamw_optimizer, sgd_optimizer
from dals_tune.strategies.defaults import FINETUNE_ADAM_LR, FINETUNE_SGD_DIVISOR
from dals_tune.strategies.param_groups import trainable_parameters
from dals_tune.strategies.registry import BuildContext, Built, SourceRunInputs

REFINED = "refined"

# None means "the base optimizer's default" (REFINED_BASES).
REFINED_DEFAULTS = {
    "base": "sgd",
    "grad_norms": None,
    "grad_norm_kind": None,
    "lr": None,
    "weight_decay": None,
    "momentum": 0.9,
    "beta1": 0.9,
    "beta2": 0.999,
}

REFINED_BASES: dict[str, tuple[Callable[[Any, dict[str, Any]], Optimizer], dict]] = {
    "sgd": (
        sgd_optimizer,
        {
            "scratch": {"lr": 0.03, "weight_decay": 5e-4, "grad_norm_kind": "l2"},
            "finetune": {
                "lr": 0.03 / FINETUNE_SGD_DIVISOR,
                "weight_decay": 5e-4,
                "grad_norm_kind": "l2",
            },
        },
    ),
    "adamw": (
        adamw_optimizer,
        {
            "scratch": {"lr": 3e-4, "weight_decay": 0.01, "grad_norm_kind": "l1"},
            "finetune": {"lr": FINETUNE_ADAM_LR, "weight_decay": 0.01, "grad_norm_kind": "l1"},
        },
    ),
}


def with_base_defaults(config: dict[str, Any], regime: str) -> dict[str, Any]:
    """``config`` with each None that stands for the base optimizer's default replaced by it
    (SGD: lr 0.03, ℓ2 norms; AdamW: lr 3e-4, ℓ1 norms). An unknown base is left for the
    bounds check to name."""
    if config.get("base") not in REFINED_BASES:
        return dict(config)
    base_defaults = REFINED_BASES[config["base"]][1][regime]
    return {
        key: base_defaults[key] if value is None and key in base_defaults else value
        for key, value in config.items()
    }


def write_norms_file(path: Path, run_id: str, grad_norms: Sequence[float]) -> Path:
    """The file a refined study hands its trials: the source run's id and its per-step
    gradient norms (None where a step's norm was not finite: JSON has no NaN)."""
    norms = [value if math.isfinite(value) else None for value in grad_norms]
    path.write_text(json.dumps({"run_id": run_id, "grad_norms": norms}))
    return path


def read_norms_file(path: str | Path) -> list[float]:
    """The norms :func:`write_norms_file` wrote (NaN where a step's norm was not finite)."""
    try:
        norms = json.loads(Path(path).read_text())["grad_norms"]
        return [math.nan if value is None else float(value) for value in norms]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"cannot read the refined strategy's gradient norms from {path} ({error}); it is "
            "written by search --refine-from RUN_ID, start the study that way"
        ) from None


def _norms_from_file(path: str) -> dict[str, Any]:
    return {"grad_norms": read_norms_file(path)}


# The norms file `search --refine-from` hands every trial (the trial setting ``source_run_file``).
SOURCE_RUN_INPUTS = SourceRunInputs(names=("grad_norms",), read=_norms_from_file)


def build_refined(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """A previous run's gradient norms turned into a schedule (schedules.refined_schedule),
    times the peak LR, over SGD or AdamW (``base``, checked against the bounds table by
    :func:`~dals_tune.strategies.build`)."""
    if c["grad_norms"] is None:
        raise ValueError(
            f"the {REFINED!r} strategy needs grad_norms: the per-step gradient norms of a "
            "previous run of the same workload (a trial's grad_norms_l2, or grad_norms_l1 "
            "with grad_norm_kind='l1'); pass them as grad_norms=[...]"
        )
    c = with_base_defaults(c, context.regime)
    make = REFINED_BASES[c["base"]][0]
    optimizer = make(trainable_parameters(model), c)
    values = refined_schedule(c["grad_norms"], context.total_steps, c["grad_norm_kind"])
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, TabulatedSchedule(values))
