"""Hearing of finished trials while Tune runs, and handing them on once Tune has saved them."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ray import tune

from dals_tune.study.outcomes import TrialOutcome
from dals_tune.study.plans import TrialPlan
from dals_tune.study.ray_tune import experiment_state, results

OnTrialDone = Callable[[TrialOutcome], None]


class Collector:
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
        # When each epoch's result reached the driver (time.time()), by trial id: Ray's own
        # result timestamp is whole seconds, too coarse for the record's durations.
        self.reported_at: dict[str, dict[int, float]] = {}
        self.by_folder: dict[str, TrialOutcome] = {}
        self.unsaved: dict[str, tuple[TrialOutcome, Path]] = {}  # by trial id, with its folder
        self.state_seen: tuple[str, float] | None = None
        self.last_look = 0.0

    def result(self, trial: Any, result: Mapping[str, Any]) -> None:
        metrics = results.trainer_metrics(result)
        epoch = int(metrics.get("epoch", 0))
        self.epochs.setdefault(trial.trial_id, {})[epoch] = metrics
        self.reported_at.setdefault(trial.trial_id, {})[epoch] = time.time()

    def finish(self, trial: Any, error: str | None) -> None:
        folder = Path(trial.local_path)
        epochs = {**results.read_results(folder), **self.epochs.get(trial.trial_id, {})}
        reported_at = {**results.report_times(folder), **self.reported_at.get(trial.trial_id, {})}
        outcome = results.outcome(
            trial.trial_id, trial.config, epochs, self.plan, error, reported_at
        )
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
        state = experiment_state.newest(self.plan.folder)
        if state is None or state == self.state_seen:
            return
        self.state_seen = state
        saved = experiment_state.finished_trials(Path(state[0]))
        for trial_id in [t for t in self.unsaved if t in saved]:
            outcome, folder = self.unsaved.pop(trial_id)
            if self.on_trial_saved is not None:
                self.on_trial_saved(outcome)
            if self.plan.scheduler != "pbt":
                drop_checkpoints(folder)

    def outcome_of_folder(self, folder: Path) -> TrialOutcome | None:
        return self.by_folder.get(folder.name)


def drop_checkpoints(trial_folder: Path) -> None:
    """Delete a finished trial's checkpoints (its results stay); see :class:`Collector`."""
    for checkpoint in trial_folder.glob("checkpoint_*"):
        shutil.rmtree(checkpoint, ignore_errors=True)


# The driver's collectors by plan name: a restored Tuner unpickles its callback, which finds
# the collector of this process here (a callback holding the driver's objects would not pickle).
COLLECTORS: dict[str, Collector] = {}


class OutcomeCallback(tune.Callback):
    def __init__(self, plan_name: str) -> None:
        self.plan_name = plan_name

    def on_step_begin(self, iteration: int, trials: list, **info):
        COLLECTORS[self.plan_name].hand_on_saved()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info):
        COLLECTORS[self.plan_name].result(trial, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info):
        COLLECTORS[self.plan_name].finish(trial, error=None)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info):
        COLLECTORS[self.plan_name].finish(trial, error=results.error_line(trial))
