"""The claims table's files: ``claims.csv``/``.md`` from
:func:`~dals_tune.reports.claims.claim_rows`, and with a synthetic study the epochs to 90 %
of every strategy (``epochs_to_90.csv``/``.md``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dals_tune.reports.claims import (
    CATASTROPHIC_GAP,
    FAST_ACCURACY,
    claim_rows,
    epochs_text,
    epochs_to_accuracy,
    study_of,
)
from dals_tune.reports.cross_study import StudyResult
from dals_tune.reports.tables import write_csv, write_markdown


def write_claims(folder: Path, results: Sequence[StudyResult]) -> list[Path]:
    """``claims.csv``/``.md`` and, with a synthetic study, ``epochs_to_90.csv``/``.md``."""
    rows = claim_rows(results)
    header = ["claim", "source", "paper", "study", "ours", "verdict", "evidence", "command"]
    cells = [
        [
            row.claim,
            row.source,
            row.paper,
            row.study,
            row.ours,
            row.verdict,
            row.evidence,
            row.command,
        ]
        for row in rows
    ]
    files = [
        write_csv(folder / "claims.csv", header, cells),
        write_markdown(
            folder / "claims.md",
            "Claims re-tested",
            header,
            [[*cell[:-1], f"`{cell[-1]}`"] for cell in cells],
            [
                "Verdicts follow the leaderboards' tie rule on validation values "
                "(docs/reports.md, *Ties*); 'ours' is mean ± std over the result runs, n of "
                f"them. Catastrophic: at least {CATASTROPHIC_GAP:.2f} below RAdam."
            ],
        ),
    ]
    synthetic = study_of(results, "synthetic", "scratch")
    if synthetic is not None:
        table = epochs_to_accuracy(synthetic)
        name = f"epochs_to_{round(FAST_ACCURACY * 100)}"
        files.append(
            write_csv(folder / f"{name}.csv", ["strategy", "median_epochs", "runs"], table)
        )
        files.append(
            write_markdown(
                folder / f"{name}.md",
                f"Epochs to {FAST_ACCURACY:.0%} test accuracy on synthetic",
                ["strategy", "median epochs", "runs"],
                [[name, epochs_text(epochs), str(runs)] for name, epochs, runs in table],
                [
                    "Median over each strategy's result runs; 'never' when the median run does "
                    "not get there within its epochs."
                ],
            )
        )
    return files
