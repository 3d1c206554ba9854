"""One trial: a config in, an honest per-epoch training record out (DESIGN §6–7).

``train(config)`` builds the workload and the strategy from the config, trains epoch by epoch
and hands each epoch's metrics and checkpoint to ``report``. It knows nothing of Ray: the Ray
Tune trainable in ``trainables/`` passes Tune's report function and checkpoint in, the CLI's
``train`` command passes a printer, the tests and benchmarks pass nothing.

Honesty rules it keeps: selection metrics come from the validation split; the test value
reported beside them is the one at the best validation epoch (best in the metric's
direction, :mod:`dals_tune.objective`); a non-finite loss ends the trial as ``diverged``
instead of crashing it; a resumed trial continues with the identical
next epoch (model, optimizer, scheduler, RNG and data order all restored, from the
checkpoint of :mod:`dals_tune.trial_checkpoint`).

With ``folds`` K (``--folds``) a trial trains K models in lockstep, one :class:`Learner` per
fold, epoch e of each before any reports, and reports the mean over folds
(:mod:`dals_tune.fold_means`); the gradient norms, LRs and optimizer metrics it reports are
the first fold's, the time the sum over folds.
"""

from __future__ import annotations

import contextlib
import functools
import random
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dals_tune import strategies, trial_checkpoint
from dals_tune.fold_means import fold_mean
from dals_tune.grad_norm_series import STEP_GRAD_NORMS
from dals_tune.gradient_buffer import GradientBuffer
from dals_tune.objective import Objective
from dals_tune.precision import resolve_precision
from dals_tune.trial import TrialSpec
from dals_tune.trial_checkpoint import CHECKPOINT_FILE as CHECKPOINT_FILE
from dals_tune.workloads import Workload, build_workload

# Reading the loss on the host makes a GPU wait, so only DALS (which feeds it to its phase
# detector) reads it every step; divergence is checked every few steps and at epoch end.
# A NaN stays NaN, so the few steps taken after one change nothing but the wasted time.
DIVERGENCE_CHECK_EVERY = 20

Report = Callable[[dict[str, Any], Path], None]


@dataclass
class TrialRecord:
    """What a finished (or diverged) trial leaves behind."""

    status: str  # "completed" | "diverged"
    workload: dict[str, Any] = field(default_factory=dict)  # sizes, subsets, model, source
    epochs: list[dict[str, Any]] = field(default_factory=list)
    grad_norms_l1: list[float] = field(default_factory=list)
    grad_norms_l2: list[float] = field(default_factory=list)

    @property
    def final(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}


