"""A finished trial as the driver sees it, whatever ran it.

The Ray layer (:mod:`dals_tune.study.ray_tune`) turns each Tune trial into a
:class:`TrialOutcome` at its boundary: the strategy, its hyperparameters and the seed read
from Tune's config, the epochs it reported, the error it raised. What the trial *means* is
the driver's to decide, here: :func:`judged` names its status (completed, pruned, diverged
or errored) from its epochs and the study's budget, and :func:`best_outcome` picks the trial
to re-run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from dals_tune.objective import Objective

STATUSES = ("completed", "pruned", "diverged", "errored")


@dataclass(frozen=True)
class TrialOutcome:
    """One finished trial: ``kind`` is "trial" (a search trial) or "rerun" (a seed re-run);
    ``status`` is None until the driver has :func:`judged` it. ``started_at``/``ended_at``:
    when it ran, in seconds since the epoch (None when unknown), for the record's times."""

    trial_id: str
    kind: str
    strategy: str
    hyperparameters: dict[str, Any]
    seed: int
    epochs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    node_id: str | None = None
    status: str | None = None
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def seconds(self) -> float:
        """The trial's own wall time (Tune's ``time_total_s``), across restarts."""
        return float(self.epochs[-1].get("time_total_s", 0.0)) if self.epochs else 0.0

    def best_value(self, objective: Objective) -> float:
        """The best validation value the trial reached, in the metric's direction (its
        worst value when it reached none: a diverged first epoch)."""
        values = [e.get(objective.best_key, e.get(objective.val_key)) for e in self.epochs]
        best = objective.best_of(values)
        return objective.diverged_value if best is None else best


def judged(outcome: TrialOutcome, planned_epochs: int) -> TrialOutcome:
    """The outcome with its status: errored (it raised, or never reported), diverged (its
    last epoch says so), completed (it ran ``planned_epochs``) or pruned (a scheduler stopped
    it early)."""
    if outcome.error is not None or not outcome.epochs:
        status = "errored"
    elif outcome.epochs[-1].get("status") == "diverged":
        status = "diverged"
    elif int(outcome.epochs[-1].get("epoch", 0)) >= planned_epochs:
        status = "completed"
    else:
        status = "pruned"
    return dataclasses.replace(outcome, status=status)


def best_outcome(outcomes: list[TrialOutcome], objective: Objective) -> TrialOutcome | None:
    """The trial to re-run: the best validation value among trials that ran to the end,
    else among those ASHA stopped early; never a diverged or errored one."""
    for statuses in (("completed",), ("pruned",)):
        usable = [o for o in outcomes if o.status in statuses and o.epochs]
        if usable:
            return max(usable, key=lambda o: objective.score(o.best_value(objective)))
    return None


def default_inside(space: Any) -> bool:
    """Whether the strategy's default configuration lies in its (possibly narrowed) space;
    a space file that excludes it means the user does not want it tried."""
    if not space.parameters:
        return False
    for parameter in space.parameters:
        value = space.defaults[parameter.name]
        if parameter.distribution == "categorical":
            if value not in parameter.choices:
                return False
        elif not parameter.low <= value <= parameter.high:
            return False
    return True


def is_default(outcome: TrialOutcome, space: Any) -> bool:
    """Whether the trial ran its strategy's default configuration."""
    if space is None or not space.parameters:
        return space is not None
    if not default_inside(space):
        return False
    point = space.default_point()
    return all(same_value(outcome.hyperparameters.get(name), v) for name, v in point.items())


def same_value(a: Any, b: Any) -> bool:
    """Whether two hyperparameter values are the same setting: numbers equal to 1e-9
    relative (a value read back from text, or from JSON), anything else equal."""
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b
