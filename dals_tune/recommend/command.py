"""``python -m dals_tune recommend``: advice for one workload from a store, written as files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dals_tune.recommend.features import workload_features
from dals_tune.recommend.finished import finished_studies
from dals_tune.recommend.selection import Advice, advise
from dals_tune.reports.recommendation import write_recommendation_files
from dals_tune.reports.store_report import REPORTS_FOLDER
from dals_tune.study.settings import DEFAULT_NEIGHBOURS


@dataclass(frozen=True)
class WrittenAdvice:
    advice: Advice
    markdown: str
    files: list[Path]


def write_recommendation(
    out: Path | str,
    workload: str,
    options: Mapping[str, Any],
    k: int = DEFAULT_NEIGHBOURS,
    tracking_uri: str | None = None,
) -> WrittenAdvice:
    """``python -m dals_tune recommend``: advise on ``workload`` from the store under ``out``
    and write ``<out>/reports/recommendation.md``, ``recommendation.csv`` and
    ``recommendation_leave_one_out.csv``. The files are written in a temporary folder beside
    them and renamed into place once all are written. A missing store, a store without a
    finished study, an unknown workload or a missing dataset raises ``ValueError`` before
    anything is written."""
    from dals_tune.tracking import open_existing_store

    out = Path(out).expanduser().absolute()
    tracker = open_existing_store(out, tracking_uri)
    studies, left_out = finished_studies(tracker)
    if not studies:
        raise ValueError(
            f"the study store {tracker.tracking_uri} has no finished study with a winner; "
            f"run python -m dals_tune search --out {out} first"
        )
    task = workload_features(workload, options)
    advice = advise(task, studies, k, left_out)
    markdown, files = write_recommendation_files(out / REPORTS_FOLDER, advice)
    return WrittenAdvice(advice, markdown, files)
