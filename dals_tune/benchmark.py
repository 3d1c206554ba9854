"""The regime study behind ``python -m dals_tune benchmark``: every strategy on every workload,
from scratch and fine-tuning, with one budget per strategy, then the cross-study report.

A benchmark is a sequence of ordinary studies (``study.run_search``), one per workload and
regime of :data:`WORKLOADS`, all in one ``--out`` store, sized by a named
:class:`~dals_tune.benchmark_scales.Scale` (its rules: every strategy's learning rate searched
in every regime, trials of at least a few hundred optimizer steps). Its progress lives in
``<out>/benchmark/<scale>.json``: a workload whose study finished is skipped when the command
runs again, and an interrupted study is resumed, so a long benchmark can be run in parts.
Every workload is checked (data, model, settings) before the first study starts, so a missing
dataset costs seconds, not the hours before its turn; a study whose trials would take fewer
optimizer steps than the scale's rule is named then, in one line.

Refined schedules need a finished run to refine from. On a from-scratch workload the benchmark
therefore first runs a pilot: one trial of ``linear_decay_sgd`` at its default configuration,
as Defazio et al. (2023) refine from a linear-decay run, in a study of its own, for the study's
epochs. It refines that trial (:func:`dals_tune.refine.refine`). The refinement assumes norms
past their initial rise (:mod:`dals_tune.grad_norm_transient`); while the pilot's are still
rising, it runs again with twice the epochs, up to the scale's ``pilot_extensions`` times
(2× then 4× the study's epochs), and the last pilot is refined either way: its record
(``dals.refined_past_transient``) and one printed line say when it was too short. Then the
workload's study runs with ``refined`` among the strategies (``--refine-from`` the pilot
trial), so that ``refined`` is tuned with the same budget as ``linear_decay_sgd`` and
``cosine_sgd`` and ranked in the same table. The pilots are older than the main study, so the
cross-study tables, which count the latest finished study of each workload and regime, never
count them. ``refined`` is not benchmarked when fine-tuning: the issue asks for it on the
from-scratch workloads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dals_tune.benchmark_scales import SCALES, Scale, describe_scales
from dals_tune.strategies import REFINED
from dals_tune.study.preflight import (
    absolute_settings,
    check,
    interrupted_study,
    strategy_names,
)
from dals_tune.study.runner import run_search
from dals_tune.study.settings import STATE_FILE, SearchSettings, StudyState
from dals_tune.tracking_tags import KIND_TAG, STATUS_TAG
from dals_tune.trial import REGIMES

if TYPE_CHECKING:
    from dals_tune.tracking import Tracker

__all__ = ["SCALES", "WORKLOADS", "Scale", "describe_scales", "plan", "run_benchmark"]

# (workload, regime): the cross-dataset table of DESIGN §6 and issue 6.
WORKLOADS: tuple[tuple[str, str], ...] = (
    ("synthetic", "scratch"),
    ("cifar10", "scratch"),
    ("trec6", "scratch"),
    ("trec6", "finetune"),
    ("rte", "finetune"),
    ("imdb", "finetune"),
    ("lm", "scratch"),  # language-model pretraining: the regime schedules are studied in
)
TEXT_WORKLOADS = ("trec6", "rte", "imdb")  # they take --model (finetune and scratch alike)
REFINE_PILOT = "linear_decay_sgd"  # the run a from-scratch workload's refined schedule is from
STATE_FOLDER = "benchmark"


@dataclass
class BenchmarkState:
    """Which workloads' studies have finished (``"workload/regime" → study id``, pilots under
    ``"workload/regime/pilot"``) and which trial each refined study refines from
    (``"workload/regime" → run id``)."""

    scale: str
    finished: dict[str, str] = field(default_factory=dict)
    refine_from: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def path(out: Path, scale: str) -> Path:
        return out / STATE_FOLDER / f"{scale}.json"

    @classmethod
    def load(cls, out: Path, scale: str) -> BenchmarkState:
        path = cls.path(out, scale)
        if not path.exists():
            return cls(scale=scale)
        try:
            data = json.loads(path.read_text())
            return cls(
                scale=scale,
                finished=dict(data["finished"]),
                refine_from=dict(data.get("refine_from", {})),
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"cannot read the benchmark's progress file {path} ({error}); "
                "move it away to start the benchmark anew"
            ) from None

    def forget(self, out: Path, keys: tuple[str, ...]) -> None:
        """Drop these finished studies (``"workload/regime"``; pilots are kept), so that the
        next run studies them again, and save if any was there."""
        forgotten = [self.finished.pop(key) for key in keys if key in self.finished]
        if forgotten:
            self.save(out)

    def save(self, out: Path) -> None:
        path = self.path(out, self.scale)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".json.tmp")
        progress = {"scale": self.scale, "finished": self.finished, "refine_from": self.refine_from}
        staging.write_text(json.dumps(progress, indent=2))
        staging.replace(path)


@dataclass(frozen=True)
class BenchmarkResult:
    studies: dict[str, str]  # "workload/regime" → study id
    skipped: list[str]
    report_files: list[Path]


def plan(
    scale: Scale,
    out: Path | str,
    strategies: tuple[str, ...] | None = None,
    data_dir: str | None = None,
    model: str | None = None,
    address: str | None = None,
    workloads: tuple[tuple[str, str], ...] = WORKLOADS,
) -> list[SearchSettings]:
    """The benchmark's studies, one per (workload, regime), with absolute paths: the
    ``strategies`` named (None: the scale's own for each study) and ``model`` for the text
    workloads (None: the scale's choice, else the workload's default). ``refined`` (in
    ``"all"``, or named) is kept for the from-scratch workloads only; its ``refine_from`` is
    filled in by :func:`run_benchmark` once the pilot it refines from has run."""
    out = Path(out).expanduser().absolute()
    studies = []
    for workload, regime in workloads:
        own = scale.strategies_for(workload, regime)
        chosen = _studied_strategies(tuple(strategies if strategies is not None else own), regime)
        if not chosen:
            raise ValueError(
                f"'{REFINED}' is benchmarked on the from-scratch workloads only; name other "
                f"strategies too for {workload} ({regime})"
            )
        settings = scale.settings(
            workload,
            regime,
            strategies=chosen,
            out=str(out),
            data_dir=data_dir,
            model=model if workload in TEXT_WORKLOADS else None,
            address=address,
        )
        studies.append(absolute_settings(settings))
    return studies


def parse_workloads(text: str) -> tuple[tuple[str, str], ...]:
    """``--workloads``: a comma list of ``WORKLOAD/REGIME`` (a built-in id, ``csv:PATH``,
    ``lm:PATH`` or a user's ``module:function``), e.g. ``lm/scratch,my_task:build/scratch``;
    ``all`` is the benchmark's own list."""
    if text.strip() == "all":
        return WORKLOADS
    chosen = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        workload, slash, regime = item.rpartition("/")
        if not slash or not workload or regime not in REGIMES:
            raise ValueError(
                f"--workloads item {item!r} must be WORKLOAD/REGIME with a regime of "
                f"{', '.join(REGIMES)}, e.g. lm/scratch or my_task:build/finetune"
            )
        chosen.append((workload, regime))
    if not chosen:
        raise ValueError("--workloads needs at least one WORKLOAD/REGIME (or 'all')")
    return tuple(dict.fromkeys(chosen))


def _studied_strategies(requested: tuple[str, ...], regime: str) -> tuple[str, ...]:
    names = strategy_names(requested)
    if regime == "scratch":
        return tuple(names)
    return tuple(name for name in names if name != REFINED)


def wants_refined(settings: SearchSettings) -> bool:
    """Whether this benchmark study tunes ``refined``, and so needs a pilot to refine from."""
    return settings.regime == "scratch" and (
        settings.strategies == ("all",) or REFINED in settings.strategies
    )


def pilot_settings(settings: SearchSettings) -> SearchSettings:
    """The pilot of a study with ``refined``: one ``linear_decay_sgd`` trial at its default
    configuration, same data, epochs and seed, no re-runs."""
    return dataclasses.replace(
        settings, strategies=(REFINE_PILOT,), samples=1, seeds=0, scheduler="fifo"
    )


def run_benchmark(
    scale: Scale,
    studies: list[SearchSettings],
    verbose: bool = False,
    echo: Callable[[str], None] = print,
    redo: tuple[str, ...] = (),
) -> BenchmarkResult:
    """Run the studies :func:`plan` made, in order (skipping finished ones, resuming an
    interrupted one), then write the cross-study report; see the module docstring. ``redo``
    names finished studies (``"workload/regime"``) to run again, e.g. after their runs errored
    for a reason of the machine; the new study replaces the old one in the cross-study
    tables, and a pilot that ran is kept."""
    from dals_tune import reports

    if not studies:
        raise ValueError("the benchmark has no workload to study")
    keys = [f"{settings.workload}/{settings.regime}" for settings in studies]
    unknown = [key for key in redo if key not in keys]
    if unknown:
        raise ValueError(
            f"--redo {unknown[0]!r} is none of this benchmark's studies: {', '.join(keys)}"
        )
    out = Path(studies[0].out)
    for settings in studies:  # every dataset and model is found before hours are spent
        facts = check(_checkable(settings)).workload_facts
        if "steps_per_epoch" in facts:
            key = f"{settings.workload}/{settings.regime}"
            note = scale.short_trials(key, int(facts["steps_per_epoch"]), settings.max_epochs)
            if note is not None:
                echo(note)
    state = BenchmarkState.load(out, scale.name)
    state.forget(out, redo)
    skipped = []
    for settings in studies:
        key = f"{settings.workload}/{settings.regime}"
        if key in state.finished:
            echo(f"{key}: finished earlier (study {state.finished[key]}), skipped")
            skipped.append(key)
            continue
        if wants_refined(settings):
            refine_from = _refine_pilot(scale, settings, state, key, verbose, echo)
            settings = dataclasses.replace(settings, refine_from=refine_from)
        echo(f"== {key} ({scale.name} scale) ==")
        result = run_search(
            settings, resume=_was_interrupted(out, settings), verbose=verbose, echo=echo
        )
        state.finished[key] = result.study_id
        state.save(out)
    _mark_pilots(out, state, studies[0].tracking_uri)  # also those of a store from before the tag
    files = reports.write_reports(out)
    return BenchmarkResult(studies=dict(state.finished), skipped=skipped, report_files=files)


def _checkable(settings: SearchSettings) -> SearchSettings:
    """``settings`` as :func:`check` can take them before the pilot ran: without ``refined``,
    which has no run to refine from yet (the pilot's strategy if nothing else is left)."""
    if settings.strategies == ("all",):
        return settings
    others = tuple(name for name in settings.strategies if name != REFINED)
    return dataclasses.replace(settings, strategies=others or (REFINE_PILOT,))


def _refine_pilot(
    scale: Scale,
    settings: SearchSettings,
    state: BenchmarkState,
    key: str,
    verbose: bool,
    echo: Callable[[str], None],
) -> str:
    """The run id of the pilot trial that ``key``'s refined schedule comes from: run the
    pilot study and refine its trial, again with twice the epochs while its norms are still
    in their initial rise (up to ``scale.pilot_extensions`` times), unless an earlier run of
    the benchmark did. An interrupted longer pilot is resumed from the last finished one."""
    from dals_tune import refine, tracking

    out = Path(settings.out)
    if key in state.refine_from:
        return state.refine_from[key]
    pilot_key = f"{key}/pilot"
    longest = settings.max_epochs * 2**scale.pilot_extensions
    pilot = None if pilot_key in state.finished else pilot_settings(settings)
    while True:
        if pilot is not None:
            echo(f"== {key}: pilot for the refined schedule ({REFINE_PILOT}, one trial of "
                 f"{pilot.max_epochs} epochs) ==")  # fmt: skip
            resume = _was_interrupted(out, pilot)
            result = run_search(pilot, resume=resume, verbose=verbose, echo=echo)
            state.finished[pilot_key] = result.study_id
            state.save(out)
        folder = out / "studies" / state.finished[pilot_key]
        tracker = tracking.open_existing_store(out, settings.tracking_uri)
        if pilot is not None:  # tagged at once: a report written while the study runs skips it
            tracker.mark_pilot(result.parent_run_id, key)
        run_id, epochs = _pilot_trial(tracker, folder, state, key, out)
        refined = refine.refine(tracker, run_id, folder / "refined")
        echo(f"refined schedule from pilot trial {run_id}: {refined.plot_path}")
        if refined.transient.past or 2 * epochs > longest:
            break
        echo(f"{key}: the pilot's {epochs} epochs end {refined.transient.describe()}; "
             f"piloting again for {2 * epochs} epochs")  # fmt: skip
        pilot = dataclasses.replace(pilot_settings(settings), max_epochs=2 * epochs)
    note = refined.too_short_note()
    if note is not None:
        echo(note)
    state.refine_from[key] = run_id
    state.save(out)
    return run_id


def _mark_pilots(out: Path, state: BenchmarkState, tracking_uri: str | None) -> None:
    """Tag every finished pilot's study as one (``Tracker.mark_pilot``), so that no table
    counts it as its workload's study."""
    from dals_tune import tracking

    pilots = {key: study for key, study in state.finished.items() if key.endswith("/pilot")}
    if not pilots:
        return
    tracker = tracking.open_existing_store(out, tracking_uri)
    for key, study_id in pilots.items():
        recorded = StudyState.load(out / "studies" / study_id / STATE_FILE)
        if recorded.parent_run_id is not None:
            tracker.mark_pilot(recorded.parent_run_id, key.removesuffix("/pilot"))


def _pilot_trial(
    tracker: Tracker, folder: Path, state: BenchmarkState, key: str, out: Path
) -> tuple[str, int]:
    """The run id of the finished pilot study's trial in ``folder``, and its epochs; a
    pilot whose trial did not finish is forgotten, so the next run pilots anew, and is a
    one-line ``ValueError``."""
    recorded = StudyState.load(folder / STATE_FILE)
    children = tracker.trials_of(recorded.parent_run_id)
    trials = [run for run in children if run["tags"][KIND_TAG] == "trial"]
    if not trials or trials[0]["tags"][STATUS_TAG] == "errored":
        del state.finished[f"{key}/pilot"]
        state.save(out)
        raise ValueError(
            f"the {key} pilot trial did not finish, so there is nothing to refine from "
            f"(study {folder.name}); run the benchmark again to pilot anew"
        )
    return trials[0]["run_id"], recorded.settings.max_epochs


def _was_interrupted(out: Path, settings: SearchSettings) -> bool:
    """Whether the newest unfinished study under ``out`` is this one (same workload, regime
    and strategies: a pilot is not its workload's main study), cut short earlier."""
    path = interrupted_study(out)
    if path is None:
        return False
    earlier = StudyState.load(path).settings
    mine = (settings.workload, settings.regime, tuple(settings.strategies))
    return (earlier.workload, earlier.regime, tuple(earlier.strategies)) == mine
