"""The chance levels quoted in docs/workloads.md, computed from the data.

    .venv/bin/python docs/tools/chance_levels.py --data-dir ../shared/data

For each built-in classification workload: the largest class's share of the training set
(what predicting the training majority scores on the stratified validation split, which
keeps the training shares) and what that same prediction scores on the test set. Reads the
labels only: nothing is tokenized or decoded. CIFAR-10 is balanced by construction (5,000
and 1,000 images per class), so it is not read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dals_tune.workloads.synthetic import generate_gauss10, generate_synthetic
from dals_tune.workloads.text_sources import find_corpus, read_corpus


def majority(train: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """(train share of the training majority, test accuracy of always predicting it)."""
    counts = np.bincount(train)
    top = int(counts.argmax())
    return float(counts[top] / len(train)), float(np.mean(test == top))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    for task in ("trec6", "rte", "imdb"):
        splits = read_corpus(task, find_corpus(task, args.data_dir))
        labels = [np.asarray(splits[name]["label"]) for name in ("train", "test")]
        rows.append((task, *majority(*labels)))
    for name, generate in (
        ("synthetic", generate_synthetic),
        ("synthetic_gauss10", generate_gauss10),
    ):
        train, test = generate(0)
        rows.append((name, *majority(train.labels.numpy(), test.labels.numpy())))
    print(f"{'workload':<18} {'val (train share)':>17} {'test':>6}")
    for name, val, test in rows:
        print(f"{name:<18} {val:>17.3f} {test:>6.3f}")


if __name__ == "__main__":
    main()
