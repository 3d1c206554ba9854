"""The report of one study: the leaderboard as CSV and Markdown, the learning curves, and the
winner's per-layer learning rate. The study driver attaches these files to the study's parent
run (``Tracker.finish_study``); ``python -m dals_tune report`` writes them for every study."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dals_tune.objective import Objective
from dals_tune.reports.columns import direction, metric_column
from dals_tune.reports.leaderboard import (
    LeaderboardRow,
    leaderboard,
    result_runs,
    sample_of,
    validation_size,
)
from dals_tune.reports.plots import plot_learning_curves, plot_lr_heatmap
from dals_tune.reports.study_runs import StudyRuns, load_study, lr_histories
from dals_tune.reports.tables import (
    format_mean_std,
    format_number,
    format_value,
    write_csv,
    write_markdown,
)
from dals_tune.reports.ties import tie_rule
from dals_tune.tracking_tags import (
    BUDGET_TAG,
    DATASET_TAG,
    MODE_TAG,
    MODEL_TAG,
    REGIME_TAG,
    SCHEDULER_TAG,
    SEARCHER_TAG,
    SEED_TAG,
    WORKLOAD_TAG,
)

if TYPE_CHECKING:
    from dals_tune.tracking import Tracker


@dataclass(frozen=True)
class StudyReport:
    """What :func:`write_study_report` computed and wrote.

    ``winner`` is the first of the rank-1 strategies (the best mean), or None when every
    strategy failed (no usable run); ``tied_with`` the others of its tie group, whom the seeds
    cannot separate from it (comma-separated, empty when it leads alone); ``winner_value`` its
    ``val_mean`` (NaN without a winner), in the units of ``objective``, the study's metric.
    ``files`` are the paths written, ready for ``Tracker.finish_study``.
    """

    rows: list[LeaderboardRow]
    winner: str | None
    winner_value: float
    objective: Objective
    files: list[Path]
    tied_with: str = ""


def write_study_report(tracker: Tracker, parent_run_id: str, folder: Path) -> StudyReport:
    """Write the study's ``leaderboard.csv``, ``leaderboard.md``, ``learning_curves.png`` and
    (when there is a winner that logged its LR) ``lr_heatmap.png`` into ``folder``."""
    return write_study_files(tracker, load_study(tracker, parent_run_id), Path(folder))


def write_study_files(tracker: Tracker, study: StudyRuns, folder: Path) -> StudyReport:
    """:func:`write_study_report` for a study already read from the store."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = leaderboard(study)
    objective = study.objective
    winner = rows[0] if rows and not rows[0].failed else None
    name = study_title(study)
    files = [
        write_csv(
            folder / "leaderboard.csv",
            [metric_column(field.name, objective) for field in dataclasses.fields(LeaderboardRow)],
            [dataclasses.astuple(row) for row in rows],
        ),
        _write_leaderboard_markdown(folder / "leaderboard.md", study, rows),
    ]
    curves = {}
    for row in rows:
        runs = result_runs([run for run in study.runs if run.strategy == row.strategy], objective)
        curves[row.strategy] = [run.val_history for run in runs if not run.failed]
    label = f"validation {objective.full_name}"
    files.append(
        plot_learning_curves(curves, folder / "learning_curves.png", f"{label}: {name}", label)
    )
    if winner is not None:
        runs = result_runs(
            [run for run in study.runs if run.strategy == winner.strategy], objective
        )
        shown = next(run for run in runs if not run.failed)
        histories = lr_histories(tracker, shown)
        if histories:
            what = f"seed {shown.seed}" if shown.kind == "rerun" else f"trial {shown.trial_id}"
            files.append(
                plot_lr_heatmap(
                    histories,
                    folder / "lr_heatmap.png",
                    f"learning rate per layer: {winner.strategy} ({what}), {name}",
                )
            )
    return StudyReport(
        rows=rows,
        winner=winner.strategy if winner else None,
        winner_value=winner.val_mean if winner else math.nan,
        objective=objective,
        files=files,
        tied_with=winner.tied_with if winner else "",
    )


