"""The settings a workload is built from, resolved once from the trial contract.

:func:`read_config` takes a :class:`dals_tune.trial.WorkloadSpec` (or a flat trial config,
whose other keys, the strategy's hyperparameters, are ignored); the values were checked
when the spec was made. Here the defaults that do not depend on the workload are filled in
(the data folder, the device, the label column); each builder fills its own (batch size,
max length, regime).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dals_tune.trial import WorkloadSpec, as_workload_spec

DATA_DIR_ENV = "DALS_TUNE_DATA"
CACHE_DIR_ENV = "DALS_TUNE_CACHE"


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
    target: float | None = None  # overrides the workload's own target (None: keep it)
    folds: int | None = None  # K of k-fold selection (None: one validation split)
    fold: int = 0  # which fold this workload validates on, 0 … K − 1

    def regime_or(self, default: str) -> str:
        return self.regime if self.regime is not None else default


def read_config(config: WorkloadSpec | Mapping[str, Any], fold: int = 0) -> WorkloadConfig:
    """The settings of ``config``'s workload; with ``--folds``, of its fold ``fold``."""
    spec = as_workload_spec(config)
    if spec.folds is not None and not 0 <= fold < spec.folds:
        raise ValueError(f"fold must be 0 … {spec.folds - 1} with folds={spec.folds}, got {fold}")
    return WorkloadConfig(
        workload=spec.workload,
        regime=spec.regime,
        seed=spec.seed,
        data_dir=resolve_data_dir(spec.data_dir),
        subset=spec.subset,
        eval_subset=spec.eval_subset,
        model=spec.model,
        label_column=spec.label_column or "label",
        text_column=spec.text_column,
        device=resolve_device(spec.device),
        batch_size=spec.batch_size,
        max_length=spec.max_length,
        target=spec.target,
        folds=spec.folds,
        fold=fold if spec.folds is not None else 0,
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
