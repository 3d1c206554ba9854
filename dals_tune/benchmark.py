"""The regime study behind ``python -m dals_tune benchmark``: every strategy on every workload,
from scratch and fine-tuning, with one budget per strategy, then the cross-study report.

A benchmark is a sequence of ordinary studies (``study.run_search``), one per workload and
regime of :data:`WORKLOADS`, all in one ``--out`` store, sized by a named :class:`Scale`.
Its progress lives in ``<out>/benchmark/<scale>.json``: a workload whose study finished is
skipped when the command runs again, and an interrupted study is resumed, so a long benchmark
can be run in parts. Every workload is checked (data, model, settings) before the first study
starts, so a missing dataset costs seconds, not the hours before its turn.

Refined schedules need a finished run to refine from. On a from-scratch workload the benchmark
therefore first runs a pilot: one trial of ``linear_decay_sgd`` at its default configuration,
as Defazio et al. (2023) refine from a linear-decay run, in a study of its own. It refines that
trial (:func:`dals_tune.refine.refine`) and then runs the workload's study with ``refined``
among the strategies (``--refine-from`` the pilot trial), so that ``refined`` is tuned with the
same budget as ``linear_decay_sgd`` and ``cosine_sgd`` and ranked in the same table. The pilot
study is older than the main one, so the cross-study tables, which count the latest finished
study of each workload and regime, never count it. ``refined`` is not benchmarked when
fine-tuning: the issue asks for it on the from-scratch workloads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass(frozen=True)
class Scale:
    """A named benchmark size: the same for every strategy, so every strategy gets the same
    budget. ``samples`` (search trials per strategy) and ``max_epochs`` (epochs of a trial)
    map a regime to its value, or a ``"workload/regime"`` to its own; ``subset`` and
    ``eval_subset`` map a workload to its training / validation-and-test sizes and
    ``max_length`` a text workload to its tokens per example (a workload not named uses the
    whole split and the task's own length)."""

    name: str
    purpose: str
    samples: Mapping[str, int]
    seeds: int  # seed re-runs of each strategy's best configuration
    max_epochs: Mapping[str, int]
    subset: Mapping[str, int] = field(default_factory=dict)
    eval_subset: Mapping[str, int] = field(default_factory=dict)
    max_length: Mapping[str, int] = field(default_factory=dict)
    scheduler: str = "asha"

    def settings(self, workload: str, regime: str, **common: object) -> SearchSettings:
        return SearchSettings(
            workload=workload,
            regime=regime,
            samples=self.samples.get(f"{workload}/{regime}", self.samples[regime]),
            seeds=self.seeds,
            max_epochs=self.max_epochs.get(f"{workload}/{regime}", self.max_epochs[regime]),
            scheduler=self.scheduler,
            subset=self.subset.get(workload),
            eval_subset=self.eval_subset.get(workload),
            max_length=self.max_length.get(workload),
            **common,  # type: ignore[arg-type]
        )


SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        Scale(
            name="smoke",
            purpose="every code path in minutes (the test suite runs it on tiny fixtures)",
            samples={"scratch": 1, "finetune": 1},
            seeds=1,
            max_epochs={"scratch": 2, "finetune": 1},  # a pilot to refine needs 2+ steps
            subset=dict.fromkeys(("synthetic", "cifar10", "trec6", "rte", "imdb", "lm"), 200),
            eval_subset=dict.fromkeys(("synthetic", "cifar10", "trec6", "rte", "imdb", "lm"), 100),
            max_length={"lm": 16},
            scheduler="fifo",
        ),
        Scale(
            name="cpu",
            purpose="a laptop-scale answer in about 2 hours on 2 CPU cores (1.9 h of "
            "studies measured, docs/results.md, before lm joined: its study adds about as "
            "much again); fine-tuning runs each strategy's default configuration only; lm "
            "counts documents",
            samples={"scratch": 2, "finetune": 1},
            seeds=2,
            max_epochs={"scratch": 5, "finetune": 1, "trec6/scratch": 2, "lm/scratch": 2},
            subset={
                "synthetic": 6000,
                "cifar10": 2000,
                "trec6": 300,
                "rte": 160,
                "imdb": 160,
                "lm": 100,
            },
            eval_subset={
                "synthetic": 2000,
                "cifar10": 1000,
                "trec6": 200,
                "rte": 100,
                "imdb": 100,
                "lm": 30,
            },
            max_length={"trec6": 32, "imdb": 128, "lm": 64},
        ),
        Scale(
            name="full",
            purpose="the paper's sizes, for a GPU cluster (--address): whole datasets",
            samples={"scratch": 20, "finetune": 20},
            seeds=3,
            max_epochs={"scratch": 30, "finetune": 4},
        ),
    )
}
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
    strategies: tuple[str, ...] = ("all",),
    data_dir: str | None = None,
    model: str | None = None,
    address: str | None = None,
    workloads: tuple[tuple[str, str], ...] = WORKLOADS,
) -> list[SearchSettings]:
    """The benchmark's studies, one per (workload, regime), with absolute paths. ``refined``
    (in ``"all"``, or named) is kept for the from-scratch workloads only; its ``refine_from``
    is filled in by :func:`run_benchmark` once the pilot it refines from has run."""
    out = Path(out).expanduser().absolute()
    studies = []
    for workload, regime in workloads:
        chosen = _strategies_for(tuple(strategies), regime)
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