def train(
    config: TrialSpec | Mapping[str, Any],
    report: Report | None = None,
    resume_from: Path | None = None,
) -> TrialRecord:
    """Run one trial: a :class:`TrialSpec`, or the flat config it reads (its keys, and the
    strategy's hyperparameters beside them). ``resume_from`` is a checkpoint folder an earlier
    call reported. With ``folds`` K, one model per fold in lockstep, each epoch's values the
    mean over folds (:mod:`dals_tune.fold_means`)."""
    spec = config if isinstance(config, TrialSpec) else TrialSpec.from_config(config)
    epochs = spec.epochs
    strategy, hyperparameters = _strategy_of(spec)
    seed_everything(spec.seed)
    learners = [
        Learner.of(workload, strategy, epochs, hyperparameters)
        for workload in (build_workload(spec, fold) for fold in range(spec.folds or 1))
    ]
    first = learners[0]  # its gradient norms, LRs and optimizer metrics stand for the trial's
    precision = resolve_precision(spec.precision, first.workload.device)
    autocast = _autocast(precision, first.workload.device)
    record = TrialRecord(
        status="running", workload={**first.workload.describe(), "precision": precision}
    )
    objective = first.workload.objective
    start_epoch = 0
    best = {objective.best_key: objective.worst, objective.test_at_best_key: float("nan")}
    if resume_from is not None:
        start_epoch, best, saved = trial_checkpoint.restore(Path(resume_from), learners, record)
        if saved is not None and saved != hyperparameters:  # PBT: the config's values win
            for learner in learners:
                learner.take_hyperparameters(saved, hyperparameters)

    for epoch in range(start_epoch, epochs):
        runs = _train_epochs(learners, strategy, autocast, epoch)
        l1, l2 = _on_host(runs[0].grad_norms_l1), _on_host(runs[0].grad_norms_l2)
        record.grad_norms_l1.extend(l1.tolist())
        record.grad_norms_l2.extend(l2.tolist())
        seconds = sum(run.seconds for run in runs)
        if len(runs) < len(learners) or runs[-1].diverged or not _all_parameters_finite(learners):
            metrics = _diverged_metrics(objective, epoch, best, seconds)
            record.epochs.append(metrics)
            record.status = "diverged"
            _report(report, metrics, l1, l2)
            return record
        evaluations = [_evaluate(learner.workload, learner.model, autocast) for learner in learners]
        evaluation = fold_mean(evaluations, objective)
        if objective.better(evaluation[objective.val_key], best[objective.best_key]):
            best = {
                objective.best_key: evaluation[objective.val_key],
                objective.test_at_best_key: evaluation[objective.test_key],
            }
        metrics = {
            "epoch": epoch + 1,
            "status": "running" if epoch + 1 < epochs else "completed",
            "train_loss": float(np.mean([float(torch.stack(run.losses).mean()) for run in runs])),
            **evaluation,
            **best,
            **_throughput(runs),
            **_gradient_norm_summary(l1, l2),
            **optimizer_metrics(first.optimizer),
        }
        record.epochs.append(metrics)
        _report(
            report,
            metrics,
            l1,
            l2,
            functools.partial(
                trial_checkpoint.save,
                epochs_done=epoch + 1,
                best=best,
                learners=learners,
                record=record,
                hyperparameters=hyperparameters,
            ),
        )
    record.status = "completed"
    return record


def _strategy_of(spec: TrialSpec) -> tuple[strategies.Strategy, dict[str, Any]]:
    """The trial's strategy and its checked hyperparameters; a strategy built from a source
    run reads it from ``search --refine-from``'s norms file."""
    if spec.strategy is None:
        raise ValueError("the trial config needs a 'strategy' key")
    strategy = strategies.get(spec.strategy)
    hyperparameters = strategies.supply_inputs(strategy, spec.hyperparameters, spec.source_run_file)
    strategies.check_hyperparameters(strategy.id, hyperparameters)
    return strategy, hyperparameters


def _report(
    report: Report | None,
    metrics: Mapping[str, Any],
    l1: torch.Tensor,
    l2: torch.Tensor,
    checkpoint: Callable[[Path], None] | None = None,
) -> None:
    """Hand one epoch's metrics, its per-step gradient norms and (``checkpoint`` writes it
    into the folder) the trial's checkpoint to ``report``, in a folder that lives as long as
    the call."""
    if report is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        if checkpoint is not None:
            checkpoint(Path(folder))
        report({**metrics, STEP_GRAD_NORMS: _series(l1, l2)}, Path(folder))


@dataclass
class Learner:
    """One model in training with its workload, optimizer and scheduler: a trial trains
    one, or one per fold with ``--folds`` (each on its fold's workload). ``build`` makes
    the (optimizer, scheduler) pair of given hyperparameters for this model."""

    workload: Workload
    optimizer: torch.optim.Optimizer
    scheduler: Any
    build: Callable[[Mapping[str, Any]], tuple[Any, Any]] = field(repr=False)

    @property
    def model(self) -> nn.Module:
        return self.workload.model

    @classmethod
    def of(
        cls,
        workload: Workload,
        strategy: strategies.Strategy,
        epochs: int,
        hyperparameters: Mapping[str, Any],
    ) -> Learner:
        def build(values: Mapping[str, Any]) -> tuple[Any, Any]:
            return strategies.build(
                strategy.id,
                workload.model,
                total_steps=epochs * workload.steps_per_epoch,
                regime=workload.regime,
                steps_per_epoch=workload.steps_per_epoch,
                layer_mapping=workload.layer_mapping,
                **values,
            )

        return cls(workload, *build(hyperparameters), build=build)

    def take_hyperparameters(self, saved: Mapping[str, Any], configured: Mapping[str, Any]) -> None:
        """Restored with ``saved``'s state, go on with ``configured``'s hyperparameters."""
        apply_new_hyperparameters(
            self.optimizer, self.scheduler, self.build(saved), self.build(configured)
        )


