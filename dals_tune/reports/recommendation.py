"""The files of ``python -m dals_tune recommend``: ``recommendation.md`` (what the command also
prints), ``recommendation.csv`` (the strategies to try first) and
``recommendation_leave_one_out.csv`` (one row per held-out study), rendered from the
:class:`~dals_tune.recommend.Advice` that ``recommend`` computes.

The three files are written in a temporary folder beside them and renamed into place once all
are written, so a failure leaves the previous ones.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dals_tune.reports.columns import metric_label, named_table, shared_objective
from dals_tune.reports.tables import Cell, format_value, markdown_table, write_csv

if TYPE_CHECKING:
    from dals_tune.recommend import Advice, FinishedStudy, HeldOut

MARKDOWN_FILE = "recommendation.md"
CSV_FILE = "recommendation.csv"
LEAVE_ONE_OUT_FILE = "recommendation_leave_one_out.csv"


def write_recommendation_files(folder: Path, advice: Advice) -> tuple[str, list[Path]]:
    """Write the three files into ``folder`` (created if missing), each replacing its
    predecessor only once all are written; return the Markdown and the files."""
    markdown = render_markdown(advice)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".recommendation-", dir=folder))
    try:
        (staging / MARKDOWN_FILE).write_text(markdown, encoding="utf-8")
        write_csv(staging / CSV_FILE, *_recommendation_table(advice))
        write_csv(staging / LEAVE_ONE_OUT_FILE, *_leave_one_out_table(advice))
        files = [folder / name for name in (MARKDOWN_FILE, CSV_FILE, LEAVE_ONE_OUT_FILE)]
        for path in files:  # all written: now each one replaces its predecessor at once
            os.replace(staging / path.name, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return markdown, files


def render_markdown(advice: Advice) -> str:
    """The report the command prints and writes: nearest studies, the strategies to try first
    with their evidence, and the single-best gap with its leave-one-out evaluation."""
    task = advice.task
    neighbours = [n.study.objective for n in advice.neighbours]
    mixed = shared_objective(neighbours) is None
    lines = [
        f"# Strategies to try first on {task.name}",
        "",
        f"New task: regime {task.regime}, model family {task.family}, "
        f"{_known(task.train_size)} training examples, {_known(task.depth)} depth groups.",
        "",
        f"## Nearest finished studies ({len(advice.neighbours)} of {len(advice.studies)})",
        "",
        *markdown_table(
            [
                "study",
                "family",
                "train size",
                "depth",
                "distance",
                "winner",
                f"val {metric_label(neighbours)}",
                "run id",
            ],
            [
                [
                    n.study.features.name,
                    n.study.features.family,
                    _known(n.study.features.train_size),
                    _known(n.study.features.depth),
                    f"{n.distance:.2f}",
                    n.study.winner.strategy,
                    _valued(n.study.winner.val_mean, n.study, mixed),
                    f"`{n.study.run_id}`",
                ]
                for n in advice.neighbours
            ],
        ),
        "",
        "Distance: 100 for another regime, 10 for another model family, plus the difference "
        "of log10 training sizes and a fifth of the difference in depth groups (each at most "
        "4; 4 when unknown).",
    ]
    if advice.left_out:
        lines += ["", f"Left out (every strategy failed): {', '.join(advice.left_out)}."]
    lines += [
        "",
        "## Strategies to try first",
        "",
        *markdown_table(
            ["rank", "strategy", "mean rank", "nearest studies run in", "wins", "why"],
            [
                [
                    str(position),
                    row.strategy,
                    f"{row.rank.mean_rank:.2f}",
                    f"{row.rank.studies} of {len(advice.neighbours)}",
                    str(row.rank.wins),
                    "; ".join(row.evidence),
                ]
                for position, row in enumerate(advice.recommendations, 1)
            ],
        ),
        "",
        "Mean rank: over the nearest studies the strategy took part in (a mean over fewer "
        "studies says less).",
        "",
        "## Single best strategy against the per-study best",
        "",
        f"Over {_studies(len(advice.studies))}, {advice.single_best.strategy} has "
        f"the best mean rank ({advice.single_best.mean_rank:.2f}); always using it trails each "
        f"study's winner by a mean of {format_value(advice.single_best_gap)} validation "
        f"{_metric_words(advice.studies)} (in-sample).",
        "",
        *_leave_one_out_markdown(advice),
    ]
    return "\n".join(lines) + "\n"


def _leave_one_out_markdown(advice: Advice) -> list[str]:
    result = advice.leave_one_out
    mixed = shared_objective([study.objective for study in advice.studies]) is None
    if result is None:
        return [
            "Leave-one-out needs at least two finished studies with a winner; the store has "
            f"{len(advice.studies)}, so there is nothing to evaluate yet."
        ]
    lines = [
        f"### Leave-one-out (k = {advice.k})",
        "",
        *markdown_table(
            [
                "held-out study",
                "best",
                "single best of the others",
                "regret",
                "recommended",
                "regret",
                "nearest others",
            ],
            [
                [
                    held.study.features.name,
                    _scored(held.study.winner.strategy, held.study.winner.val_mean, held, mixed),
                    _scored(held.single_best.strategy, held.single_best.value, held, mixed),
                    format_value(held.single_best.regret),
                    _scored(held.recommended.strategy, held.recommended.value, held, mixed),
                    format_value(held.recommended.regret),
                    ", ".join(n.study.features.name for n in held.neighbours),
                ]
                for held in result.rounds
            ],
        ),
        "",
    ]
    if result.skipped:
        lines += [f"Not evaluated (no strategy in common): {', '.join(result.skipped)}.", ""]
    if not result.rounds:
        return [*lines, "No held-out study shares a strategy with the others."]
    return [
        *lines,
        f"Mean regret over {_studies(len(result.rounds), 'held-out')}: single best "
        f"{format_value(result.single_best_regret)}, recommendation "
        f"{format_value(result.recommended_regret)}; {_closed(result.share_closed)}. "
        f"{_regret_words(advice)}",
        "",
        "Scaled by each held-out study's range (0 its winner, 1 its last strategy), which "
        f"adds like to like: single best {format_value(result.single_best_scaled)}, "
        f"recommendation {format_value(result.recommended_scaled)}; "
        f"{_closed(result.share_closed_scaled)}.",
    ]


def _closed(share: float) -> str:
    if math.isnan(share):
        return "the single best strategy has no gap to close"
    return f"the recommendation closes {share:.0%} of the single best strategy's gap"


def _recommendation_table(advice: Advice) -> tuple[list[str], list[list[Cell]]]:
    header = ["rank", "strategy", "mean_rank", "studies", "neighbours", "wins", "evidence"]
    rows: list[list[Cell]] = [
        [
            position,
            row.strategy,
            row.rank.mean_rank,
            row.rank.studies,
            len(advice.neighbours),
            row.rank.wins,
            "; ".join(row.evidence),
        ]
        for position, row in enumerate(advice.recommendations, 1)
    ]
    return header, rows


def _leave_one_out_table(advice: Advice) -> tuple[list[str], list[list[Cell]]]:
    fields = [
        "study",
        "run_id",
        "best_strategy",
        "best_val",
        "single_best",
        "single_best_val",
        "single_best_regret",
        "single_best_scaled_regret",
        "recommended",
        "recommended_val",
        "recommended_regret",
        "recommended_scaled_regret",
        "neighbours",
    ]
    rounds = advice.leave_one_out.rounds if advice.leave_one_out else ()
    rows: list[list[Cell]] = [
        [
            held.study.features.name,
            held.study.run_id,
            held.study.winner.strategy,
            held.study.winner.val_mean,
            held.single_best.strategy,
            held.single_best.value,
            held.single_best.regret,
            held.single_best.scaled_regret,
            held.recommended.strategy,
            held.recommended.value,
            held.recommended.regret,
            held.recommended.scaled_regret,
            ";".join(n.study.features.name for n in held.neighbours),
        ]
        for held in rounds
    ]
    objectives = [held.study.objective for held in rounds] or [
        study.objective for study in advice.studies
    ]
    return named_table(fields, rows, objectives)


def _valued(value: float, study: FinishedStudy, mixed: bool) -> str:
    """A validation value, followed by its study's metric when the studies' metrics differ."""
    shown = format_value(value)
    return f"{shown} {study.objective.metric}" if mixed else shown


def _scored(strategy: str, value: float, held: HeldOut, mixed: bool) -> str:
    return f"{strategy} {_valued(value, held.study, mixed)}"


def _metric_words(studies: Sequence[FinishedStudy]) -> str:
    """``accuracy``, or the units' warning for studies of different metrics."""
    shared = shared_objective([study.objective for study in studies])
    if shared is None:
        return "value (each study in its own metric's units)"
    return shared.full_name


def _regret_words(advice: Advice) -> str:
    shared = shared_objective([study.objective for study in advice.studies])
    if shared is not None and shared.metric == "acc":
        return (
            "Regret = the held-out study's best validation accuracy minus that of the chosen "
            "strategy (0 when it failed there)."
        )
    return (
        "Regret = how far the chosen strategy's validation value falls short of the held-out "
        "study's best, in that study's direction (a failed strategy scores the metric's floor, "
        "or without one the study's worst value)."
    )


def _studies(count: int, kind: str = "finished") -> str:
    return f"{count} {kind} {'study' if count == 1 else 'studies'}"


def _known(value: int | None) -> str:
    return "?" if value is None else str(value)
