"""A user's own workload: :func:`workload` describes it, the trial's settings realise it.

A user's build function (``--workload my_task:build``) receives the trial's
:class:`~dals_tune.workloads.config.WorkloadConfig` and returns ``dals_tune.workload(...)``:
a model factory, three splits, a loss, a metric and its direction. The description is
checked at once (a wrong loss name, targets that do not fit it, an empty split), then
:meth:`WorkloadDefinition.realise` makes the :class:`~dals_tune.workloads.base.Workload`
the trainer runs: the trial's seed and device, ``--subset`` and ``--eval-subset`` drawn
from the user's splits (seeded, stratified for class targets), ``--batch-size`` over the
user's default. With ``--folds K`` the user's train and val tensor splits are pooled and
dealt into K folds (:mod:`dals_tune.workloads.folds`); test stays as it is.

Tensor pairs take the whole-tensor path (on the device, index slicing); any map-style
``Dataset`` goes through a ``DataLoader`` (:mod:`dals_tune.workloads.dataset_split`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from dals_tune.layers import LayerMapping
from dals_tune.objective import MODES, Objective, metric_name
from dals_tune.workloads.base import Split, Workload
from dals_tune.workloads.config import WorkloadConfig
from dals_tune.workloads.criteria import (
    CLASS_TARGET_LOSSES,
    LossFunction,
    MetricFunction,
    check_targets,
    describe_function,
    loss_function,
)
from dals_tune.workloads.dataset_split import DatasetSplit
from dals_tune.workloads.folds import fold_details, fold_split, joined, no_folds
from dals_tune.workloads.seeding import EVAL_SUBSET_STREAM, SUBSET_STREAM, seeded_rng
from dals_tune.workloads.splits import stratified_sample

SPLIT_NAMES = ("train", "val", "test")
DataSplit = Split | DatasetSplit


@dataclass(frozen=True)
class WorkloadDefinition:
    """What :func:`workload` was given, checked; :meth:`realise` builds it for a trial."""

    name: str
    model: Callable[[], nn.Module] = field(repr=False)
    splits: dict[str, DataSplit] = field(repr=False)
    loss: LossFunction = field(repr=False)
    loss_name: str
    objective: Objective
    custom_metric: MetricFunction | None = field(repr=False)
    batch_size: int
    eval_batch_size: int
    regime: str
    num_classes: int | None
    class_names: tuple[str, ...]
    layer_mapping: LayerMapping | None = field(repr=False)

    def realise(self, config: WorkloadConfig) -> Workload:
        """The workload for one trial: its seed, device, folds, subsets and batch size."""
        train, val, fold_facts = self._training_splits(config)
        full_train_size = len(train)
        train = _limited(train, config.subset, config.seed, (SUBSET_STREAM,))
        val = _limited(val, config.eval_subset, config.seed, (EVAL_SUBSET_STREAM, 0))
        test = _limited(
            self.splits["test"], config.eval_subset, config.seed, (EVAL_SUBSET_STREAM, 1)
        )
        workload = Workload(
            id=self.name,
            regime=config.regime_or(self.regime),
            num_classes=self.num_classes,
            seed=config.seed,
            device=config.device,
            batch_size=config.batch_size or self.batch_size,
            eval_batch_size=self.eval_batch_size,
            train_split=train,
            val_split=val,
            test_split=test,
            model_factory=self.model,
            objective=self.objective,
            loss=self.loss,
            custom_metric=self.custom_metric,
            layer_mapping=self.layer_mapping,
            class_names=self.class_names,
            details={
                "dataset": self.name,
                "source": "user workload",
                "full_train_size": full_train_size,
                "subset": config.subset,
                "eval_subset": config.eval_subset,
                **fold_facts,
            },
        )
        # What the study's model tag and the run records say: the user's class, by name.
        workload.details["model"] = type(workload.model).__name__
        return workload

    def _training_splits(self, config: WorkloadConfig) -> tuple[DataSplit, DataSplit, dict]:
        """The user's train and val splits; with ``--folds`` K, fold k's parts of the two
        pooled (:mod:`dals_tune.workloads.folds`), and what the workload records of them."""
        train, val = self.splits["train"], self.splits["val"]
        if config.folds is None:
            return train, val, {}
        if not (isinstance(train, Split) and isinstance(val, Split)):
            raise no_folds(f"{self.name} (its splits are Datasets)")
        pool = joined(train, val)
        fold_train, fold_val = fold_split(pool, config.folds, config.fold, config.seed)
        return fold_train, fold_val, fold_details(config.folds, config.fold, len(pool))


def workload(
    *,
    name: str,
    model: Callable[[], nn.Module],
    train: Any,
    val: Any,
    test: Any,
    loss: str | LossFunction = "cross_entropy",
    metric: str | MetricFunction = "accuracy",
    mode: str | None = None,
    batch_size: int = 64,
    target: float | None = None,
    eval_batch_size: int | None = None,
    num_workers: int | None = None,
    regime: str = "scratch",
    layer_mapping: LayerMapping | None = None,
) -> WorkloadDefinition:
    """Describe a workload for dals_tune to study.

    ``model``: a factory, called for a fresh model on every trial (seeded by the trial).
    ``train``/``val``/``test``: each an ``(inputs, targets)`` pair of tensors (inputs may be
    a dict of tensors) or a map-style ``Dataset`` of ``(inputs, target)`` items; selection
    reads ``val`` only, ``test`` is reported beside it. ``loss``: ``"cross_entropy"``,
    ``"mse"`` or ``callable(outputs, targets) -> loss tensor`` (a mean over the batch).
    ``metric``: ``"accuracy"`` (max), ``"loss"`` (min), ``"rmse"`` (min) or
    ``callable(outputs, targets) -> float`` with ``mode`` "max" or "min". ``target``: the
    validation value that counts as reached, in the metric's units. ``num_workers``: loader
    processes for ``Dataset`` splits (default 0 on the CPU, 2 on a GPU). ``regime``: what
    the study is ("scratch" or "finetune"), unless ``--regime`` says otherwise.
    ``layer_mapping``: how parameters group into depth layers, as :func:`dals_tune.layers.
    layers_of` takes it (a callable ``name -> layer key`` or module-name prefixes).
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("workload name must be a non-empty string")
    if isinstance(model, nn.Module) or not callable(model):
        raise ValueError(
            f"model must be a factory (a callable returning a fresh nn.Module), got "
            f"{type(model).__name__}; write model=lambda: MyNet()"
        )
    for value, what in ((batch_size, "batch_size"), (eval_batch_size or 1, "eval_batch_size")):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{what} must be a positive integer, got {value!r}")
    loss_fn = loss_function(loss)
    objective = _objective(metric, mode, target)
    workers = num_workers if num_workers is not None else (2 if torch.cuda.is_available() else 0)
    splits = {
        split: _as_split(data, split, workers)
        for split, data in zip(SPLIT_NAMES, (train, val, test))
    }
    for split, data in splits.items():
        try:
            check_targets(loss, objective.metric, _targets(data))
        except ValueError as error:
            raise ValueError(f"{split} split: {error}") from None
    return WorkloadDefinition(
        name=name.strip(),
        model=model,
        splits=splits,
        loss=loss_fn,
        loss_name=describe_function(loss),
        objective=objective,
        custom_metric=None if isinstance(metric, str) else metric,
        batch_size=batch_size,
        eval_batch_size=eval_batch_size or max(batch_size, 256),
        regime=regime,
        num_classes=_num_classes(splits, loss),
        class_names=_dataset_classes(splits),
        layer_mapping=layer_mapping,
    )


