"""Read one study from the store into plain records: the parent's identity and, per child run,
the few numbers and histories the leaderboard and the plots need.

What a study optimises is its :class:`~dals_tune.objective.Objective`, read from the parent's
tags (``metric``, ``metric_mode``, ``target``; a store from before metrics had a direction is
accuracy with its ``target_accuracy``); each child's numbers are read under that objective's
keys (``best_val_<m>``, ``test_<m>_at_best_val``, ``val_<m>``), so the records say ``best_val``
whatever the metric.

Everything here goes through :class:`~dals_tune.tracking.Tracker`'s readers (``trials_of``,
``metric_history``); the rest of the package works on these records and never touches the
store, so its formulas can be tested on hand-made records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dals_tune.objective import Objective
from dals_tune.tracking_tags import (
    DEFAULT_TAG,
    DROPPED_IN_ROUND_TAG,
    ERROR_TAG,
    GENERATION_TAG,
    KIND_TAG,
    MODE_TAG,
    SEED_TAG,
    STATUS_TAG,
    STRATEGY_TAG,
    TRIAL_ID_TAG,
)

if TYPE_CHECKING:
    from dals_tune.tracking import Tracker

FAILED_STATUSES = ("diverged", "errored")
STATUS_ORDER = ("completed", "pruned", "diverged", "errored")

History = tuple[tuple[int, float], ...]  # (epoch, value) pairs in epoch order


@dataclass(frozen=True)
class ChildRun:
    """One child run of a study: a search trial (``kind="trial"``) or a seed re-run of the
    strategy's best configuration at full budget (``kind="rerun"``)."""

    run_id: str
    strategy: str
    generation: str
    kind: str
    status: str  # completed | pruned | errored | diverged
    trial_id: str
    seed: int | None
    is_default: bool  # evaluated the strategy's default configuration (tag default=1)
    error: str | None
    best_val: float  # the best validation value in the metric's direction; NaN: none logged
    test_at_best_val: float  # the test value at that epoch
    val_history: History  # the validation value per epoch
    epoch_seconds: History
    test_history: History = ()  # the test value per epoch (reported, never selected on)
    metric_names: tuple[str, ...] = ()  # every metric key the run logged

    @property
    def failed(self) -> bool:
        """Diverged or errored, or no finite validation value: no result to rank."""
        return self.status in FAILED_STATUSES or not math.isfinite(self.best_val)

    @property
    def epochs_run(self) -> int:
        """The last epoch the run reported (0 when it reported none)."""
        steps = [history[-1][0] for history in (self.val_history, self.epoch_seconds) if history]
        return max(steps, default=0)


@dataclass(frozen=True)
class StudyRuns:
    """A study's parent record (tags, params, status) and its child runs, oldest first."""

    parent: Mapping[str, Any]
    runs: tuple[ChildRun, ...]

    @property
    def run_id(self) -> str:
        return self.parent["run_id"]

    @property
    def tags(self) -> Mapping[str, str]:
        return self.parent.get("tags", {})

    @property
    def objective(self) -> Objective:
        """The study's metric, direction and target, from its tags."""
        return Objective.from_record(self.tags)

    @property
    def strategies(self) -> list[str]:
        """Every strategy of the study, in first-seen order: those with runs, then those the
        parent's ``strategies`` param (a comma list) names but no run was recorded for. In a
        joint study (tag ``mode=joint``) the searcher picks the strategies, so one it never
        sampled is left out rather than counted as failed."""
        names = [run.strategy for run in self.runs]
        if self.tags.get(MODE_TAG) != "joint":
            listed = self.parent.get("params", {}).get("strategies", "")
            names += [name.strip(" '\"[]") for name in listed.split(",")]
        return [name for name in dict.fromkeys(names) if name]

    @property
    def dropped_rounds(self) -> dict[str, int]:
        """In a race (``--mode race``), each strategy dropped from it and the round whose
        results dropped it (``DROPPED_IN_ROUND_TAG``); empty for any other study."""
        prefix = DROPPED_IN_ROUND_TAG.format(strategy="")
        return {
            key.removeprefix(prefix): int(value)
            for key, value in self.tags.items()
            if key.startswith(prefix) and str(value).isdigit()
        }


