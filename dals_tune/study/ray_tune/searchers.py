"""Where a plan's configurations come from: Optuna (one searcher per strategy behind Tune's
single searcher slot, or one joint study), random search, or a grid of re-runs.

Every Optuna trial ends in the state that says what happened to it (:class:`TruthfulOptunaSearch`):
COMPLETE when it ran its whole budget, PRUNED when the scheduler stopped it earlier (with the
per-epoch values it reported as its intermediate values, as Optuna's own pruners leave them),
FAIL when it diverged or errored. Ray Tune's ``OptunaSearch`` would tell Optuna every trial
that returned a value is COMPLETE, so TPE would model a 1-epoch accuracy as a final one.

A driver killed between a suggestion and Tune's next save of its state leaves that
suggestion RUNNING in the Optuna store: the resumed searcher, restored from the save, does
not know it and suggests again. Once a Tuner run has ended no trial of it is running, so
:func:`fail_orphaned_trials` ends such suggestions FAIL, with the reason as a user
attribute, and ``optuna-dashboard`` shows no trial running forever.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

from optuna.trial import TrialState
from ray.tune.result import TRAINING_ITERATION
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from dals_tune.study.plans import TrialPlan
from dals_tune.study.samplers import make_sampler, strategy_seed

TRIAL_STATUS_KEY = "status"  # what the trainer reports each epoch: running | completed | diverged


def searcher(plan: TrialPlan) -> Any:
    """The plan's searcher: Optuna per strategy (grouped), one Optuna study, or random."""
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
            plan.objective.val_key,
            plan.objective.mode,
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

    optuna.logging.set_verbosity(optuna.logging.WARNING)
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
    return TruthfulOptunaSearch(
        define_by_run,
        metric=plan.objective.val_key,
        mode=plan.objective.mode,
        points_to_evaluate=points or None,
        # One strategy's study is seeded apart from the others' (samplers.strategy_seed).
        sampler=make_sampler(
            plan.sampler, strategy_seed(plan.seed, study_suffix) if study_suffix else plan.seed
        ),
        study_name=name,
        storage=storage,
    )


class TruthfulOptunaSearch(OptunaSearch):
    """Ray Tune's ``OptunaSearch``, telling Optuna each trial's true end (module docstring).

    A trial's last result says how it ended: the trainer reports ``status`` "completed" on
    the last epoch of its budget, "running" before it (so a trial that ends "running" was
    stopped by the scheduler), "diverged" when its loss stopped being finite. Tune hands a
    trial's last result to ``on_trial_complete`` only, not to ``on_trial_result``, so it is
    reported here as the last intermediate value: every epoch reaches Optuna.

    ``points_to_evaluate`` (the defaults, the ``--warm-start`` points) are enqueued once: a
    driver killed after its searcher was made but before Tune first saved its state starts a
    fresh Tuner when resumed, and the Optuna study it loads by name from ``optuna.db`` still
    holds those points WAITING; Ray's own searcher would enqueue them again."""

    def __init__(self, *args: Any, points_to_evaluate: list[dict] | None = None, **kwargs: Any):
        super().__init__(*args, points_to_evaluate=None, **kwargs)
        if self._ot_study is not None:
            enqueue_once(self._ot_study, points_to_evaluate or [])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        trial = self._ot_trials[trial_id]
        step = (result or {}).get(TRAINING_ITERATION)
        if step is not None and self.metric in result:
            with warnings.catch_warnings():  # a step reported already is kept as it was
                warnings.simplefilter("ignore")
                trial.report(result[self.metric], step)
        state = optuna_state(result, error)
        if state == "COMPLETE":
            return super().on_trial_complete(trial_id, result, error)
        # PRUNED: Optuna takes the last intermediate value as the trial's value.
        self._ot_study.tell(trial, state=getattr(TrialState, state))
        self._completed_trials.add(trial_id)
        return None


ORPHAN_REASON = "suggested before its driver was killed; never run (the resume suggested anew)"


def fail_orphaned_trials(plan: TrialPlan) -> int:
    """End FAIL every trial still RUNNING in the plan's Optuna studies (the study and its
    per-strategy ``<study>-<strategy>`` ones) once its Tuner run has ended; return how many."""
    if not plan.optuna_storage or not plan.optuna_study:
        return 0
    import optuna

    failed = 0
    for name in optuna.get_all_study_names(plan.optuna_storage):
        if name != plan.optuna_study and not name.startswith(f"{plan.optuna_study}-"):
            continue
        study = optuna.load_study(study_name=name, storage=plan.optuna_storage)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", ORPHAN_REASON)
            study.tell(trial.number, state=TrialState.FAIL)
            failed += 1
    return failed


def enqueue_once(study: Any, points: list[dict[str, Any]]) -> None:
    """Enqueue each point unless the study holds it WAITING already (one waiting copy per
    point given: two equal points in ``points`` stay two)."""
    waiting = [
        trial.system_attrs.get("fixed_params", {})
        for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    ]
    for point in points:
        if point in waiting:
            waiting.remove(point)
        else:
            study.enqueue_trial(point)


def optuna_state(result: dict | None, error: bool) -> str:
    """COMPLETE, PRUNED or FAIL for a trial that ended with ``result`` (its last report)."""
    status = (result or {}).get(TRIAL_STATUS_KEY)
    if error or not result or status == "diverged":
        return "FAIL"
    return "COMPLETE" if status in (None, "completed") else "PRUNED"


class _GroupedSearcher(Searcher):
    """One searcher per strategy behind Tune's single searcher slot: suggestions go round
    robin over the strategies until each has had its ``samples``; results go back to the
    searcher that suggested the trial. Saved and restored whole with the experiment."""

    def __init__(
        self,
        searchers: dict[str, Any],
        samples: dict[str, int],
        group_key: str,
        metric: str,
        mode: str,
    ):
        super().__init__(metric=metric, mode=mode)
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
