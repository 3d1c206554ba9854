"""The `Strategy` record, the registry of records, and the one factory that builds them.

:func:`build` turns an id, a model and a run length into ``(optimizer, scheduler_or_None)``,
once :func:`check_hyperparameters` has checked the config against :mod:`.bounds`;
:func:`optimizer_step` is how a training loop steps any of them. What a strategy needs beyond
its hyperparameters is asked of its record, never of its id: :func:`supply_inputs` fills in
what it takes from a finished run, :func:`concrete_config` the defaults that follow from
another setting. The records themselves are registered by :mod:`dals_tune.strategies.catalog`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from dals_tune.layers import LayerMapping
from dals_tune.strategies import bounds
from dals_tune.trial import REGIMES  # the contract's one list of regimes

LIBRARY_LICENCES = {
    "torch": "BSD-3-Clause",
    "pytorch-optimizer": "Apache-2.0",
    "schedulefree": "Apache-2.0",
    "prodigyopt": "MIT",
    "dadaptation": "MIT",
    "prodigy-plus-schedule-free": "Apache-2.0",
    "parameterfree": "MIT",
    "dog-optimizer": "MIT",
    "dals_tune": "Apache-2.0",
}


@dataclass(frozen=True)
class BuildContext:
    """What a builder needs besides the model and the hyperparameters."""

    total_steps: int
    steps_per_epoch: int
    regime: str = "scratch"
    layer_mapping: LayerMapping | None = None


Built = tuple[Optimizer, LRScheduler | None]
Builder = Callable[[nn.Module, dict[str, Any], BuildContext], Built]
# (config, regime) -> the config with the defaults that follow from another setting filled in.
DefaultsFiller = Callable[[dict[str, Any], str], dict[str, Any]]


@dataclass(frozen=True)
class SourceRunInputs:
    """Hyperparameters a strategy takes from a finished run instead of a search (refined: its
    ``grad_norms``). ``read`` reads them, as ``{name: value}``, from the file a study hands
    every trial (the trial setting ``source_run_file``, written by ``search --refine-from``)."""

    names: tuple[str, ...]
    read: Callable[[str], dict[str, Any]] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Strategy:
    """One registered strategy. ``defaults[regime]`` lists every hyperparameter it takes.

    ``needs_closure``, ``has_train_eval_modes``: what a training loop does differently (see
    the package docstring). ``source_run_inputs``: what it takes from a finished run (a study
    then needs ``--refine-from``). ``fill_defaults``: how defaults of None that mean "decided by
    another setting" become values (refined's base optimizer)."""

    id: str
    generation: int
    family: str
    library: str
    description: str
    defaults: dict[str, dict[str, Any]]
    builder: Builder = field(repr=False, compare=False)
    paper: bool = False
    needs_closure: bool = False
    has_train_eval_modes: bool = False
    source_run_inputs: SourceRunInputs | None = None
    fill_defaults: DefaultsFiller | None = field(default=None, repr=False, compare=False)

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        return tuple(self.defaults["scratch"])

    @property
    def licence(self) -> str:
        """The licence of the library that backs it."""
        return LIBRARY_LICENCES[self.library]

    @property
    def needs_source_run(self) -> bool:
        """Whether a study of it needs a finished run to take inputs from (``--refine-from``)."""
        return self.source_run_inputs is not None


REGISTRY: dict[str, Strategy] = {}


def register(*records: Strategy) -> None:
    """Add ``records`` to :data:`REGISTRY`; each id once, the same keys in every regime."""
    for record in records:
        if record.id in REGISTRY:
            raise ValueError(f"strategy {record.id!r} is registered twice")
        keys = [set(record.defaults.get(regime, ())) for regime in REGIMES]
        if set(record.defaults) != set(REGIMES) or keys[0] != keys[1]:
            raise ValueError(f"strategy {record.id!r} must give the same keys for {REGIMES}")
        REGISTRY[record.id] = record


