"""Optuna define-by-run functions generated from the same spaces that feed Ray Tune.

A joint study first suggests ``strategy`` (a categorical over the study's strategies), then
only that strategy's parameters, under names prefixed by the strategy id (``"dals.lr"``,
``"adamw.lr"``) so that parameters of different strategies never share a distribution in
Optuna's storage. The function returns the config with plain keys plus ``"strategy"``::

    define = joint_define_by_run(["dals", "adamw", "sgdr"], "scratch")
    for strategy_id in ["dals", "adamw", "sgdr"]:
        study.enqueue_trial(joint_default_params(strategy_id, "scratch"))  # defaults first
    def objective(trial):
        config = define(trial)        # {"strategy": "dals", "lr": ..., "momentum": ...}
        strategy_id = config.pop("strategy")
        return train(strategy_id, strategies.resolve_config(strategy_id, "scratch", **config))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dals_tune import strategies
from search_spaces.parameter import Parameter, Space
from search_spaces.resolve import space_for

if TYPE_CHECKING:
    import optuna

STRATEGY_KEY = "strategy"


def suggest(trial: optuna.Trial, parameter: Parameter, name: str) -> Any:
    """Ask ``trial`` for ``parameter`` under the Optuna name ``name``."""
    if parameter.distribution == "categorical":
        return trial.suggest_categorical(name, list(parameter.choices))
    if parameter.distribution == "int":
        return trial.suggest_int(name, int(parameter.low), int(parameter.high), log=parameter.log)
    return trial.suggest_float(name, parameter.low, parameter.high, log=parameter.log)


def joint_name(strategy_id: str, name: str) -> str:
    """The Optuna name of a strategy's parameter in a joint study: ``"dals.lr"``."""
    return f"{strategy_id}.{name}"


@dataclass(frozen=True)
class PerStrategyDefineByRun:
    """Define-by-run over one strategy's space; a class, not a closure, because Ray Tune
    pickles the searcher (and so this function) with the study's checkpoint."""

    space: Space

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        config = {p.name: suggest(trial, p, p.name) for p in self.space.parameters}
        config.update(self.space.fixed)
        return config


def per_strategy_define_by_run(
    strategy_id: str, regime: str = "scratch", space: Space | None = None
) -> Callable[[optuna.Trial], dict[str, Any]]:
    """A define-by-run function over one strategy's space (``space``, e.g. from a space file,
    or the declared one); it returns the sampled config with plain keys."""
    return PerStrategyDefineByRun(space if space is not None else space_for(strategy_id, regime))


def joint_spaces(
    strategy_ids: Iterable[str], regime: str, spaces: Mapping[str, Space] | None = None
) -> dict[str, Space]:
    """The space of each strategy of a joint study (from ``spaces`` where given), in order."""
    ids = list(dict.fromkeys(strategies.get(strategy_id).id for strategy_id in strategy_ids))
    if not ids:
        raise ValueError("a joint study needs at least one strategy")
    spaces = spaces or {}
    return {sid: spaces[sid] if sid in spaces else space_for(sid, regime) for sid in ids}


@dataclass(frozen=True)
class JointDefineByRun:
    """Define-by-run over several strategies: the strategy first, then its own parameters
    (picklable, like :class:`PerStrategyDefineByRun`)."""

    spaces: Mapping[str, Space]

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        strategy_id = trial.suggest_categorical(STRATEGY_KEY, list(self.spaces))
        space = self.spaces[strategy_id]
        config: dict[str, Any] = {STRATEGY_KEY: strategy_id}
        for parameter in space.parameters:
            config[parameter.name] = suggest(
                trial, parameter, joint_name(strategy_id, parameter.name)
            )
        config.update(space.fixed)
        return config


def joint_define_by_run(
    strategy_ids: Iterable[str], regime: str = "scratch", spaces: Mapping[str, Space] | None = None
) -> Callable[[optuna.Trial], dict[str, Any]]:
    """A define-by-run function for a joint study: ``strategy`` is a categorical over
    ``strategy_ids``, and only the chosen strategy's parameters are suggested (conditional),
    named ``"<strategy>.<parameter>"``. It returns ``{"strategy": id, <plain keys>...}``.
    ``spaces`` (e.g. from :func:`load_space_file`) replaces the declared spaces it names."""
    return JointDefineByRun(joint_spaces(strategy_ids, regime, spaces))


def joint_default_params(
    strategy_id: str, regime: str = "scratch", space: Space | None = None
) -> dict[str, Any]:
    """The portfolio-of-defaults point of ``strategy_id`` under the joint study's Optuna
    names, for ``study.enqueue_trial``."""
    space = space if space is not None else space_for(strategy_id, regime)
    params: dict[str, Any] = {STRATEGY_KEY: space.strategy_id}
    for parameter in space.parameters:
        params[joint_name(space.strategy_id, parameter.name)] = space.defaults[parameter.name]
    return params
