"""The regime study behind ``python -m dals_tune benchmark``: every strategy on every workload,
from scratch and fine-tuning, with one budget per strategy, then the cross-study report.

A benchmark is a sequence of ordinary studies (``search.run_search``), one per workload and
regime of :data:`WORKLOADS`, all in one ``--out`` store, sized by a named :class:`Scale`.
Its progress lives in ``<out>/benchmark/<scale>.json``: a workload whose study finished is
skipped when the command runs again, and an interrupted study is resumed, so a long benchmark
can be run in parts. Every workload is checked (data, model, settings) before the first study
starts, so a missing dataset costs seconds, not the hours before its turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dals_tune.search import absolute_settings, check, interrupted_study, run_search
from dals_tune.study_settings import SearchSettings, StudyState

# (workload, regime): the cross-dataset table of DESIGN §6 and issue 6.
WORKLOADS: tuple[tuple[str, str], ...] = (
    ("synthetic", "scratch"),
    ("cifar10", "scratch"),
    ("trec6", "scratch"),
    ("trec6", "finetune"),
    ("rte", "finetune"),
    ("imdb", "finetune"),
)
TEXT_WORKLOADS = ("trec6", "rte", "imdb")  # they take --model (finetune and scratch alike)


@dataclass(frozen=True)
class Scale:
    """A named benchmark size: the same for every strategy, so every strategy gets the same
    budget. ``subset``/``eval_subset`` map a workload to its training / validation-and-test
    sizes (a workload not named uses the whole split); ``max_epochs`` maps a regime to the
    epochs of a trial."""

    name: str
    purpose: str
    samples: int  # search trials per strategy
    seeds: int  # seed re-runs of each strategy's best configuration
    max_epochs: Mapping[str, int]
    subset: Mapping[str, int] = field(default_factory=dict)
    eval_subset: Mapping[str, int] = field(default_factory=dict)
    scheduler: str = "asha"

    def settings(self, workload: str, regime: str, **common: object) -> SearchSettings:
        return SearchSettings(
            workload=workload,
            regime=regime,
            samples=self.samples,
            seeds=self.seeds,
            max_epochs=self.max_epochs[regime],
            scheduler=self.scheduler,
            subset=self.subset.get(workload),
            eval_subset=self.eval_subset.get(workload),
            **common,  # type: ignore[arg-type]
        )


SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        Scale(
            name="smoke",
            purpose="every code path in minutes (the test suite runs it on tiny fixtures)",
            samples=1,
            seeds=1,
            max_epochs={"scratch": 1, "finetune": 1},
            subset=dict.fromkeys(("synthetic", "cifar10", "trec6", "rte", "imdb"), 200),
            eval_subset=dict.fromkeys(("synthetic", "cifar10", "trec6", "rte", "imdb"), 100),
            scheduler="fifo",
        ),
        Scale(
            name="cpu",
            purpose="a laptop-scale answer, sized for about two hours on 2 CPU cores "
            "(an estimate until a measured run is in docs/results.md)",
            samples=2,
            seeds=2,
            max_epochs={"scratch": 6, "finetune": 2},
            subset={"synthetic": 6000, "cifar10": 3000, "trec6": 1000, "rte": 500, "imdb": 400},
            eval_subset={
                "synthetic": 2000,
                "cifar10": 1000,
                "trec6": 500,
                "rte": 277,
                "imdb": 400,
            },
        ),
        Scale(
            name="full",
            purpose="the paper's sizes, for a GPU cluster (--address): whole datasets",
            samples=20,
            seeds=3,
            max_epochs={"scratch": 30, "finetune": 4},
        ),
    )
}
STATE_FOLDER = "benchmark"


@dataclass
class BenchmarkState:
    """Which workloads' studies have finished: ``"workload/regime" → study id``."""

    scale: str
    finished: dict[str, str] = field(default_factory=dict)

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
            return cls(scale=scale, finished=dict(data["finished"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"cannot read the benchmark's progress file {path} ({error}); "
                "move it away to start the benchmark anew"
            ) from None

    def save(self, out: Path) -> None:
        path = self.path(out, self.scale)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".json.tmp")
        staging.write_text(json.dumps({"scale": self.scale, "finished": self.finished}, indent=2))
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
    """The benchmark's studies, one per (workload, regime), with absolute paths."""
    out = Path(out).expanduser().absolute()
    studies = []
    for workload, regime in workloads:
        settings = scale.settings(
            workload,
            regime,
            strategies=tuple(strategies),
            out=str(out),
            data_dir=data_dir,
            model=model if workload in TEXT_WORKLOADS else None,
            address=address,
        )
        studies.append(absolute_settings(settings))
    return studies


def run_benchmark(
    scale: Scale,
    studies: list[SearchSettings],
    verbose: bool = False,
    echo: Callable[[str], None] = print,
) -> BenchmarkResult:
    """Run the studies :func:`plan` made, in order (skipping finished ones, resuming an
    interrupted one), then write the cross-study report; see the module docstring."""
    from dals_tune import reports

    if not studies:
        raise ValueError("the benchmark has no workload to study")
    out = Path(studies[0].out)
    for settings in studies:  # every dataset and model is found before hours are spent
        check(settings)
    state = BenchmarkState.load(out, scale.name)
    skipped = []
    for settings in studies:
        key = f"{settings.workload}/{settings.regime}"
        if key in state.finished:
            echo(f"{key}: finished earlier (study {state.finished[key]}), skipped")
            skipped.append(key)
            continue
        echo(f"== {key} ({scale.name} scale) ==")
        result = run_search(
            settings, resume=_was_interrupted(out, settings), verbose=verbose, echo=echo
        )
        state.finished[key] = result.study_id
        state.save(out)
    files = reports.write_reports(out)
    return BenchmarkResult(studies=dict(state.finished), skipped=skipped, report_files=files)


def _was_interrupted(out: Path, settings: SearchSettings) -> bool:
    """Whether the newest unfinished study under ``out`` is this one, cut short earlier."""
    path = interrupted_study(out)
    if path is None:
        return False
    earlier = StudyState.load(path).settings
    return (earlier.workload, earlier.regime) == (settings.workload, settings.regime)


def describe_scales() -> str:
    """The scales as a Markdown table (for ``benchmark --help`` and the docs)."""
    lines = [
        "| scale | trials / strategy | seeds | epochs (scratch / finetune) | training subset "
        "| purpose |",
        "|---|---|---|---|---|---|",
    ]
    for scale in SCALES.values():
        subset = ", ".join(f"{k} {v}" for k, v in scale.subset.items()) or "whole splits"
        epochs = f"{scale.max_epochs['scratch']} / {scale.max_epochs['finetune']}"
        lines.append(
            f"| {scale.name} | {scale.samples} | {scale.seeds} | {epochs} | {subset} "
            f"| {scale.purpose} |"
        )
    return "\n".join(lines)
