"""Seeded, stratified splits and subsets, shared by every workload.

Each draw uses its own seed stream (:mod:`dals_tune.workloads.seeding`), so changing the
subset size does not change the validation split.

Stratified means each class keeps its share: class c with n_c of N examples gets
n · n_c / N of an n-example sample, rounded by largest remainder so the total is exactly n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dals_tune.workloads.base import Split
from dals_tune.workloads.folds import fold_details, fold_split
from dals_tune.workloads.seeding import (
    EVAL_SUBSET_STREAM,
    SUBSET_STREAM,
    TEST_STREAM,
    VALIDATION_STREAM,
    seeded_rng,
)

VALIDATION_FRACTION = 0.1


def stratified_sample(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a ``size``-example sample in which every class keeps its share."""
    labels = np.asarray(labels)
    if size >= len(labels):
        return np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    exact = size * counts / len(labels)
    quota = np.floor(exact).astype(int)
    leftover = size - quota.sum()
    # Largest remainder first; ties go to the class listed first.
    for position in np.argsort(-(exact - quota), kind="stable")[:leftover]:
        quota[position] += 1
    chosen = [
        rng.choice(np.flatnonzero(labels == label), size=take, replace=False)
        for label, take in zip(classes, quota)
    ]
    return np.sort(np.concatenate(chosen))


def stratified_holdout(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held_out)`` sorted indices, ``held_out`` a stratified ``fraction``."""
    held_out = stratified_sample(labels, round(fraction * len(labels)), rng)
    kept = np.setdiff1d(np.arange(len(labels)), held_out, assume_unique=True)
    return kept, held_out


@dataclass(frozen=True)
class CarvedSplits:
    train: Split
    val: Split
    test: Split
    details: dict


def carve_splits(
    train: Split,
    test: Split,
    seed: int,
    subset: int | None = None,
    eval_subset: int | None = None,
    folds: int | None = None,
    fold: int = 0,
) -> CarvedSplits:
    """Hold a stratified 10 % validation split out of the training data (the official test
    split stays for testing only), then draw the stratified ``subset`` of the remaining
    training data and the stratified ``eval_subset`` of validation and test.

    With ``folds`` K, the validation split is fold ``fold`` of the training data dealt into
    K folds (:mod:`dals_tune.workloads.folds`) and the rest is the training data; ``subset``
    and ``eval_subset`` are drawn from them as without folds."""
    for name, value in (("subset", subset), ("eval_subset", eval_subset)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be a positive number of examples, got {value}")
    if folds is None:
        kept, held_out = stratified_holdout(
            train.labels.numpy(), VALIDATION_FRACTION, seeded_rng(seed, VALIDATION_STREAM)
        )
        remaining, val = train.take(kept), train.take(held_out)
        fraction, fold_facts = VALIDATION_FRACTION, {}
    else:
        remaining, val = fold_split(train, folds, fold, seed)
        fraction, fold_facts = 1 / folds, fold_details(folds, fold, len(train))
    full_train_size = len(remaining)
    if subset is not None:
        remaining = remaining.take(
            stratified_sample(remaining.labels.numpy(), subset, seeded_rng(seed, SUBSET_STREAM))
        )
    if eval_subset is not None:
        val = val.take(
            stratified_sample(
                val.labels.numpy(), eval_subset, seeded_rng(seed, EVAL_SUBSET_STREAM, 0)
            )
        )
        test = test.take(
            stratified_sample(
                test.labels.numpy(), eval_subset, seeded_rng(seed, EVAL_SUBSET_STREAM, 1)
            )
        )
    sizes = {"training": len(remaining), "validation": len(val), "test": len(test)}
    if min(sizes.values()) == 0:
        counts = ", ".join(f"{name} {size}" for name, size in sizes.items())
        raise ValueError(
            f"too few examples to split ({counts}); every split needs at least one, and the "
            f"validation split is {fraction:.0%} of the training data"
        )
    details = {
        "full_train_size": full_train_size,
        "subset": subset,
        "eval_subset": eval_subset,
        "validation_fraction": fraction,
        **fold_facts,
    }
    return CarvedSplits(train=remaining, val=val, test=test, details=details)


def holdout_test(whole: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """For data without an official test split (a user's CSV): ``(train, test)``."""
    kept, held_out = stratified_holdout(
        whole.labels.numpy(), fraction, seeded_rng(seed, TEST_STREAM)
    )
    return whole.take(kept), whole.take(held_out)
