"""The cross-study report files: the winner per workload and regime with its lead over the
runner-up, mean rank, the rank matrix, time to target and the performance profile (the
formulas are in ``cross_study`` and ``leaderboard``; ``docs/reports.md`` describes the files).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from dals_tune.reports.cross_study import (
    PROFILE_TAUS,
    StudyResult,
    WinnerRow,
    mean_ranks,
    performance_profile,
    rank_matrix,
    study_errors,
    winners,
)
from dals_tune.reports.plots import plot_performance_profile
from dals_tune.reports.tables import format_mean_std, format_number, write_csv, write_markdown
from dals_tune.tracking_tags import REGIME_TAG, TARGET_ACCURACY_TAG, WORKLOAD_TAG


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
    profile = performance_profile([study_errors(result.rows) for result in results])
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
            f"performance profile over {len(results)} studies (error = 1 − test accuracy)",
        )
    )
    return files


def _write_winners(folder: Path, results: list[StudyResult]) -> list[Path]:
    table = winners(results)
    markdown_rows = [
        [
            row.workload,
            row.dataset,
            row.regime,
            row.winner or "none (all failed)",
            format_mean_std(row.val_acc_mean, row.val_acc_std),
            format_mean_std(row.test_acc_mean, row.test_acc_std),
            str(row.seeds),
            row.runner_up or "—",
            format_mean_std(row.runner_up_val_acc_mean, row.runner_up_val_acc_std),
            _format_lead(row.lead_in_stds),
            format_number(row.target_accuracy, digits=2),
            f"{row.reached} of {row.strategies}",
            format_number(row.minutes),
            f"`{row.run_id}`",
        ]
        for row in table
    ]
    return [
        write_csv(
            folder / "winners.csv",
            [field.name for field in dataclasses.fields(WinnerRow)],
            [dataclasses.astuple(row) for row in table],
        ),
        write_markdown(
            folder / "winners.md",
            "Winner per workload and regime",
            [
                "workload",
                "dataset",
                "regime",
                "winner",
                "val acc",
                "test acc",
                "seeds",
                "runner-up",
                "val acc",
                "lead ÷ std",
                "target",
                "reached",
                "minutes",
                "run id",
            ],
            markdown_rows,
            [
                "The latest finished study of each workload and regime. Winner = rank 1 by "
                "validation accuracy; accuracies are mean ± sample std over its seed re-runs "
                "(test at the best validation epoch). Lead ÷ std: the winner's lead over the "
                "runner-up divided by the larger of their two stds; with a handful of seeds, "
                "below about 2 the two are not told apart. Reached: strategies whose median "
                "re-run reached the target accuracy (time_to_target.md). Minutes: the "
                "study's wall time."
            ],
        ),
    ]


def _format_lead(lead: float) -> str:
    if math.isnan(lead):
        return "—"
    return "∞" if math.isinf(lead) else f"{lead:.1f}"


def _write_rank_matrix(folder: Path, results: list[StudyResult]) -> list[Path]:
    """Each strategy's rank and validation accuracy in every study, best mean rank first."""
    matrix = rank_matrix(results)
    studies = [f"{result.tag(WORKLOAD_TAG)} / {result.tag(REGIME_TAG)}" for result in results]
    csv_rows = [
        [
            result.tag(WORKLOAD_TAG),
            result.tag(REGIME_TAG),
            strategy,
            row.rank,
            row.val_acc_mean,
            row.val_acc_std,
            row.failed,
        ]
        for strategy, rows in matrix.items()
        for result, row in zip(results, rows)
        if row is not None
    ]
    markdown_rows = [
        [
            strategy,
            *(
                "—"
                if row is None
                else f"#{row.rank}: {format_mean_std(row.val_acc_mean, row.val_acc_std)}"
                for row in rows
            ),
        ]
        for strategy, rows in matrix.items()
    ]
    return [
        write_csv(
            folder / "ranks.csv",
            ["workload", "regime", "strategy", "rank", "val_acc_mean", "val_acc_std", "failed"],
            csv_rows,
        ),
        write_markdown(
            folder / "ranks.md",
            "Rank in every study",
            ["strategy", *studies],
            markdown_rows,
            [
                "Each strategy's leaderboard rank and validation accuracy (mean ± sample std "
                "over its seed re-runs) in the latest finished study of each workload and "
                "regime; strategies in mean_rank.md's order, — where one did not take part."
            ],
        ),
    ]


def _write_time_to_target(folder: Path, results: list[StudyResult]) -> list[Path]:
    """Per study and strategy: epochs and seconds to the workload's target accuracy (median
    over the seed re-runs; "not reached" when fewer than half reach it) beside the final
    accuracy. Each study's ``learning_curves.png`` is its convergence plot."""
    rows = [
        (result, row) for result in results for row in sorted(result.rows, key=lambda row: row.rank)
    ]
    header = ["workload", "regime", "target", "strategy", "rank", "epochs_to_target",
              "seconds_to_target", "val_acc_mean", "val_acc_std", "test_acc_mean"]  # fmt: skip
    csv_rows = [
        [
            result.tag(WORKLOAD_TAG),
            result.tag(REGIME_TAG),
            result.tag(TARGET_ACCURACY_TAG),
            row.strategy,
            row.rank,
            row.epochs_to_target,
            row.seconds_to_target,
            row.val_acc_mean,
            row.val_acc_std,
            row.test_acc_mean,
        ]
        for result, row in rows
    ]
    not_reached = "not reached"
    markdown_rows = [
        [
            f"{result.tag(WORKLOAD_TAG)} / {result.tag(REGIME_TAG)}",
            result.tag(TARGET_ACCURACY_TAG) or "—",
            row.strategy,
            format_number(row.epochs_to_target, not_reached),
            format_number(row.seconds_to_target, not_reached),
            format_mean_std(row.val_acc_mean, row.val_acc_std),
            format_mean_std(row.test_acc_mean, row.test_acc_std),
        ]
        for result, row in rows
    ]
    return [
        write_csv(folder / "time_to_target.csv", header, csv_rows),
        write_markdown(
            folder / "time_to_target.md",
            "Time to target",
            ["study", "target", "strategy", "epochs", "seconds", "val acc", "test acc"],
            markdown_rows,
            [
                "Epochs and seconds until the validation accuracy first reaches the "
                "workload's target: the median over the strategy's seed re-runs (not reached "
                "when fewer than half reach it), beside its final accuracy (mean ± sample "
                "std). Strategies in leaderboard order; each study's convergence plot is "
                "its learning_curves.png."
            ],
        ),
    ]
