"""The Ray Tune function trainable for every classification workload.

It only wires Tune to :func:`dals_tune.training.train`: the trial contract is read from
Tune's config at the Ray boundary, the workload and the strategy are built by the trainer,
and each epoch comes back through ``report_epoch``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dals_tune.study import ray_tune
from dals_tune.training import train
from dals_tune.workloads.user_module import register


def classification_trainable(
    config: dict[str, Any], workload_functions: dict[str, Callable[..., Any]] | None = None
) -> None:
    """``workload_functions``: a user's build functions from the driver's script, by name."""
    for name, function in (workload_functions or {}).items():
        register(name, function)
    with ray_tune.resume_checkpoint() as folder:
        train(ray_tune.trial_spec(config), report=ray_tune.report_epoch, resume_from=folder)
