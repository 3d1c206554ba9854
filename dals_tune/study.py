"""The only module that talks to Ray.

For now it holds the two calls a trial makes from inside Ray Tune: report an epoch with its
checkpoint, and find the checkpoint to resume from. Studies (Tuner, searchers, schedulers)
join them here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray import tune

if TYPE_CHECKING:
    from search_spaces import Space


def report_epoch(metrics: dict[str, Any], checkpoint_folder: Path) -> None:
    """Hand one epoch to Tune; Tune copies the folder into the trial's storage."""
    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint_folder)))


@contextlib.contextmanager
def resume_checkpoint() -> Iterator[Path | None]:
    """The folder of the trial's latest checkpoint when Tune restarts or restores it."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as folder:
        yield Path(folder)


def tune_param_space(space: Space) -> dict[str, Any]:
    """A Ray Tune ``param_space`` for one strategy's search space: ``tune.uniform`` /
    ``tune.loguniform`` for floats, ``tune.randint`` / ``tune.lograndint`` for ints (Ray's upper
    bound is exclusive, so ``high + 1``), ``tune.choice`` for categoricals, and the space's
    fixed values as constants. The portfolio-of-defaults point for ``points_to_evaluate`` is
    ``search_spaces.default_config``."""
    param_space: dict[str, Any] = {}
    for parameter in space.parameters:
        if parameter.distribution == "categorical":
            domain = tune.choice(list(parameter.choices))
        elif parameter.distribution == "int":
            sample = tune.lograndint if parameter.log else tune.randint
            domain = sample(int(parameter.low), int(parameter.high) + 1)
        else:
            sample = tune.loguniform if parameter.log else tune.uniform
            domain = sample(parameter.low, parameter.high)
        param_space[parameter.name] = domain
    param_space.update(space.fixed)
    return param_space
