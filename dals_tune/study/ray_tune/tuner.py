"""Running one :class:`~dals_tune.study.plans.TrialPlan` as a ``tune.Tuner``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.logger import JsonLoggerCallback

from dals_tune.study.outcomes import TrialOutcome
from dals_tune.study.plans import TrialPlan
from dals_tune.study.ray_tune import collector, results
from dals_tune.study.ray_tune.collector import OnTrialDone
from dals_tune.study.ray_tune.domains import plan_domains
from dals_tune.study.ray_tune.schedulers import scheduler
from dals_tune.study.ray_tune.searchers import fail_orphaned_trials, searcher
from dals_tune.study.ray_tune.trial_side import RERUN_KEY


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
        with _only_the_json_logger():
            fitted = tuner.fit()
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
