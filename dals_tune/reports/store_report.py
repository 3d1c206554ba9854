"""``python -m dals_tune report``: every study's report and the cross-study tables and profile,
written from the store into ``<out>/reports/``.

The whole folder is written under a temporary name next to it and swapped into place at the
end, so a failure leaves the previous ``reports/`` (or none), never a half-written one.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dals_tune.reports.cross_study import (
    PROFILE_TAUS,
    StudyResult,
    latest_finished,
    mean_ranks,
    performance_profile,
    study_errors,
    winners,
)
from dals_tune.reports.plots import plot_performance_profile
from dals_tune.reports.study_report import write_study_files
from dals_tune.reports.study_runs import load_study
from dals_tune.reports.tables import format_mean_std, format_number, write_csv, write_markdown

REPORTS_FOLDER = "reports"
_UNSAFE = re.compile(r"[^\w\-.]")


def write_reports(out: Path | str, tracking_uri: str | None = None) -> list[Path]:
    """Write ``<out>/reports/`` from the study store and return the files written.

    Per study, a folder ``<workload>-<regime>-<run id[:8]>`` with the study report. Across the
    latest FINISHED study of each (workload, regime): ``winners.csv``/``.md``,
    ``mean_rank.csv``/``.md`` and ``performance_profile.csv``/``.png``. Never creates a store:
    without ``tracking_uri`` the store must exist at ``<out>/mlflow.db``.
    """
    from dals_tune.tracking import open_existing_store

    out = Path(out).expanduser().absolute()
    tracker = open_existing_store(out, tracking_uri)
    studies = tracker.all_studies()
    if not studies:
        raise ValueError(
            f"the study store {tracker.tracking_uri} has no studies yet; "
            f"run python -m dals_tune search --out {out} first"
        )

    out.mkdir(parents=True, exist_ok=True)  # with --tracking-uri, out may hold nothing yet
    staging = Path(tempfile.mkdtemp(prefix=".reports-", dir=out))
    try:
        results: dict[str, StudyResult] = {}
        written: list[Path] = []
        for parent in studies:
            study = load_study(tracker, parent["run_id"], parent)
            report = write_study_files(tracker, study, staging / study_folder_name(parent))
            results[parent["run_id"]] = StudyResult(parent=parent, rows=report.rows)
            written += report.files
        counted = [results[parent["run_id"]] for parent in latest_finished(studies)]
        written += _write_cross_study(staging, counted)
        _keep_recommendation(out / REPORTS_FOLDER, staging)
        _swap_into_place(staging, out / REPORTS_FOLDER)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    final = out / REPORTS_FOLDER
    return [final / path.relative_to(staging) for path in written]


def study_folder_name(parent: Mapping[str, Any]) -> str:
    """``<workload>-<regime>-<first 8 characters of the run id>``, safe as a folder name."""
    tags = parent.get("tags", {})
    name = f"{tags.get('workload') or 'workload'}-{tags.get('regime') or 'regime'}"
    return f"{_UNSAFE.sub('_', name)}-{parent['run_id'][:8]}"


def _write_cross_study(folder: Path, results: list[StudyResult]) -> list[Path]:
    files = []
    table = winners(results)
    files.append(
        write_csv(
            folder / "winners.csv",
            [
                "workload",
                "dataset",
                "regime",
                "winner",
                "val_acc_mean",
                "val_acc_std",
                "test_acc_mean",
                "test_acc_std",
                "seeds",
                "run_id",
            ],
            [
                [
                    row.workload,
                    row.dataset,
                    row.regime,
                    row.winner,
                    row.val_acc_mean,
                    row.val_acc_std,
                    row.test_acc_mean,
                    row.test_acc_std,
                    row.seeds,
                    row.run_id,
                ]
                for row in table
            ],
        )
    )
    files.append(
        write_markdown(
            folder / "winners.md",
            "Winner per workload and regime",
            ["workload", "dataset", "regime", "winner", "val acc", "test acc", "seeds", "run id"],
            [
                [
                    row.workload,
                    row.dataset,
                    row.regime,
                    row.winner or "none (all failed)",
                    format_mean_std(row.val_acc_mean, row.val_acc_std),
                    format_mean_std(row.test_acc_mean, row.test_acc_std),
                    str(row.seeds),
                    f"`{row.run_id}`",
                ]
                for row in table
            ],
            [
                "The latest finished study of each workload and regime. Winner = rank 1 by "
                "validation accuracy; accuracies are mean ± sample std over its seed re-runs "
                "(test at the best validation epoch)."
            ],
        )
    )
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
            result.tag("workload"),
            result.tag("regime"),
            result.tag("target_accuracy"),
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
            f"{result.tag('workload')} / {result.tag('regime')}",
            result.tag("target_accuracy") or "—",
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


def _keep_recommendation(final: Path, staging: Path) -> None:
    """``recommend`` writes its files into the same folder; a new report keeps them."""
    for path in final.glob("recommendation*") if final.is_dir() else ():
        if path.is_file():
            shutil.copy2(path, staging / path.name)


def _swap_into_place(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging`` with two renames; the old folder is removed last."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=".reports-old-", dir=final.parent))
        old.rmdir()
        final.rename(old)
    try:
        staging.rename(final)
    except BaseException:
        if old is not None:
            old.rename(final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
