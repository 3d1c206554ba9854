"""Workload ids → builders, and the one entry point :func:`build_workload`.

Builders import their heavy dependencies (torchvision, transformers, datasets) themselves,
so building the synthetic workload never pays for them.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from dals_tune.workloads.base import Workload
from dals_tune.workloads.config import WorkloadConfig, read_config

Builder = Callable[[WorkloadConfig], Workload]

# id → (module, builder function)
WORKLOADS: dict[str, tuple[str, str]] = {
    "synthetic": ("dals_tune.workloads.synthetic", "build_synthetic"),
    "synthetic_gauss10": ("dals_tune.workloads.synthetic", "build_gauss10"),
    "cifar10": ("dals_tune.workloads.cifar10", "build_cifar10"),
    "trec6": ("dals_tune.workloads.text", "build_trec6"),
    "rte": ("dals_tune.workloads.text", "build_rte"),
    "imdb": ("dals_tune.workloads.text", "build_imdb"),
    "lm": ("dals_tune.workloads.language_model", "build_lm"),  # IMDb's reviews; lm:PATH
}
CSV_PREFIX = "csv:"
LM_PREFIX = "lm:"


def workload_ids() -> list[str]:
    return [*WORKLOADS, f"{CSV_PREFIX}PATH", f"{LM_PREFIX}PATH", "module:function"]


def build_workload(config: Mapping[str, Any]) -> Workload:
    """Build the workload a trial config names (``workload``, ``regime``, ``seed``,
    ``data_dir``, ``subset``, ``eval_subset``, ``model``, ``label_column``, ``text_column``,
    ``device``, ``batch_size``, ``max_length``; other keys are ignored). ``workload`` is a
    built-in id, ``csv:PATH``, or a user's ``module:function``
    (:mod:`dals_tune.workloads.user_module`)."""
    settings = read_config(config)
    return builder_for(settings.workload)(settings)


def builder_for(workload: str) -> Builder:
    if workload.startswith(LM_PREFIX):
        from dals_tune.workloads.language_model import build_lm

        return build_lm
    if workload.startswith(CSV_PREFIX):
        from dals_tune.workloads.tabular import build_csv

        return build_csv
    from dals_tune.workloads.user_module import build_user_workload, is_user_workload

    if is_user_workload(workload):
        return build_user_workload
    if workload not in WORKLOADS:
        close = difflib.get_close_matches(workload, list(WORKLOADS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(
            f"unknown workload {workload!r}; {hint}choose one of {', '.join(workload_ids())}"
        )
    module, function = WORKLOADS[workload]
    return getattr(importlib.import_module(module), function)
