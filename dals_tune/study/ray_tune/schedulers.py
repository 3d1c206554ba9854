"""Which trials go on: ASHA (:mod:`.asha`), PBT or FIFO, one instance per strategy in a
per-strategy study."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray.tune.schedulers import FIFOScheduler
from ray.tune.search.sample import Domain, Integer

from dals_tune.study.plans import TrialPlan
from dals_tune.study.ray_tune.asha import TIME_ATTRIBUTE, TopOfRungASHA, replay
from dals_tune.study.ray_tune.domains import plan_domains


def scheduler(plan: TrialPlan) -> Any:
    """The plan's scheduler: one per strategy behind a grouped scheduler when the plan has
    groups, each with that strategy's grace period; otherwise one for the whole plan."""
    if plan.groups:
        by_key = {group.key: group for group in plan.groups}

        def make(key: str) -> Any:
            group = by_key.get(key)
            grace = group.grace_period if group and group.grace_period else plan.grace_period
            made = _one_scheduler(plan, {}, plan.objective.val_key, plan.objective.mode, grace)
            if group and plan.scheduler == "asha":
                replay(made, group.earlier_trials, plan.objective.val_key)
            return made

        return _GroupedScheduler(make, plan.group_key)
    return _one_scheduler(plan, plan_domains(plan))


def _one_scheduler(
    plan: TrialPlan,
    mutations: dict[str, Any],
    metric: str | None = None,
    mode: str | None = None,
    grace_period: int | None = None,
) -> Any:
    """ASHA, PBT or FIFO. Inside a grouped scheduler it is given the metric itself; alone,
    Tune gives it the Tuner's (and refuses a scheduler that already has one)."""
    from ray.tune.schedulers import PopulationBasedTraining

    grace_period = grace_period or plan.grace_period
    if plan.scheduler == "asha":
        return TopOfRungASHA(
            max_t=plan.max_epochs,
            grace_period=min(grace_period, plan.max_epochs),
            metric=metric,
            mode=mode,
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
