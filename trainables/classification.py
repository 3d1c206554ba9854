"""The Ray Tune function trainable for every classification workload.

It only wires Tune to :func:`dals_tune.training.train`: the workload and the strategy are
built there from ``config``, and each epoch comes back through ``report_epoch``.
"""

from __future__ import annotations

from typing import Any

from dals_tune import study
from dals_tune.training import train


def classification_trainable(config: dict[str, Any]) -> None:
    with study.resume_checkpoint() as folder:
        train(trial_config(config), report=study.report_epoch, resume_from=folder)


def trial_config(config: dict[str, Any]) -> dict[str, Any]:
    """The trainer's config from what Tune hands the trial: a seed re-run's fixed config
    arrives whole under ``run`` (one grid point), and a joint Optuna study adds its own names
    of the sampled values (``"dals.lr"``) beside the plain keys; both are unpacked here."""
    plain = {key: value for key, value in config.items() if key != "run" and "." not in key}
    return {**plain, **config.get("run", {})}
