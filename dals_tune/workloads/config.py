"""The settings a workload is built from, read once from a trial config.

A trial config is a flat mapping (it also carries the strategy's hyperparameters, which are
ignored here). :func:`read_config` checks the values a user types and fills the defaults
that do not depend on the workload; each builder fills its own (batch size, max length,
regime).
"""

from __future__ import annotations

import numbers
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

DATA_DIR_ENV = "DALS_TUNE_DATA"
CACHE_DIR_ENV = "DALS_TUNE_CACHE"
REGIMES = ("scratch", "finetune")


@dataclass(frozen=True)
class WorkloadConfig:
    workload: str
    regime: str | None
    seed: int
    data_dir: Path
    subset: int | None
    eval_subset: int | None
    model: str | None
    label_column: str
    text_column: str | None
    device: torch.device
    batch_size: int | None
    max_length: int | None

    def regime_or(self, default: str) -> str:
        return self.regime if self.regime is not None else default


def read_config(config: Mapping[str, Any]) -> WorkloadConfig:
    if "workload" not in config:
        raise ValueError("the config needs a 'workload' key (synthetic, cifar10, trec6, ...)")
    regime = config.get("regime")
    if regime is not None and regime not in REGIMES:
        raise ValueError(f"regime must be 'scratch' or 'finetune', got {regime!r}")
    seed = whole_number(config.get("seed", 0), "seed", minimum=0)
    data_dir, model = config.get("data_dir"), config.get("model")
    if data_dir is not None and not isinstance(data_dir, os.PathLike):
        data_dir = str(data_dir)  # `--set data_dir=2024` reads as a number; a name is its text
    return WorkloadConfig(
        workload=str(config["workload"]),
        regime=regime,
        seed=seed,
        data_dir=resolve_data_dir(data_dir),
        subset=_positive_or_none(config, "subset"),
        eval_subset=_positive_or_none(config, "eval_subset"),
        model=None if model is None else str(model),
        label_column=str(config.get("label_column") or "label"),
        text_column=config.get("text_column"),
        device=resolve_device(str(config.get("device") or "auto")),
        batch_size=_positive_or_none(config, "batch_size"),
        max_length=_positive_or_none(config, "max_length"),
    )


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """The config's ``data_dir``, else ``$DALS_TUNE_DATA``, else ``./data``."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or "data"
    return Path(data_dir).expanduser()


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but no CUDA GPU is visible; use 'cpu'")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'") from None


def cache_dir(data_dir: Path) -> Path:
    """Where decoded images and token tensors are cached: ``$DALS_TUNE_CACHE``, else
    ``<data_dir>/.cache`` when the data folder is writable, else ``~/.cache/dals_tune``
    (shared, read-only dataset folders are common on clusters)."""
    if os.environ.get(CACHE_DIR_ENV):
        folder = Path(os.environ[CACHE_DIR_ENV]).expanduser()
    elif _writable(data_dir):
        folder = data_dir / ".cache"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = base / "dals_tune"
    return folder  # created by the first entry written, so a failed decode leaves nothing


def _writable(folder: Path) -> bool:
    """Writable by us and not marked read-only: root may write anywhere, but a folder whose
    mode has no write bit is a shared copy that should stay untouched."""
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        return False
    return bool(folder.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _positive_or_none(config: Mapping[str, Any], key: str) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    return whole_number(value, key, minimum=1)


def whole_number(value: Any, key: str, minimum: int | None = None) -> int:
    """``3``, ``3.0``, ``"3"`` and numpy integers → 3; anything else, or a number below
    ``minimum``, is refused in one line."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not integral or (minimum is not None and value < minimum):
        expected = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}
        wanted = expected.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{key} must be {wanted}, got {value!r}")
    return int(value)
