"""The study driver behind ``python -m dals_tune search`` (DESIGN §5, §7).

A study is one workload × a set of strategies × a budget × seeds. It runs in three steps:

1. **Search.** ``per-strategy`` mode: each strategy gets its own Tuner run of ``samples``
   trials (its default configuration first, then the searcher's picks), pruned by ASHA within
   the strategy, so every strategy gets the same budget. ``joint`` mode: one Optuna study in
   which the strategy is itself a categorical choice with conditional parameters, with
   ``samples × strategies`` trials in all.
2. **Seed re-runs.** Each strategy's best configuration (by validation accuracy) is trained
   again with ``seeds`` fresh seeds at the full budget; the leaderboard is the mean ± std of
   those re-runs, not the single lucky trial.
3. **Report.** Leaderboard, plots and the resolved config go to the study's parent run in
   MLflow, which ends carrying the winner.

Everything is written under ``--out``: ``mlflow.db`` + ``mlartifacts/`` (MLflow),
``optuna.db`` (the Optuna studies, for ``optuna-dashboard``), ``ray/<study>/`` (Tune's
experiment folders and checkpoints) and ``studies/<study>/`` (the study's settings, phase and
report files). A study cut short continues with ``--resume``: finished trials are kept (Tune's
``Tuner.restore``) and MLflow logging is idempotent, so nothing is lost or doubled.

Ray is reached only through ``dals_tune.study`` and MLflow only through ``dals_tune.tracking``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dals_tune import strategies
from dals_tune.study_settings import (
    MODES,
    SCHEDULERS,
    SEARCHERS,
    STATE_FILE,
    SearchSettings,
    StudyState,
)
from dals_tune.tracking_tags import (
    BUDGET_TAG,
    DATASET_TAG,
    DEFAULT_TAG,
    MODE_TAG,
    MODEL_TAG,
    NODE_ID_TAG,
    REFINE_FROM_TAG,
    REGIME_TAG,
    SCHEDULER_TAG,
    SEARCHER_TAG,
    SEED_TAG,
    SOURCE_TRIAL_TAG,
    TARGET_ACCURACY_TAG,
)
from dals_tune.workloads import build_workload
from dals_tune.workloads.config import resolve_data_dir

NO_WINNER = "none"  # every strategy diverged or errored
REFINE_FROM_FILE = "refine_from.json"  # the --refine-from norms the refined trials read


@dataclass
class StudyResult:
    study_id: str
    parent_run_id: str
    winner: str
    winner_val_acc: float
    report_folder: Path
    leaderboard_markdown: str
    tune_runs: list[TuneRunTiming]


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


Printer = Callable[[str], None]


# ----- checking the settings (before anything is written) ------------------------------------


@dataclass(frozen=True)
class CheckedStudy:
    """Settings checked and resolved: strategy ids, their spaces, the workload's facts."""

    settings: SearchSettings
    strategy_ids: tuple[str, ...]
    spaces: dict[str, Any]
    regime: str
    target_accuracy: float
    workload_facts: dict[str, Any]
    refine_source: Any = None  # refine.RefineSource of --refine-from, for `refined`


