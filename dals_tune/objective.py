"""What a study optimises: the workload's metric, its direction and its target.

Every name a trial reports, a searcher reads and a report prints follows from the metric's
short name ``m``: ``val_m`` (each epoch's validation value: what Optuna and the schedulers
see, never the test split), ``test_m``, ``best_val_m`` (the best so far in the metric's
direction), ``test_m_at_best_val``, and the target in ``m``'s units; with ``--folds`` each
fold's own ``val_m_fold<k>`` and ``test_m_fold<k>`` beside them. Accuracy keeps its short
name ``acc``, so an accuracy workload reports ``val_acc``, ``best_val_acc`` and
``test_acc_at_best_val`` as it always has; a regression minimising RMSE reports ``val_rmse``
and ranks ascending.

Nothing heavy is imported here: the driver, the reports and the CLI read an objective
without loading torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dals_tune.tracking_tags import WINNER_VALUE_TAG

MODES = ("max", "min")
# The metric names a user may give, with the short name their keys are built from and
# their direction. A callable metric takes its short name from the function.
BUILT_IN_METRICS: dict[str, tuple[str, str]] = {
    "accuracy": ("acc", "max"),
    "loss": ("loss", "min"),
    "rmse": ("rmse", "min"),
}


@dataclass(frozen=True)
class Objective:
    """A metric's short name (``acc``, ``loss``, ``rmse``, or a user's), ``max`` or
    ``min``, and the validation value that counts as reached (None: no target)."""

    metric: str = "acc"
    mode: str = "max"
    target: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'max' or 'min', got {self.mode!r}")
        if not self.metric.isidentifier():
            raise ValueError(
                f"metric name {self.metric!r} must be a Python identifier (it names the "
                "metrics val_<name>, best_val_<name>...); give the function a plain name"
            )

    @property
    def full_name(self) -> str:
        """The metric as a user names it: ``accuracy`` for ``acc``, else its short name."""
        return next(
            (name for name, (short, _) in BUILT_IN_METRICS.items() if short == self.metric),
            self.metric,
        )

    @property
    def val_key(self) -> str:
        return f"val_{self.metric}"

    @property
    def test_key(self) -> str:
        return f"test_{self.metric}"

    @property
    def best_key(self) -> str:
        return f"best_val_{self.metric}"

    @property
    def test_at_best_key(self) -> str:
        return f"test_{self.metric}_at_best_val"

    def fold_key(self, key: str, fold: int) -> str:
        """Fold ``fold``'s own value of ``key`` beside the mean over folds (``--folds``):
        ``val_acc_fold0``."""
        return f"{key}_fold{fold}"

    @property
    def worst(self) -> float:
        """Worse than any value: where a best-so-far starts."""
        return -math.inf if self.mode == "max" else math.inf

    @property
    def diverged_value(self) -> float:
        """What a diverged epoch scores: zero accuracy, else the worst value there is."""
        return 0.0 if self.metric == "acc" else self.worst

    def better(self, value: float, than: float) -> bool:
        """Strictly better in the metric's direction."""
        return value > than if self.mode == "max" else value < than

    def best_of(self, values: Iterable[Any]) -> float | None:
        """The best finite value, or None when there is none."""
        finite = [float(v) for v in values if _finite(v)]
        if not finite:
            return None
        return max(finite) if self.mode == "max" else min(finite)

    def score(self, value: float) -> float:
        """The value turned so that higher is always better: a sort key, the sign that
        ranks a minimised metric ascending."""
        return value if self.mode == "max" else -value

    def reached(self, value: float) -> bool:
        """Whether a validation value reaches the target (at or beyond it)."""
        if self.target is None or not _finite(value):
            return False
        return value >= self.target if self.mode == "max" else value <= self.target

    @property
    def winner_key(self) -> str:
        """The parent run's tag for the winner's value: ``dals.winner_val_acc``."""
        return WINNER_VALUE_TAG.format(metric=self.metric)

    @property
    def winner_metric(self) -> str:
        """The parent run's metric for the winner's value: ``winner_val_acc``."""
        return self.winner_key.removeprefix("dals.")

    def describe(self) -> dict[str, Any]:
        """The objective as a study's parent run tags it (and :meth:`from_record` reads)."""
        return {"metric": self.metric, "metric_mode": self.mode, "target": self.target}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Objective:
        """Read back what :meth:`describe` wrote (a study's tags, a workload's facts); a
        record from before metrics had a direction is accuracy, maximised, with its
        ``target_accuracy``."""
        target = record.get("target", record.get("target_accuracy"))
        try:
            target = float(target) if target not in (None, "", "None") else None
        except (TypeError, ValueError):
            target = None
        metric = str(record.get("metric") or "acc")
        return cls(metric, str(record.get("metric_mode") or "max"), target)


ACCURACY = Objective()


def metric_name(metric: Any) -> tuple[str, str | None]:
    """A user's metric (a built-in name or a callable) → (short name, its direction when
    built in, else None: a callable's direction is the user's ``mode``)."""
    if isinstance(metric, str):
        if metric not in BUILT_IN_METRICS:
            choices = ", ".join(repr(name) for name in BUILT_IN_METRICS)
            raise ValueError(f"unknown metric {metric!r}; use {choices} or a callable")
        return BUILT_IN_METRICS[metric]
    if callable(metric):
        name = getattr(metric, "__name__", "")
        return (name if name.isidentifier() else "metric"), None
    raise ValueError(f"metric must be a name or a callable, got {type(metric).__name__}")


def reported_metric(metrics: Mapping[str, Any]) -> str:
    """The short name a trial's epoch metrics were named from (its ``best_val_<m>`` key, which
    every epoch reports, diverged or not); ``acc`` when there is none."""
    names = [key.removeprefix("best_val_") for key in metrics if key.startswith("best_val_")]
    return names[0] if names else ACCURACY.metric


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
