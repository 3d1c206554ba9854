"""The `Strategy` record, the registry of records, and the one factory that builds them.

:func:`build` turns an id, a model and a run length into ``(optimizer, scheduler_or_None)``;
:func:`optimizer_step` is how a training loop steps any of them. The records themselves are
registered by :mod:`dals_tune.strategies.catalog`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from dals_tune.layers import LayerMapping

REGIMES = ("scratch", "finetune")
LIBRARY_LICENCES = {
    "torch": "BSD-3-Clause",
    "pytorch-optimizer": "Apache-2.0",
    "schedulefree": "Apache-2.0",
    "prodigyopt": "MIT",
    "dadaptation": "MIT",
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


@dataclass(frozen=True)
class Strategy:
    """One registered strategy. ``defaults[regime]`` lists every hyperparameter it takes."""

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

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        return tuple(self.defaults["scratch"])


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
