"""A workload's loss and metric: the built-in ones by name, a user's callables beside them.

The loss is what the optimizer minimises, on every training batch and as ``val_loss`` /
``test_loss``; the metric is what the study selects on (:mod:`dals_tune.objective`).
Outputs with a sequence axis (a language model's ``(batch, time, vocab)`` logits against
``(batch, time)`` token targets) are scored per token, so a loss in nats per token and a
per-token accuracy need no special case.

Evaluation sums over batches and divides once: the built-in metrics are sums over units (an
example, or a token), so the value on a split does not depend on the evaluation batch size.
A user's metric callable may not be such a sum (F1, AUC), so it is called once on the whole
split's outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MetricFunction = Callable[[torch.Tensor, torch.Tensor], float]


def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over examples, or over tokens when there is a sequence axis."""
    return F.cross_entropy(outputs.flatten(0, -2), targets.flatten())


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error; a ``(batch, 1)`` output against ``(batch,)`` targets is one value
    per example, not a broadcast (any other shape mismatch is refused: torch would
    broadcast it silently into a meaningless loss)."""
    outputs = _like_targets(outputs, targets)
    if outputs.shape != targets.shape:
        raise ValueError(
            f"mse: outputs of shape {tuple(outputs.shape)} against targets of shape "
            f"{tuple(targets.shape)}; the model should give one value per target"
        )
    return F.mse_loss(outputs, targets)


LOSSES: dict[str, LossFunction] = {"cross_entropy": cross_entropy, "mse": mse}
CLASS_TARGET_LOSSES = ("cross_entropy",)  # the losses whose targets are class indices


def loss_function(loss: str | LossFunction) -> LossFunction:
    if callable(loss):
        return loss
    if loss not in LOSSES:
        choices = ", ".join(repr(name) for name in LOSSES)
        raise ValueError(f"unknown loss {loss!r}; use {choices} or a callable")
    return LOSSES[loss]


@dataclass
class SplitTotals:
    """Running sums of one evaluation pass; :meth:`result` gives ``{"loss": ..., metric:
    ...}``. ``metric`` is the objective's short name; ``custom`` a user's metric callable."""

    metric: str
    loss: LossFunction
    custom: MetricFunction | None = None
    loss_sum: torch.Tensor | float = 0.0
    metric_sum: torch.Tensor | float = 0.0
    examples: int = 0
    units: int = 0
    kept: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    def add(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        outputs = outputs.float()
        units = targets.numel()
        if self.loss in LOSSES.values():  # a built-in loss is a mean over units
            self.loss_sum = self.loss_sum + self.loss(outputs, targets) * units
        else:  # a user's loss is a mean over examples, as a training step uses it
            self.loss_sum = self.loss_sum + self.loss(outputs, targets) * len(targets)
        self.examples += len(targets)
        self.units += units
        if self.custom is not None:
            self.kept.append((outputs, targets))
        elif self.metric == "acc":
            self.metric_sum = self.metric_sum + (outputs.argmax(dim=-1) == targets).sum()
        elif self.metric == "rmse":
            error = _like_targets(outputs, targets) - targets
            self.metric_sum = self.metric_sum + error.square().sum()

    def result(self) -> dict[str, float]:
        if self.examples == 0:
            raise ValueError("cannot evaluate on an empty split")
        per = self.units if self.loss in LOSSES.values() else self.examples
        loss = float(self.loss_sum) / per
        values = {"loss": loss}
        if self.loss is cross_entropy and self.metric == "loss":  # a language model's perplexity
            values["perplexity"] = math.exp(min(loss, 700.0))
        if self.custom is not None:
            outputs = torch.cat([o for o, _ in self.kept])
            targets = torch.cat([t for _, t in self.kept])
            values[self.metric] = float(self.custom(outputs, targets))
        elif self.metric == "acc":
            values["acc"] = float(self.metric_sum) / self.units
        elif self.metric == "rmse":
            values["rmse"] = math.sqrt(float(self.metric_sum) / self.units)
        elif self.metric != "loss":
            raise ValueError(f"no built-in metric {self.metric!r}; pass a callable")
        return values


def check_targets(loss: str | LossFunction, metric: str, targets: torch.Tensor) -> None:
    """Refuse targets that cannot mean what the loss and metric take them for, before a
    trial fails on them with a shape or dtype error deep in autograd."""
    integer = not targets.is_floating_point()
    if loss in CLASS_TARGET_LOSSES and not integer:
        raise ValueError(
            f"loss {loss!r} needs integer class targets, got {targets.dtype}; "
            "use loss='mse' (or a callable) for real-valued targets"
        )
    if loss == "mse" and integer:
        raise ValueError(
            f"loss 'mse' needs real-valued targets, got {targets.dtype}; convert them with "
            ".float(), or use loss='cross_entropy' for class labels"
        )
    if metric == "acc" and not integer:
        raise ValueError(
            f"metric 'accuracy' needs integer class targets, got {targets.dtype}; "
            "use metric='rmse' or 'loss' for real-valued targets"
        )
    if integer and bool((targets < 0).any()) and loss in CLASS_TARGET_LOSSES:
        raise ValueError("class targets must be 0, 1, ..., num_classes - 1; found a negative one")


def _like_targets(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if outputs.dim() == targets.dim() + 1 and outputs.shape[-1] == 1:
        return outputs.squeeze(-1)
    return outputs


def describe_function(value: Any) -> str:
    """A loss or metric as a run record names it."""
    if isinstance(value, str):
        return value
    return getattr(value, "__qualname__", None) or type(value).__name__
