"""A split held as a map-style torch ``Dataset``: batches through a ``DataLoader``.

Whole tensors on the device are the fast path (:class:`dals_tune.workloads.base.Split`);
this is the general one, for data that does not fit in memory or is decoded per example (a
folder of images with torchvision transforms). The epoch's order is the same seeded
permutation the tensor path draws, handed to the loader as its batches, and the loader's
worker seeds come from a generator seeded by ``(seed, epoch)``: a trial resumed at an epoch
boundary reads the same batches, with the same random augmentations, as one that never
stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

Inputs = torch.Tensor | dict[str, torch.Tensor]


@dataclass(frozen=True)
class DatasetSplit:
    """A ``Dataset`` whose items are ``(inputs, target)`` pairs; ``inputs`` a tensor or a
    dict of tensors. ``num_workers`` loader processes (0: in the trial's own process)."""

    dataset: Dataset
    num_workers: int = 0

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def first_target(self) -> torch.Tensor:
        """The first item's target as a tensor, collated as a batch would be."""
        return torch.utils.data.default_collate([self.dataset[0][1]])

    def batches(
        self,
        batches: list[list[int]],
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> Iterator[tuple[Inputs, torch.Tensor]]:
        """``(inputs, targets)`` on ``device`` for each list of indices in ``batches``."""
        on_gpu = device.type == "cuda"
        loader = DataLoader(
            self.dataset,
            batch_sampler=batches,
            num_workers=self.num_workers,
            pin_memory=on_gpu,
            generator=generator,
        )
        for inputs, targets in loader:
            yield _to(inputs, device, on_gpu), _targets_to(targets, device, on_gpu)

    def in_order(self, batch_size: int, device: torch.device) -> Iterator[tuple[Inputs, Any]]:
        """The whole split in index order, for evaluation."""
        size = len(self)
        index = [
            list(range(start, min(start + batch_size, size)))
            for start in range(0, size, batch_size)
        ]
        return self.batches(index, device, torch.Generator().manual_seed(0))


def _to(inputs: Any, device: torch.device, non_blocking: bool) -> Inputs:
    if isinstance(inputs, dict):
        return {key: value.to(device, non_blocking=non_blocking) for key, value in inputs.items()}
    return inputs.to(device, non_blocking=non_blocking)


def _targets_to(targets: torch.Tensor, device: torch.device, non_blocking: bool) -> torch.Tensor:
    """Real-valued targets as float32 (a Python float collates to float64, which a float32
    model's loss refuses)."""
    if targets.is_floating_point():
        targets = targets.float()
    return targets.to(device, non_blocking=non_blocking)
