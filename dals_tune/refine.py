"""Refined schedules (DESIGN §4 ``refined``): from a finished trial's per-step gradient norms
to the schedule that ``search --strategies refined --refine-from RUN_ID`` tunes the peak LR of.

The study driver logs every trial's per-step ℓ1 and ℓ2 gradient norms with its child run
(``grad_norms.json``: ``l1``, ``l2`` and ``epoch_ends``, the steps done by the end of each
epoch). ``python -m dals_tune refine --run RUN_ID`` (:func:`refine`) reads them, picks the base
optimizer the schedule is for (AdamW with ℓ1 norms after an Adam-type trial, SGD with ℓ2
norms otherwise), computes :func:`dals_tune.schedules.refined_schedule` over the trial's own
number of steps, plots it beside the LR the trial ran with, writes the values, and registers
the schedule on the trial's run: tags ``dals.refined``, ``dals.refined_base``,
``dals.refined_norm`` and ``dals.refined_past_transient``, and the JSON and the plot as
artifacts. The last says whether the trial's norms were past their initial rise
(:mod:`dals_tune.grad_norm_transient`), which the refinement assumes; a run too short for that
is refined all the same, and its record and the command's output say so.

A refined study reads that registration back (:func:`registered_source`), pins ``base`` and
``grad_norm_kind`` in the ``refined`` space, and hands the norms to its trials in a file
(:func:`write_trial_norms`) whose path is the trial setting ``source_run_file``, so Ray's trial
configs carry a path, not the whole series. Each trial computes the schedule for its own
number of steps: ``refined_schedule`` resamples the norms to 10,000 points and the schedule
to T steps, so a study with other epochs or batch counts gets the same shape stretched over
its own run.

MLflow is reached only through :class:`dals_tune.tracking.Tracker`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dals_tune import strategies
from dals_tune.grad_norm_transient import Transient, initial_rise
from dals_tune.schedules import refined_schedule
from dals_tune.strategies.refined import write_norms_file
from dals_tune.tracking_tags import (
    KIND_TAG,
    REFINED_BASE_TAG,
    REFINED_NORM_TAG,
    REFINED_PAST_TRANSIENT_TAG,
    REFINED_TAG,
    STRATEGY_TAG,
    STUDY_KIND,
    WORKLOAD_TAG,
)

if TYPE_CHECKING:
    from dals_tune.tracking import Tracker

GRAD_NORMS_DOCUMENT = "grad_norms.json"  # logged with every trial by the study driver
SCHEDULE_FILE = "refined_schedule.json"
PLOT_FILE = "refined_schedule.png"


@dataclass(frozen=True)
class RefineSource:
    """A finished trial's gradient norms, and the base optimizer a schedule from them is for."""

    run_id: str
    strategy: str  # the trial's own strategy
    workload: str
    base: str  # "sgd" | "adamw"
    grad_norm_kind: str  # "l2" | "l1"
    grad_norms: tuple[float, ...]  # one per optimizer step; NaN where it was not finite
    epoch_ends: tuple[int, ...]

    def pinned(self) -> dict[str, str]:
        """The ``refined`` hyperparameters a study fixes from this source."""
        return {"base": self.base, "grad_norm_kind": self.grad_norm_kind}

    @cached_property
    def transient(self) -> Transient:
        """Whether these norms are past their initial rise (the refinement's premise)."""
        return initial_rise(self.grad_norms)

    def transient_tag(self) -> dict[str, str]:
        """The tag that records it, on the source trial and on the trials refined from it."""
        return {REFINED_PAST_TRANSIENT_TAG: "1" if self.transient.past else "0"}


@dataclass(frozen=True)
class RefinedSchedule:
    """What :func:`refine` computed and wrote."""

    source: RefineSource
    multipliers: tuple[float, ...]  # s(t) for each step t of the source trial; peak 1, last 0
    schedule_path: Path
    plot_path: Path
    transient: Transient  # the source's norms against the initial-rise rule

    def too_short_note(self) -> str | None:
        """One line saying the source run was too short for the refinement, None when not."""
        if self.transient.past:
            return None
        return (
            f"note: trial {self.source.run_id} is {self.transient.describe()}; the refined "
            "schedule assumes norms past that rise, so it comes from a run too short for it "
            "(refine a longer run)"
        )


