"""One study's leaderboard: per strategy, how well its selected configuration does, what the
search cost, and how fast it reaches the target.

The numbers of a row come from the strategy's *result runs*: its seed re-runs (the best
configuration trained again at full budget, one run per seed) or, when it has none, its best
search trial alone. Runs that diverged or errored (or logged no validation value) give no
numbers; they are counted in the row's note. Ranking uses the validation value only, in the
direction of the study's :class:`~dals_tune.objective.Objective` (a minimised RMSE or loss
ranks ascending): the test value is reported, never selected on.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dals_tune.objective import Objective
from dals_tune.reports.study_runs import (
    FAILED_STATUSES,
    STATUS_ORDER,
    ChildRun,
    History,
    StudyRuns,
    load_study,
)
from dals_tune.reports.ties import Sample, first_place_group

if TYPE_CHECKING:
    from dals_tune.tracking import Tracker

_ERROR_CHARS = 80


@dataclass(frozen=True)
class LeaderboardRow:
    """One strategy's line in a study's leaderboard (fields in the order of the CSV columns,
    which :mod:`~dals_tune.reports.columns` names after the metric: ``val_mean`` is written
    ``val_acc_mean`` in an accuracy study, ``val_rmse_mean`` in an RMSE one).

    - ``val_mean``/``val_std``: mean and *sample* standard deviation (divisor n − 1) of
      ``best_val`` over the usable result runs; ``test_*`` likewise of ``test_at_best_val``
      (the test value at the best validation epoch). With one usable run, or the best-trial
      fallback (``seeds == 0``), the std is NaN: no spread was measured. NaN means too when
      no run is usable (``failed``).
    - ``seeds``: number of re-runs (all statuses); ``trials``: number of search trials.
    - ``epochs_spent``: Σ over the search trials of the last epoch each reported.
    - ``best_trial_val``: the best ``best_val`` of a usable search trial, in the metric's
      direction.
    - ``default_val``: ``best_val`` of the trial tagged ``default=1`` (the strategy's default
      configuration), None without one; ``tuned_beats_default``: ``best_trial_val`` strictly
      better than ``default_val`` (both search trials, so the same budget rules).
    - ``epochs_to_target``/``seconds_to_target``: see :func:`median_time_to_target`; None
      when not reached (or the study has no target).
    - ``failed``: no usable result run; such rows rank last and ``note`` says why.
    - ``runs``: the usable result runs the means are over.
    - ``tied_with``: for a member of the first place's tie group (:mod:`~dals_tune.reports.ties`,
      all of them rank 1), the other members, comma-separated; empty for everyone else.
    - ``dropped_in_round``: in a race (``--mode race``), the round whose results dropped the
      strategy (it had no trials after it and no re-runs); None for a survivor and in any
      other study.
    """

    rank: int
    strategy: str
    generation: str
    val_mean: float
    val_std: float
    test_mean: float
    test_std: float
    seeds: int
    trials: int
    epochs_spent: int
    best_trial_val: float
    default_val: float | None
    tuned_beats_default: bool | None
    epochs_to_target: float | None
    seconds_to_target: float | None
    failed: bool
    note: str
    runs: int = 0
    tied_with: str = ""
    dropped_in_round: int | None = None


def study_leaderboard(tracker: Tracker, parent_run_id: str) -> list[LeaderboardRow]:
    """The leaderboard of the study whose parent run is ``parent_run_id``, rank 1 first."""
    return leaderboard(load_study(tracker, parent_run_id))


def leaderboard(study: StudyRuns) -> list[LeaderboardRow]:
    """Rank the strategies of ``study`` (see :func:`rank_key`). The first place is shared:
    the leader and every strategy its runs cannot separate from it
    (:func:`~dals_tune.reports.ties.first_place_group`) rank 1 and come first, then the rest
    in order, ranked by position. In a race the strategies dropped from it come after the
    survivors, by their best trial, and never share the first place."""
    objective = study.objective
    dropped = study.dropped_rounds
    rows = [
        dropped_row(
            strategy_row(name, [run for run in study.runs if run.strategy == name], objective),
            dropped.get(name),
        )
        for name in study.strategies
    ]
    ordered = sorted(
        rows,
        key=lambda row: (row.failed, row.dropped_in_round is not None, rank_key(row, objective)),
    )
    usable = [
        (row.strategy, sample_of(row))
        for row in ordered
        if not row.failed and row.dropped_in_round is None
    ]
    group = first_place_group(usable, objective, validation_size(study))
    ordered = [row for row in ordered if row.strategy in group] + [
        row for row in ordered if row.strategy not in group
    ]
    return [
        replace(
            row,
            rank=1 if row.strategy in group else position,
            tied_with=",".join(name for name in group if name != row.strategy)
            if row.strategy in group
            else "",
        )
        for position, row in enumerate(ordered, 1)
    ]


def rank_key(row: LeaderboardRow, objective: Objective) -> tuple[bool, float, float, str]:
    """Order of the leaderboard: usable before failed, then the better ``val_mean`` in the
    objective's direction (higher for a maximised metric, lower for a minimised one), then the
    smaller spread over seeds. Equal means are a tie whatever comes after: they share the first
    place (:mod:`~dals_tune.reports.ties`), and the name only fixes the order they are listed
    in. The search's cost (epochs spent) never orders the board."""
    spread = row.val_std if math.isfinite(row.val_std) else math.inf
    return (row.failed, -score_or_worst(objective, row.val_mean), spread, row.strategy)