def _train_epochs(
    learners: list[Learner],
    strategy: strategies.Strategy,
    autocast: contextlib.AbstractContextManager,
    epoch: int,
) -> list[EpochRun]:
    """Epoch ``epoch`` of each learner in turn, stopping at the first that diverges (the
    runs are then fewer than the learners, or the last one diverged)."""
    runs = []
    for learner in learners:
        runs.append(_train_epoch(learner, strategy, autocast, epoch))
        if runs[-1].diverged:
            break
    return runs


@dataclass
class EpochRun:
    """What one pass over the training batches leaves for the epoch's metrics."""

    losses: list[torch.Tensor]
    samples: int
    grad_norms_l1: list[torch.Tensor]  # one 0-d tensor per optimizer step, on the device
    grad_norms_l2: list[torch.Tensor]
    diverged: bool
    seconds: float


def _train_epoch(
    learner: Learner,
    strategy: strategies.Strategy,
    autocast: contextlib.AbstractContextManager,
    epoch: int,
) -> EpochRun:
    """One pass over the epoch's batches, stopping early once the loss is not finite."""
    workload, model = learner.workload, learner.model
    optimizer, scheduler = learner.optimizer, learner.scheduler
    model.train()
    _set_optimizer_mode(strategy, optimizer, training=True)
    loss_fn = workload.loss
    run = EpochRun([], 0, [], [], diverged=False, seconds=0.0)
    gradients = GradientBuffer([p for p in model.parameters() if p.requires_grad])
    started = time.perf_counter()
    for inputs, labels in workload.train_batches(epoch):

        def recompute(inputs: Any = inputs, labels: torch.Tensor = labels) -> torch.Tensor:
            gradients.zero_grad()
            with autocast:
                loss = loss_fn(workload.forward(model, inputs).float(), labels)
            loss.backward()
            return loss

        loss = recompute().detach()
        run.losses.append(loss)
        recent = run.losses[-DIVERGENCE_CHECK_EVERY:]
        if len(run.losses) % DIVERGENCE_CHECK_EVERY == 0 and not _all_finite(recent):
            run.diverged = True
            break
        l1, l2 = gradients.norms()
        run.grad_norms_l1.append(l1)
        run.grad_norms_l2.append(l2)
        strategies.optimizer_step(strategy, optimizer, loss, recompute)
        if scheduler is not None:
            scheduler.step()
        run.samples += len(labels)
    run.diverged = run.diverged or not _all_finite(run.losses)
    run.seconds = time.perf_counter() - started
    _set_optimizer_mode(strategy, optimizer, training=False)
    return run


def _on_host(values: list[torch.Tensor]) -> torch.Tensor:
    """An epoch's per-step values as one float tensor on the CPU: one device sync per epoch."""
    return torch.stack(values).float().cpu() if values else torch.zeros(0)


def apply_new_hyperparameters(
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    before: tuple[torch.optim.Optimizer, Any],
    configured: tuple[torch.optim.Optimizer, Any],
) -> None:
    """Let a restored trial run with the hyperparameters of its config, not its checkpoint's.

    PBT restarts a trial from a better trial's checkpoint with perturbed hyperparameters: the
    checkpoint brings the state (weights, momentum, step counts, the schedule's position), the
    config the hyperparameters. ``before``/``configured`` are the (optimizer, scheduler) pairs
    the checkpoint's and the config's hyperparameters build; the param-group entries on which
    they differ are exactly the ones the change touches, and only those are replaced, so
    entries an optimizer keeps as state in its groups (Prodigy's ``d``, schedule-free's
    ``weight_sum``) stay restored. Every schedule here multiplies a base LR, so the current LR
    is scaled by new base / old base, and the scheduler's base LRs are replaced.
    """
    old_groups, new_groups = before[0].param_groups, configured[0].param_groups
    for group, old, new in zip(optimizer.param_groups, old_groups, new_groups):
        for key, value in new.items():
            if key not in ("params", "lr") and old.get(key) != value:
                group[key] = value
        if "lr" in group:  # COCOB has no learning rate
            old_base = old.get("initial_lr", old.get("base_lr", old["lr"]))
            new_base = new.get("initial_lr", new.get("base_lr", new["lr"]))
            if old_base:
                group["lr"] = group["lr"] * new_base / old_base
    if scheduler is not None and hasattr(scheduler, "base_lrs") and configured[1] is not None:
        scheduler.base_lrs = list(configured[1].base_lrs)


