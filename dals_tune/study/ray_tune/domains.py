"""Search spaces as Ray Tune domains (PBT samples and mutates them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ray import tune

from dals_tune.study.plans import TrialPlan

if TYPE_CHECKING:
    from search_spaces import Space


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


def plan_domains(plan: TrialPlan) -> dict[str, Any]:
    """The Tune domains of a plan without a searcher: sampled at random, mutated by PBT."""
    return tune_param_space(plan.space) if plan.space is not None else {}
