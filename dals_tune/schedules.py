"""Learning-rate multipliers indexed by optimizer step (DESIGN §4).

Each schedule is a small frozen dataclass whose ``__call__(step)`` returns the multiplier
s(t) of the base LR at step t (0-based, one step per optimizer step, over
T = epochs × steps per epoch). They are plain picklable objects, so
``torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(T, W))`` works and its
``state_dict`` round-trips. ``WarmupCosine`` and ``CosineRestarts`` are also the schedule
inside DALS, so they use only ``math`` and stay exact.

Where torch already has the schedule (``CosineAnnealingLR``, ``CosineAnnealingWarmRestarts``,
``OneCycleLR``) and pytorch-optimizer has warmup–stable–decay (``get_wsd_schedule``), the
strategies use those instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

REFINED_RESOLUTION = 10_000
REFINED_WINDOW_FRACTION = 0.1


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warmup, then one cosine to zero.

    s(t) = t/W for t < W, then ½(1 + cos(π·(t − W)/(T − W))), and 0 from t = T on.
    W may be fractional (W = warmup_frac·T); W = 0 means no warmup."""

    total_steps: int
    warmup_steps: float = 0.0

    def __post_init__(self) -> None:
        if self.total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {self.total_steps}")
        if not 0 <= self.warmup_steps < self.total_steps:
            raise ValueError(
                f"warmup_steps must lie in [0, total_steps={self.total_steps}), "
                f"got {self.warmup_steps}"
            )

    def __call__(self, step: int) -> float:
        warmup, total = self.warmup_steps, self.total_steps
        if step < warmup:
            return step / warmup
        step = min(step, total)
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / (total - warmup)))


