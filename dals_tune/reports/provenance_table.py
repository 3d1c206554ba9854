"""``studies.md``: where each counted study came from, so a table written from the store says
how to produce its numbers again: the parent run, when it started, its wall time, the commit
of the code, the hardware and the command line (the tags ``tracking.Tracker.start_study``
sets; a study older than a tag shows "not recorded")."""

from __future__ import annotations

import time
from pathlib import Path

from dals_tune.reports.cross_study import StudyResult
from dals_tune.reports.tables import format_number, write_csv, write_markdown
from dals_tune.tracking_tags import (
    COMMAND_TAG,
    GIT_COMMIT_TAG,
    HARDWARE_TAG,
    REGIME_TAG,
    WORKLOAD_TAG,
)

NOT_RECORDED = "not recorded"
HEADER = ["workload", "regime", "run_id", "started_utc", "minutes", "commit", "hardware", "command"]


def write_studies(folder: Path, results: list[StudyResult]) -> list[Path]:
    """Write ``studies.csv`` and ``studies.md``, one row per counted study."""
    rows = [study_row(result) for result in results]
    markdown_rows = [
        [
            workload,
            regime,
            f"`{run_id}`",
            started,
            format_number(minutes),
            f"`{commit[:7]}`" if commit != NOT_RECORDED else commit,
            hardware,
            f"`{command}`" if command != NOT_RECORDED else command,
        ]
        for workload, regime, run_id, started, minutes, commit, hardware, command in rows
    ]
    return [
        write_csv(folder / "studies.csv", HEADER, rows),
        write_markdown(
            folder / "studies.md",
            "Where each study came from",
            [name.replace("_utc", " (UTC)").replace("_", " ") for name in HEADER],
            markdown_rows,
            [
                "The latest finished study of each workload and regime, as in winners.md. "
                "Minutes: from the parent run's start to its end, so a study resumed after an "
                "interruption counts the time it stood still. Commit: the code's git commit "
                "when the study started. Command: the command line that started it."
            ],
        ),
    ]


def study_row(result: StudyResult) -> list[str | float]:
    """One study's cells in :data:`HEADER`'s order."""
    start = result.parent.get("start_time")
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime(start / 1000)) if start else "—"
    return [
        result.tag(WORKLOAD_TAG),
        result.tag(REGIME_TAG),
        result.parent.get("run_id", ""),
        started,
        result.minutes,
        *(result.tag(key) or NOT_RECORDED for key in (GIT_COMMIT_TAG, HARDWARE_TAG, COMMAND_TAG)),
    ]
