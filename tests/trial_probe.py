"""What a trial holds when its next epoch begins, read from outside the trainer.

A resumed trial must go on from its checkpoint, not start afresh with the saved epochs
copied back: the optimizer's buffers and step counts, the schedule's position and the global
RNG must be what they were when the checkpoint was taken. :class:`NextStepProbe` reads them at
the first forward pass and the first optimizer step after it is armed, through torch's global
module and optimizer hooks, so these checks name nothing inside ``dals_tune.training``: they
rely only on ``train(config, report, resume_from)`` and the checkpoint file it reports.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.optim.optimizer import register_optimizer_step_pre_hook

CHECKPOINT_FILE = "trial_state.pt"  # the file every checkpoint folder train() reports holds
TIMING_KEYS = frozenset({"epoch_seconds", "samples_per_second"})  # wall clock, never equal


def global_rng_state() -> dict[str, Any]:
    """The state of the three global generators a trainer may draw from."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def stir_global_rng() -> None:
    """Draw once from each global generator. The workloads draw only from their own seeded
    generators, so without this a checkpoint's RNG is the freshly seeded one, and a resume
    that forgot to restore it could not be told apart from one that did."""
    random.random()
    np.random.rand()
    torch.rand(1)


@dataclass
class NextStep:
    """The trainer's state seen at the first forward pass and optimizer step after arming."""

    rng: dict[str, Any] | None = None
    optimizer: dict[str, Any] | None = None  # optimizer.state_dict(), deep-copied


class NextStepProbe:
    """``with NextStepProbe() as probe: train(...)``: ``probe.steps[i]`` is what the i-th
    ``arm()`` saw (the first arm is at entry unless ``armed=False``). Arm it in a report
    callback to read the state the next epoch starts from."""

    def __init__(self, armed: bool = True) -> None:
        self.steps: list[NextStep] = []
        self._armed_at_entry = armed
        self._want_rng = self._want_optimizer = False
        self._handles: list[Any] = []

    def arm(self) -> None:
        self.steps.append(NextStep())
        self._want_rng = self._want_optimizer = True

    def __enter__(self) -> NextStepProbe:
        self._handles = [
            register_module_forward_pre_hook(self._on_forward),
            register_optimizer_step_pre_hook(self._on_step),
        ]
        if self._armed_at_entry:
            self.arm()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()

    def _on_forward(self, module: torch.nn.Module, inputs: Any) -> None:
        if self._want_rng:
            self._want_rng = False
            self.steps[-1].rng = copy.deepcopy(global_rng_state())

    def _on_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._want_optimizer:  # the outermost optimizer: a wrapper's inner step comes later
            self._want_optimizer = False
            self.steps[-1].optimizer = copy.deepcopy(optimizer.state_dict())


def load_checkpoint(folder: Path) -> dict[str, Any]:
    return torch.load(Path(folder) / CHECKPOINT_FILE, map_location="cpu", weights_only=False)


def differences(a: Any, b: Any, ignore: frozenset[str] = TIMING_KEYS, path: str = "") -> list[str]:
    """Where two nested states (dicts, sequences, tensors, arrays, numbers) differ, as paths;
    empty when they are equal exactly. Keys in ``ignore`` are skipped at any depth."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys_a, keys_b = set(a) - ignore, set(b) - ignore
        if keys_a != keys_b:
            return [f"{path}: keys {sorted(map(str, keys_a ^ keys_b))} in only one"]
        found: list[str] = []
        for key in sorted(keys_a, key=str):
            found += differences(a[key], b[key], ignore, f"{path}/{key}")
        return found
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        found = []
        for index, (x, y) in enumerate(zip(a, b)):
            found += differences(x, y, ignore, f"{path}[{index}]")
        return found
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
        )
        return [] if same else [f"{path}: tensors differ"]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return [] if np.array_equal(a, b) else [f"{path}: arrays differ"]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    if type(a) is type(b) and hasattr(a, "__dict__"):  # a library's state object (Shampoo's)
        return differences(vars(a), vars(b), ignore, f"{path}.{type(a).__name__}")
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]