def check(settings: SearchSettings) -> CheckedStudy:
    """Refuse bad settings with a one-line ``ValueError`` before the driver writes anything:
    unknown strategies or workload, a missing dataset, a bad space file, impossible budgets."""
    import search_spaces

    for name, value in (("samples", settings.samples), ("max-epochs", settings.max_epochs)):
        if value < 1:
            raise ValueError(f"--{name} must be a positive integer, got {value}")
    if settings.seeds < 0:
        raise ValueError(f"--seeds must be 0 or more, got {settings.seeds}")
    for name, value, allowed in (
        ("mode", settings.mode, MODES),
        ("scheduler", settings.scheduler, SCHEDULERS),
        ("searcher", settings.searcher, SEARCHERS),
    ):
        if value not in allowed:
            raise ValueError(f"--{name} must be one of {', '.join(allowed)}, got {value!r}")
    if settings.mode == "joint" and settings.scheduler == "pbt":
        raise ValueError(
            "--scheduler pbt mutates one strategy's knobs; use it with --mode per-strategy"
        )
    if settings.cpus_per_trial <= 0 or settings.gpus_per_trial < 0:
        raise ValueError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    from dals_tune import tracking

    tracking.check_store(settings.out, settings.tracking_uri)  # before Ray starts, creating nothing
    strategy_ids = resolve_strategies(settings.strategies, settings.refine_from is not None)
    refine_source = _refine_source(settings, strategy_ids)
    pinned = {"refined": refine_source.pinned()} if refine_source is not None else {}
    probe = {**settings.trial_constants(settings.regime or "scratch"), "device": "cpu"}
    if settings.regime is None:
        probe.pop("regime")
    workload = build_workload(probe)  # a missing dataset or model fails here, in one line
    regime = workload.regime
    if settings.space_file is not None:
        spaces = search_spaces.load_space_file(settings.space_file, strategy_ids, regime, pinned)
    else:
        spaces = {
            sid: search_spaces.space_for(sid, regime, pinned.get(sid)) for sid in strategy_ids
        }
    facts = workload.describe()
    return CheckedStudy(
        settings=settings,
        strategy_ids=strategy_ids,
        spaces=spaces,
        regime=regime,
        target_accuracy=float(workload.target_accuracy),
        workload_facts=facts,
        refine_source=refine_source,
    )


def _refine_source(settings: SearchSettings, strategy_ids: tuple[str, ...]) -> Any:
    """The norms ``--refine-from`` names, as ``refine`` registered them, when the study tunes
    ``refined``; read from the study's store, which must exist already."""
    if "refined" not in strategy_ids:
        if settings.refine_from is not None:
            raise ValueError("--refine-from is for the 'refined' strategy; add it to --strategies")
        return None
    if settings.refine_from is None:
        raise ValueError(
            "the 'refined' strategy tunes a schedule refined from a finished trial: run "
            "python -m dals_tune refine --run RUN_ID, then pass --refine-from RUN_ID"
        )
    from dals_tune import refine, tracking

    tracker = tracking.open_existing_store(settings.out, settings.tracking_uri)
    source = refine.registered_source(tracker, settings.refine_from)
    if source.workload != settings.workload:
        raise ValueError(
            f"run {source.run_id} trained on workload {source.workload!r}, this study is on "
            f"{settings.workload!r}; refine a trial of the same workload"
        )
    return source


def resolve_strategies(
    requested: tuple[str, ...] | list[str], with_refined: bool = False
) -> tuple[str, ...]:
    """``("all",)`` → every registered strategy (``refined`` only ``with_refined``, when the
    study has a run to refine from); otherwise the ids, checked, deduplicated."""
    names = strategy_names(requested)
    if not names:
        raise ValueError("--strategies needs at least one strategy id (or 'all')")
    if names == ["all"]:
        # `refined` needs a finished run to refine from (--refine-from); without one, not "all".
        return tuple(sid for sid in strategies.REGISTRY if with_refined or sid != "refined")
    return tuple(dict.fromkeys(strategies.get(name).id for name in names))


def strategy_names(requested: tuple[str, ...] | list[str]) -> list[str]:
    """The ids of a ``--strategies`` value (items may hold comma lists), as written."""
    return [name.strip() for item in requested for name in str(item).split(",") if name.strip()]


def absolute_settings(settings: SearchSettings) -> SearchSettings:
    """Paths made absolute: Ray runs each trial in its own working directory, and a study must
    find its store and data again when resumed from elsewhere."""
    changes: dict[str, Any] = {"out": str(Path(settings.out).expanduser().absolute())}
    changes["data_dir"] = str(resolve_data_dir(settings.data_dir).absolute())
    if settings.space_file is not None:
        changes["space_file"] = str(Path(settings.space_file).expanduser().absolute())
    if settings.workload.startswith("csv:"):
        path = Path(settings.workload.removeprefix("csv:")).expanduser().absolute()
        changes["workload"] = f"csv:{path}"
    return dataclasses.replace(settings, **changes)


def interrupted_study(out: Path) -> Path | None:
    """The newest study under ``out`` that has not finished, if any. A state file that cannot
    be read counts as unfinished, so that ``StudyState.load`` refuses it by name instead of an
    older study being resumed in its place."""
    states = sorted((out / "studies").glob(f"*/{STATE_FILE}"), key=lambda p: p.stat().st_mtime)
    for path in reversed(states):
        try:
            finished = json.loads(path.read_text()).get("phase") == "finished"
        except (OSError, ValueError, AttributeError):
            return path
        if not finished:
            return path
    return None