def refine(tracker: Tracker, run_id: str, folder: Path) -> RefinedSchedule:
    """Compute, plot, write (into ``folder``) and register the refined schedule of trial run
    ``run_id``. A run the store does not hold, a study's parent run, or a trial without
    gradient norms is a one-line ``ValueError``, raised before anything is written."""
    run = _trial_run(tracker, run_id)
    base = base_optimizer(run["tags"].get(STRATEGY_TAG, ""), run["params"])
    kind = strategies.REFINED_BASES[base][1]["scratch"]["grad_norm_kind"]
    source = _source(tracker, run, base, kind)
    try:
        multipliers = refined_schedule(
            source.grad_norms, len(source.grad_norms), source.grad_norm_kind
        )
    except ValueError as error:
        raise ValueError(f"run {run_id}: {error}") from None
    own_lr = _own_lr(tracker, run, source.epoch_ends)
    transient = source.transient
    folder.mkdir(parents=True, exist_ok=True)
    schedule_path = folder / SCHEDULE_FILE
    schedule_path.write_text(
        json.dumps(
            {
                "run_id": run_id,
                "strategy": source.strategy,
                "workload": source.workload,
                "base": source.base,
                "grad_norm_kind": source.grad_norm_kind,
                "total_steps": len(multipliers),
                "epoch_ends": list(source.epoch_ends),
                "past_transient": transient.past,
                "transient": transient.describe(),
                "multipliers": multipliers,
            },
            indent=1,
        )
    )
    title = (
        f"refined from {source.strategy} trial {run_id[:8]}: {source.base}, "
        f"{source.grad_norm_kind} norms, {len(multipliers)} steps"
        + ("" if transient.past else "; its norms still rising (run too short)")
    )
    plot_path = plot_refined_schedule(multipliers, own_lr, folder / PLOT_FILE, title)
    tags = {
        REFINED_TAG: "1",
        REFINED_BASE_TAG: source.base,
        REFINED_NORM_TAG: source.grad_norm_kind,
        **source.transient_tag(),
    }
    tracker.annotate_run(run_id, tags, [schedule_path, plot_path])
    return RefinedSchedule(source, tuple(multipliers), schedule_path, plot_path, transient)


def registered_source(tracker: Tracker, run_id: str) -> RefineSource:
    """The norms of a trial that :func:`refine` registered, with the base optimizer and norm
    it recorded; a run it did not register is a one-line ``ValueError`` saying what to run."""
    run = _trial_run(tracker, run_id)
    tags = run["tags"]
    if tags.get(REFINED_TAG) != "1":
        raise ValueError(
            f"run {run_id} has no refined schedule yet; run python -m dals_tune refine "
            f"--run {run_id} first"
        )
    base, kind = tags.get(REFINED_BASE_TAG, ""), tags.get(REFINED_NORM_TAG, "")
    if base not in strategies.REFINED_BASES or kind not in ("l1", "l2"):
        raise ValueError(
            f"run {run_id} has a damaged refined registration (base {base!r}, norm {kind!r}); "
            f"run python -m dals_tune refine --run {run_id} again"
        )
    return _source(tracker, run, base, kind)


def base_optimizer(strategy_id: str, params: dict[str, Any]) -> str:
    """The base a refined schedule from a ``strategy_id`` trial is for: the trial's own base
    for a refined trial; ``adamw`` after an Adam-type optimizer (its strategy has a ``beta1``:
    Adam, AdamW, Lion, LAMB, the hyperparameter-free ones...), whose ℓ1 norms the formula
    weights by ĝ⁻¹; otherwise ``sgd`` (ℓ2 norms, ĝ⁻²)."""
    if strategy_id == strategies.REFINED:
        base = params.get("base", "sgd")
        return base if base in strategies.REFINED_BASES else "sgd"
    strategy = strategies.REGISTRY.get(strategy_id)
    adam_type = strategy is not None and "beta1" in strategy.defaults["scratch"]
    return "adamw" if adam_type else "sgd"


