"""Running one :class:`~dals_tune.study.plans.TrialPlan` as a ``tune.Tuner``."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.logger import JsonLoggerCallback

from dals_tune.study.outcomes import TrialOutcome
from dals_tune.study.plans import TrialPlan
from dals_tune.study.ray_tune import collector, experiment_state, results
from dals_tune.study.ray_tune.collector import OnTrialDone
from dals_tune.study.ray_tune.domains import plan_domains
from dals_tune.study.ray_tune.schedulers import scheduler
from dals_tune.study.ray_tune.searchers import fail_orphaned_trials, searcher
from dals_tune.study.ray_tune.trial_side import RERUN_KEY


class TuneRunInterrupted(KeyboardInterrupt):
    """A Tuner run that Ctrl-C (SIGINT) stopped before all its trials ended; its state is saved
    for :func:`run_trials` to restore. A ``KeyboardInterrupt``, so that it ends the command
    as Ctrl-C outside a Tuner run does."""


def plan_started(plan: TrialPlan) -> bool:
    """Whether an earlier (interrupted) run left a Tuner state to restore."""
    return tune.Tuner.can_restore(str(plan.folder))


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
    hearing = collector.Collector(plan, on_trial_done, on_trial_saved)
    collector.COLLECTORS[plan.name] = hearing
    resources = {"cpu": plan.cpus_per_trial, "gpu": plan.gpus_per_trial}
    if plan.workload_functions:  # defined in the running script: shipped by value
        trainable = tune.with_parameters(trainable, workload_functions=plan.workload_functions)
    runnable = tune.with_resources(trainable, resources)
    try:
        if plan_started(plan):
            refuse_lost_checkpoints(plan)
            # The saved run config brings its OutcomeCallback back; it finds this collector.
            tuner = tune.Tuner.restore(
                str(plan.folder),
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
                    metric=plan.objective.val_key,
                    mode=plan.objective.mode,
                    search_alg=searcher(plan),
                    scheduler=scheduler(plan),
                    num_samples=_num_samples(plan),
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=plan.name,
                    storage_path=str(plan.storage),
                    callbacks=[collector.OutcomeCallback(plan.name), JsonLoggerCallback()],
                    verbose=2 if verbose else 0,
                    failure_config=tune.FailureConfig(max_failures=plan.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                ),
            )
        with _only_the_json_logger(), _ctrl_c_watch() as ctrl_c:
            fitted = tuner.fit()
        if ctrl_c.stopped_the_run:
            # Tune ended the run early and saved its state. It marks the trials it stopped
            # TERMINATED like finished ones: they are for a restore to run, not results.
            raise TuneRunInterrupted(plan.name)
        fail_orphaned_trials(plan)  # the run has ended: nothing of it is running any more
    finally:
        collector.COLLECTORS.pop(plan.name, None)
    outcomes = []
    for result in fitted:
        folder = Path(result.path)
        outcome = hearing.outcome_of_folder(folder) or results.outcome_from_files(
            folder, result.config or {}, plan, result.error
        )
        outcomes.append(outcome)
        collector.drop_checkpoints(folder)  # the run has ended and Tune has saved its final state
    return outcomes


def refuse_lost_checkpoints(plan: TrialPlan) -> None:
    """Refuse, in one line, to restore a run whose unfinished trials' checkpoints are gone
    (deleted by hand to free the disk, or by an older dals_tune on Ctrl-C): Tune would
    fail each trial, and the driver with it."""
    lost = experiment_state.lost_checkpoints(plan.folder)
    if lost:
        raise ValueError(
            f"cannot resume the trials in {plan.folder}: {len(lost)} of them would continue "
            f"from checkpoints that are gone ({lost[0]}); put them back, or start the study "
            "anew (search without --resume, benchmark with --redo WORKLOAD/REGIME)"
        )


@dataclass
class _CtrlC:
    stopped_the_run: bool = False


@contextlib.contextmanager
def _ctrl_c_watch() -> Iterator[_CtrlC]:
    """Whether Ctrl-C stopped the Tuner run inside, known once the block ends: a fit replaces
    the SIGINT handler with Tune's, which on Ctrl-C saves the run's state, ends it and puts
    back the handler it found. So ours is back after the fit when Tune stopped it, and Tune's
    is still there when the run ended by itself. Where Tune leaves SIGINT alone
    (``TUNE_DISABLE_SIGINT_HANDLER``, or off the main thread, where no handler can be set),
    Ctrl-C raises ``KeyboardInterrupt`` at once, and nothing is left to tell."""
    watch = _CtrlC()
    if threading.current_thread() is not threading.main_thread():
        yield watch
        return

    def ours(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    tune_handles_it = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") in ("", "0")
    previous = signal.signal(signal.SIGINT, ours)
    try:
        yield watch
        watch.stopped_the_run = tune_handles_it and signal.getsignal(signal.SIGINT) is ours
    finally:
        signal.signal(signal.SIGINT, previous)


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
        return {**plan.constants, RERUN_KEY: tune.grid_search(plan.grid)}
    return {**plan.constants, **plan_domains(plan)}


def _num_samples(plan: TrialPlan) -> int:
    if plan.grid:
        return 1  # one trial per grid point
    if plan.groups:
        return sum(group.num_samples for group in plan.groups)
    return plan.num_samples
