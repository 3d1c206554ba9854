"""The DALS paper's claims and two claims of the schedule literature, re-tested on the store's
latest finished studies: one row per claim and study, with the paper's number, ours, a verdict
and the command that produced the study.

Every verdict is one of :data:`VERDICTS` and follows the tie rule of the leaderboards
(:mod:`dals_tune.reports.ties`: Welch's t-test over seed re-runs, or a single run's noise
floor), on the validation values the studies select on; test values are shown beside them, as
the paper reports test accuracy. Strategy a *beats* b when a's mean is better and the two are
not tied; *cannot tell* is the verdict whenever the runs cannot separate what the claim
compares, or a study or strategy the claim needs is not in the store.

- **DALS is the best on synthetic**: holds when DALS alone holds the first place, cannot tell
  when it shares it, does not hold when it is outside it.
- **DALS-Fast reaches 90 % in 3 epochs**: the median over its result runs of the first epoch
  whose *test* accuracy reaches :data:`FAST_ACCURACY` (the paper's figure is a test accuracy,
  and synthetic's validation split holds a second, harder rule by design), at most
  :data:`FAST_EPOCHS`. :func:`epochs_to_accuracy` gives the same median for every strategy.
- **STLR+Discriminative fails catastrophically** (fine-tuning TREC-6; asked again of every
  from-scratch study): RAdam beats it by at least :data:`CATASTROPHIC_GAP` in validation
  accuracy. The paper's implementation (``stlr_discriminative_paper``) is tested the same way,
  so the table shows whether the defect explains the paper's number.
- **No single strategy wins across regimes**: does not hold when one strategy is in the first
  place of every study, holds otherwise (with two or more studies).
- **Linear decay beats cosine** (Defazio et al., arXiv 2310.07831), on every from-scratch
  study, language-model pretraining's loss included: ``linear_decay_sgd`` beats
  ``cosine_sgd``; and **refined beats both**. A single run on either side of a metric with
  no noise floor (a loss) is *cannot tell*: the tie rule would separate any two values.
- **Tuning changes the answer** (arXiv 2507.01724): the strategy with the best default
  configuration is outside the tuned first place. Kendall's τ between the strategies' default
  and tuned values is shown beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from dals_tune.objective import ACCURACY
from dals_tune.reports.cross_study import StudyResult
from dals_tune.reports.leaderboard import LeaderboardRow, median_or_none, validation_size_of
from dals_tune.reports.study_runs import History
from dals_tune.reports.ties import Sample, is_tied, noise_floor
from dals_tune.tracking_tags import COMMAND_TAG, REGIME_TAG, WORKLOAD_TAG

HOLDS, FAILS, CANNOT_TELL = "holds", "does not hold", "cannot tell at this size"
VERDICTS = (HOLDS, FAILS, CANNOT_TELL)
FAST_ACCURACY = 0.90  # DALS-Fast's claim: this test accuracy ...
FAST_EPOCHS = 3  # ... within this many epochs
CATASTROPHIC_GAP = 0.20  # a failure counts as catastrophic this far below RAdam (paper: 53.2)
PAPER = "DALS paper"
DEFAZIO = "arXiv 2310.07831"
LEARNING_RATE_CONTROL = "arXiv 2507.01724"


@dataclass(frozen=True)
class ClaimRow:
    """One claim on one study (or on all of them): ``ours`` says what the runs measured,
    ``evidence`` why the verdict is what it is, ``command`` how the study was started."""

    claim: str
    source: str
    paper: str
    study: str
    ours: str
    verdict: str
    evidence: str
    command: str


def claim_rows(results: Sequence[StudyResult]) -> list[ClaimRow]:
    """Every claim of the module docstring, in its order, on ``results`` (the latest finished
    study of each workload and regime)."""
    rows = [_dals_best(results), _dals_fast(results)]
    rows += _stlr_failures(results)
    rows.append(_no_single_winner(results))
    for result in _from_scratch(results):
        rows.append(
            _beats(result, "linear_decay_sgd", ("cosine_sgd",), "Linear decay beats cosine")
        )
        rows.append(
            _beats(result, "refined", ("linear_decay_sgd", "cosine_sgd"), "Refined beats both")
        )
    rows += [_tuning_matters(result) for result in results]
    return rows


def epochs_to_accuracy(
    result: StudyResult, accuracy: float = FAST_ACCURACY
) -> list[tuple[str, float | None, int]]:
    """Per strategy of ``result``: the median over its result runs of the first epoch whose
    test accuracy reaches ``accuracy`` (None when the median run never does) and the runs."""
    table = []
    for row in sorted(result.rows, key=lambda row: row.rank):
        histories = result.test_histories(row.strategy)
        epochs = [_first_epoch(history, accuracy) for history in histories]
        table.append((row.strategy, median_or_none(epochs) if epochs else None, len(epochs)))
    return table


# ----- the claims -------------------------------------------------------------------------------


def _dals_best(results: Sequence[StudyResult]) -> ClaimRow:
    claim = "DALS is the best strategy on synthetic"
    result = study_of(results, "synthetic", "scratch")
    row = _row(result, "dals")
    if result is None or row is None:
        return _missing(claim, PAPER, "98.0 % test, one seed", "synthetic/scratch", "dals")
    group = _first_place(result)
    if group == ["dals"]:
        verdict, evidence = HOLDS, "DALS alone holds the first place"
    elif "dals" in group:
        others = ", ".join(name for name in group if name != "dals")
        verdict, evidence = CANNOT_TELL, f"DALS shares the first place with {others}"
    else:
        verdict, evidence = FAILS, f"DALS ranks {row.rank}; first place: {', '.join(group)}"
    return _claim(claim, PAPER, "98.0 % test, one seed", result, _summary(row), verdict, evidence)


def _dals_fast(results: Sequence[StudyResult]) -> ClaimRow:
    claim = f"DALS-Fast reaches {FAST_ACCURACY:.0%} in {FAST_EPOCHS} epochs"
    result = study_of(results, "synthetic", "scratch")
    table = (
        {name: (epochs, runs) for name, epochs, runs in epochs_to_accuracy(result)}
        if result
        else {}
    )
    if "dals_fast" not in table or table["dals_fast"][1] == 0:
        return _missing(
            claim,
            PAPER,
            f"{FAST_ACCURACY:.0%} by epoch {FAST_EPOCHS}",
            "synthetic/scratch",
            "dals_fast",
        )
    epochs, runs = table["dals_fast"]
    reached = epochs is not None and epochs <= FAST_EPOCHS
    faster = sorted(
        name
        for name, (other, _) in table.items()
        if other is not None and (epochs is None or other < epochs)
    )
    evidence = f"{len(faster)} strategies get there sooner" + (
        f": {', '.join(faster[:5])}" if faster else ""
    )
    ours = f"median epoch {epochs_text(epochs)} (n = {runs})"
    return _claim(
        claim,
        PAPER,
        f"{FAST_ACCURACY:.0%} by epoch {FAST_EPOCHS}",
        result,
        ours,
        HOLDS if reached else FAILS,
        evidence,
    )


def _stlr_failures(results: Sequence[StudyResult]) -> list[ClaimRow]:
    rows = []
    # The gap is in accuracy: asked of the from-scratch studies that measure it.
    scratch = [r for r in _from_scratch(results) if r.objective.metric == ACCURACY.metric]
    for result in [study_of(results, "trec6", "finetune"), *scratch]:
        if result is None:
            continue
        for strategy in ("stlr_discriminative", "stlr_discriminative_paper"):
            rows.append(_catastrophe(result, strategy))
    if not rows:
        for strategy in ("stlr_discriminative", "stlr_discriminative_paper"):
            rows.append(
                _missing(
                    _stlr_claim(strategy),
                    PAPER,
                    "43.6 % against 96.8 % for RAdam",
                    "trec6/finetune",
                    strategy,
                )
            )
    return rows


def _stlr_claim(strategy: str) -> str:
    variant = (
        " (the paper's code: double decay, per-epoch steps)" if strategy.endswith("paper") else ""
    )
    return f"STLR+Discriminative{variant} fails catastrophically"


def _catastrophe(result: StudyResult, strategy: str) -> ClaimRow:
    claim, key = _stlr_claim(strategy), _key(result)
    paper = (
        "43.6 % against 96.8 % for RAdam"
        if key == "trec6/finetune"
        else "— (claim made for fine-tuning)"
    )
    row, radam = _row(result, strategy), _row(result, "radam")
    if row is None or radam is None or not _usable(row) or not _usable(radam):
        return _missing(claim, PAPER, paper, key, f"{strategy} or radam")
    gap = result.objective.score(radam.val_mean) - result.objective.score(row.val_mean)
    ours = f"{_summary(row)}; radam {_summary(radam)}"
    tied = _tied(result, radam, row)
    # Far enough behind holds unless the runs cannot tell the two apart; not far enough
    # behind does not hold either way.
    verdict = FAILS if gap < CATASTROPHIC_GAP else CANNOT_TELL if tied else HOLDS
    evidence = f"RAdam leads by {gap:+.3f}" + (" (tied)" if tied else "")
    return _claim(claim, PAPER, paper, result, ours, verdict, evidence)


def _no_single_winner(results: Sequence[StudyResult]) -> ClaimRow:
    claim = "No single strategy wins across regimes"
    if len(results) < 2:
        return ClaimRow(
            claim,
            PAPER,
            "winners differ by regime",
            "all studies",
            "—",
            CANNOT_TELL,
            "the store has fewer than two finished studies",
            "",
        )
    groups = [set(_first_place(result)) for result in results]
    counts: dict[str, int] = {}
    for group in groups:
        for name in group:
            counts[name] = counts.get(name, 0) + 1
    everywhere = sorted(name for name, count in counts.items() if count == len(results))
    most = max(counts.values(), default=0)
    leaders = sorted(name for name, count in counts.items() if count == most)
    ours = f"most first places: {', '.join(leaders)} ({most} of {len(results)} studies)"
    if everywhere:
        verdict, evidence = FAILS, f"{', '.join(everywhere)} is in every study's first place"
    else:
        verdict, evidence = HOLDS, "no strategy is in every study's first place"
    return ClaimRow(
        claim,
        PAPER,
        "winners differ by regime",
        "all studies",
        ours,
        verdict,
        evidence,
        "the commands of the studies above",
    )


def _beats(result: StudyResult, strategy: str, others: tuple[str, ...], claim: str) -> ClaimRow:
    row = _row(result, strategy)
    rivals = [rival for rival in (_row(result, name) for name in others) if rival is not None]
    if (
        row is None
        or not _usable(row)
        or len(rivals) < len(others)
        or not all(map(_usable, rivals))
    ):
        return _missing(
            claim, DEFAZIO, "it does, on their tasks", _key(result), ", ".join((strategy, *others))
        )
    objective = result.objective
    best = max(rivals, key=lambda rival: objective.score(rival.val_mean))
    ours = "; ".join(f"{item.strategy} {_summary(item)}" for item in (row, *rivals))
    if _unmeasured(result, best, row):
        verdict = CANNOT_TELL
        evidence = f"one run of {strategy} or {best.strategy}, in a metric with no noise floor"
    elif _tied(result, best, row):
        verdict, evidence = CANNOT_TELL, f"{strategy} and {best.strategy} are tied"
    elif objective.score(row.val_mean) > objective.score(best.val_mean):
        verdict, evidence = HOLDS, f"{strategy} beats {best.strategy}, the better of the others"
    else:
        verdict, evidence = FAILS, f"{best.strategy} beats {strategy}"
    return _claim(claim, DEFAZIO, "it does, on their tasks", result, ours, verdict, evidence)


def _tuning_matters(result: StudyResult) -> ClaimRow:
    claim = "Tuning changes the answer: the best default is not the tuned winner"
    paper = "rankings of defaults mislead"
    objective = result.objective
    both = [
        row
        for row in result.rows
        if _usable(row) and row.default_val is not None and math.isfinite(row.default_val)
    ]
    if len(both) < 2:
        return _missing(claim, LEARNING_RATE_CONTROL, paper, _key(result), "default trials")
    best_default = max(both, key=lambda row: objective.score(row.default_val or math.nan))
    group = _first_place(result)
    tau = stats.kendalltau(
        [objective.score(row.default_val or math.nan) for row in both],
        [objective.score(row.val_mean) for row in both],
    ).statistic
    improved = sum(bool(row.tuned_beats_default) for row in both)
    ours = (
        f"best default {best_default.strategy} ({best_default.default_val:.4f}); tuned "
        f"first place {', '.join(group)}; τ = {tau:.2f} over {len(both)}; tuning beat the "
        f"default for {improved} of {len(both)}"
    )
    if best_default.strategy in group:
        verdict, evidence = FAILS, "the best default is in the tuned first place"
    else:
        verdict, evidence = HOLDS, f"{best_default.strategy} is outside the tuned first place"
    return _claim(claim, LEARNING_RATE_CONTROL, paper, result, ours, verdict, evidence)


# ----- helpers ----------------------------------------------------------------------------------


def study_of(results: Sequence[StudyResult], workload: str, regime: str) -> StudyResult | None:
    """The study of ``workload`` in ``regime`` among ``results``; None when it has not run."""
    for result in results:
        if result.tag(WORKLOAD_TAG) == workload and result.tag(REGIME_TAG) == regime:
            return result
    return None


def _from_scratch(results: Sequence[StudyResult]) -> list[StudyResult]:
    """Every from-scratch study, whatever its metric: the schedule literature's claims are
    made of language-model pretraining (a loss) as much as of classifiers."""
    return [result for result in results if result.tag(REGIME_TAG) == "scratch"]


def _row(result: StudyResult | None, strategy: str) -> LeaderboardRow | None:
    if result is None:
        return None
    return next((row for row in result.rows if row.strategy == strategy), None)


def _usable(row: LeaderboardRow) -> bool:
    return not row.failed and math.isfinite(row.val_mean)


def _first_place(result: StudyResult) -> list[str]:
    return [row.strategy for row in result.rows if row.rank == 1 and not row.failed]


def _tied(result: StudyResult, one: LeaderboardRow, other: LeaderboardRow) -> bool:
    """Whether the runs cannot separate the two, judged from the better one (whose noise
    floor a single run is measured against), as a leaderboard judges from its leader."""
    score = result.objective.score
    leader, trailer = (one, other) if score(one.val_mean) >= score(other.val_mean) else (other, one)
    val_size = validation_size_of(result.parent.get("params", {}))
    return is_tied(_sample(leader), _sample(trailer), result.objective, val_size)


def _unmeasured(result: StudyResult, one: LeaderboardRow, other: LeaderboardRow) -> bool:
    """Whether a single run on either side meets a metric without a single run's noise floor
    (a loss): the tie rule then separates any two unequal values, which a claim cannot take
    as evidence."""
    val_size = validation_size_of(result.parent.get("params", {}))
    floor = noise_floor(_sample(one), result.objective, val_size)
    return min(one.runs, other.runs) < 2 and floor == 0


def _sample(row: LeaderboardRow) -> Sample:
    return Sample(row.val_mean, row.val_std, max(row.runs, 1))


def _summary(row: LeaderboardRow) -> str:
    return (
        f"val {row.val_mean:.3f}{_spread(row.val_std)}, test {row.test_mean:.3f}"
        f"{_spread(row.test_std)} (n = {row.runs})"
    )


def _spread(std: float) -> str:
    return "" if math.isnan(std) else f" ± {std:.3f}"


def _first_epoch(history: History, accuracy: float) -> float:
    return next((float(epoch) for epoch, value in history if value >= accuracy), math.inf)


def epochs_text(epochs: float | None) -> str:
    """A median epoch as a table shows it: ``2``, ``2.5``, or ``never``."""
    return "never" if epochs is None else f"{epochs:g}"


def _key(result: StudyResult) -> str:
    return f"{result.tag(WORKLOAD_TAG)}/{result.tag(REGIME_TAG)}"


def _command(result: StudyResult) -> str:
    return result.tag(COMMAND_TAG) or "not recorded (a study older than the command tag)"


def _claim(
    claim: str, source: str, paper: str, result: StudyResult, ours: str, verdict: str, evidence: str
) -> ClaimRow:
    return ClaimRow(claim, source, paper, _key(result), ours, verdict, evidence, _command(result))


def _missing(claim: str, source: str, paper: str, study: str, needs: str) -> ClaimRow:
    return ClaimRow(
        claim,
        source,
        paper,
        study,
        "—",
        CANNOT_TELL,
        f"the store has no finished {study} study with {needs}",
        "",
    )