def _objective(metric: Any, mode: str | None, target: float | None) -> Objective:
    short, direction = metric_name(metric)
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if direction is None and mode is None:
        raise ValueError(
            f"a metric callable needs its direction: mode='max' or mode='min' ({short})"
        )
    if direction is not None and mode is not None and mode != direction:
        raise ValueError(f"metric {metric!r} is {direction}imised; mode={mode!r} contradicts it")
    if target is not None and not isinstance(target, int | float):
        raise ValueError(f"target must be a number in the metric's units, got {target!r}")
    return Objective(short, mode or direction or "max", None if target is None else float(target))


def _as_split(data: Any, split: str, num_workers: int) -> DataSplit:
    if isinstance(data, Dataset):
        if len(data) == 0:  # type: ignore[arg-type]
            raise ValueError(f"the {split} split is empty; every split needs examples")
        item = data[0]
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(
                f"the {split} Dataset's items must be (inputs, target) pairs, got "
                f"{type(item).__name__}"
            )
        return DatasetSplit(data, num_workers)
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ValueError(
            f"the {split} split must be an (inputs, targets) pair of tensors or a torch "
            f"Dataset, got {type(data).__name__}"
        )
    inputs, targets = data
    targets = torch.as_tensor(targets)
    if targets.is_floating_point():
        targets = targets.float()
    tensors = inputs.values() if isinstance(inputs, dict) else [inputs]
    if not all(isinstance(tensor, torch.Tensor) for tensor in tensors):
        raise ValueError(f"the {split} split's inputs must be a tensor or a dict of tensors")
    if len(targets) == 0:
        raise ValueError(f"the {split} split is empty; every split needs examples")
    if any(len(tensor) != len(targets) for tensor in tensors):
        raise ValueError(
            f"the {split} split has {len(targets)} targets but a different number of inputs"
        )
    return Split(inputs, targets)


def _targets(data: DataSplit) -> torch.Tensor:
    return data.first_target() if isinstance(data, DatasetSplit) else data.labels


def _num_classes(splits: dict[str, DataSplit], loss: Any) -> int | None:
    if loss not in CLASS_TARGET_LOSSES:
        return None
    classes = _dataset_classes(splits)
    if classes:
        return len(classes)
    tensors = [data.labels for data in splits.values() if isinstance(data, Split)]
    return int(max(int(t.max()) for t in tensors)) + 1 if tensors else None


def _dataset_classes(splits: dict[str, DataSplit]) -> tuple[str, ...]:
    train = splits["train"]
    if isinstance(train, DatasetSplit):
        return tuple(str(name) for name in getattr(train.dataset, "classes", ()) or ())
    return ()


def _limited(data: DataSplit, size: int | None, seed: int, stream: tuple[int, ...]) -> DataSplit:
    """A seeded sample of ``size`` examples (stratified for class targets on tensors)."""
    if size is None or size >= len(data):
        return data
    rng = seeded_rng(seed, *stream)
    if isinstance(data, DatasetSplit):
        index = np.sort(rng.choice(len(data), size=size, replace=False))
        return DatasetSplit(Subset(data.dataset, index.tolist()), data.num_workers)
    if data.labels.is_floating_point():
        return data.take(np.sort(rng.choice(len(data), size=size, replace=False)))
    return data.take(stratified_sample(data.labels.cpu().numpy(), size, rng))
