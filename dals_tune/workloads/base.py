"""The :class:`Workload` record: one dataset × model × regime, ready for a training loop.

A trainer needs the same five things from every workload, and nothing else: a fresh model on
the device, the training batches of an epoch, a uniform forward call, an evaluation on the
validation or test split, and a description for the record. Keeping that surface identical
for an MLP on tensors, a ConvNet on augmented images and a Hugging Face encoder on token ids
means the trainer never branches on the workload type.

Data lives as whole tensors (on the device where it fits) and is batched by slicing an index
permutation, never through a per-sample ``DataLoader``: on two CPU cores or a fast GPU the
Python overhead of a per-sample pipeline would dominate a small model's step.

The order of an epoch's batches, and any augmentation randomness, depend only on
``(seed, epoch)``, so a trial resumed from a checkpoint at an epoch boundary sees exactly the
data an uninterrupted trial would have seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from dals_tune.layers import LayerMapping, layers_of
from dals_tune.objective import ACCURACY, Objective
from dals_tune.workloads.criteria import (
    LossFunction,
    MetricFunction,
    SplitTotals,
    cross_entropy,
    describe_function,
)
from dals_tune.workloads.dataset_split import DatasetSplit
from dals_tune.workloads.seeding import (
    AUGMENT_STREAM,
    ORDER_STREAM,
    seeded_rng,
    seeded_torch_generator,
)

Inputs = torch.Tensor | dict[str, torch.Tensor]


class DatasetNotFoundError(ValueError):
    """A dataset has no local copy where it was looked for and cannot be downloaded."""


class DatasetUnreadableError(ValueError):
    """A dataset's local copy is there but cannot be read: truncated, damaged, empty, or not
    in the format its name promises."""


class ModelNotFoundError(ValueError):
    """No model could be found for a text workload (none given, offline, no bundled one)."""


@dataclass(frozen=True)
class Split:
    """One split held as whole tensors: ``inputs`` (a tensor, or a dict of token tensors)
    and integer ``labels``. ``lengths`` (text only, on the CPU) is each example's number of
    real tokens, so a batch can be cut to its longest example without a device sync."""

    inputs: Inputs
    labels: torch.Tensor
    lengths: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray | torch.Tensor) -> Split:
        index = torch.as_tensor(index, dtype=torch.long)
        return Split(
            inputs=_index_inputs(self.inputs, index),
            labels=self.labels[index],
            lengths=None if self.lengths is None else self.lengths[index],
        )

    def to(self, device: torch.device) -> Split:
        if isinstance(self.inputs, dict):
            inputs: Inputs = {k: v.to(device) for k, v in self.inputs.items()}
        else:
            inputs = self.inputs.to(device)
        return Split(inputs=inputs, labels=self.labels.to(device), lengths=self.lengths)


BatchMaker = Callable[[Split, torch.Tensor, "torch.Generator | None"], Inputs]
"""``(split, index on the CPU, augmentation generator or None) -> model inputs``.
``None`` means evaluation: no augmentation."""


def tensor_batch(split: Split, index: torch.Tensor, generator: torch.Generator | None) -> Inputs:
    """Rows of a feature tensor: the batch maker of the MLP workloads."""
    return _index_inputs(split.inputs, index.to(split.labels.device))


@dataclass
class Workload:
    """A dataset × model × regime, built by :func:`dals_tune.workloads.build_workload` (or
    by a user through :func:`dals_tune.workload`).

    Tensor splits are moved to ``device`` on construction; a :class:`DatasetSplit` stays
    where it is and is batched by a ``DataLoader``. ``model`` is a fresh model on the device,
    initialized from the seed; :meth:`new_model` builds another identical one. ``objective``
    names the metric selection reads, its direction and its target (time-to-target);
    ``loss`` is what training minimises; ``custom_metric`` a user's metric callable (None:
    the objective's metric is built in). ``layer_mapping`` overrides how the model's
    parameters group into depth layers (:mod:`dals_tune.layers`).
    """

    id: str
    regime: str
    num_classes: int | None
    seed: int
    device: torch.device
    batch_size: int
    eval_batch_size: int
    train_split: Split | DatasetSplit = field(repr=False)
    val_split: Split | DatasetSplit = field(repr=False)
    test_split: Split | DatasetSplit = field(repr=False)
    model_factory: Callable[[], nn.Module] = field(repr=False)
    objective: Objective = ACCURACY
    loss: LossFunction = field(default=cross_entropy, repr=False)
    custom_metric: MetricFunction | None = field(default=None, repr=False)
    layer_mapping: LayerMapping | None = field(default=None, repr=False)
    make_batch: BatchMaker = field(default=tensor_batch, repr=False)
    augments: bool = False
    class_names: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    model: nn.Module = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The whole dataset lives on the device; builders hand over splits wherever they are.
        self.train_split = _on_device(self.train_split, self.device)
        self.val_split = _on_device(self.val_split, self.device)
        self.test_split = _on_device(self.test_split, self.device)
        self.model = self.new_model()

    def new_model(self) -> nn.Module:
        """A model initialized from the seed alone, whatever the global RNG holds."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = self.model_factory()
        return model.to(self.device)

    @property
    def steps_per_epoch(self) -> int:
        """Full batches plus the last partial one, unless that one would hold a single
        example (a batch of one breaks BatchNorm and gives a needlessly noisy step)."""
        full, rest = divmod(len(self.train_split), self.batch_size)
        return max(1, full + (1 if rest >= 2 else 0))

    def train_batches(self, epoch: int) -> Iterator[tuple[Inputs, torch.Tensor]]:
        """The ``(inputs, labels)`` batches of one epoch, in an order drawn from
        ``(seed, epoch)`` alone."""
        # On the device once per epoch: a host-to-device copy of each batch's indices would
        # make the host wait on every step.
        order = torch.from_numpy(
            seeded_rng(self.seed, ORDER_STREAM, epoch).permutation(len(self.train_split))
        )
        if isinstance(self.train_split, DatasetSplit):
            batches = [
                order[step * self.batch_size : (step + 1) * self.batch_size].tolist()
                for step in range(self.steps_per_epoch)
            ]
            generator = seeded_torch_generator(self.seed, AUGMENT_STREAM, epoch)
            yield from self.train_split.batches(batches, self.device, generator)
            return
        order = order.to(self.device)
        generator = (
            seeded_torch_generator(self.seed, AUGMENT_STREAM, epoch) if self.augments else None
        )
        labels = self.train_split.labels
        for step in range(self.steps_per_epoch):
            index = order[step * self.batch_size : (step + 1) * self.batch_size]
            yield (
                self.make_batch(self.train_split, index, generator),
                labels[index.to(labels.device)],
            )

    def forward(self, model: nn.Module, inputs: Inputs) -> torch.Tensor:
        """The model's outputs for a batch: dicts go in as keywords (a Hugging Face model
        returns an output object with ``.logits``), tensors positionally."""
        if isinstance(inputs, Mapping):
            outputs = model(**inputs)
            return getattr(outputs, "logits", outputs)
        return model(inputs)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """``{"loss": mean loss, <metric>: value}`` on ``"val"`` or ``"test"``, in eval mode
        and without gradients; the model's train/eval mode is restored afterwards."""
        was_training = model.training
        model.eval()
        totals = SplitTotals(self.objective.metric, self.loss, self.custom_metric)
        with torch.no_grad():
            for inputs, targets in self.evaluation_batches(split):
                totals.add(self.forward(model, inputs), targets)
        model.train(was_training)
        return totals.result()

    def evaluation_batches(
        self, split: str, size: int | None = None
    ) -> Iterator[tuple[Inputs, torch.Tensor]]:
        """``(inputs, targets)`` of a split in index order, unaugmented, ``size`` at a time
        (the evaluation batch size by default)."""
        data, size = self.split(split), size or self.eval_batch_size
        if isinstance(data, DatasetSplit):
            yield from data.in_order(size, self.device)
            return
        for start in range(0, len(data), size):
            index = torch.arange(start, min(start + size, len(data)))
            yield self.make_batch(data, index, None), data.labels[index.to(data.labels.device)]

    def split(self, name: str) -> Split | DatasetSplit:
        splits = {"train": self.train_split, "val": self.val_split, "test": self.test_split}
        if name not in splits:
            raise ValueError(f"unknown split {name!r}; use 'train', 'val' or 'test'")
        return splits[name]

    def describe(self) -> dict[str, Any]:
        """What a run record needs to say about the data and the model."""
        return {
            "workload": self.id,
            "regime": self.regime,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            **self.objective.describe(),
            "loss": describe_function(self.loss),
            "train_size": len(self.train_split),
            "val_size": len(self.val_split),
            "test_size": len(self.test_split),
            "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "seed": self.seed,
            "device": str(self.device),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "depth": len(layers_of(self.model, self.layer_mapping)),  # depth groups L (DESIGN §2)
            **self.details,
        }


def _on_device(split: Split | DatasetSplit, device: torch.device) -> Split | DatasetSplit:
    return split if isinstance(split, DatasetSplit) else split.to(device)


def _index_inputs(inputs: Inputs, index: torch.Tensor) -> Inputs:
    if isinstance(inputs, dict):
        return {key: value[index.to(value.device)] for key, value in inputs.items()}
    return inputs[index.to(inputs.device)]
