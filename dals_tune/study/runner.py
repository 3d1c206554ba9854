"""The study driver behind ``python -m dals_tune search`` (DESIGN §5, §7).

A study is one workload × a set of strategies × a budget × seeds. It runs in three steps:

1. **Search.** ``per-strategy`` mode: each strategy gets ``samples`` trials (its default
   configuration first, with ``--warm-start`` then its best configurations in the nearest
   finished studies, then the searcher's picks), pruned by ASHA within the strategy, so
   every strategy gets the same budget. ``joint`` mode: one Optuna study in which the
   strategy is itself a categorical choice with conditional parameters, with
   ``samples × strategies`` trials in all.
2. **Seed re-runs.** Each strategy's best configuration (by the validation metric, in the
   workload's direction) is trained
   again with ``seeds`` fresh seeds at the full budget; the leaderboard is the mean ± std of
   those re-runs, not the single lucky trial.
3. **Report.** Leaderboard, plots and the resolved config go to the study's parent run in
   MLflow, which ends carrying the winner.

Everything is written under ``--out``: ``mlflow.db`` + ``mlartifacts/`` (MLflow),
``optuna.db`` (the Optuna studies, for ``optuna-dashboard``), ``ray/<study>/`` (Tune's
experiment folders and checkpoints) and ``studies/<study>/`` (the study's settings, phase and
report files). A study cut short continues with ``--resume``: finished trials are kept (Tune's
``Tuner.restore``) and MLflow logging is idempotent, so nothing is lost or doubled.

Ray is reached only through :mod:`dals_tune.study.ray_tune` and MLflow only through
:mod:`dals_tune.tracking`; what Tune runs is planned in :mod:`dals_tune.study.plans`.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dals_tune.objective import Objective
from dals_tune.study import plans
from dals_tune.study.outcomes import TrialOutcome, best_outcome, judged
from dals_tune.study.preflight import CheckedStudy, absolute_settings, check, interrupted_study
from dals_tune.study.progress import Printer, Progress
from dals_tune.study.recording import (
    record_trial,
    study_description,
    study_params,
    study_tags,
)
from dals_tune.study.samplers import sampler_settings, searcher_for
from dals_tune.study.settings import SearchSettings, StudyState
from dals_tune.study.warm_start import WarmStart
from dals_tune.tracking_tags import HARDWARE_TAG
from dals_tune.workloads.user_module import shipped_files

NO_WINNER = "none"  # every strategy diverged or errored


@dataclass
class StudyResult:
    """A finished study: what ``search`` prints, and what ``dals_tune.search`` returns."""

    study_id: str
    parent_run_id: str
    winner: str
    winner_value: float  # the winner's mean validation value, in objective's units
    objective: Objective
    report_folder: Path
    leaderboard_markdown: str
    tune_runs: list[TuneRunTiming]
    tied_with: str = ""  # the others of the winner's tie group, comma-separated

    @property
    def leaderboard(self) -> Any:
        """The study's leaderboard (``leaderboard.csv``) as a pandas DataFrame, rank 1 first."""
        import pandas

        return pandas.read_csv(self.report_folder / "leaderboard.csv")


@dataclass(frozen=True)
class TuneRunTiming:
    """How long one Tuner run took against the time its trials spent in their own code:
    ``overhead_per_trial = (wall × slots − Σ trial seconds) / trials``, slots being the trials
    that can run at once. It counts Tune's scheduling, worker start-up and idle slots."""

    name: str
    wall_seconds: float
    trial_seconds: float
    trials: int
    slots: int

    @property
    def overhead_per_trial(self) -> float:
        busy = self.wall_seconds * self.slots - self.trial_seconds
        return busy / self.trials if self.trials else 0.0


