"""Workload ids → builders, and the one entry point :func:`build_workload`.

Builders import their heavy dependencies (torchvision, transformers, datasets) themselves,
so building the synthetic workload never pays for them.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from dals_tune.workloads.base import Workload
from dals_tune.workloads.config import WorkloadConfig, read_config
from dals_tune.workloads.folds import FOLDS_DETAIL, no_folds

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
# The built-in workloads whose builders carve k folds (--folds); the others keep one split.
FOLD_WORKLOADS = ("synthetic", "synthetic_gauss10")


def workload_ids() -> list[str]:
    return [*WORKLOADS, f"{CSV_PREFIX}PATH", f"{LM_PREFIX}PATH", "module:function"]


def build_workload(config: Mapping[str, Any], fold: int = 0) -> Workload:
    """Build the workload a trial config names (``workload``, ``regime``, ``seed``,
    ``data_dir``, ``subset``, ``eval_subset``, ``model``, ``label_column``, ``text_column``,
    ``device``, ``batch_size``, ``max_length``, ``target``, ``folds``; other keys are
    ignored).
    ``workload`` is a built-in id, ``csv:PATH``, or a user's ``module:function``
    (:mod:`dals_tune.workloads.user_module`). With ``folds`` K, the workload of fold
    ``fold``: trained on the other K − 1 folds, validated on that one.

    ``--folds`` for a workload that keeps one validation split is refused: before it is
    built when its id says so, else once its builder has not carved the folds (a text CSV, a
    user's ``Dataset`` splits)."""
    settings = read_config(config, fold)
    if settings.folds is not None and not takes_folds(settings.workload):
        raise no_folds(settings.workload)
    workload = builder_for(settings.workload)(settings)
    if settings.folds is not None and workload.details.get(FOLDS_DETAIL) != settings.folds:
        raise no_folds(settings.workload)
    if settings.target is not None:  # the user's (or a scale's) level for this data size
        workload.objective = dataclasses.replace(workload.objective, target=settings.target)
    return workload


def takes_folds(workload: str) -> bool:
    """Whether ``--folds`` may be asked of a workload id: the tensor workloads, ``csv:``
    and a user's (whose builders may still refuse: a text CSV, ``Dataset`` splits)."""
    from dals_tune.workloads.user_module import is_user_workload

    return (
        workload in FOLD_WORKLOADS or workload.startswith(CSV_PREFIX) or is_user_workload(workload)
    )


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
