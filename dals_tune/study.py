"""The only module that talks to Ray.

Two sides of Ray Tune live here:

- inside a trial: ``report_epoch`` and ``resume_checkpoint``, which the trainable in
  ``trainables/`` calls;
- in the driver: ``connect`` (a local Ray, or ``--address`` to join a cluster) and
  ``run_trials``, which runs one :class:`TrialPlan` as a ``tune.Tuner`` (Optuna or random
  search, ASHA/FIFO/PBT, checkpoints, retries) and hands every finished trial to the driver as
  a :class:`TrialOutcome`, the moment it finishes and again, complete, when the Tuner returns.

The driver (``dals_tune.search``) decides *what* to run; this module only knows *how* to run it
on Ray.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import pickle
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Before Ray is imported: no usage stats, no "new output engine" banner, no metrics exporter.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
os.environ.setdefault("RAY_enable_metrics_collection", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "1e9")

import ray
from ray import tune
from ray.tune.logger import JsonLoggerCallback
from ray.tune.schedulers import FIFOScheduler
from ray.tune.search import Searcher
from ray.tune.search.sample import Domain, Integer

if TYPE_CHECKING:
    from search_spaces import Space

OBJECTIVE = "val_acc"  # what searchers and schedulers maximise: validation, never test
TIME_ATTRIBUTE = "epoch"
# Keys Ray adds to every reported result; everything else came from the trainer, except
# ``time_total_s`` (the trial's wall time so far, evaluation and checkpoints included), kept.
_RAY_RESULT_KEYS = {
    "timestamp", "checkpoint_dir_name", "done", "training_iteration", "trial_id", "date",
    "time_this_iter_s", "pid", "hostname", "node_ip", "config",
    "time_since_restore", "iterations_since_restore", "experiment_tag", "should_checkpoint",
    "episodes_total", "timesteps_total", "timesteps_since_restore", "experiment_id",
}  # fmt: skip
_NOISY_LOGGERS = ("ray", "ray.tune", "ray.train", "ray.air", "ray.data", "filelock")


# ----- inside a trial ------------------------------------------------------------------------


def report_epoch(metrics: dict[str, Any], checkpoint_folder: Path) -> None:
    """Hand one epoch to Tune; Tune copies the folder into the trial's storage."""
    tune.report(
        {**metrics, "node_id": ray.get_runtime_context().get_node_id()},
        checkpoint=tune.Checkpoint.from_directory(str(checkpoint_folder)),
    )


@contextlib.contextmanager
def resume_checkpoint() -> Iterator[Path | None]:
    """The folder of the trial's latest checkpoint when Tune restarts or restores it."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as folder:
        yield Path(folder)


# ----- search spaces -------------------------------------------------------------------------


def tune_param_space(space: Space) -> dict[str, Any]:
    """A Ray Tune ``param_space`` for one strategy's search space: ``tune.uniform`` /
    ``tune.loguniform`` for floats, ``tune.randint`` / ``tune.lograndint`` for ints (Ray's upper
    bound is exclusive, so ``high + 1``), ``tune.choice`` for categoricals, and the space's
    fixed values as constants. The portfolio-of-defaults point for ``points_to_evaluate`` is
    ``search_spaces.default_config``."""
    param_space: dict[str, Any] = {}
    for parameter in space.parameters:
        if parameter.distribution == "categorical":
            domain = tune.choice(list(parameter.choices))
        elif parameter.distribution == "int":
            sample = tune.lograndint if parameter.log else tune.randint
            domain = sample(int(parameter.low), int(parameter.high) + 1)
        else:
            sample = tune.loguniform if parameter.log else tune.uniform
            domain = sample(parameter.low, parameter.high)
        param_space[parameter.name] = domain
    param_space.update(space.fixed)
    return param_space


# ----- the driver's side ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """What the driver is connected to."""

    address: str  # "local" or the address given
    cpus: float
    gpus: float
    nodes: int


def connect(address: str | None = None, verbose: bool = False) -> Cluster:
    """Start a local Ray (``address=None``) or join a running cluster (``"auto"`` or
    ``HOST:PORT``). An unreachable address raises ``ValueError`` within seconds, before
    anything is written; Ray's own logs reach the console only when ``verbose``."""
    if not verbose:
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", module="ray")
    if address not in (None, "", "local", "auto"):
        _check_reachable(address)
        _ask_gcs(address)
    if ray.is_initialized():
        ray.shutdown()
    try:
        ray.init(
            address=None if address in (None, "", "local") else address,
            include_dashboard=False,
            log_to_driver=verbose,
            logging_level=logging.INFO if verbose else logging.ERROR,
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ray.exceptions.RayError) as error:
        ray.shutdown()
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(
            f"cannot join the Ray cluster at {address!r} ({first_line}); start it with "
            "'ray start --head' or leave --address out for a local Ray"
        ) from None
    resources = ray.cluster_resources()
    return Cluster(
        address=address or "local",
        cpus=float(resources.get("CPU", 0)),
        gpus=float(resources.get("GPU", 0)),
        nodes=sum(1 for node in ray.nodes() if node.get("Alive")),
    )


