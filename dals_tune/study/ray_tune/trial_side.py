"""The trial's side of Ray Tune: what the trainable in ``trainables/`` calls."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray
from ray import tune

from dals_tune.trial import TrialSpec

RERUN_KEY = "run"  # the key a seed re-run's fixed config arrives under (a grid point)


def report_epoch(metrics: dict[str, Any], checkpoint_folder: Path) -> None:
    """Hand one epoch to Tune; Tune copies the folder into the trial's storage."""
    tune.report(
        {**metrics, "node_id": ray.get_runtime_context().get_node_id()},
        checkpoint=tune.Checkpoint.from_directory(str(checkpoint_folder)),
    )


@contextlib.contextmanager
def resume_checkpoint() -> Iterator[Path | None]:
    """The folder of the trial's latest checkpoint when Tune restarts or restores it."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as folder:
        yield Path(folder)


def trial_spec(config: dict[str, Any]) -> TrialSpec:
    """The trial contract of what Tune hands a trial: a seed re-run's fixed config arrives
    whole under ``run`` (one grid point), and a
    joint Optuna study adds its own names of the sampled values (``"dals.lr"``) beside the
    plain keys; both are unpacked here, where those shapes are made."""
    plain = {key: value for key, value in config.items() if key != RERUN_KEY and "." not in key}
    return TrialSpec.from_config({**plain, **config.get(RERUN_KEY, {})})
