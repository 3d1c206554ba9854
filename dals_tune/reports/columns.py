"""The names a report file gives its metric columns, from the study's objective.

Records keep metric-neutral field names (``val_mean``, ``best_trial_val``); a file names each
after the metric it holds, the metric's short name ``m`` following every ``val`` and ``test``
word (``val_mean`` → ``val_acc_mean``, ``best_trial_val`` → ``best_trial_val_acc``), and the
field ``target`` alone takes the metric's full name (``target_accuracy``). An accuracy study's
files so keep the names they always had, an RMSE study's say ``val_rmse_mean``. A table over studies
of different metrics keeps the neutral names and adds each row's ``metric`` and
``metric_mode``, so no value is read in another metric's units or direction.
"""

from __future__ import annotations

from collections.abc import Sequence

from dals_tune.objective import ACCURACY, Objective
from dals_tune.reports.tables import Cell

_METRIC_WORDS = ("val", "test")
MIXED_COLUMNS = ("metric", "metric_mode")


def metric_column(field: str, objective: Objective | None) -> str:
    """``field`` named after ``objective``'s metric (module docstring); unchanged for None."""
    if objective is None:
        return field
    if field == "target":
        return f"target_{objective.full_name}"
    words = []
    for word in field.split("_"):
        words.append(word)
        if word in _METRIC_WORDS:
            words.append(objective.metric)
    return "_".join(words)


def shared_objective(objectives: Sequence[Objective]) -> Objective | None:
    """The objective every one shares (by metric and mode); accuracy when there are none, so
    an empty table keeps today's names; None when they differ."""
    kinds = {(objective.metric, objective.mode) for objective in objectives}
    if not kinds:
        return ACCURACY
    return objectives[0] if len(kinds) == 1 else None


def named_table(
    fields: Sequence[str], rows: Sequence[Sequence[Cell]], objectives: Sequence[Objective]
) -> tuple[list[str], list[list[Cell]]]:
    """A CSV table whose rows hold values of ``objectives`` (one per row): the columns named
    after the metric they share, or neutral names and two more columns with each row's metric
    and direction when they differ."""
    shared = shared_objective(objectives)
    if shared is not None:
        return [metric_column(field, shared) for field in fields], [list(row) for row in rows]
    return (
        [*fields, *MIXED_COLUMNS],
        [[*row, objective.metric, objective.mode] for row, objective in zip(rows, objectives)],
    )


def metric_label(objectives: Sequence[Objective]) -> str:
    """What a Markdown header calls the metric: the shared short name (``acc``), or
    ``value`` when the studies differ (each row then says its metric)."""
    shared = shared_objective(objectives)
    return shared.metric if shared is not None else "value"


def direction(objective: Objective) -> str:
    """``higher is better`` or ``lower is better``."""
    return "higher is better" if objective.mode == "max" else "lower is better"


def metric_words(objectives: Sequence[Objective]) -> str:
    """How a note names the metric of a table: the shared full name (``accuracy``), or
    ``value`` when the studies differ."""
    shared = shared_objective(objectives)
    return shared.full_name if shared is not None else "value"


def direction_words(objectives: Sequence[Objective]) -> str:
    """What a note adds after the metric's name: nothing for a shared maximised metric (as
    accuracy reports always read), `` (lower is better)`` for a shared minimised one, and for
    studies of different metrics that each is read in its own."""
    shared = shared_objective(objectives)
    if shared is None:
        return " (each study's own metric, in its direction: see the metric column)"
    return "" if shared.mode == "max" else f" ({direction(shared)})"
