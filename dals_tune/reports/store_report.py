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

from dals_tune.reports.cross_study import StudyResult, latest_finished
from dals_tune.reports.cross_study_files import write_cross_study_files
from dals_tune.reports.study_report import write_study_files
from dals_tune.reports.study_runs import load_study
from dals_tune.tracking_tags import REGIME_TAG, WORKLOAD_TAG

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
            results[parent["run_id"]] = StudyResult(parent, report.rows, tuple(study.runs))
            written += report.files
        counted = [results[parent["run_id"]] for parent in latest_finished(studies)]
        written += write_cross_study_files(staging, counted)
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
    name = f"{tags.get(WORKLOAD_TAG) or 'workload'}-{tags.get(REGIME_TAG) or 'regime'}"
    return f"{_UNSAFE.sub('_', name)}-{parent['run_id'][:8]}"


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