def run_search(
    settings: SearchSettings, resume: bool = False, verbose: bool = False, echo: Printer = print
) -> StudyResult:
    """Run (or resume) a study and return its winner; see the module docstring."""
    from dals_tune import tracking
    from dals_tune.study import ray_tune  # after the check: bad input never waits for Ray

    settings = absolute_settings(settings)
    out = Path(settings.out)
    state_path: Path | None = None
    saved_warm_start = None
    if resume:
        state_path = interrupted_study(out)
        if state_path is None:
            raise ValueError(f"no interrupted study under {out} to resume; run search without it")
        state = StudyState.load(state_path)
        settings = state.settings
        if state.warm_start is not None:  # the points chosen when it began, not the store's now
            saved_warm_start = WarmStart.from_record(state.warm_start)
        echo(f"resuming study {state.study_id} (phase: {state.phase})")
    checked = check(settings, saved_warm_start)
    for warning in checked.warnings:
        echo(warning)
    cluster = ray_tune.connect(
        settings.address, verbose=verbose, py_modules=shipped_files(settings.workload)
    )
    try:
        tracker = tracking.open_store(out, settings.tracking_uri)
        if state_path is None:
            state = StudyState(study_id=_new_study_id(checked), settings=settings)
            if settings.warm_start is not None:
                state.warm_start = checked.warm_start.as_record()
        folder = out / "studies" / state.study_id
        folder.mkdir(parents=True, exist_ok=True)
        if checked.refine_source is not None:
            from dals_tune import refine

            refine.write_trial_norms(folder / plans.REFINE_FROM_FILE, checked.refine_source)
        if state.parent_run_id is None:
            tags = {**study_tags(checked), HARDWARE_TAG: cluster.hardware}
            state.parent_run_id = tracker.start_study(
                settings.workload, tags, study_params(checked)
            )
        else:
            tracker.mark_interrupted_runs(state.parent_run_id)
        state.save(folder)
        echo(
            f"study {state.study_id}: {settings.workload} ({checked.regime}), "
            f"{len(checked.strategy_ids)} strategies × {settings.samples} trials × "
            f"{settings.max_epochs} epochs{_folds_note(settings)}, {settings.seeds} seed "
            "re-runs each; "
            f"Ray: {cluster.address}, {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs"
        )
        runner = _StudyRunner(checked, state, tracker, out, echo, verbose, cluster.cpus)
        if state.phase == "search":
            state.best_configs = runner.search()
            state.phase = "reruns"
            state.save(folder)
        if state.phase == "reruns":
            runner.rerun(state.best_configs)
        result = runner.finish(folder)
        state.phase = "finished"
        state.save(folder)
        return result
    finally:
        ray_tune.disconnect()


def _folds_note(settings: SearchSettings) -> str:
    """`` of 5 folds`` with ``--folds 5``: each trial's epochs are epochs of every fold."""
    return "" if settings.folds is None else f" of {settings.folds} folds"


def _new_study_id(checked: CheckedStudy) -> str:
    prefix, colon, rest = checked.settings.workload.partition(":")
    if colon and prefix in ("csv", "lm"):  # named by a path: its file or folder name
        name = Path(rest).stem
    else:
        name = checked.settings.workload.replace(":", "-")  # a user's module:function
    # The random suffix keeps two studies started in the same second apart (same --out).
    return f"{name}-{checked.regime}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


