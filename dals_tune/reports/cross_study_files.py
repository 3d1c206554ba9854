"""The cross-study report files: the winner per workload and regime with its lead over the
runner-up, mean rank, the rank matrix, time to target, the performance profile, the claims
re-tested (:mod:`~dals_tune.reports.claims`) and where each study came from
(:mod:`~dals_tune.reports.provenance_table`) (the
formulas are in ``cross_study`` and ``leaderboard``; ``docs/reports.md`` describes the files).

Each study's values are in its own metric's units. When every counted study has the same
metric, the columns are named after it (``val_acc_mean``, as always for accuracy); when they
differ, the columns keep neutral names and each row says its metric and direction
(:mod:`~dals_tune.reports.columns`).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from dals_tune.reports.claims_files import write_claims
from dals_tune.reports.columns import (
    direction_words,
    metric_label,
    metric_words,
    named_table,
    shared_objective,
)
from dals_tune.reports.cross_study import (
    PROFILE_TAUS,
    StudyResult,
    WinnerRow,
    first_places,
    mean_ranks,
    performance_profile,
    rank_matrix,
    study_errors,
    winners,
)
from dals_tune.reports.plots import plot_performance_profile
from dals_tune.reports.provenance_table import write_studies
from dals_tune.reports.tables import format_mean_std, format_number, write_csv, write_markdown
from dals_tune.tracking_tags import REGIME_TAG, WORKLOAD_TAG


def write_cross_study_files(folder: Path, results: list[StudyResult]) -> list[Path]:
    """Write every cross-study file over the counted ``results`` into ``folder``."""
    files = _write_winners(folder, results)
    ranks = mean_ranks(results)
    files.append(
        write_csv(
            folder / "mean_rank.csv",
            ["strategy", "mean_rank", "studies", "wins"],
            [[row.strategy, row.mean_rank, row.studies, row.wins] for row in ranks],
        )
    )
    files.append(
        write_markdown(
            folder / "mean_rank.md",
            "Mean rank across studies",
            ["strategy", "mean rank", "studies", "wins"],
            [
                [row.strategy, f"{row.mean_rank:.2f}", str(row.studies), str(row.wins)]
                for row in ranks
            ],
            [
                f"Over the latest finished study of each workload and regime ({len(results)} "
                "in all); a strategy's mean is over the studies it took part in."
            ],
        )
    )
    files += _write_rank_matrix(folder, results)
    files += _write_time_to_target(folder, results)
    files += write_claims(folder, results)
    files += write_studies(folder, results)
    profile = performance_profile(
        [study_errors(result.rows, result.objective) for result in results],
        shared_first=first_places(results),
    )
    strategies = list(profile)
    files.append(
        write_csv(
            folder / "performance_profile.csv",
            ["tau", *strategies],
            [
                [tau, *(profile[name][index] for name in strategies)]
                for index, tau in enumerate(PROFILE_TAUS)
            ],
        )
    )
    files.append(
        plot_performance_profile(
            PROFILE_TAUS,
            profile,
            folder / "performance_profile.png",
            f"performance profile over {len(results)} studies ({_error_words(results)})",
        )
    )
    return files


def _error_words(results: list[StudyResult]) -> str:
    """How the profile's error is read: ``error = 1 − test accuracy`` when all the studies
    maximise accuracy (``cross_study.study_errors``)."""
    shared = shared_objective([result.objective for result in results])
    if shared is None:
        return "error = 1 − test value when maximised, the test value when minimised"
    if shared.mode == "min":
        return f"error = test {shared.full_name}"
    return f"error = 1 − test {shared.full_name}"


def _with_metric(cells: list[str], result: StudyResult, mixed: bool) -> list[str]:
    """A Markdown row, with the study's metric and direction after it when studies differ."""
    objective = result.objective
    return [*cells, f"{objective.metric} ({objective.mode})"] if mixed else cells


def _write_winners(folder: Path, results: list[StudyResult]) -> list[Path]:
    table = winners(results)
    objectives = [result.objective for result in results]
    mixed = shared_objective(objectives) is None
    metric = metric_label(objectives)
    markdown_rows = [
        _with_metric(
            [
                row.workload,
                row.dataset,
                row.regime,
                row.winner or "none (all failed)",
                row.tied_with.replace(",", ", ") or "—",
                format_mean_std(row.val_mean, row.val_std),
                format_mean_std(row.test_mean, row.test_std),
                str(row.seeds),
                row.runner_up or "—",
                format_mean_std(row.runner_up_val_mean, row.runner_up_val_std),
                _format_lead(row.lead_in_stds),
                format_number(row.target, digits=2),
                f"{row.reached} of {row.strategies}",
                format_number(row.minutes),
                f"`{row.run_id}`",
            ],
            result,
            mixed,
        )
        for row, result in zip(table, results)
    ]
    header, csv_rows = named_table(
        [field.name for field in dataclasses.fields(WinnerRow)],
        [dataclasses.astuple(row) for row in table],
        objectives,
    )
    return [
        write_csv(folder / "winners.csv", header, csv_rows),
        write_markdown(
            folder / "winners.md",
            "Winner per workload and regime",
            [
                "workload",
                "dataset",
                "regime",
                "winner",
                "tied with",
                f"val {metric}",
                f"test {metric}",
                "seeds",
                "runner-up",
                f"val {metric}",
                "lead ÷ std",
                "target",
                "reached",
                "minutes",
                "run id",
                *(["metric"] if mixed else []),
            ],
            markdown_rows,
            [
                "The latest finished study of each workload and regime. Winner = the best mean "
                f"validation {metric_words(objectives)}{direction_words(objectives)}; tied with: "
                "the strategies its seed re-runs cannot separate from it (docs/reports.md), "
                "who share its first place; "
                f"{_plural(metric_words(objectives))} are mean ± sample std over its seed "
                "re-runs (test at the best validation epoch). Lead ÷ std: the winner's lead "
                "over the runner-up divided by the larger of their two stds; with a handful of "
                "seeds, below about 2 the two are not told apart. Reached: strategies whose "
                f"median re-run reached the target {metric_words(objectives)} "
                "(time_to_target.md). Minutes: the study's wall time."
            ],
        ),
    ]