@dataclass(frozen=True)
class CosineRestarts:
    """SGDR warm restarts without warmup: a cosine from 1 to 0 within each cycle.

    Cycle k (0-based) lasts C_k = C_0·m^k steps and starts at S_k = C_0 + … + C_{k−1};
    s(t) = ½(1 + cos(π·(t − S_k)/C_k)) for S_k ≤ t < S_k + C_k."""

    first_cycle_steps: float
    cycle_mult: float = 2.0

    def __post_init__(self) -> None:
        if self.first_cycle_steps <= 0:
            raise ValueError(f"first_cycle_steps must be positive, got {self.first_cycle_steps}")
        if self.cycle_mult < 1:
            raise ValueError(f"cycle_mult must be at least 1, got {self.cycle_mult}")

    def __call__(self, step: int) -> float:
        cycle, start = float(self.first_cycle_steps), 0.0
        if self.cycle_mult == 1:
            start = (step // cycle) * cycle
        else:
            while step >= start + cycle:
                start, cycle = start + cycle, cycle * self.cycle_mult
        return 0.5 * (1.0 + math.cos(math.pi * (step - start) / cycle))


@dataclass(frozen=True)
class SlantedTriangular:
    """ULMFiT's slanted triangular LR (Howard & Ruder 2018): a short linear rise, a long
    linear fall.

    cut = ⌊T·cut_frac⌋ (at least 1); p = t/cut for t < cut, else
    1 − (t − cut)/(cut·(1/cut_frac − 1)); s(t) = (1 + p·(ratio − 1))/ratio. The peak s = 1 is
    at t = cut and the ends are 1/ratio. p is clamped at 0, so when ⌊·⌋ rounds T·cut_frac down
    the last steps stay at 1/ratio instead of going below it."""

    total_steps: int
    cut_frac: float = 0.1
    ratio: float = 32.0

    def __post_init__(self) -> None:
        if self.total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {self.total_steps}")
        if not 0 < self.cut_frac < 1:
            raise ValueError(f"cut_frac must lie in (0, 1), got {self.cut_frac}")
        if self.ratio < 1:
            raise ValueError(f"ratio must be at least 1, got {self.ratio}")

    @property
    def cut(self) -> int:
        return max(1, math.floor(self.total_steps * self.cut_frac))

    def __call__(self, step: int) -> float:
        cut = self.cut
        if step < cut:
            p = step / cut
        else:
            p = max(0.0, 1.0 - (step - cut) / (cut * (1.0 / self.cut_frac - 1.0)))
        return (1.0 + p * (self.ratio - 1.0)) / self.ratio


@dataclass(frozen=True)
class EpochStepped:
    """A schedule over epochs, held for the steps of each epoch: what a scheduler stepped
    once per epoch gives a loop that steps it once per optimizer step.

    s(t) = schedule(⌊t / steps_per_epoch⌋), so ``schedule``'s step is the epoch index and
    the LR moves only at epoch boundaries."""

    schedule: Callable[[int], float]
    steps_per_epoch: int

    def __post_init__(self) -> None:
        if self.steps_per_epoch <= 0:
            raise ValueError(f"steps_per_epoch must be positive, got {self.steps_per_epoch}")

    def __call__(self, step: int) -> float:
        return self.schedule(step // self.steps_per_epoch)


@dataclass(frozen=True)
class Scaled:
    """A schedule times a constant, s(t) = factor · schedule(t): one parameter group's
    lambda when ``LambdaLR`` is given one per group."""

    schedule: Callable[[int], float]
    factor: float

    def __call__(self, step: int) -> float:
        return self.factor * self.schedule(step)


@dataclass(frozen=True)
class WarmupLinearDecay:
    """Linear warmup, then linear decay to exactly zero at the last step t = T − 1
    (the worst-case optimal last-iterate schedule of Defazio et al. 2023).

    s(t) = 0 from t = T − 1 on, before that t/W for t < W, then (T − 1 − t)/(T − 1 − W).
    W may be fractional (W = warmup_frac·T); in a run so short that W > T − 1 the warmup is
    cut off by the final zero (a one-step run trains at LR 0, as the formula says)."""

    total_steps: int
    warmup_steps: float = 0.0

    def __post_init__(self) -> None:
        if self.total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {self.total_steps}")
        if not 0 <= self.warmup_steps < self.total_steps:
            raise ValueError(
                f"warmup_steps must lie in [0, total_steps={self.total_steps}), "
                f"got {self.warmup_steps}"
            )

    def __call__(self, step: int) -> float:
        warmup, last = self.warmup_steps, self.total_steps - 1
        if step >= last:
            return 0.0
        if step < warmup:
            return step / warmup
        return (last - step) / (last - warmup)


@dataclass(frozen=True)
class TabulatedSchedule:
    """A precomputed multiplier per step: s(t) = values[t], the last value from the end on."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("a tabulated schedule needs at least one value")
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))

    def __call__(self, step: int) -> float:
        return self.values[min(step, len(self.values) - 1)]


def refined_schedule(
    grad_norms: Sequence[float], total_steps: int, norm: str = "l2"
) -> list[float]:
    """A schedule refined from a previous run's per-step gradient norms (Defazio et al. 2023,
    "Optimal linear decay learning rate schedules and further refinements").

    1. drop non-finite norms (and non-positive ones, whose inverse is undefined);
    2. resample linearly to N = 10,000 points;
    3. median-filter with a window of k = 10 % of N looking forward, ĝ_t = median(g_t..g_{t+k−1}),
       padding only the end with the last norm;
    4. w_t = ĝ_t⁻² for ℓ2 norms (SGD) or ĝ_t⁻¹ for ℓ1 norms (Adam-type);
    5. η_t = w_t · Σ_{p>t} w_p, so the last step is 0; normalize to a peak of 1;
    6. resample linearly to ``total_steps`` values.

    A constant norm gives the linear decay to zero. Multiply by a tuned peak LR to use it."""
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l2' (SGD) or 'l1' (Adam-type), got {norm!r}")
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    raw = np.asarray(list(grad_norms), dtype=np.float64)
    usable = raw[np.isfinite(raw) & (raw > 0)]
    if usable.size < 2:
        raise ValueError(
            f"the refined schedule needs at least 2 finite positive gradient norms, got "
            f"{usable.size} of {raw.size}; pass the per-step norms a previous run logged"
        )
    norms = _resample(usable, REFINED_RESOLUTION)
    smoothed = _forward_median(norms, max(1, round(REFINED_WINDOW_FRACTION * norms.size)))
    weights = smoothed ** (-2.0 if norm == "l2" else -1.0)
    tail = np.concatenate([np.cumsum(weights[::-1])[::-1][1:], [0.0]])  # Σ_{p>t} w_p
    rates = weights * tail
    rates /= rates.max()
    return _resample(rates, total_steps).tolist()


def _resample(values: np.ndarray, size: int) -> np.ndarray:
    """Linear interpolation of ``values`` onto ``size`` evenly spaced points, ends kept."""
    return np.interp(np.linspace(0.0, 1.0, size), np.linspace(0.0, 1.0, values.size), values)


def _forward_median(values: np.ndarray, window: int, chunk: int = 1000) -> np.ndarray:
    padded = np.concatenate([values, np.full(window - 1, values[-1])])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    return np.concatenate(
        [np.median(windows[i : i + chunk], axis=1) for i in range(0, values.size, chunk)]
    )