# ----- running a study -----------------------------------------------------------------------


def run_search(
    settings: SearchSettings, resume: bool = False, verbose: bool = False, echo: Printer = print
) -> StudyResult:
    """Run (or resume) a study and return its winner; see the module docstring."""
    from dals_tune import study, tracking

    settings = absolute_settings(settings)
    out = Path(settings.out)
    state_path: Path | None = None
    if resume:
        state_path = interrupted_study(out)
        if state_path is None:
            raise ValueError(f"no interrupted study under {out} to resume; run search without it")
        state = StudyState.load(state_path)
        settings = state.settings
        echo(f"resuming study {state.study_id} (phase: {state.phase})")
    checked = check(settings)
    cluster = study.connect(settings.address, verbose=verbose)
    try:
        tracker = tracking.open_store(out, settings.tracking_uri)
        if state_path is None:
            state = StudyState(study_id=_new_study_id(checked), settings=settings)
        folder = out / "studies" / state.study_id
        folder.mkdir(parents=True, exist_ok=True)
        if checked.refine_source is not None:
            from dals_tune import refine

            refine.write_trial_norms(folder / REFINE_FROM_FILE, checked.refine_source)
        if state.parent_run_id is None:
            state.parent_run_id = tracker.start_study(
                settings.workload, _study_tags(checked), _study_params(checked)
            )
        else:
            tracker.mark_interrupted_runs(state.parent_run_id)
        state.save(folder)
        echo(
            f"study {state.study_id}: {settings.workload} ({checked.regime}), "
            f"{len(checked.strategy_ids)} strategies × {settings.samples} trials × "
            f"{settings.max_epochs} epochs, {settings.seeds} seed re-runs each; "
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
        study.disconnect()


def _new_study_id(checked: CheckedStudy) -> str:
    name = checked.settings.workload.removeprefix("csv:")
    name = Path(name).stem if checked.settings.workload.startswith("csv:") else name
    # The random suffix keeps two studies started in the same second apart (same --out).
    return f"{name}-{checked.regime}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


def _study_tags(checked: CheckedStudy) -> dict[str, Any]:
    settings, facts = checked.settings, checked.workload_facts
    searcher = "random" if settings.scheduler == "pbt" else settings.searcher
    return {
        DATASET_TAG: facts.get("dataset", settings.workload),
        REGIME_TAG: checked.regime,
        MODEL_TAG: facts.get("model", ""),
        SEARCHER_TAG: searcher,
        SCHEDULER_TAG: settings.scheduler,
        MODE_TAG: settings.mode,
        BUDGET_TAG: f"{settings.samples} trials × {settings.max_epochs} epochs per strategy",
        SEED_TAG: settings.seed,
        TARGET_ACCURACY_TAG: checked.target_accuracy,
    }


def _study_params(checked: CheckedStudy) -> dict[str, Any]:
    settings = checked.settings
    return {
        "strategies": ",".join(checked.strategy_ids),
        "samples": settings.samples,
        "max_epochs": settings.max_epochs,
        "seeds": settings.seeds,
        "cpus_per_trial": settings.cpus_per_trial,
        "gpus_per_trial": settings.gpus_per_trial,
        "space_file": settings.space_file or "",
        "subset": settings.subset or "",
        "eval_subset": settings.eval_subset or "",
        "train_size": checked.workload_facts.get("train_size", ""),
        "val_size": checked.workload_facts.get("val_size", ""),
        "test_size": checked.workload_facts.get("test_size", ""),
        "refine_from": settings.refine_from or "",
        "depth": checked.workload_facts.get("depth", ""),
    }


def longest_warmup_epochs(spaces: Mapping[str, Any], max_epochs: int) -> int:
    """The longest warmup any searched configuration can have, in epochs: ASHA's grace
    period, so that no trial is judged before its LR has warmed up."""
    longest = 0.0
    for space in spaces.values():
        fraction = float(space.defaults.get("warmup_frac", 0.0) or 0.0)
        if "warmup_frac" in space.names:
            fraction = max(fraction, float(space.parameter("warmup_frac").high))
        longest = max(longest, fraction)
    return max(1, math.ceil(longest * max_epochs))


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
        self.done = 0
        self.best: dict[str, float] = {}
        self.timings: list[TuneRunTiming] = []
        self.cluster_cpus = cluster_cpus
        ids = checked.strategy_ids
        if self.settings.mode == "joint":
            search_trials = self.settings.samples * len(ids)
        else:
            search_trials = sum(self._samples_for(sid) for sid in ids)
        self.planned = search_trials + self.settings.seeds * len(ids)  # for "[done/planned]"

    # ----- step 1: search ----------------------------------------------------------------

    def search(self) -> dict[str, dict[str, Any]]:
        """Run the search; return each strategy's best configuration (by validation)."""

        outcomes: list[Any] = []
        for plan in self._search_plans():
            outcomes += self._timed(plan, "trial")
        best: dict[str, dict[str, Any]] = {}
        for strategy_id in self.checked.strategy_ids:
            mine = [o for o in outcomes if _strategy_of(o) == strategy_id]
            chosen = _best_outcome(mine)
            if chosen is not None:
                best[strategy_id] = {
                    "trial_id": chosen.trial_id,
                    "val_acc": chosen.best_val_acc,
                    "config": _hyperparameters(chosen.config),
                }
        self._summary(best)
        return best

    def _search_plans(self) -> list[Any]:
        import search_spaces
        from dals_tune import study

        settings, checked = self.settings, self.checked
        storage = self.out / "ray" / self.state.study_id
        common = {
            "storage": storage,
            "max_epochs": settings.max_epochs,
            "scheduler": settings.scheduler,
            "grace_period": longest_warmup_epochs(checked.spaces, settings.max_epochs),
            "sampler": "random" if settings.searcher == "random" else "tpe",
            "seed": settings.seed,
            "optuna_storage": f"sqlite:///{self.out / 'optuna.db'}",
            "cpus_per_trial": settings.cpus_per_trial,
            "gpus_per_trial": settings.gpus_per_trial,
        }
        constants = self._trial_constants()
        if settings.mode == "joint":
            ids = checked.strategy_ids
            return [
                study.TrialPlan(
                    name="joint",
                    constants=constants,
                    num_samples=settings.samples * len(ids),
                    define_by_run=search_spaces.joint_define_by_run(
                        ids, checked.regime, checked.spaces
                    ),
                    points_to_evaluate=[
                        search_spaces.joint_default_params(sid, checked.regime, checked.spaces[sid])
                        for sid in ids
                        if default_inside(checked.spaces[sid])
                    ],
                    optuna_study=f"{self.state.study_id}-joint",
                    **common,
                )
            ]
        if settings.scheduler == "pbt":
            # PBT takes no searcher (Tune refuses one): each strategy's population is drawn at
            # random from its space, in a Tuner of its own.
            return [
                study.TrialPlan(
                    name=strategy_id,
                    constants={**constants, "strategy": strategy_id},
                    num_samples=self._samples_for(strategy_id),
                    domains=study.tune_param_space(checked.spaces[strategy_id]),
                    points_to_evaluate=[checked.spaces[strategy_id].default_point()]
                    if default_inside(checked.spaces[strategy_id])
                    else [],
                    **common,
                )
                for strategy_id in checked.strategy_ids
            ]
        groups = []
        for strategy_id in checked.strategy_ids:
            space = checked.spaces[strategy_id]
            groups.append(
                study.SearchGroup(
                    key=strategy_id,
                    num_samples=self._samples_for(strategy_id),
                    define_by_run=search_spaces.per_strategy_define_by_run(
                        strategy_id, checked.regime, space
                    ),
                    points_to_evaluate=[space.default_point()] if default_inside(space) else [],
                    # Per strategy: one with a long warmup does not hold back one without.
                    grace_period=longest_warmup_epochs({strategy_id: space}, settings.max_epochs),
                )
            )
        return [
            study.TrialPlan(
                name="search",
                constants=constants,
                num_samples=sum(group.num_samples for group in groups),
                groups=groups,
                optuna_study=self.state.study_id,
                **common,
            )
        ]

    def _trial_constants(self) -> dict[str, Any]:
        """What every trial's config holds besides its strategy and hyperparameters; with
        --refine-from, the path of the norms file that the refined trials read."""
        constants = self.settings.trial_constants(self.checked.regime)
        if self.checked.refine_source is not None:
            folder = self.out / "studies" / self.state.study_id
            constants["refine_from"] = str(folder / REFINE_FROM_FILE)
        return constants

    def _samples_for(self, strategy_id: str) -> int:
        """A space with nothing to tune has one configuration: one trial says all there is."""
        space = self.checked.spaces[strategy_id]
        return self.settings.samples if space.parameters else 1

    # ----- step 2: seed re-runs ----------------------------------------------------------

    def rerun(self, best_configs: Mapping[str, Mapping[str, Any]]) -> None:
        from dals_tune import study

        seeds = [self.settings.seed + 1 + index for index in range(self.settings.seeds)]
        grid = [
            {"strategy": strategy_id, **chosen["config"], "seed": seed}
            for strategy_id, chosen in best_configs.items()
            for seed in seeds
        ]
        if not grid:
            return
        constants = self._trial_constants()
        plan = study.TrialPlan(
            name="reruns",
            storage=self.out / "ray" / self.state.study_id,
            constants=constants,
            num_samples=1,
            max_epochs=self.settings.max_epochs,
            scheduler="fifo",
            grid=grid,
            cpus_per_trial=self.settings.cpus_per_trial,
            gpus_per_trial=self.settings.gpus_per_trial,
        )
        self.echo(f"re-running each strategy's best configuration with seeds {seeds}")
        self._timed(plan, "rerun")

    def _timed(self, plan: Any, kind: str) -> list[Any]:
        """Run ``plan``; each trial is announced when it ends and recorded in MLflow once Tune
        has saved it (a resumed study never runs a recorded trial again). Returns every
        trial's outcome, all recorded."""
        from dals_tune import study
        from trainables import classification_trainable

        started = time.perf_counter()
        outcomes = study.run_trials(
            plan,
            classification_trainable,
            on_trial_done=lambda outcome: self._announce(outcome, kind),
            verbose=self.verbose,
            on_trial_saved=lambda outcome: self._record(outcome, kind),
        )
        for outcome in outcomes:  # the rest, and those finished before an interruption, once
            self._record(outcome, kind)
        wall = time.perf_counter() - started
        per_trial = max(self.settings.cpus_per_trial, 1e-9)
        slots = max(1, min(len(outcomes), int(self.cluster_cpus // per_trial)))
        self.timings.append(
            TuneRunTiming(plan.name, wall, sum(o.seconds for o in outcomes), len(outcomes), slots)
        )
        return outcomes

    # ----- step 3: report ----------------------------------------------------------------

    def finish(self, folder: Path) -> StudyResult:
        from dals_tune import reports

        config_path = folder / "resolved_config.json"
        config_path.write_text(
            json.dumps(
                {
                    "settings": dataclasses.asdict(self.settings),
                    "regime": self.checked.regime,
                    "strategies": list(self.checked.strategy_ids),
                    "target_accuracy": self.checked.target_accuracy,
                    "workload": self.checked.workload_facts,
                    "best_configs": self.state.best_configs,
                },
                indent=2,
                default=str,
            )
        )
        report = reports.write_study_report(self.tracker, self.state.parent_run_id, folder)
        self.tracker.finish_study(
            self.state.parent_run_id,
            report.winner or NO_WINNER,
            report.winner_val_acc,
            [*report.files, config_path],
            status="FINISHED" if report.winner else "FAILED",
        )
        markdown = (folder / "leaderboard.md").read_text()
        return StudyResult(
            study_id=self.state.study_id,
            parent_run_id=self.state.parent_run_id,
            winner=report.winner or NO_WINNER,
            winner_val_acc=report.winner_val_acc,
            report_folder=folder,
            leaderboard_markdown=markdown,
            tune_runs=list(self.timings),
        )

    # ----- logging -----------------------------------------------------------------------

    def _record(self, outcome: Any, kind: str) -> None:
        from dals_tune.refine import GRAD_NORMS_DOCUMENT
        from dals_tune.training import step_grad_norms

        strategy_id = _strategy_of(outcome)
        config = outcome.config.get("run", outcome.config)
        tags: dict[str, Any] = {NODE_ID_TAG: outcome.node_id or ""}
        if kind == "trial" and _is_default(outcome, self.checked.spaces.get(strategy_id)):
            tags[DEFAULT_TAG] = "1"
        if kind == "rerun":
            best = self.state.best_configs.get(strategy_id, {})
            tags[SOURCE_TRIAL_TAG] = best.get("trial_id", "")
        if strategy_id == "refined":
            tags[REFINE_FROM_TAG] = self.settings.refine_from
        norms = step_grad_norms(outcome.epochs)
        self.tracker.log_trial(
            self.state.parent_run_id,
            trial_id=strategy_id if kind == "rerun" else outcome.trial_id,
            strategy=strategy_id,
            generation=strategies.get(strategy_id).generation,
            status=outcome.status,
            params=_hyperparameters(outcome.config),
            epochs=outcome.epochs,
            error=outcome.error,
            kind=kind,
            seed=int(config["seed"]) if kind == "rerun" else None,
            tags=tags,
            documents={GRAD_NORMS_DOCUMENT: norms} if norms is not None else None,
        )

    def _announce(self, outcome: Any, kind: str) -> None:
        strategy_id = _strategy_of(outcome)
        self.done += 1
        value = outcome.best_val_acc
        if outcome.status in ("completed", "pruned") and kind == "trial":
            self.best[strategy_id] = max(self.best.get(strategy_id, 0.0), value)
        last = outcome.epochs[-1] if outcome.epochs else {}
        seconds = sum(float(e.get("epoch_seconds", 0.0) or 0.0) for e in outcome.epochs)
        label = (
            f"{strategy_id} seed {outcome.config['run']['seed']}"
            if kind == "rerun"
            else (strategy_id)
        )
        leader = max(self.best.items(), key=lambda item: item[1], default=None)
        lead = f"  best so far: {leader[0]} {leader[1]:.4f}" if leader else ""
        error = f"  ({outcome.error})" if outcome.error else ""
        self.echo(
            f"[{self.done:>3}/{self.planned}] {label:<22} {outcome.status:<9} "
            f"val {value:.4f}  test@best {float(last.get('test_acc_at_best_val', 0) or 0):.4f}  "
            f"{len(outcome.epochs)} ep  {seconds:5.1f} s{lead}{error}"
        )

    def _summary(self, best: Mapping[str, Mapping[str, Any]]) -> None:
        ranked = sorted(best.items(), key=lambda item: -item[1]["val_acc"])
        self.echo(
            "search done; best validation accuracy per strategy: "
            + ", ".join(f"{sid} {chosen['val_acc']:.4f}" for sid, chosen in ranked)
        )


def _strategy_of(outcome: Any) -> str:
    config = outcome.config.get("run", outcome.config)
    return str(config["strategy"])


def _hyperparameters(config: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy's hyperparameters of a trial config (trial settings and the joint study's
    prefixed Optuna names left out)."""
    from dals_tune.training import TRIAL_KEYS

    merged = {**{k: v for k, v in config.items() if k != "run"}, **config.get("run", {})}
    return {k: v for k, v in merged.items() if k not in TRIAL_KEYS and "." not in k}


def default_inside(space: Any) -> bool:
    """Whether the strategy's default configuration lies in its (possibly narrowed) space;
    a space file that excludes it means the user does not want it tried."""
    if not space.parameters:
        return False
    for parameter in space.parameters:
        value = space.defaults[parameter.name]
        if parameter.distribution == "categorical":
            if value not in parameter.choices:
                return False
        elif not parameter.low <= value <= parameter.high:
            return False
    return True


def _is_default(outcome: Any, space: Any) -> bool:
    if space is None or not space.parameters:
        return space is not None
    if not default_inside(space):
        return False
    point = space.default_point()
    config = _hyperparameters(outcome.config)
    return all(_same(config.get(name), value) for name, value in point.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _best_outcome(outcomes: list[Any]) -> Any:
    """The trial to re-run: the best validation accuracy among trials that ran to the end,
    else among those ASHA stopped early; never a diverged or errored one."""
    for statuses in (("completed",), ("pruned",)):
        usable = [o for o in outcomes if o.status in statuses and o.epochs]
        if usable:
            return max(usable, key=lambda o: o.best_val_acc)
    return None
