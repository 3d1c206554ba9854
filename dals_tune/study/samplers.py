"""The Optuna sampler behind each ``--searcher``, with every setting written out.

Optuna 5.0 changed TPE's defaults (multivariate, constant liar), so a sampler built from
defaults gives another search under another Optuna version. Here each sampler's settings are
stated once, recorded with the study (the ``sampler`` tag of its parent run, and its
``resolved_config.json``), and passed explicitly: the same seed and settings give the same
sequence of suggestions, whichever version is installed.

- ``optuna``: TPE (Bergstra et al. 2011; Optuna's ``TPESampler``), multivariate over the
  strategy's parameters and grouped by the parameters a conditional (joint) space samples
  together, with the constant liar so that trials running in parallel are not suggested the
  same point; the first ``n_startup_trials`` are random.
- ``gp``: Gaussian-process Bayesian optimisation (Optuna's ``GPSampler``, log-EI), for the
  small, continuous spaces of one strategy.
- ``random``: independent uniform sampling in each parameter's own scale.

In per-strategy and race mode every strategy has its own Optuna study, and its sampler is
seeded with :func:`strategy_seed`, ``(seed + crc32(strategy id)) mod 2³²``. With one seed for
all, every strategy's k-th random start-up trial would sit at the same quantile of its range;
since a learning rate's range is relative to its default ([default/10, default·10]), every
strategy of every study would try the same multiple of its default (seed 0: 0.68×), and a
search of a few trials would test one factor instead of the range.
"""

from __future__ import annotations

import warnings
import zlib
from typing import Any

SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "optuna": (
        "TPESampler",
        {
            "n_startup_trials": 10,
            "n_ei_candidates": 24,
            "multivariate": True,
            "group": True,
            "constant_liar": True,
        },
    ),
    "gp": (
        "GPSampler",
        {
            "n_startup_trials": 10,
            "deterministic_objective": False,
            "warn_independent_sampling": False,
        },
    ),
    "random": ("RandomSampler", {}),
}


def searcher_for(searcher: str, scheduler: str) -> str:
    """The searcher a study really uses: PBT explores by mutating a random population, so a
    model-based sampler has nothing to add there and PBT studies sample at random."""
    return "random" if scheduler == "pbt" else searcher


def sampler_settings(searcher: str, seed: int) -> dict[str, Any]:
    """What the study records of its sampler: the Optuna class, its seed and settings."""
    name, settings = SAMPLERS[searcher]
    return {"sampler": name, "seed": seed, **settings}


def describe_sampler(searcher: str, seed: int) -> str:
    """One line for a tag: ``TPESampler(seed=0, n_startup_trials=10, ...)``."""
    settings = sampler_settings(searcher, seed)
    name = settings.pop("sampler")
    return f"{name}({', '.join(f'{key}={value!r}' for key, value in settings.items())})"


def strategy_seed(seed: int, strategy: str) -> int:
    """The seed of one strategy's sampler in a study seeded ``seed`` (module docstring): stable
    across runs and machines, different between strategies."""
    return (seed + zlib.crc32(strategy.encode())) % 2**32


def make_sampler(searcher: str, seed: int) -> Any:
    """The Optuna sampler of ``searcher``, built from the settings above."""
    import optuna

    name, settings = SAMPLERS[searcher]
    with warnings.catch_warnings():
        # TPE's ``group`` is marked experimental since Optuna 2.8; it is what lets a joint
        # study model each strategy's own parameters together.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return getattr(optuna.samplers, name)(seed=seed, **settings)
