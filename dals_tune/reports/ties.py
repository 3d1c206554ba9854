"""Which strategies the seed re-runs cannot separate from the best: the first place's tie group.

A study's leader is the strategy with the best mean validation value over its seed re-runs.
Strategy k is *tied* with the leader b when the runs cannot tell them apart:

- both have n ≥ 2 usable runs: Welch's two-sided t-test does not reject equal means at
  ``TIE_ALPHA``, i.e. p ≥ α with

      t = (x̄_b − x̄_k) / √(s_b²/n_b + s_k²/n_k),
      ν = (s_b²/n_b + s_k²/n_k)² / ((s_b²/n_b)²/(n_b − 1) + (s_k²/n_k)²/(n_k − 1)),
      p = 2·P(T_ν ≥ |t|);

  with zero spread on both sides (s_b = s_k = 0) t is 0/0 or ±∞: tied exactly when the means
  are equal;
- otherwise (one run on either side: no spread measured) k is tied when it lies within the
  leader's *noise floor* δ, |x̄_b − x̄_k| ≤ δ. For an accuracy measured on n_val validation
  examples δ = max(z·√(2·p(1 − p)/n_val), 1/n_val), with p the leader's accuracy and z the
  two-sided normal quantile of α (1.96): the half-width of a 95 % interval for the difference
  of two binomial proportions, and at least one example. A metric without such a sampling
  model (a loss, an RMSE) has no floor from one run: only an equal value ties, and
  :func:`tie_rule` says so.

The tie group is what a report names beside the winner (``tied with``): every member shares
the first place, in the ranks, the mean rank, the performance profile and ``recommend``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from dals_tune.objective import ACCURACY, Objective

TIE_ALPHA = 0.05
SINGLE_RUN_Z = stats.norm.ppf(1 - TIE_ALPHA / 2)  # 1.96: the noise floor's quantile


@dataclass(frozen=True)
class Sample:
    """A strategy's validation values over its usable result runs: mean, sample std (NaN
    for one run) and how many runs."""

    mean: float
    std: float
    runs: int


def welch_p_value(best: Sample, other: Sample) -> float:
    """Welch's two-sided p-value for equal means (module docstring); both need 2+ runs."""
    if best.runs < 2 or other.runs < 2:
        raise ValueError("Welch's test needs at least 2 runs on each side")
    variance = best.std**2 / best.runs + other.std**2 / other.runs
    gap = best.mean - other.mean
    if variance == 0:
        return 1.0 if gap == 0 else 0.0
    freedom = variance**2 / (
        (best.std**2 / best.runs) ** 2 / (best.runs - 1)
        + (other.std**2 / other.runs) ** 2 / (other.runs - 1)
    )
    return float(2 * stats.t.sf(abs(gap) / math.sqrt(variance), freedom))


def noise_floor(best: Sample, objective: Objective, val_size: int | None) -> float:
    """δ of a single run (module docstring): the binomial floor of an accuracy on ``val_size``
    validation examples, 0 for any other metric or an unknown split size."""
    if objective.metric != ACCURACY.metric or not val_size or not math.isfinite(best.mean):
        return 0.0
    p = min(max(best.mean, 0.0), 1.0)
    return max(SINGLE_RUN_Z * math.sqrt(2 * p * (1 - p) / val_size), 1 / val_size)


def is_tied(best: Sample, other: Sample, objective: Objective, val_size: int | None) -> bool:
    """Whether the runs cannot separate ``other`` from the leader ``best``."""
    if not (math.isfinite(best.mean) and math.isfinite(other.mean)):
        return False
    if best.runs >= 2 and other.runs >= 2:
        return welch_p_value(best, other) >= TIE_ALPHA
    gap, floor = abs(best.mean - other.mean), noise_floor(best, objective, val_size)
    return gap <= floor or math.isclose(gap, floor)  # one example's worth, in floating point


def first_place_group(
    samples: Sequence[tuple[str, Sample]], objective: Objective, val_size: int | None
) -> list[str]:
    """The strategies tied with the first of ``samples`` (the leader, ranked first), the
    leader itself first, then the others in the order given."""
    if not samples:
        return []
    (leader, best), rest = samples[0], samples[1:]
    return [leader] + [name for name, other in rest if is_tied(best, other, objective, val_size)]


def tie_rule(samples: Sequence[Sample], objective: Objective, val_size: int | None) -> str:
    """Which rule decided the tie group of the leader, ``samples[0]``, as a clause for a
    report (lower case, no full stop)."""
    if len(samples) < 2:
        return "one usable strategy: no tie to test"
    welch = f"Welch's t-test over the seed re-runs, α = {TIE_ALPHA}"
    leader, others = samples[0], samples[1:]
    if leader.runs >= 2 and all(other.runs >= 2 for other in others):
        return welch
    floor = noise_floor(leader, objective, val_size)
    single = (
        f"within the leader's noise floor δ = {floor:.4f} (binomial, {val_size} validation "
        "examples)"
        if floor > 0
        else "only at an equal value, since this metric has no noise floor from one run"
    )
    if leader.runs >= 2 and any(other.runs >= 2 for other in others):
        return f"{welch} where both have 2+ runs, otherwise tied {single}"
    return f"fewer than 2 runs, so no spread was measured: tied {single}; rerun with --seeds 2+"