def disconnect() -> None:
    if ray.is_initialized():
        ray.shutdown()


def _ask_gcs(address: str, seconds: float = 10.0) -> None:
    """Ask the cluster's GCS (the head's ``--port``) before ``ray.init``, which on a port where
    no GCS answers retries for minutes, and which Ray 2.60 lets fail after 20 s, without
    saying why, when the cluster wants a token. A GCS answers in milliseconds.

    ``ray start --head`` turns token authentication on by itself when ``~/.ray/auth_token``
    exists (Ray 2.60), but ``ray.init(address=HOST:PORT)`` sends a token only with
    ``RAY_AUTH_MODE=token``. So when the GCS wants a token and ``RAY_AUTH_MODE`` is unset, the
    one at hand (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``) is sent,
    as ``ray start --head`` would; a cluster without token authentication is joined without
    one (a driver in token mode cannot start actors there). No answer, or a refused token, is
    a ``ValueError``."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError
    except ImportError:  # a Ray without token authentication (< 2.52): leave it to ray.init
        return

    def answer() -> str:
        reply = ["nothing"]

        def ask() -> None:
            try:
                GcsClient(address=address)
                reply[0] = "ok"
            except AuthenticationError:
                reply[0] = "refused"
            except Exception:  # ray.init will say what is wrong, in one line
                reply[0] = "error"

        asking = threading.Thread(target=ask, daemon=True)  # GcsClient takes no timeout
        asking.start()
        asking.join(seconds)
        return reply[0]

    said = answer()
    if said == "refused" and maybe_enable_token_auth_if_token_available(warn_if_disabled=False):
        said = answer()
    if said == "nothing":
        raise ValueError(
            f"no Ray cluster answers at {address} within {seconds:g} s; give the head node's "
            "GCS port (ray start --head --port, 6379 by default), not the dashboard's"
        )
    if said == "refused":
        raise ValueError(
            f"the Ray cluster at {address} uses token authentication and refused this "
            "machine's token; set RAY_AUTH_TOKEN to the head node's (ray get-auth-token, run "
            "there), see docs/cluster.md"
        )


def _check_reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--address must be 'auto' or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as error:
        raise ValueError(
            f"cannot reach the Ray cluster at {address} ({error.strerror or error}); start it "
            "with 'ray start --head --port PORT' or leave --address out for a local Ray"
        ) from None


@dataclass
class SearchGroup:
    """The trials of one strategy in a per-strategy study: its own searcher (an Optuna
    define-by-run function) and its own scheduler, with ``num_samples`` trials."""

    key: str
    num_samples: int
    define_by_run: Callable[[Any], dict[str, Any]]
    points_to_evaluate: list[dict[str, Any]] = field(default_factory=list)
    domains: dict[str, Any] = field(default_factory=dict)  # what PBT may mutate
    grace_period: int | None = None  # this strategy's ASHA grace period (else the plan's)


@dataclass
class TrialPlan:
    """One ``tune.Tuner`` run.

    ``constants`` go to every trial; the searched part comes from ``define_by_run`` (an Optuna
    define-by-run function; ``sampler`` "tpe" or "random"), from ``groups`` (one searcher and
    one scheduler per strategy, all in one Tuner, so worker processes are started once for
    the whole study), from ``domains`` (Ray Tune domains, sampled at random), or, for
    re-runs, from ``grid`` (fixed configs, one trial each). ``points_to_evaluate`` are
    evaluated first (the defaults).
    """

    name: str
    storage: Path  # absolute; the Tuner's folder is storage / name
    constants: dict[str, Any]
    num_samples: int
    max_epochs: int
    scheduler: str = "fifo"  # asha | fifo | pbt
    grace_period: int = 1
    define_by_run: Callable[[Any], dict[str, Any]] | None = None
    sampler: str = "tpe"
    domains: dict[str, Any] = field(default_factory=dict)
    grid: list[dict[str, Any]] = field(default_factory=list)
    groups: list[SearchGroup] = field(default_factory=list)
    group_key: str = "strategy"  # the config key that names a trial's group
    points_to_evaluate: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0
    optuna_storage: str | None = None  # an Optuna storage URL (sqlite:///...)
    optuna_study: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2


@dataclass
class TrialOutcome:
    """A finished trial, as the driver records it."""

    trial_id: str
    config: dict[str, Any]
    epochs: list[dict[str, Any]]
    status: str  # completed | pruned | diverged | errored
    error: str | None = None
    node_id: str | None = None

    @property
    def seconds(self) -> float:
        """The trial's own wall time (Tune's ``time_total_s``), across restarts."""
        return float(self.epochs[-1].get("time_total_s", 0.0)) if self.epochs else 0.0

    @property
    def best_val_acc(self) -> float:
        values = [e.get("best_val_acc", e.get(OBJECTIVE)) for e in self.epochs]
        finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        return max(finite, default=0.0)


OnTrialDone = Callable[[TrialOutcome], None]


def plan_folder(plan: TrialPlan) -> Path:
    return plan.storage / plan.name


def plan_started(plan: TrialPlan) -> bool:
    """Whether an earlier (interrupted) run left a Tuner state to restore."""
    return tune.Tuner.can_restore(str(plan_folder(plan)))


def run_trials(
    plan: TrialPlan,
    trainable: Callable[[dict[str, Any]], None],
    on_trial_done: OnTrialDone,
    verbose: bool = False,
    on_trial_saved: OnTrialDone | None = None,
) -> list[TrialOutcome]:
    """Run (or, when its folder holds an interrupted run, restore) ``plan``; return every
    trial's outcome. Trials that had finished before an interruption are not run again.

    ``on_trial_done`` hears of each trial as soon as it ends (to show progress);
    ``on_trial_saved`` only once Tune's saved experiment state lists it as finished, which is
    when a restore would no longer run it again: recording trials there (and the rest from the
    returned outcomes) keeps a study killed at any moment free of records for trials that a
    resume runs again. Tune saves its state every few seconds and when the run ends."""
    collector = _Collector(plan, on_trial_done, on_trial_saved)
    _COLLECTORS[plan.name] = collector
    resources = {"cpu": plan.cpus_per_trial, "gpu": plan.gpus_per_trial}
    runnable = tune.with_resources(trainable, resources)
    try:
        if plan_started(plan):
            # The saved run config brings its _OutcomeCallback back; it finds this collector.
            tuner = tune.Tuner.restore(
                str(plan_folder(plan)),
                runnable,
                resume_unfinished=True,
                # An errored trial already used its retries (FailureConfig) and was recorded as
                # errored; running it again would change a record that is already final.
                resume_errored=False,
                param_space=_param_space(plan),
            )
        else:
            tuner = tune.Tuner(
                runnable,
                param_space=_param_space(plan),
                tune_config=tune.TuneConfig(
                    metric=OBJECTIVE,
                    mode="max",
                    search_alg=_searcher(plan),
                    scheduler=_scheduler(plan),
                    num_samples=_num_samples(plan),
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=plan.name,
                    storage_path=str(plan.storage),
                    callbacks=[_OutcomeCallback(plan.name), JsonLoggerCallback()],
                    verbose=2 if verbose else 0,
                    failure_config=tune.FailureConfig(max_failures=plan.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                ),
            )
        with _only_the_json_logger():
            results = tuner.fit()
    finally:
        _COLLECTORS.pop(plan.name, None)
    outcomes = []
    for result in results:
        folder = Path(result.path)
        outcome = collector.outcome_of_folder(folder) or _outcome_from_files(
            folder, result.config or {}, plan, result.error
        )
        outcomes.append(outcome)
        drop_checkpoints(folder)  # the run has ended and Tune has saved its final state
    return outcomes


def drop_checkpoints(trial_folder: Path) -> None:
    """Delete a finished trial's checkpoints (its results stay); see :class:`_Collector`."""
    for checkpoint in trial_folder.glob("checkpoint_*"):
        shutil.rmtree(checkpoint, ignore_errors=True)