def optimizer_metrics(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """The LR of each depth group (``lr/<layer>``, or ``lr`` for a single group; none for an
    optimizer without one, COCOB) and, for DALS, the phase and the per-layer and mean trust
    ratio."""
    metrics: dict[str, float] = {}
    groups = [group for group in optimizer.param_groups if "lr" in group]
    for index, group in enumerate(groups):
        if len(groups) == 1:
            metrics["lr"] = float(group["lr"])
        else:
            metrics[f"lr/{group.get('layer_name', index)}"] = float(group["lr"])
    if hasattr(optimizer, "layer_stats"):
        stats = optimizer.layer_stats()
        metrics["phase"] = float(optimizer.phase)
        for layer, values in stats.items():
            metrics[f"trust_ratio/{layer}"] = values["trust_ratio"]
        metrics["trust_ratio"] = float(np.mean([v["trust_ratio"] for v in stats.values()]))
    return metrics


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _evaluate(
    workload: Any, model: nn.Module, autocast: contextlib.AbstractContextManager
) -> dict[str, float]:
    """The validation and test loss and metric (``val_loss``, ``val_<metric>``, ``test_...``),
    in eval mode, without gradients."""
    model.eval()
    metrics = {}
    with torch.no_grad(), autocast:
        for split in ("val", "test"):
            for name, value in workload.evaluate(model, split).items():
                metrics[f"{split}_{name}"] = value
    return metrics


def _throughput(runs: list[EpochRun]) -> dict[str, float]:
    """The epoch's time over every fold's pass, and the examples trained per second in it."""
    seconds, samples = sum(run.seconds for run in runs), sum(run.samples for run in runs)
    per_second = samples / seconds if seconds > 0 else 0.0
    return {"epoch_seconds": seconds, "samples_per_second": per_second}


def _gradient_norm_summary(l1_values: torch.Tensor, l2_values: torch.Tensor) -> dict[str, float]:
    if len(l1_values) == 0:
        return {}
    return {
        "grad_norm_l1_mean": float(l1_values.mean()),
        "grad_norm_l2_mean": float(l2_values.mean()),
        "grad_norm_l2_max": float(l2_values.max()),
        "grad_norm_l2_last": float(l2_values[-1]),
    }


def _series(l1_values: torch.Tensor, l2_values: torch.Tensor) -> dict[str, list[float]]:
    return {"l1": l1_values.tolist(), "l2": l2_values.tolist()}


def _diverged_metrics(
    objective: Objective, epoch: int, best: dict[str, float], seconds: float
) -> dict[str, Any]:
    """A diverged epoch scores the metric's worst value, so no searcher or scheduler mistakes
    it for a good one; the best so far stays what it was (or that worst value)."""
    worst = objective.diverged_value
    best_so_far = best[objective.best_key]
    return {
        "epoch": epoch + 1,
        "status": "diverged",
        "train_loss": float("nan"),
        objective.val_key: worst,
        objective.test_key: worst,
        **best,
        objective.best_key: worst if objective.better(worst, best_so_far) else best_so_far,
        "epoch_seconds": seconds,
    }


def _all_finite(losses: list[torch.Tensor]) -> bool:
    return bool(torch.isfinite(torch.stack(losses)).all()) if losses else True


def _all_parameters_finite(learners: list[Learner]) -> bool:
    return all(torch.isfinite(p).all() for learner in learners for p in learner.model.parameters())


def _set_optimizer_mode(strategy: strategies.Strategy, optimizer: Any, training: bool) -> None:
    """Schedule-free optimizers evaluate at a different point than they train at."""
    if strategy.has_train_eval_modes:
        optimizer.train() if training else optimizer.eval()


def _autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for a resolved ``precision`` of bf16 (:mod:`dals_tune.precision`); fp32
    enters no context at all, since even a disabled autocast costs time on every step of a
    small model."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
