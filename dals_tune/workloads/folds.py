"""K-fold selection's folds (``--folds K``): the training data dealt into K seeded folds.

With a validation split of a few dozen examples, one example moves validation accuracy by
several points and strategies tie. ``--folds K`` validates on all of the training data
instead: the pool (every training example; the test split stays held out) is dealt into K
folds, and fold k's workload trains on the other K − 1 folds and validates on fold k.

How the folds are dealt, from the seed's own stream (``FOLD_STREAM``):

- class targets (stratified): shuffle the pool, put it in class order (shuffled within each
  class), then deal round robin: the i-th example of that order goes to fold i mod K. Class
  c with n_c examples has ⌊n_c/K⌋ or ⌈n_c/K⌉ of them in every fold, and the folds' sizes
  differ by at most one;
- real-valued targets (regression): the same deal over the shuffled pool, without the
  class order.

The folds depend only on the labels, K and the seed, so every trial and strategy of a study
(one seed) sees the same folds, and each seed re-run its own, as it has its own validation
split without folds.
"""

from __future__ import annotations

import numpy as np
import torch

from dals_tune.workloads.base import Split
from dals_tune.workloads.seeding import FOLD_STREAM, seeded_rng

# What a workload builder that carved its folds records (``Workload.details``), so that a
# workload which did not can be refused instead of training K times on one split.
FOLDS_DETAIL = "folds"
# The workloads whose data are tensors in memory, the ones folds are carved from.
TAKES_FOLDS = (
    "synthetic, synthetic_gauss10, csv: with numeric features, and your own workload with "
    "(inputs, targets) tensor splits"
)


def fold_assignment(labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Each example's fold, 0 … K − 1: stratified for integer labels, plain for real ones
    (the deal of the module docstring)."""
    labels = np.asarray(labels)
    order = rng.permutation(len(labels))
    if not np.issubdtype(labels.dtype, np.floating):
        order = order[np.argsort(labels[order], kind="stable")]
    assignment = np.empty(len(labels), dtype=np.int64)
    assignment[order] = np.arange(len(labels)) % folds
    return assignment


def check_fold_count(labels: np.ndarray, folds: int) -> None:
    """Refuse a K that leaves a fold without a class (stratified) or without any example."""
    labels = np.asarray(labels)
    if np.issubdtype(labels.dtype, np.floating):
        if len(labels) < folds:
            raise ValueError(
                f"--folds {folds} needs at least {folds} training examples, there are "
                f"{len(labels)}; use fewer folds"
            )
        return
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() >= folds:
        return
    label, count = classes[counts.argmin()], int(counts.min())
    fix = f"use --folds {count} or fewer" if count >= 2 else "leave --folds out"
    raise ValueError(
        f"--folds {folds} needs at least {folds} examples of every class in the training data, "
        f"so that each fold validates on every class; class {label} has {count}; {fix}"
    )


def fold_split(pool: Split, folds: int, fold: int, seed: int) -> tuple[Split, Split]:
    """``(train, validation)`` of fold ``fold``: the pool without fold k, and fold k."""
    labels = pool.labels.cpu().numpy()
    check_fold_count(labels, folds)
    assignment = fold_assignment(labels, folds, seeded_rng(seed, FOLD_STREAM))
    return pool.take(np.flatnonzero(assignment != fold)), pool.take(
        np.flatnonzero(assignment == fold)
    )


def fold_details(folds: int, fold: int, pool_size: int) -> dict[str, int]:
    """What a workload built on a fold records: K, which fold, and the pool's size."""
    return {FOLDS_DETAIL: folds, "fold": fold, "pool_size": pool_size}


def joined(first: Split, second: Split) -> Split:
    """Two splits as one (a user's train and val, pooled for the folds)."""
    if isinstance(first.inputs, dict):
        inputs = {key: torch.cat([first.inputs[key], second.inputs[key]]) for key in first.inputs}
    else:
        inputs = torch.cat([first.inputs, second.inputs])
    return Split(inputs, torch.cat([first.labels, second.labels]))


def no_folds(workload: str) -> ValueError:
    """The one-line refusal of ``--folds`` for a workload that keeps one validation split."""
    return ValueError(
        f"--folds is for workloads held as tensors ({TAKES_FOLDS}); {workload} keeps one "
        "validation split, so leave --folds out"
    )
