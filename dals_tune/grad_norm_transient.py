"""Whether a run's per-step gradient norms are past their initial rise, the premise of a
refined schedule.

The refined schedule (Defazio et al. 2023) weights step t by ĝ_t⁻² (ĝ_t⁻¹ for ℓ1 norms).
From a run whose norms are still rising when it ends, the weights fall all the way, and the
schedule spends its learning rate in the first steps (docs/results.md: a 5-epoch CIFAR-10
pilot whose ℓ2 norm rose 4.6× gave a multiplier below 0.02 after the first 30 of 80 steps).
The refinement assumes norms from a run past that transient, whose norm has settled near the
level it ends at. The rule, on the finite positive norms g_1 … g_n in step order (the ones
the schedule reads), smoothed as the schedule smooths them, with a median over a tenth of
the run:

    k   = max(1, round(f · n))                     f = 0.1, the schedule's own window
    ĝ_i = median(g_i, …, g_{i+k−1})                i = 1 … m = n − k + 1
    settled = 1 + max{i : ĝ_i < (1 − δ) · ĝ_m}     (1 when there is none)     δ = 0.2
    past  ⇔  settled ≤ n / 2

that is, for at least the second half of the run the smoothed norm has been no lower than
80 % of where it ends (above it is fine: a norm that falls after its rise has settled too),
so the schedule's weights vary by at most 1/0.8² ≈ 1.6× (ℓ2) over that half. ``settled`` is
reported at the middle step of its window. A norm that rises to the end is not past; one
that is flat, or falls from its first steps, is past at once; an early spike followed by a
long rise is a rise, since the dip between them is below the final level. δ = 0.2 leaves
room for the noise of a plateau: over the second half of the cpu scale's settled pilots, a
window's median moves by ±8 % (synthetic, 5 epochs) to ±12 % (CIFAR-10, 10 epochs). A run
of more than 10,000 steps is first resampled linearly to 10,000 points, as the schedule
resamples it.

The benchmark runs its pilots until this holds, up to a cap (:mod:`dals_tune.benchmark`);
``refine`` records the answer on the trial it refines (``dals.refined_past_transient``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dals_tune.schedules import REFINED_RESOLUTION, REFINED_WINDOW_FRACTION

SETTLED_WITHIN = 0.2  # δ: how far below its final level the smoothed norm may still be
SETTLED_FOR = 0.5  # the share of the run, at its end, that must have settled


@dataclass(frozen=True)
class Transient:
    """What :func:`initial_rise` found, in steps counted 1 … ``steps`` over the finite
    positive norms read: ``settled_step``, the step from which the smoothed norm stays at
    80 % of its final level or above (None when there was no norm to read)."""

    steps: int
    settled_step: int | None

    @property
    def past(self) -> bool:
        return self.settled_step is not None and self.settled_step <= SETTLED_FOR * self.steps

    def describe(self) -> str:
        """One line for a person: from which step the norm stayed near its final level."""
        level = f"{1 - SETTLED_WITHIN:.0%} of its final level"
        if self.settled_step is None:
            return "without a finite gradient norm to tell its transient by"
        if self.past:
            return (
                f"past its initial rise: its smoothed gradient norm stays at {level} or "
                f"above from step {self.settled_step} of {self.steps} on"
            )
        return (
            f"still in its initial rise: its smoothed gradient norm stays at {level} only "
            f"from step {self.settled_step} of {self.steps} on, not for the run's second half"
        )


def initial_rise(grad_norms: Sequence[float | None]) -> Transient:
    """Apply the module's rule to one run's per-step norms (None or NaN where a step's norm
    was not finite; they are dropped, as the schedule drops them, and so are non-positive
    ones). A run without a finite norm is not past: there is nothing to tell it by."""
    values = [value for value in grad_norms if value is not None and math.isfinite(value)]
    norms = np.asarray([value for value in values if value > 0], dtype=np.float64)
    if norms.size == 0:
        return Transient(steps=0, settled_step=None)
    positions = np.arange(norms.size, dtype=np.float64)
    if norms.size > REFINED_RESOLUTION:
        positions = np.linspace(0.0, norms.size - 1.0, REFINED_RESOLUTION)
        norms = np.interp(positions, np.arange(norms.size), norms)
    window = max(1, round(REFINED_WINDOW_FRACTION * norms.size))
    smoothed = _sliding_median(norms, window)
    below = np.flatnonzero(smoothed < (1.0 - SETTLED_WITHIN) * smoothed[-1])
    settled = int(below[-1]) + 1 if below.size else 0  # the last window is never below
    middle = round(positions[settled + (window - 1) // 2]) + 1
    return Transient(steps=round(positions[-1]) + 1, settled_step=middle)


def _sliding_median(values: np.ndarray, window: int, chunk: int = 1000) -> np.ndarray:
    """median(values[i : i + window]) for every window that fits, a chunk of rows at a time."""
    windows = np.lib.stride_tricks.sliding_window_view(values, window)
    return np.concatenate(
        [np.median(windows[i : i + chunk], axis=1) for i in range(0, len(windows), chunk)]
    )
