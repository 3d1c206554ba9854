"""Independent random streams drawn from one seed.

Every random choice a workload makes (generating synthetic data, holding out validation,
drawing a subset, ordering an epoch, augmenting, dealing k folds) draws from its own stream
``numpy.random.SeedSequence([seed, stream, ...])``. Streams are independent, so changing the
subset size does not change the validation split, and the order of an epoch depends on
nothing but ``(seed, epoch)``.
"""

from __future__ import annotations

import numpy as np
import torch

DATA_STREAM = 0
VALIDATION_STREAM = 1
SUBSET_STREAM = 2
EVAL_SUBSET_STREAM = 3
ORDER_STREAM = 4
AUGMENT_STREAM = 5
TEST_STREAM = 6
FOLD_STREAM = 7


def seeded_rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def seeded_torch_generator(seed: int, *stream: int) -> torch.Generator:
    """A CPU torch generator for the stream (torch draws are what augmentation needs)."""
    state = np.random.SeedSequence([seed, *stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & ((1 << 63) - 1))
