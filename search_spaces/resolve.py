"""Turn the declared spec into a :class:`Space` for one strategy and regime: defaults from the
registry, relative bounds made absolute, and every range checked against what the strategy
accepts (:mod:`dals_tune.strategies.bounds`, the table trials are checked against too)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from dals_tune import strategies
from search_spaces.parameter import Parameter, Space
from search_spaces.spec import LEARNING_RATES, NO_LEARNING_RATE, NOTHING_TO_TUNE, SPECS


def registry_defaults(
    strategy_id: str, regime: str, fixed: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``strategies.concrete_config(strategy_id, regime, **fixed)``: the registry's defaults
    with ``fixed`` on top and the ``None`` values that mean "decided by another setting"
    (refined's base optimizer's LR) filled in, so every searched parameter has a default."""
    return strategies.concrete_config(strategy_id, regime, **dict(fixed or {}))


def parameter_problem(parameter: Parameter, default: Any) -> str | None:
    """Why ``parameter`` could sample a value its strategy does not accept (None when not)."""
    if parameter.distribution == "categorical":
        values: Iterable[Any] = parameter.choices
    else:
        values = (parameter.low, parameter.high)
    for value in values:
        problem = strategies.value_problem(parameter.name, value, default)
        if problem is not None:
            return problem
    return None


def constraint_problem(values: Mapping[str, Any], parameters: Iterable[Parameter]) -> str | None:
    """Why some sample of ``parameters`` (the rest taken from ``values``) would break a
    constraint between two hyperparameters (None when none can)."""
    searched = {parameter.name: parameter for parameter in parameters}
    extents = {}
    for name, value in values.items():
        if name not in strategies.ACCEPTED:  # constraints are between numbers
            continue
        parameter = searched.get(name)
        if parameter is None:
            extents[name] = (value, value)
        elif parameter.distribution == "categorical":
            extents[name] = (min(parameter.choices), max(parameter.choices))
        else:
            extents[name] = (parameter.low, parameter.high)
    return strategies.constraint_problem(extents)


def build_space(
    strategy_id: str,
    regime: str,
    declared: Sequence[Parameter],
    fixed: Mapping[str, Any] | None = None,
) -> Space:
    """A space searching ``declared`` (bounds may be relative to the default) with ``fixed``
    values pinned. Raises ``ValueError`` with a one-line reason when a parameter is not one
    the strategy takes, could sample a value it does not accept, or breaks a constraint."""
    strategy = strategies.get(strategy_id)
    fixed = dict(fixed or {})
    defaults = registry_defaults(strategy.id, regime, fixed)
    resolved = []
    for parameter in declared:
        if parameter.name not in strategy.hyperparameters:
            raise ValueError(
                f"{strategy.id} takes no hyperparameter {parameter.name!r}; "
                f"it takes: {', '.join(strategy.hyperparameters)}"
            )
        absolute = parameter.resolve(defaults[parameter.name])
        problem = parameter_problem(absolute, defaults[parameter.name])
        if problem is not None:
            raise ValueError(f"{strategy.id}.{parameter.name}: {problem}")
        resolved.append(absolute)
    for name, value in fixed.items():
        problem = strategies.value_problem(name, value, strategy.defaults[regime][name])
        if problem is not None:
            raise ValueError(f"{strategy.id}.{name}: {problem}")
    problem = constraint_problem(defaults, resolved)
    if problem is not None:
        raise ValueError(f"{strategy.id}: {problem}")
    reason = NOTHING_TO_TUNE.get(strategy.id, "") if not resolved else ""
    return Space(strategy.id, regime, tuple(resolved), defaults, fixed, reason)


def declared_parameters(strategy_id: str) -> tuple[Parameter, ...]:
    """The spec's parameters of ``strategy_id`` (bounds possibly relative to the default)."""
    strategy = strategies.get(strategy_id)
    if strategy.id not in SPECS:
        raise ValueError(
            f"no search space is declared for {strategy.id!r}; add it to search_spaces/spec.py"
        )
    return SPECS[strategy.id]


def space_for(
    strategy_id: str, regime: str = "scratch", fixed: Mapping[str, Any] | None = None
) -> Space:
    """The declared search space of ``strategy_id`` for ``regime``, with absolute bounds and
    the registry's defaults; ``fixed`` values are pinned first (a refined study's ``base``),
    so the defaults, and the bounds relative to them, follow them."""
    return build_space(strategy_id, regime, declared_parameters(strategy_id), fixed)


def default_config(strategy_id: str, regime: str = "scratch") -> dict[str, Any]:
    """The portfolio-of-defaults point of ``strategy_id``: the registry default of every
    searched parameter (the keys of its Ray Tune ``param_space``)."""
    return space_for(strategy_id, regime).default_point()


def learning_rates_only(space: Space) -> Space:
    """``space`` narrowed to its learning rates (:data:`~search_spaces.spec.LEARNING_RATES`,
    with the ranges ``space`` gives them, log-uniform as declared), every other searched
    parameter fixed at its default, as a space file that gives each of them one value would
    fix it. Why: with a budget of a few trials, a search over every knob compares mostly
    defaults, while the learning rate is the knob that moves most between models. A space
    with no learning rate keeps only its default configuration, and says why."""
    kept = tuple(parameter for parameter in space.parameters if parameter.name in LEARNING_RATES)
    at_default = {
        parameter.name: space.defaults[parameter.name]
        for parameter in space.parameters
        if parameter.name not in LEARNING_RATES
    }
    narrowed = build_space(space.strategy_id, space.regime, kept, {**space.fixed, **at_default})
    if kept or not space.parameters:
        return narrowed
    return replace(narrowed, reason=NO_LEARNING_RATE)