def tie_sentence(rows: list[LeaderboardRow], study: StudyRuns) -> str:
    """Which rule made the first place's tie group, in the report's words."""
    usable = [sample_of(row) for row in rows if not row.failed]
    return tie_rule(usable, study.objective, validation_size(study))


def study_title(study: StudyRuns) -> str:
    """``workload / dataset / regime`` of the study, from the parent's tags."""
    tags = study.tags
    return " / ".join(tags.get(key) or "?" for key in (WORKLOAD_TAG, DATASET_TAG, REGIME_TAG))


# The leaderboard's note on a race (dals_tune/study/race.py).
RACE_NOTE = (
    "A race (mode race): every strategy ran its default configuration in round 0 and a "
    "searched one in round 1; after each round from round 1 on, those outside the leader's "
    "tie group and outside the top half stopped receiving trials (studies run before that "
    "rule dropped after round 0 too: `dropped in round` 0). `dropped in round` is the round "
    "whose results dropped a strategy; dropped strategies have no re-runs and rank after the "
    "survivors, by their best trial."
)


def _write_leaderboard_markdown(path: Path, study: StudyRuns, rows: list[LeaderboardRow]) -> Path:
    objective = study.objective
    metric, name = objective.metric, objective.full_name
    header = [
        "rank",
        "strategy",
        "tied with",
        "gen",
        f"val {metric}",
        f"test {metric} at best val",
        "seeds",
        "trials",
        "epochs spent",
        "best trial val",
        "default val",
        "tuned > default",
        "epochs to target",
        "seconds to target",
        "note",
    ]
    target = objective.target
    reached = "not reached" if target is not None else "—"
    table = [
        [
            str(row.rank),
            row.strategy,
            row.tied_with.replace(",", ", "),
            row.generation,
            format_mean_std(row.val_mean, row.val_std),
            format_mean_std(row.test_mean, row.test_std),
            str(row.seeds),
            str(row.trials),
            str(row.epochs_spent),
            format_value(row.best_trial_val),
            format_value(row.default_val),
            {None: "—", True: "yes", False: "no"}[row.tuned_beats_default],
            format_number(row.epochs_to_target, missing=reached),
            format_number(row.seconds_to_target, missing=reached),
            row.note,
        ]
        for row in rows
    ]
    if study.tags.get(MODE_TAG) == "race":
        header.insert(3, "dropped in round")
        for cells, row in zip(table, rows):
            cells.insert(3, "—" if row.dropped_in_round is None else str(row.dropped_in_round))
    tags = study.tags
    settings = ", ".join(
        f"{key} {tags[key]}"
        for key in (MODEL_TAG, SEARCHER_TAG, SCHEDULER_TAG, BUDGET_TAG, MODE_TAG, SEED_TAG)
        if tags.get(key)
    )
    status = study.parent.get("status")
    ended = f" ({status})" if status in ("FINISHED", "FAILED", "KILLED") else ""
    values = "Accuracies" if metric == "acc" else "Values"
    ranked = "" if metric == "acc" else f", {direction(objective)}"
    reaches = "≥" if objective.mode == "max" else "≤"
    notes = [
        f"Study `{study.run_id}`{ended}; {settings or 'no settings'}; "
        f"target {name} {format_value(target) if target is not None else 'not set'}.",
        f"Ranked by validation {name}{ranked}; strategies whose runs all diverged or errored "
        f"rank last. Rank 1 is shared by the strategies the runs cannot separate from the "
        f"leader ({tie_sentence(rows, study)}); equal values are listed by name, and the "
        f"epochs a search spent never order the board. {values} are the "
        "mean ± sample std (n − 1) over the seed re-runs of the selected configuration; "
        f"without re-runs (seeds 0) the best search trial alone. The test {name} is taken at "
        "the best validation epoch and never used for selection. Time to target: the median "
        "over the same runs of the first epoch with validation "
        f"{name} {reaches} target, and of the seconds spent up to it; a run that never reaches "
        "it counts as infinite.",
    ]
    if study.tags.get(MODE_TAG) == "race":
        notes.append(RACE_NOTE)
    return write_markdown(path, f"Leaderboard: {study_title(study)}", header, table, notes)