@contextlib.contextmanager
def _only_the_json_logger() -> Iterator[None]:
    """Tune's automatic CSV and TensorBoard loggers write every result again (TensorBoard
    with a histogram per list) at a cost per epoch; the record is MLflow, and the driver needs
    only result.json, whose logger the run config names. Set for our fit only: other Tune runs
    in the process keep Tune's defaults."""
    key = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"
    before = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _param_space(plan: TrialPlan) -> dict[str, Any]:
    if plan.grid:
        return {**plan.constants, "run": tune.grid_search(plan.grid)}
    return {**plan.constants, **plan.domains}


def _num_samples(plan: TrialPlan) -> int:
    if plan.grid:
        return 1  # one trial per grid point
    if plan.groups:
        return sum(group.num_samples for group in plan.groups)
    return plan.num_samples


def _searcher(plan: TrialPlan) -> Any:
    if plan.groups:
        return _GroupedSearcher(
            {
                group.key: _optuna_searcher(
                    plan, group.define_by_run, group.points_to_evaluate, study_suffix=group.key
                )
                for group in plan.groups
            },
            {group.key: group.num_samples for group in plan.groups},
            plan.group_key,
        )
    if plan.define_by_run is None:
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(
            points_to_evaluate=plan.points_to_evaluate or None, random_state=plan.seed
        )
    return _optuna_searcher(plan, plan.define_by_run, plan.points_to_evaluate)


