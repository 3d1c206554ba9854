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
        train(config, report=study.report_epoch, resume_from=folder)