def dropped_row(row: LeaderboardRow, dropped_in_round: int | None) -> LeaderboardRow:
    """A race's row with the round its strategy was dropped in, the note saying so; the row
    unchanged for a survivor."""
    if dropped_in_round is None:
        return row
    note = f"dropped from the race after round {dropped_in_round}; {row.note}"
    return replace(row, dropped_in_round=dropped_in_round, note=note)


def sample_of(row: LeaderboardRow) -> Sample:
    """The row's validation values as the tie test takes them."""
    return Sample(mean=row.val_mean, std=row.val_std, runs=row.runs)


def validation_size(study: StudyRuns) -> int | None:
    """How many examples the study's validation values are measured on
    (:func:`validation_size_of` its parent's params)."""
    return validation_size_of(study.parent.get("params", {}))


def validation_size_of(params: Mapping[str, Any]) -> int | None:
    """How many examples a study's validation values are measured on, from its params: its
    ``val_size``; with ``--folds`` every example of the training pool is validated once per
    epoch (by the fold that holds it out), so fold 0's ``train_size`` + ``val_size``. None
    when not recorded."""
    names = ("train_size", "val_size") if _count(params.get("folds")) else ("val_size",)
    sizes = [_count(params.get(name)) for name in names]
    return sum(sizes) if all(sizes) else None


def _count(value: object) -> int:
    """A positive count from a param (``"140"``); 0 when absent or not a count."""
    try:
        number = int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    return max(number, 0)


def strategy_row(strategy: str, runs: Sequence[ChildRun], objective: Objective) -> LeaderboardRow:
    """The (unranked, ``rank=0``) row of one strategy from all its child runs."""
    trials = [run for run in runs if run.kind != "rerun"]
    reruns = [run for run in runs if run.kind == "rerun"]
    usable = [run for run in result_runs(runs, objective) if not run.failed]
    val_mean, val_std = mean_and_std([run.best_val for run in usable])
    test_mean, test_std = mean_and_std([run.test_at_best_val for run in usable])
    best = best_trial(trials, objective)
    defaults = [run.best_val for run in trials if run.is_default]
    default_val = (
        max(defaults, key=lambda value: score_or_worst(objective, value)) if defaults else None
    )
    best_val = best.best_val if best else math.nan
    beats_default = (
        None
        if default_val is None
        else score_or_worst(objective, best_val) > score_or_worst(objective, default_val)
    )
    epochs, seconds = median_time_to_target(usable, objective)
    return LeaderboardRow(
        rank=0,
        strategy=strategy,
        generation=next((run.generation for run in runs if run.generation), ""),
        val_mean=val_mean,
        val_std=val_std,
        test_mean=test_mean,
        test_std=test_std,
        seeds=len(reruns),
        trials=len(trials),
        epochs_spent=sum(run.epochs_run for run in trials),
        best_trial_val=best_val,
        default_val=default_val,
        tuned_beats_default=beats_default,
        epochs_to_target=epochs,
        seconds_to_target=seconds,
        failed=not usable,
        note=status_note(trials, reruns, failed=not usable),
        runs=len(usable),
    )


def result_runs(runs: Sequence[ChildRun], objective: Objective) -> list[ChildRun]:
    """The runs a strategy's numbers come from: its re-runs in seed order; without re-runs its
    best usable search trial; without one of those, all its (failed) trials."""
    reruns = [run for run in runs if run.kind == "rerun"]
    if reruns:
        return sorted(reruns, key=lambda run: (run.seed is None, run.seed or 0, run.run_id))
    trials = [run for run in runs if run.kind != "rerun"]
    best = best_trial(trials, objective)
    return [best] if best else trials