def load_study(
    tracker: Tracker, parent_run_id: str, parent: Mapping[str, Any] | None = None
) -> StudyRuns:
    """The study ``parent_run_id`` as a :class:`StudyRuns`.

    ``parent`` is the parent's record from ``tracker.all_studies()`` or ``tracker.studies()``
    when the caller already has it; otherwise it is looked up among the studies of the store.
    """
    if parent is None:
        parent = _find_parent(tracker, parent_run_id)
    objective = Objective.from_record(parent.get("tags", {}))
    runs = tuple(
        _child_run(tracker, record, objective) for record in tracker.trials_of(parent_run_id)
    )
    return StudyRuns(parent=parent, runs=runs)


def lr_histories(tracker: Tracker, run: ChildRun) -> dict[str, History]:
    """The run's learning rate per depth group over epochs, keyed by layer name.

    Reads the run's ``lr/<layer>`` metrics (one per depth group), or the single ``lr`` metric
    (keyed ``"lr"``) when the strategy has one group. The store keeps no depth index, so the
    layers come in natural order of their names (``block2`` before ``block10``).
    """
    layered = [name for name in run.metric_names if name.startswith("lr/")]
    layered.sort(key=natural_key)
    names = layered or [name for name in run.metric_names if name == "lr"]
    histories = {}
    for name in names:
        history = tuple(tracker.metric_history(run.run_id, name))
        if history:
            histories[name.removeprefix("lr/")] = history
    return histories


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders the digit runs of ``text`` as numbers: ``l2`` < ``l10``."""
    parts: list[Any] = []
    number = ""
    word = ""
    for char in text:
        if char.isdigit():
            if word:
                parts.append((1, word))
                word = ""
            number += char
        else:
            if number:
                parts.append((0, int(number)))
                number = ""
            word += char
    if number:
        parts.append((0, int(number)))
    if word:
        parts.append((1, word))
    return tuple(parts)


def _find_parent(tracker: Tracker, parent_run_id: str) -> Mapping[str, Any]:
    for record in tracker.all_studies():
        if record["run_id"] == parent_run_id:
            return record
    raise ValueError(
        f"no study with run id {parent_run_id!r} in the store {tracker.tracking_uri}; "
        "see the study run ids with python -m dals_tune ui"
    )


def _child_run(tracker: Tracker, record: Mapping[str, Any], objective: Objective) -> ChildRun:
    tags = record.get("tags", {})
    metrics = record.get("metrics", {})
    history = tuple(tracker.metric_history(record["run_id"], objective.val_key))
    best_val = metrics.get(objective.best_key)
    if best_val is None:  # older or partial records: the best of the per-epoch history
        best_val = objective.best_of(value for _, value in history)
    seed = tags.get(SEED_TAG)
    return ChildRun(
        run_id=record["run_id"],
        strategy=tags.get(STRATEGY_TAG, ""),
        generation=tags.get(GENERATION_TAG, ""),
        kind=tags.get(KIND_TAG, "trial"),
        status=tags.get(STATUS_TAG, "completed"),
        trial_id=tags.get(TRIAL_ID_TAG, ""),
        seed=int(seed) if seed is not None and seed.lstrip("-").isdigit() else None,
        is_default=tags.get(DEFAULT_TAG) == "1",
        error=tags.get(ERROR_TAG),
        best_val=math.nan if best_val is None else float(best_val),
        test_at_best_val=float(metrics.get(objective.test_at_best_key, math.nan)),
        val_history=history,
        epoch_seconds=tuple(tracker.metric_history(record["run_id"], "epoch_seconds")),
        test_history=tuple(tracker.metric_history(record["run_id"], objective.test_key)),
        metric_names=tuple(sorted(metrics)),
    )