def _plural(words: str) -> str:
    """``accuracies``, ``values``; a metric's short name (``rmse``) reads as ``values``."""
    return {"accuracy": "accuracies"}.get(words, "values")


def _format_lead(lead: float) -> str:
    if math.isnan(lead):
        return "—"
    return "∞" if math.isinf(lead) else f"{lead:.1f}"


def _write_rank_matrix(folder: Path, results: list[StudyResult]) -> list[Path]:
    """Each strategy's rank and validation value in every study, best mean rank first."""
    matrix = rank_matrix(results)
    objectives = [result.objective for result in results]
    mixed = shared_objective(objectives) is None
    studies = [
        f"{result.tag(WORKLOAD_TAG)} / {result.tag(REGIME_TAG)}"
        + (f" ({result.objective.metric}, {result.objective.mode})" if mixed else "")
        for result in results
    ]
    cells = [
        (
            [
                result.tag(WORKLOAD_TAG),
                result.tag(REGIME_TAG),
                strategy,
                row.rank,
                row.val_mean,
                row.val_std,
                row.failed,
            ],
            result.objective,
        )
        for strategy, rows in matrix.items()
        for result, row in zip(results, rows)
        if row is not None
    ]
    header, csv_rows = named_table(
        ["workload", "regime", "strategy", "rank", "val_mean", "val_std", "failed"],
        [row for row, _ in cells],
        [objective for _, objective in cells] if cells else objectives,
    )
    markdown_rows = [
        [
            strategy,
            *(
                "—" if row is None else f"#{row.rank}: {format_mean_std(row.val_mean, row.val_std)}"
                for row in rows
            ),
        ]
        for strategy, rows in matrix.items()
    ]
    return [
        write_csv(folder / "ranks.csv", header, csv_rows),
        write_markdown(
            folder / "ranks.md",
            "Rank in every study",
            ["strategy", *studies],
            markdown_rows,
            [
                "Each strategy's leaderboard rank and validation "
                f"{metric_words(objectives)}{direction_words(objectives)} (mean ± sample std "
                "over its seed re-runs) in the latest finished study of each workload and "
                "regime; strategies in mean_rank.md's order, — where one did not take part."
            ],
        ),
    ]


def _write_time_to_target(folder: Path, results: list[StudyResult]) -> list[Path]:
    """Per study and strategy: epochs and seconds to the workload's target (median over the
    seed re-runs; "not reached" when fewer than half reach it) beside the final value. Each
    study's ``learning_curves.png`` is its convergence plot."""
    rows = [
        (result, row) for result in results for row in sorted(result.rows, key=lambda row: row.rank)
    ]
    objectives = [result.objective for result in results]
    mixed = shared_objective(objectives) is None
    metric = metric_label(objectives)
    fields = ["workload", "regime", "target", "strategy", "rank", "epochs_to_target",
              "seconds_to_target", "val_mean", "val_std", "test_mean"]  # fmt: skip
    header, csv_rows = named_table(
        fields,
        [
            [
                result.tag(WORKLOAD_TAG),
                result.tag(REGIME_TAG),
                result.objective.target,
                row.strategy,
                row.rank,
                row.epochs_to_target,
                row.seconds_to_target,
                row.val_mean,
                row.val_std,
                row.test_mean,
            ]
            for result, row in rows
        ],
        [result.objective for result, _ in rows] if rows else objectives,
    )
    header[2] = "target"  # this file's name for it, whatever the metric (its units are theirs)
    not_reached = "not reached"
    markdown_rows = [
        _with_metric(
            [
                f"{result.tag(WORKLOAD_TAG)} / {result.tag(REGIME_TAG)}",
                _format_target(result.objective.target),
                row.strategy,
                format_number(row.epochs_to_target, not_reached),
                format_number(row.seconds_to_target, not_reached),
                format_mean_std(row.val_mean, row.val_std),
                format_mean_std(row.test_mean, row.test_std),
            ],
            result,
            mixed,
        )
        for result, row in rows
    ]
    shared = shared_objective(objectives)
    reaches = "first falls to or below" if shared and shared.mode == "min" else "first reaches"
    words = metric_words(objectives)
    return [
        write_csv(folder / "time_to_target.csv", header, csv_rows),
        write_markdown(
            folder / "time_to_target.md",
            "Time to target",
            [
                "study",
                "target",
                "strategy",
                "epochs",
                "seconds",
                f"val {metric}",
                f"test {metric}",
                *(["metric"] if mixed else []),
            ],
            markdown_rows,
            [
                f"Epochs and seconds until the validation {words} {reaches} the workload's "
                "target: the median over the strategy's seed re-runs (not reached when fewer "
                f"than half reach it), beside its final {words} (mean ± sample "
                "std). Strategies in leaderboard order; each study's convergence plot is "
                "its learning_curves.png."
            ],
        ),
    ]


def _format_target(target: float | None) -> str:
    """The target as the tag wrote it (``0.9``); ``—`` without one."""
    return "—" if target is None else repr(target)