def _strategies_for(requested: tuple[str, ...], regime: str) -> tuple[str, ...]:
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
        check(_checkable(settings))
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
            refine_from = _refine_pilot(settings, state, key, verbose, echo)
            settings = dataclasses.replace(settings, refine_from=refine_from)
        echo(f"== {key} ({scale.name} scale) ==")
        result = run_search(
            settings, resume=_was_interrupted(out, settings), verbose=verbose, echo=echo
        )
        state.finished[key] = result.study_id
        state.save(out)
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
    settings: SearchSettings,
    state: BenchmarkState,
    key: str,
    verbose: bool,
    echo: Callable[[str], None],
) -> str:
    """The run id of the pilot trial that ``key``'s refined schedule comes from: run the
    pilot study and refine its trial, unless an earlier run of the benchmark did."""
    from dals_tune import refine, tracking

    out = Path(settings.out)
    if key in state.refine_from:
        return state.refine_from[key]
    pilot_key = f"{key}/pilot"
    pilot = pilot_settings(settings)
    if pilot_key not in state.finished:
        echo(f"== {key}: pilot for the refined schedule ({REFINE_PILOT}, one trial) ==")
        result = run_search(pilot, resume=_was_interrupted(out, pilot), verbose=verbose, echo=echo)
        state.finished[pilot_key] = result.study_id
        state.save(out)
    folder = out / "studies" / state.finished[pilot_key]
    parent_run_id = StudyState.load(folder / STATE_FILE).parent_run_id
    tracker = tracking.open_existing_store(out, settings.tracking_uri)
    trials = [run for run in tracker.trials_of(parent_run_id) if run["tags"][KIND_TAG] == "trial"]
    if not trials or trials[0]["tags"][STATUS_TAG] == "errored":
        del state.finished[pilot_key]  # the next run pilots again instead of failing again
        state.save(out)
        raise ValueError(
            f"the {key} pilot trial did not finish, so there is nothing to refine from "
            f"(study {folder.name}); run the benchmark again to pilot anew"
        )
    run_id = trials[0]["run_id"]
    refined = refine.refine(tracker, run_id, folder / "refined")
    echo(f"refined schedule from pilot trial {run_id}: {refined.plot_path}")
    state.refine_from[key] = run_id
    state.save(out)
    return run_id


def _was_interrupted(out: Path, settings: SearchSettings) -> bool:
    """Whether the newest unfinished study under ``out`` is this one (same workload, regime
    and strategies: a pilot is not its workload's main study), cut short earlier."""
    path = interrupted_study(out)
    if path is None:
        return False
    earlier = StudyState.load(path).settings
    mine = (settings.workload, settings.regime, tuple(settings.strategies))
    return (earlier.workload, earlier.regime, tuple(earlier.strategies)) == mine


def describe_scales() -> str:
    """The scales as a Markdown table (for ``benchmark --help`` and the docs)."""
    lines = [
        "| scale | trials / strategy (scratch / finetune) | seeds | epochs (scratch / finetune) "
        "| training subset | purpose |",
        "|---|---|---|---|---|---|",
    ]
    for scale in SCALES.values():
        subset = ", ".join(f"{k} {v}" for k, v in scale.subset.items()) or "whole splits"
        epochs = f"{scale.max_epochs['scratch']} / {scale.max_epochs['finetune']}" + "".join(
            f"; {key} {value}" for key, value in scale.max_epochs.items() if "/" in key
        )
        samples = f"{scale.samples['scratch']} / {scale.samples['finetune']}"
        lengths = "".join(f"; {k} {v} tokens" for k, v in scale.max_length.items())
        lines.append(
            f"| {scale.name} | {samples} | {scale.seeds} | {epochs} | {subset}{lengths} "
            f"| {scale.purpose} |"
        )
    return "\n".join(lines)