class _StudyRunner:
    """The three steps of one study, with the state they share."""

    def __init__(
        self,
        checked: CheckedStudy,
        state: StudyState,
        tracker: Any,
        out: Path,
        echo: Printer,
        verbose: bool,
        cluster_cpus: float = 1.0,
    ) -> None:
        self.checked = checked
        self.settings = checked.settings
        self.state = state
        self.tracker = tracker
        self.out = out
        self.echo = echo
        self.verbose = verbose
        self.progress = Progress(plans.planned_trials(checked), echo, checked.objective)
        self.timings: list[TuneRunTiming] = []
        self.cluster_cpus = cluster_cpus

    def search(self) -> dict[str, dict[str, Any]]:
        """Run the search; return each strategy's best configuration (by validation), or in
        a race each survivor's (:mod:`dals_tune.study.race_driver`)."""
        if self.settings.mode == "race":
            from dals_tune.study.race_driver import run_race

            return run_race(self)
        outcomes: list[TrialOutcome] = []
        for plan in plans.search_plans(self.checked, self.state.study_id, self.out):
            outcomes += self._run(plan)
        best: dict[str, dict[str, Any]] = {}
        for strategy_id in self.checked.strategy_ids:
            trials = [o for o in outcomes if o.strategy == strategy_id]
            chosen = best_outcome(trials, self.checked.objective)
            if chosen is not None:
                best[strategy_id] = {
                    "trial_id": chosen.trial_id,
                    "value": chosen.best_value(self.checked.objective),
                    "config": chosen.hyperparameters,
                }
        self.progress.summary(best)
        return best

    def rerun(self, best_configs: Mapping[str, Mapping[str, Any]]) -> None:
        plan = plans.rerun_plan(self.checked, self.state.study_id, self.out, best_configs)
        if plan is None:
            return
        self.echo(
            "re-running each strategy's best configuration with seeds "
            f"{plans.rerun_seeds(self.checked)}"
        )
        self._run(plan)

    def _run(
        self, plan: plans.TrialPlan, tags: Mapping[str, Any] | None = None
    ) -> list[TrialOutcome]:
        """Run ``plan``; each trial is judged, announced when it ends and recorded in MLflow
        (with ``tags`` besides its own) once Tune has saved it (a resumed study never runs a
        recorded trial again). Returns every trial's judged outcome, all recorded."""
        from dals_tune.study import ray_tune
        from trainables import classification_trainable

        started = time.perf_counter()
        outcomes = ray_tune.run_trials(
            plan,
            classification_trainable,
            on_trial_done=lambda outcome: self.progress.announce(self._judged(outcome)),
            verbose=self.verbose,
            on_trial_saved=lambda outcome: self._record(self._judged(outcome), tags),
        )
        outcomes = [self._judged(outcome) for outcome in outcomes]
        for outcome in outcomes:  # the rest, and those finished before an interruption, once
            self._record(outcome, tags)
        wall = time.perf_counter() - started
        per_trial = max(self.settings.cpus_per_trial, 1e-9)
        slots = max(1, min(len(outcomes), int(self.cluster_cpus // per_trial)))
        self.timings.append(
            TuneRunTiming(plan.name, wall, sum(o.seconds for o in outcomes), len(outcomes), slots)
        )
        return outcomes

    def _judged(self, outcome: TrialOutcome) -> TrialOutcome:
        return judged(outcome, self.settings.max_epochs)

    def _record(self, outcome: TrialOutcome, tags: Mapping[str, Any] | None = None) -> None:
        record_trial(
            self.tracker,
            self.state.parent_run_id,
            outcome,
            self.checked,
            self.state.best_configs,
            extra_tags=tags,
        )

    def finish(self, folder: Path) -> StudyResult:
        from dals_tune import reports

        config_path = folder / "resolved_config.json"
        config_path.write_text(
            json.dumps(
                {
                    "settings": dataclasses.asdict(self.settings),
                    "regime": self.checked.regime,
                    "strategies": list(self.checked.strategy_ids),
                    "objective": self.checked.objective.describe(),
                    "sampler": sampler_settings(
                        searcher_for(self.settings.searcher, self.settings.scheduler),
                        self.settings.seed,
                    ),
                    "workload": self.checked.workload_facts,
                    "best_configs": self.state.best_configs,
                    "warm_start": self.state.warm_start,
                    **({"race_rounds": self.state.race_rounds} if self.state.race_rounds else {}),
                },
                indent=2,
                default=str,
            )
        )
        report = reports.write_study_report(self.tracker, self.state.parent_run_id, folder)
        leaderboard_markdown = (folder / "leaderboard.md").read_text()
        # finish_study attaches each file at the top of the run's artifacts, under its name.
        plots = [path.name for path in report.files if path.suffix == ".png"]
        self.tracker.finish_study(
            self.state.parent_run_id,
            report.winner or NO_WINNER,
            report.winner_value,
            [*report.files, config_path],
            status="FINISHED" if report.winner else "FAILED",
            tied_with=report.tied_with,
            description=study_description(
                report.rows, leaderboard_markdown, plots, self.checked.objective.val_key
            ),
        )
        return StudyResult(
            study_id=self.state.study_id,
            parent_run_id=self.state.parent_run_id,
            winner=report.winner or NO_WINNER,
            tied_with=report.tied_with,
            winner_value=report.winner_value,
            objective=report.objective,
            report_folder=folder,
            leaderboard_markdown=leaderboard_markdown,
            tune_runs=list(self.timings),
        )