def get(strategy_id: str) -> Strategy:
    """The record of ``strategy_id``; a ValueError suggests the closest id."""
    if strategy_id in REGISTRY:
        return REGISTRY[strategy_id]
    close = difflib.get_close_matches(str(strategy_id), list(REGISTRY), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    raise ValueError(f"unknown strategy {strategy_id!r}{hint} see python -m dals_tune strategies")


def resolve_config(strategy_id: str, regime: str = "scratch", **overrides: Any) -> dict[str, Any]:
    """The strategy's defaults for ``regime`` with ``overrides`` on top."""
    strategy = get(strategy_id)
    if regime not in strategy.defaults:
        raise ValueError(f"unknown regime {regime!r}; use one of {', '.join(REGIMES)}")
    config = dict(strategy.defaults[regime])
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ValueError(
            f"strategy {strategy.id!r} takes no hyperparameter {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(config)}"
        )
    config.update(overrides)
    return config


def concrete_config(strategy_id: str, regime: str = "scratch", **overrides: Any) -> dict[str, Any]:
    """:func:`resolve_config`, with the defaults of None that mean "decided by another
    setting" (refined's ``lr``: its base optimizer's) made concrete by the record's
    ``fill_defaults``, so every hyperparameter has a value a search can be built around."""
    strategy = get(strategy_id)
    config = resolve_config(strategy.id, regime, **overrides)
    return strategy.fill_defaults(config, regime) if strategy.fill_defaults else config


def check_hyperparameters(strategy_id: str, hyperparameters: Mapping[str, Any]) -> None:
    """Refuse a hyperparameter of the wrong kind or out of range, or two that break a
    constraint between them, in one line, before any library sees them: the libraries differ
    in what they check (schedule-free AdamW takes a negative or a textual LR and fails
    mid-epoch; pytorch-optimizer raises its own exception type). What each name accepts is
    :mod:`dals_tune.strategies.bounds`, the table the search spaces are checked against."""
    strategy = get(strategy_id)
    defaults = strategy.defaults["scratch"]  # the same keys and kinds in every regime
    problem = bounds.hyperparameters_problem(defaults, hyperparameters)
    if problem is not None:
        raise ValueError(f"strategy {strategy.id!r}: {problem}")


def supply_inputs(
    strategy: Strategy, hyperparameters: Mapping[str, Any], source_run_file: str | None
) -> dict[str, Any]:
    """``hyperparameters`` with what ``strategy`` takes from a finished run filled in from
    ``source_run_file``, the file a study hands its trials (refined: the run's gradient
    norms, from ``search --refine-from``).
    Values already given are kept; without a file, or for a strategy that takes nothing from
    a run, they are returned as they are (and the builder says what is missing)."""
    supplied = dict(hyperparameters)
    inputs = strategy.source_run_inputs
    if inputs is None or not source_run_file:
        return supplied
    missing = [name for name in inputs.names if supplied.get(name) is None]
    if missing:
        read = inputs.read(source_run_file)
        supplied.update({name: read[name] for name in missing})
    return supplied


def build(
    strategy_id: str,
    model: nn.Module,
    total_steps: int,
    regime: str = "scratch",
    steps_per_epoch: int | None = None,
    layer_mapping: LayerMapping | None = None,
    **overrides: Any,
) -> Built:
    """(optimizer, scheduler or None) for ``model`` trained for ``total_steps`` optimizer
    steps. ``steps_per_epoch`` (None: the whole run is one epoch) sets epoch-based lengths
    such as SGDR's first cycle; ``layer_mapping`` is passed to :mod:`dals_tune.layers` by the
    layer-wise strategies."""
    strategy = get(strategy_id)
    config = resolve_config(strategy_id, regime, **overrides)
    check_hyperparameters(strategy.id, config)
    if int(total_steps) != total_steps or total_steps <= 0:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps}")
    steps_per_epoch = int(total_steps) if steps_per_epoch is None else int(steps_per_epoch)
    if steps_per_epoch <= 0:
        raise ValueError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch}")
    context = BuildContext(int(total_steps), steps_per_epoch, regime, layer_mapping)
    return strategy.builder(model, config, context)


def optimizer_step(
    strategy: Strategy,
    optimizer: Optimizer,
    loss_value: float | Tensor,
    recompute: Callable[[], Tensor],
) -> None:
    """One optimizer step, after ``loss.backward()``. Feeds DALS's phase detector, and gives
    SAM ``recompute`` (zero-grad, forward, backward, return the loss) for its second pass.
    ``loss_value`` may be a device tensor: it is read on the host only by optimizers that
    observe the loss, so the others never make a GPU wait."""
    observe_loss = getattr(optimizer, "observe_loss", None)
    if observe_loss is not None:
        observe_loss(float(loss_value))
    if strategy.needs_closure:
        optimizer.step(recompute)
    else:
        optimizer.step()