def _optuna_searcher(
    plan: TrialPlan,
    define_by_run: Callable[[Any], dict[str, Any]],
    points: list[dict[str, Any]],
    study_suffix: str = "",
) -> Any:
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # PBT explores by mutating a random population; a model-based sampler has nothing to add.
    if plan.sampler == "random" or plan.scheduler == "pbt":
        sampler = optuna.samplers.RandomSampler(seed=plan.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=plan.seed)
    storage = None
    if plan.optuna_storage:
        # Studies sharing one --out share its SQLite file: wait for the lock, do not fail.
        connect = {"timeout": 60} if plan.optuna_storage.startswith("sqlite") else {}
        storage = optuna.storages.RDBStorage(
            plan.optuna_storage, engine_kwargs={"connect_args": connect}
        )
    name = plan.optuna_study
    if name and study_suffix:
        name = f"{name}-{study_suffix}"
    return OptunaSearch(
        define_by_run,
        metric=OBJECTIVE,
        mode="max",
        points_to_evaluate=points or None,
        sampler=sampler,
        study_name=name,
        storage=storage,
    )


def _scheduler(plan: TrialPlan) -> Any:
    if plan.groups:
        by_key = {group.key: group for group in plan.groups}

        def make(key: str) -> Any:
            group = by_key.get(key)
            mutations = group.domains if group else {}
            grace = group.grace_period if group and group.grace_period else plan.grace_period
            return _one_scheduler(plan, mutations, OBJECTIVE, "max", grace)

        return _GroupedScheduler(make, plan.group_key)
    return _one_scheduler(plan, plan.domains)


