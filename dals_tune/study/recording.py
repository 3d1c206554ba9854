"""What a study writes to the tracker: the parent run's tags, params and description, and a
child run for each judged trial. MLflow itself stays behind :mod:`dals_tune.tracking`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dals_tune import strategies
from dals_tune.grad_norm_series import step_grad_norms
from dals_tune.study.outcomes import TrialOutcome, is_default
from dals_tune.study.plans import samples_for
from dals_tune.study.preflight import CheckedStudy
from dals_tune.study.samplers import describe_sampler, searcher_for
from dals_tune.study.warm_start import source_tags
from dals_tune.tracking_tags import (
    BUDGET_TAG,
    DATASET_TAG,
    DEFAULT_TAG,
    MODE_TAG,
    MODEL_TAG,
    NODE_ID_TAG,
    REFINE_FROM_TAG,
    REGIME_TAG,
    SAMPLER_TAG,
    SCHEDULER_TAG,
    SEARCHER_TAG,
    SEED_TAG,
    SOURCE_TRIAL_TAG,
)

if TYPE_CHECKING:
    from dals_tune.reports.leaderboard import LeaderboardRow


def study_tags(checked: CheckedStudy) -> dict[str, Any]:
    settings, facts = checked.settings, checked.workload_facts
    searcher = searcher_for(settings.searcher, settings.scheduler)
    return {
        DATASET_TAG: facts.get("dataset", settings.workload),
        REGIME_TAG: checked.regime,
        MODEL_TAG: facts.get("model", ""),
        SEARCHER_TAG: searcher,
        SAMPLER_TAG: describe_sampler(searcher, settings.seed),
        SCHEDULER_TAG: settings.scheduler,
        MODE_TAG: settings.mode,
        BUDGET_TAG: budget(checked),
        SEED_TAG: settings.seed,
        **checked.objective.describe(),  # METRIC_TAG, METRIC_MODE_TAG, TARGET_TAG
    }


def budget(checked: CheckedStudy) -> str:
    """The study's budget in words, for its tag and so its leaderboard's notes: trials and
    epochs per strategy, what the trials search, and which strategies run one trial at their
    defaults because their space has nothing to search (``plans.samples_for``); for a race
    (``dals_tune.study.race``) the per-strategy budget is its cap."""
    settings = checked.settings
    text = f"{settings.samples} trials × {settings.max_epochs} epochs per strategy"
    if settings.search == "lr":
        text += " (learning rates searched, the rest fixed)"
    if settings.mode == "race":
        from dals_tune.study.race import ETA

        return f"race, at most {text} in all (successive halving, η = {ETA})"
    if settings.mode == "joint" or settings.samples == 1:
        return text
    single = [sid for sid in checked.strategy_ids if samples_for(checked, sid) == 1]
    if single:
        text += f"; 1 trial at its defaults for {', '.join(single)} (nothing to search)"
    return text


def study_params(checked: CheckedStudy) -> dict[str, Any]:
    settings, facts = checked.settings, checked.workload_facts
    return {
        "strategies": ",".join(checked.strategy_ids),
        "samples": settings.samples,
        "max_epochs": settings.max_epochs,
        "seeds": settings.seeds,
        "search": settings.search,
        "cpus_per_trial": settings.cpus_per_trial,
        "gpus_per_trial": settings.gpus_per_trial,
        "space_file": settings.space_file or "",
        "subset": settings.subset or "",
        "eval_subset": settings.eval_subset or "",
        "folds": settings.folds or "",
        "train_size": facts.get("train_size", ""),
        "val_size": facts.get("val_size", ""),
        "test_size": facts.get("test_size", ""),
        "refine_from": settings.refine_from or "",
        "depth": facts.get("depth", ""),
        "precision": facts.get("precision", ""),
        "warm_start": settings.warm_start or "",
    }


def record_trial(
    tracker: Any,
    parent_run_id: str,
    outcome: TrialOutcome,
    checked: CheckedStudy,
    best_configs: Mapping[str, Mapping[str, Any]],
    extra_tags: Mapping[str, Any] | None = None,
) -> None:
    """Log one judged trial as a child of the study's run (idempotent: a trial already
    logged is left as it is). A seed re-run is keyed by its strategy and seed. ``extra_tags``:
    what the trial's Tuner run adds (a race's round)."""
    from dals_tune.refine import GRAD_NORMS_DOCUMENT

    strategy_id, rerun = outcome.strategy, outcome.kind == "rerun"
    tags: dict[str, Any] = {NODE_ID_TAG: outcome.node_id or "", **(extra_tags or {})}
    if not rerun:
        default = is_default(outcome, checked.spaces.get(strategy_id))
        if default:
            tags[DEFAULT_TAG] = "1"
        tags.update(source_tags(outcome, default, checked.warm_start))
    if rerun:
        tags[SOURCE_TRIAL_TAG] = best_configs.get(strategy_id, {}).get("trial_id", "")
    if strategies.get(strategy_id).needs_source_run:
        tags[REFINE_FROM_TAG] = checked.settings.refine_from
        if checked.refine_source is not None:
            tags.update(checked.refine_source.transient_tag())
    norms = step_grad_norms(outcome.epochs)
    tracker.log_trial(
        parent_run_id,
        trial_id=strategy_id if rerun else outcome.trial_id,
        strategy=strategy_id,
        generation=strategies.get(strategy_id).generation,
        status=outcome.status,
        params=outcome.hyperparameters,
        epochs=outcome.epochs,
        error=outcome.error,
        kind=outcome.kind,
        seed=outcome.seed if rerun else None,
        tags=tags,
        documents={GRAD_NORMS_DOCUMENT: norms} if norms is not None else None,
        started_at=outcome.started_at,
        ended_at=outcome.ended_at,
    )


def study_description(
    rows: Sequence[LeaderboardRow],
    leaderboard_markdown: str,
    plots: Sequence[str],
    val_key: str = "val_acc",
) -> str:
    """The study's parent run description (Markdown): what a reviewer opening the run needs
    without clicking further. One line naming the winner with its validation score, how that
    score was measured (seed re-runs or the best trial alone) and the strategies tied with it
    for the first place; then the leaderboard; then the plots attached, by artifact path."""
    lines = [winner_line(rows, val_key), "", leaderboard_markdown.strip()]
    if plots:
        lines += ["", "Plots (in the run's artifacts):", *(f"- `{path}`" for path in plots)]
    return "\n".join(lines) + "\n"


def winner_line(rows: Sequence[LeaderboardRow], val_key: str = "val_acc") -> str:
    """``**Winner: dals**, val_acc 0.9300 ± 0.0040, mean ± std over 3 seed re-runs``; when the
    runs cannot separate others from it (its tie group, ``LeaderboardRow.tied_with``), the line
    says that the first place is a tie and names them all."""
    from dals_tune.reports.tables import format_mean_std

    if not rows or rows[0].failed:
        return "**No winner**: every strategy's runs diverged or errored."
    best = rows[0]
    score = format_mean_std(best.val_mean, best.val_std)
    if best.seeds == 0:
        measured = "the best search trial alone (no seed re-runs)"
    elif best.seeds == 1:
        measured = "one seed re-run"
    else:
        measured = f"mean ± std over {best.seeds} seed re-runs"
    if not best.tied_with:
        return f"**Winner: {best.strategy}**, {val_key} {score}, {measured}."
    others = best.tied_with.split(",")
    return (
        f"**Tie for first place: {', '.join([best.strategy, *others])}** (the runs cannot "
        f"separate them); best mean {best.strategy}, {val_key} {score}, {measured}."
    )
