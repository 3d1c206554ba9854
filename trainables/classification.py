"""The Ray Tune function trainable for every classification workload.

It only wires Tune to :func:`dals_tune.training.train`: the trial contract is read from
Tune's config at the Ray boundary, the workload and the strategy are built by the trainer,
and each epoch comes back through ``report_epoch``.
"""

from __future__ import annotations

from typing import Any

from dals_tune.study import ray_tune
from dals_tune.training import train


def classification_trainable(config: dict[str, Any]) -> None:
    with ray_tune.resume_checkpoint() as folder:
        train(ray_tune.trial_spec(config), report=ray_tune.report_epoch, resume_from=folder)
