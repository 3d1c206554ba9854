"""ASHA as the studies use it: Ray Tune's asynchronous successive halving, with the rung
rule of the ASHA paper, and rungs that can start with trials of an earlier Tuner run.

**The rung rule.** A trial reaching rung epoch m goes on when it is among the top
k = max(1, ⌊n/η⌋) of the n values recorded at m, its own included (ties go on): the
promotion rule of Li et al., *A System for Massively Parallel Hyperparameter Tuning*
(MLSys 2020), in the form Optuna's ``SuccessiveHalvingPruner`` gives it for a scheduler
that cannot pause a trial until its rung fills (the best so far goes on while n < η).
Ray's ``ASHAScheduler`` stops a trial only when it is below the 1 − 1/η quantile of the
others' values, interpolated linearly; on the small rungs of a study (a strategy's dozen
trials, fewer in a race's round) that lets trials outside the top third go on: with two
values a < b recorded, any v ≥ a + ⅔(b − a) goes on, where the rule above asks v ≥ b.
Ranks are also what the rule means by "the top third": an interpolated quantile moves
with the gaps between values, a rank does not. ``docs/benchmarks.md`` (*Search
efficiency*) measures the two on the same curves. Everything else is Ray's: rung placement
(grace period · η^k below the maximum), one bracket, a trial stopped at its maximum.

**Earlier trials** (:func:`replay`): a race's round r is its own Tuner run; its ASHA of a
strategy is handed that strategy's trials of rounds 0 … r − 1 before its first trial
starts, so its rungs hold what one Tuner running every round would hold.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from ray.tune.schedulers.async_hyperband import AsyncHyperBandScheduler, _Bracket

TIME_ATTRIBUTE = "epoch"
REDUCTION_FACTOR = 3  # η: a rung keeps its top third; rungs at grace period · 3^k epochs


class _TopOfRung(_Bracket):
    """Ray's bracket (its rungs, bookkeeping and decision: stop when the trial's value is
    below ``cutoff``) with the cutoff of the rung rule (module docstring)."""

    def cutoff(self, recorded: dict[str, float]) -> float | None:
        """The k-th best of the m values ``recorded`` at a rung before this trial's, with
        k = max(1, ⌊(m + 1)/η⌋): a value at least that is in the top k of all m + 1. Values
        are Ray's, signed so that larger is better; a NaN is no value (as Ray's nanpercentile)."""
        values = sorted((v for v in recorded.values() if not math.isnan(v)), reverse=True)
        if not values:
            return None
        k = max(1, (len(values) + 1) // int(self.rf))
        return values[k - 1]


class TopOfRungASHA(AsyncHyperBandScheduler):
    """Ray's ``ASHAScheduler`` (one bracket) whose rungs keep their top ⌊n/η⌋ by rank."""

    def __init__(
        self,
        max_t: int,
        grace_period: int,
        metric: str | None = None,
        mode: str | None = None,
    ) -> None:
        super().__init__(
            time_attr=TIME_ATTRIBUTE,
            metric=metric,
            mode=mode,
            max_t=max_t,
            grace_period=grace_period,
            reduction_factor=REDUCTION_FACTOR,
            brackets=1,
        )
        self._brackets = [_TopOfRung(grace_period, max_t, REDUCTION_FACTOR, 0)]


def replay(asha: Any, histories: list[tuple[float | None, ...]], metric: str) -> None:
    """Put trials that ran in an earlier Tuner run into ``asha``'s rungs, as if they had run
    in this one: each reports its value at every epoch it reached, through ASHA's own
    ``on_trial_add``/``on_trial_result``/``on_trial_remove``. A rung records a trial's value
    the first time it reaches the rung's epoch, whatever ASHA decides for it, so the rungs
    hold what they would hold had every trial run in one Tuner. ASHA reads only a trial's
    id; the stand-ins' ids cannot be Tune's (``<experiment>_<five digits>``)."""
    for index, values in enumerate(histories):
        trial = SimpleNamespace(trial_id=f"earlier-run-{index}")
        asha.on_trial_add(None, trial)
        for epoch, value in enumerate(values, start=1):
            if value is not None:
                asha.on_trial_result(None, trial, {TIME_ATTRIBUTE: epoch, metric: value})
        asha.on_trial_remove(None, trial)
