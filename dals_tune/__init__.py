"""dals_tune: find out which learning-rate strategy works best for a model, dataset and
training regime, and prove it.

Heavy imports (torch and the optimizer libraries) happen on first use, so that
``python -m dals_tune --help`` answers at once.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["DALS", "__version__", "layers", "search", "strategies", "train", "workload"]

_LAZY = {
    "DALS": ("dals_tune.optim", "DALS"),
    "train": ("dals_tune.training", "train"),
    "workload": ("dals_tune.workloads.custom", "workload"),
    "search": ("dals_tune.api", "search"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    if name in {"layers", "strategies", "schedules"}:
        return importlib.import_module(f"dals_tune.{name}")
    raise AttributeError(f"module 'dals_tune' has no attribute {name!r}")