def best_trial(trials: Sequence[ChildRun], objective: Objective) -> ChildRun | None:
    """The usable search trial with the best ``best_val`` in the objective's direction (ties:
    fewer epochs, then the earlier trial); None when every trial diverged or errored."""
    usable = [run for run in trials if run.kind != "rerun" and not run.failed]
    if not usable:
        return None
    return min(usable, key=lambda run: (-objective.score(run.best_val), run.epochs_run))


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean x̄ = Σxᵢ/n and sample standard deviation s = √(Σ(xᵢ − x̄)²/(n − 1)).

    n = 1 gives ``(x₁, NaN)`` (no spread measured from one seed); n = 0 gives ``(NaN, NaN)``.
    """
    values = [float(value) for value in values]
    if not values:
        return math.nan, math.nan
    mean = math.fsum(values) / len(values)
    if len(values) == 1:
        return mean, math.nan
    variance = math.fsum((value - mean) ** 2 for value in values) / (len(values) - 1)
    return mean, math.sqrt(variance)


def time_to_target(
    history: History, epoch_seconds: History, objective: Objective
) -> tuple[float, float]:
    """``(epoch, seconds)`` at which one run first reaches the objective's target.

    epoch* = min{e : v(e) ≥ target} for a maximised metric, min{e : v(e) ≤ target} for a
    minimised one (``Objective.reached``); seconds* = Σ_{e ≤ epoch*} epoch_seconds(e).
    ``(inf, inf)`` when the run never reaches it (or there is no target); seconds is NaN when
    the run logged no ``epoch_seconds``.
    """
    for epoch, value in history:
        if objective.reached(value):
            spent = [seconds for step, seconds in epoch_seconds if step <= epoch]
            return float(epoch), math.fsum(spent) if spent else math.nan
    return math.inf, math.inf


def median_time_to_target(
    runs: Sequence[ChildRun], objective: Objective
) -> tuple[float | None, float | None]:
    """Median over ``runs`` of :func:`time_to_target`, epochs and seconds each on its own.

    A run that never reaches the target counts as ∞, so the median is finite only when more
    than half of the runs reach it; an infinite (or unknown) median is reported as None, as
    is every median of a study without a target.
    """
    if objective.target is None or not runs:
        return None, None
    times = [time_to_target(run.val_history, run.epoch_seconds, objective) for run in runs]
    return median_or_none([t[0] for t in times]), median_or_none([t[1] for t in times])


def median_or_none(values: Sequence[float]) -> float | None:
    """The median (mean of the two middle values for even n); None when it is not finite or a
    value is NaN."""
    if not values or any(math.isnan(value) for value in values):
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return median if math.isfinite(median) else None


def status_note(trials: Sequence[ChildRun], reruns: Sequence[ChildRun], *, failed: bool) -> str:
    """A short account of the runs, e.g. ``"trials: 3 completed, 1 pruned; re-runs: 3
    completed"``, led by why a failed strategy ranks last and the first error message."""
    parts = []
    if failed:
        source, what = (reruns, "re-runs") if reruns else (trials, "trials")
        if not source:
            parts.append("ranked last: no runs recorded")
        elif all(run.status in FAILED_STATUSES for run in source):
            runs = f"all {len(source)} {what}" if len(source) > 1 else f"its one {what[:-1]}"
            parts.append(f"ranked last: {runs} diverged or errored")
        else:
            parts.append(f"ranked last: no {what[:-1]} logged a validation value")
        errors = [run.error for run in source if run.error]
        if errors:
            message = " ".join(errors[0].split())
            if len(message) > _ERROR_CHARS:
                message = message[: _ERROR_CHARS - 3] + "..."
            parts.append(f"first error: {message}")
    elif not reruns:
        parts.append("no re-runs: best search trial shown")
    for what, runs in (("trials", trials), ("re-runs", reruns)):
        if runs:
            parts.append(f"{what}: {_status_counts(runs)}")
    return "; ".join(parts)


def _status_counts(runs: Sequence[ChildRun]) -> str:
    counts = Counter(run.status for run in runs)
    order = [*STATUS_ORDER, *sorted(set(counts) - set(STATUS_ORDER))]
    return ", ".join(f"{counts[status]} {status}" for status in order if counts[status])


def score_or_worst(objective: Objective, value: float | None) -> float:
    """``Objective.score`` (higher is better in either direction), −∞ for a missing value."""
    if value is None or not math.isfinite(value):
        return -math.inf
    return objective.score(value)
