"""Where a plan's configurations come from: Optuna (one searcher per strategy behind Tune's
single searcher slot, or one joint study), random search, or a grid of re-runs."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

from ray.tune.search import Searcher

from dals_tune.study.plans import TrialPlan


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
        metric=plan.objective.val_key,
        mode=plan.objective.mode,
        points_to_evaluate=points or None,
        sampler=sampler,
        study_name=name,
        storage=storage,
    )


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
