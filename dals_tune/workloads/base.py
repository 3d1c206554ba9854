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
import torch.nn.functional as F
from torch import nn

from dals_tune.layers import layers_of
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
    """A dataset × model × regime, built by :func:`dals_tune.workloads.build_workload`.

    The splits are moved to ``device`` on construction, and ``model`` is a fresh model on
    it, initialized from the seed; :meth:`new_model` builds another identical one.
    ``target_accuracy`` is the validation accuracy that counts as reached for time-to-target.
    """

    id: str
    regime: str
    num_classes: int
    target_accuracy: float
    seed: int
    device: torch.device
    batch_size: int
    eval_batch_size: int
    train_split: Split = field(repr=False)
    val_split: Split = field(repr=False)
    test_split: Split = field(repr=False)
    model_factory: Callable[[], nn.Module] = field(repr=False)
    make_batch: BatchMaker = field(default=tensor_batch, repr=False)
    augments: bool = False
    class_names: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    model: nn.Module = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The whole dataset lives on the device; builders hand over splits wherever they are.
        self.train_split = self.train_split.to(self.device)
        self.val_split = self.val_split.to(self.device)
        self.test_split = self.test_split.to(self.device)
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
        ).to(self.device)
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
        """Logits for a batch: token dicts go in as keywords (Hugging Face models return an
        output object with ``.logits``), tensors positionally."""
        if isinstance(inputs, Mapping):
            return model(**inputs).logits
        return model(inputs)

    def evaluate(self, model: nn.Module, split: str) -> tuple[float, float]:
        """Mean cross-entropy and accuracy on ``"val"`` or ``"test"``, in eval mode and
        without gradients; the model's train/eval mode is restored afterwards."""
        data = self.split(split)
        was_training = model.training
        model.eval()
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        with torch.no_grad():
            for start in range(0, len(data), self.eval_batch_size):
                index = torch.arange(start, min(start + self.eval_batch_size, len(data)))
                labels = data.labels[index.to(data.labels.device)]
                logits = self.forward(model, self.make_batch(data, index, None)).float()
                total_loss += F.cross_entropy(logits, labels, reduction="sum")
                correct += (logits.argmax(dim=1) == labels).sum()
        model.train(was_training)
        return total_loss.item() / len(data), correct.item() / len(data)

    def split(self, name: str) -> Split:
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
            "target_accuracy": self.target_accuracy,
            "train_size": len(self.train_split),
            "val_size": len(self.val_split),
            "test_size": len(self.test_split),
            "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "seed": self.seed,
            "device": str(self.device),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "depth": len(layers_of(self.model)),  # depth groups L (DESIGN §2)
            **self.details,
        }


def _index_inputs(inputs: Inputs, index: torch.Tensor) -> Inputs:
    if isinstance(inputs, dict):
        return {key: value[index.to(value.device)] for key, value in inputs.items()}
    return inputs[index.to(inputs.device)]