def _one_scheduler(
    plan: TrialPlan,
    mutations: dict[str, Any],
    metric: str | None = None,
    mode: str | None = None,
    grace_period: int | None = None,
) -> Any:
    """ASHA, PBT or FIFO. Inside a grouped scheduler it is given the metric itself; alone,
    Tune gives it the Tuner's (and refuses a scheduler that already has one)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    grace_period = grace_period or plan.grace_period
    if plan.scheduler == "asha":
        return ASHAScheduler(
            time_attr=TIME_ATTRIBUTE,
            metric=metric,
            mode=mode,
            max_t=plan.max_epochs,
            grace_period=min(grace_period, plan.max_epochs),
            reduction_factor=3,
        )
    if plan.scheduler == "pbt":
        searched = {k: v for k, v in mutations.items() if isinstance(v, Domain)}
        return PopulationBasedTraining(
            time_attr=TIME_ATTRIBUTE,
            metric=metric,
            mode=mode,
            perturbation_interval=max(1, grace_period),
            # Only the searched knobs; a space file's pinned values stay as they are.
            hyperparam_mutations=searched,
            custom_explore_fn=_KeepInsideSpace(searched),
            quantile_fraction=0.25,
            synch=False,
        )
    return FIFOScheduler()


@dataclass(frozen=True)
class _KeepInsideSpace:
    """PBT perturbs a value by ×1.2 or ×0.8 with no regard for its bounds (a β₂ of 0.99
    becomes 1.19); clip each perturbed value back into its declared range."""

    domains: dict[str, Any]

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for name, domain in self.domains.items():
            low, high = getattr(domain, "lower", None), getattr(domain, "upper", None)
            if name not in config or low is None or high is None:
                continue
            value = min(max(config[name], low), high)
            config[name] = int(min(value, high - 1)) if isinstance(domain, Integer) else value
        return config


class _GroupedSearcher(Searcher):
    """One searcher per strategy behind Tune's single searcher slot: suggestions go round
    robin over the strategies until each has had its ``samples``; results go back to the
    searcher that suggested the trial. Saved and restored whole with the experiment."""

    def __init__(self, searchers: dict[str, Any], samples: dict[str, int], group_key: str):
        super().__init__(metric=OBJECTIVE, mode="max")
        self.searchers = searchers
        self.remaining = dict(samples)
        self.group_key = group_key
        self.owner: dict[str, str] = {}
        self.turn = 0

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec):
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        keys = list(self.searchers)
        for _ in keys:
            key = keys[self.turn % len(keys)]
            self.turn += 1
            if self.remaining[key] <= 0:
                continue
            config = self.searchers[key].suggest(trial_id)
            if config is None or config == Searcher.FINISHED:
                continue
            self.remaining[key] -= 1
            self.owner[trial_id] = key
            return {**config, self.group_key: key}
        return Searcher.FINISHED if all(n <= 0 for n in self.remaining.values()) else None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.owner:
            self.searchers[self.owner[trial_id]].on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id in self.owner:
            self.searchers[self.owner[trial_id]].on_trial_complete(trial_id, result, error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))


class _GroupedScheduler(FIFOScheduler):
    """One scheduler (ASHA or FIFO) per strategy, so a strategy's trials are only ever
    compared with each other: ASHA's rungs are per strategy. Trials start in FIFO order.
    (PBT refuses any searcher, so PBT studies run a Tuner per strategy instead.)"""

    def __init__(self, make: Callable[[str], Any], group_key: str) -> None:
        super().__init__()
        self.make = make
        self.group_key = group_key
        self.schedulers: dict[str, Any] = {}

    def _of(self, trial: Any) -> Any:
        key = str(trial.config.get(self.group_key))
        if key not in self.schedulers:
            self.schedulers[key] = self.make(key)
        return self.schedulers[key]

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        return True

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self._of(trial).on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._of(trial).on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        return self._of(trial).on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        self._of(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._of(trial).on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        return "; ".join(f"{key}: {s.debug_string()}" for key, s in self.schedulers.items())


class _Collector:
    """Gathers each trial's epochs as they are reported and hands the finished trial on:
    at once to ``on_trial_done``, and to ``on_trial_saved`` once Tune has saved it. Then the
    trial's checkpoints go: a restore never runs a saved finished trial again, and they add
    up (a MiniLM trial's two are about 0.5 GB; 27 strategies × 4 runs filled a 250 GB disk).
    PBT keeps them, as its trials clone the checkpoints of others."""

    def __init__(
        self, plan: TrialPlan, on_trial_done: OnTrialDone, on_trial_saved: OnTrialDone | None
    ) -> None:
        self.plan = plan
        self.on_trial_done = on_trial_done
        self.on_trial_saved = on_trial_saved
        self.epochs: dict[str, dict[int, dict[str, Any]]] = {}
        self.by_folder: dict[str, TrialOutcome] = {}
        self.unsaved: dict[str, tuple[TrialOutcome, Path]] = {}  # by trial id, with its folder
        self.state_seen: tuple[str, float] | None = None
        self.last_look = 0.0

    def result(self, trial: Any, result: Mapping[str, Any]) -> None:
        metrics = _trainer_metrics(result)
        self.epochs.setdefault(trial.trial_id, {})[int(metrics.get("epoch", 0))] = metrics

    def finish(self, trial: Any, error: str | None) -> None:
        folder = Path(trial.local_path)
        epochs = {**_read_results(folder), **self.epochs.get(trial.trial_id, {})}
        outcome = _outcome(trial.trial_id, dict(trial.config), epochs, self.plan, error)
        self.by_folder[folder.name] = outcome
        self.on_trial_done(outcome)
        self.unsaved[trial.trial_id] = (outcome, folder)

    def hand_on_saved(self) -> None:
        """Pass on the finished trials that the newest saved experiment state holds. Tune
        saves it every ~10 s; looking once a second is often enough and costs nothing."""
        now = time.monotonic()
        if not self.unsaved or now - self.last_look < 1.0:
            return
        self.last_look = now
        state = _newest_experiment_state(plan_folder(self.plan))
        if state is None or state == self.state_seen:
            return
        self.state_seen = state
        saved = _finished_trials_in(Path(state[0]))
        for trial_id in [t for t in self.unsaved if t in saved]:
            outcome, folder = self.unsaved.pop(trial_id)
            if self.on_trial_saved is not None:
                self.on_trial_saved(outcome)
            if self.plan.scheduler != "pbt":
                drop_checkpoints(folder)

    def outcome_of_folder(self, folder: Path) -> TrialOutcome | None:
        return self.by_folder.get(folder.name)


def _newest_experiment_state(folder: Path) -> tuple[str, float] | None:
    """(path, mtime) of the experiment state ``Tuner.restore`` would load from ``folder``."""
    newest = None
    for path in folder.glob("experiment_state-*.json"):
        with contextlib.suppress(OSError):
            mtime = path.stat().st_mtime
            if newest is None or mtime > newest[1]:
                newest = (str(path), mtime)
    return newest


def _finished_trials_in(state_file: Path) -> set[str]:
    """Ids of the trials an experiment state file lists as terminated or errored (nothing
    while the file is being written)."""
    try:
        trial_data = json.loads(state_file.read_text()).get("trial_data", [])
        finished = set()
        for trial_json, _run_metadata in trial_data:
            trial = json.loads(trial_json)
            if trial.get("status") in ("TERMINATED", "ERROR"):
                finished.add(str(trial.get("trial_id")))
        return finished
    except (OSError, ValueError, TypeError, AttributeError):
        return set()


# The driver's collectors by plan name: a restored Tuner unpickles its callback, which finds
# the collector of this process here (a callback holding the driver's objects would not pickle).
_COLLECTORS: dict[str, _Collector] = {}


class _OutcomeCallback(tune.Callback):
    def __init__(self, plan_name: str) -> None:
        self.plan_name = plan_name

    def on_step_begin(self, iteration: int, trials: list, **info):
        _COLLECTORS[self.plan_name].hand_on_saved()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info):
        _COLLECTORS[self.plan_name].result(trial, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info):
        _COLLECTORS[self.plan_name].finish(trial, error=None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info):
        _COLLECTORS[self.plan_name].finish(trial, error=_error_line(trial))


def _outcome(
    trial_id: str,
    config: dict[str, Any],
    epochs: Mapping[int, dict[str, Any]],
    plan: TrialPlan,
    error: str | None,
) -> TrialOutcome:
    ordered = [epochs[k] for k in sorted(epochs)]
    node_ids = [e["node_id"] for e in ordered if e.get("node_id")]
    outcome = TrialOutcome(
        trial_id=trial_id,
        config=config,
        epochs=ordered,
        status="errored" if error is not None else "",
        error=error,
        node_id=node_ids[-1] if node_ids else None,
    )
    outcome.status = outcome.status or _status_of(outcome, plan.max_epochs)
    return outcome


def _status_of(outcome: TrialOutcome, max_epochs: int) -> str:
    if not outcome.epochs:
        return "errored"
    last = outcome.epochs[-1]
    if last.get("status") == "diverged":
        return "diverged"
    planned = int(outcome.config.get("epochs", max_epochs))
    return "completed" if int(last.get("epoch", 0)) >= planned else "pruned"


def _outcome_from_files(folder: Path, config: dict, plan: TrialPlan, error: Any) -> TrialOutcome:
    """A trial that finished before an interruption: its epochs from its ``result.json``, its
    config from ``params.json`` when Tune's restored result has none (a trial that errored
    before its first result, e.g. on a full disk)."""
    results = _read_results(folder)
    message = None if error is None else _first_line(str(error), last=True)
    if not config:
        with contextlib.suppress(OSError, ValueError):
            config = json.loads((folder / "params.json").read_text())
    return _outcome(_trial_id_in(folder), dict(config), results, plan, message)


def _trial_id_in(folder: Path) -> str:
    """The trial id Tune wrote into the trial's results (the folder name if there are none)."""
    path = folder / "result.json"
    lines = path.read_text().splitlines() if path.exists() else []
    for line in reversed(lines):
        with contextlib.suppress(json.JSONDecodeError):
            return str(json.loads(line)["trial_id"])
    return folder.name


def _read_results(folder: Path) -> dict[int, dict[str, Any]]:
    """The epochs Tune wrote to ``result.json`` (one JSON object per line), by epoch."""
    epochs: dict[int, dict[str, Any]] = {}
    path = folder / "result.json"
    if not path.exists():
        return epochs
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            metrics = _trainer_metrics(json.loads(line))
            if "epoch" in metrics:
                epochs[int(metrics["epoch"])] = metrics
    return epochs


def _trainer_metrics(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in _RAY_RESULT_KEYS}


def _error_line(trial: Any) -> str:
    """The last line of the trial's error file (the exception and its message)."""
    path = getattr(trial, "error_file", None)
    with contextlib.suppress(OSError, TypeError):
        if path and Path(path).exists():
            return _first_line(Path(path).read_text(), last=True)
    return "the trial raised an error (see its error.txt in the Ray storage)"


def _first_line(text: str, last: bool = False) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    return lines[-1] if last else lines[0]