def write_trial_norms(path: Path, source: RefineSource) -> Path:
    """The file a refined study's trials read their ``grad_norms`` from (the trial setting
    ``source_run_file``), in the refined strategy's own format."""
    return write_norms_file(path, source.run_id, source.grad_norms)


@dataclass(frozen=True)
class LoggedLR:
    """A trial's own LR as it logged it: ``name`` (``lr`` or ``lr/<layer>``), ``points``
    (step, LR) at each epoch's end, and ``peak``, its configured peak LR."""

    name: str
    points: list[tuple[int, float]]
    peak: float


def plot_refined_schedule(
    multipliers: Sequence[float], own_lr: LoggedLR | None, path: Path, title: str
) -> Path:
    """The refined multiplier per step, and the trial's own LR at the end of each epoch
    divided by its peak, on one axis (Agg canvas, no GUI)."""
    from matplotlib.figure import Figure

    from dals_tune.reports.plots import save_figure

    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(range(len(multipliers)), multipliers, label="refined schedule")
    if own_lr is not None:
        axes.plot(
            [step for step, _ in own_lr.points],
            [value / own_lr.peak for _, value in own_lr.points],
            "o--",
            label=f"the trial's own {own_lr.name} at each epoch's end ÷ {own_lr.peak:.3g}",
        )
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("LR ÷ peak LR")
    axes.set_ylim(-0.03, 1.05)
    axes.set_title(title, fontsize="medium")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return save_figure(figure, path)


def _trial_run(tracker: Tracker, run_id: str) -> dict[str, Any]:
    run = tracker.run(run_id)
    if run["tags"].get(KIND_TAG) == STUDY_KIND:
        raise ValueError(
            f"run {run_id} is a study's parent run; pass the run id of one of its trials "
            "(python -m dals_tune ui shows them)"
        )
    return run


def _source(tracker: Tracker, run: dict[str, Any], base: str, kind: str) -> RefineSource:
    run_id = run["run_id"]
    document = tracker.document(run_id, GRAD_NORMS_DOCUMENT)
    if not isinstance(document, dict) or not document.get("l2"):
        raise ValueError(
            f"run {run_id} has no per-step gradient norms ({GRAD_NORMS_DOCUMENT}): it ended "
            "before its first epoch, or was logged without them; refine another trial"
        )
    return RefineSource(
        run_id=run_id,
        strategy=run["tags"].get(STRATEGY_TAG, ""),
        workload=run["tags"].get(WORKLOAD_TAG, ""),
        base=base,
        grad_norm_kind=kind,
        grad_norms=tuple(math.nan if value is None else float(value) for value in document[kind]),
        epoch_ends=tuple(int(end) for end in document.get("epoch_ends", [])),
    )


def _own_lr(tracker: Tracker, run: dict[str, Any], epoch_ends: Sequence[int]) -> LoggedLR | None:
    """The trial's logged LR at each epoch's end, placed at the step it was reached: ``lr``,
    or the layer with the highest LR among ``lr/<layer>``. Its peak is the trial's ``lr``
    parameter (the peak, or top layer's, LR of its schedule), else the highest logged."""
    names = [key for key in run["metrics"] if key == "lr" or key.startswith("lr/")]
    histories = {name: tracker.metric_history(run["run_id"], name) for name in names}
    histories = {name: history for name, history in histories.items() if history}
    if not histories:
        return None
    peaks = {name: max(value for _, value in history) for name, history in histories.items()}
    name = "lr" if "lr" in histories else max(peaks, key=peaks.get)
    points = [
        (epoch_ends[epoch - 1], value)
        for epoch, value in histories[name]
        if 1 <= epoch <= len(epoch_ends) and math.isfinite(value)
    ]
    if not points:
        return None
    try:
        peak = float(run["params"]["lr"])
    except (KeyError, ValueError):
        peak = 0.0
    peak = peak if peak > 0 else max(value for _, value in points)
    return LoggedLR(name, points, peak) if peak > 0 else None
