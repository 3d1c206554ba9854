"""Each schedule's formula at chosen steps, computed by hand (DESIGN §4)."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
import torch

from dals_tune.schedules import (
    CosineRestarts,
    EpochStepped,
    Scaled,
    SlantedTriangular,
    TabulatedSchedule,
    WarmupCosine,
    WarmupLinearDecay,
    refined_schedule,
)


def test_warmup_cosine():
    schedule = WarmupCosine(total_steps=100, warmup_steps=10)
    assert schedule(0) == 0.0
    assert schedule(5) == 0.5  # 5/10
    assert schedule(10) == 1.0  # warmup end: ½(1 + cos 0)
    assert schedule(55) == pytest.approx(0.5)  # half-way through the cosine: ½(1 + cos π/2)
    assert schedule(40) == pytest.approx(0.5 * (1 + math.cos(math.pi * 30 / 90)))
    assert schedule(99) == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))
    assert schedule(100) == pytest.approx(0.0) and schedule(150) == pytest.approx(0.0)


def test_warmup_cosine_fractional_warmup_and_no_warmup():
    schedule = WarmupCosine(total_steps=50, warmup_steps=2.5)  # warmup_frac 0.05 of 50
    assert schedule(2) == 2 / 2.5
    assert schedule(3) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5 / 47.5)))
    assert WarmupCosine(total_steps=10)(0) == 1.0
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosine(total_steps=10, warmup_steps=10)


def test_cosine_restarts_boundaries():
    schedule = CosineRestarts(first_cycle_steps=10, cycle_mult=2)
    # cycles [0, 10), [10, 30), [30, 70)
    assert schedule(0) == 1.0
    assert schedule(5) == pytest.approx(0.5)
    assert schedule(9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 9 / 10)))
    assert schedule(10) == 1.0  # restart
    assert schedule(20) == pytest.approx(0.5)  # middle of the 20-step cycle
    assert schedule(29) == pytest.approx(0.5 * (1 + math.cos(math.pi * 19 / 20)))
    assert schedule(30) == 1.0
    assert schedule(50) == pytest.approx(0.5)


def test_cosine_restarts_constant_cycles():
    schedule = CosineRestarts(first_cycle_steps=4, cycle_mult=1)
    assert [schedule(t) for t in (0, 4, 8, 1_000_000)] == [1.0, 1.0, 1.0, 1.0]
    assert schedule(6) == pytest.approx(0.5)


def test_slanted_triangular():
    schedule = SlantedTriangular(total_steps=100, cut_frac=0.1, ratio=32)  # cut = 10
    assert schedule(0) == 1 / 32
    assert schedule(5) == pytest.approx((1 + 0.5 * 31) / 32)
    assert schedule(10) == 1.0  # peak at cut
    # p = 1 − (55 − 10)/(10·9) = 0.5
    assert schedule(55) == pytest.approx((1 + 0.5 * 31) / 32)
    assert schedule(100) == pytest.approx(1 / 32)  # p = 0
    assert max(schedule(t) for t in range(100)) == schedule(10)


def test_slanted_triangular_floor_and_tiny_runs():
    schedule = SlantedTriangular(total_steps=105, cut_frac=0.1, ratio=32)  # cut = ⌊10.5⌋ = 10
    assert schedule(104) == 1 / 32  # p would be −0.044; clamped at 0
    assert SlantedTriangular(total_steps=5).cut == 1


def test_epoch_stepped_holds_each_epoch_and_scaled_multiplies():
    schedule = EpochStepped(SlantedTriangular(total_steps=20, cut_frac=0.1, ratio=32), 3)
    # epochs 0, 1, 2 of 3 steps: cut = 2, p = 0, 1/2, 1
    assert [schedule(t) for t in range(9)] == [1 / 32] * 3 + [16.5 / 32] * 3 + [1.0] * 3
    assert Scaled(schedule, 0.25)(4) == 0.25 * 16.5 / 32
    with pytest.raises(ValueError, match="steps_per_epoch must be positive"):
        EpochStepped(SlantedTriangular(20), 0)


def test_warmup_linear_decay_reaches_zero_at_the_last_step():
    schedule = WarmupLinearDecay(total_steps=21, warmup_steps=5)
    assert schedule(0) == 0.0
    assert schedule(4) == 4 / 5
    assert schedule(5) == 1.0
    assert schedule(10) == pytest.approx((20 - 10) / 15)
    assert schedule(20) == 0.0  # last step t = T − 1
    assert schedule(25) == 0.0
    no_warmup = WarmupLinearDecay(total_steps=11)
    assert [no_warmup(t) for t in (0, 5, 10)] == [1.0, 0.5, 0.0]


def test_warmup_linear_decay_in_a_run_shorter_than_its_warmup():
    # warmup_frac 0.05 of one step: the final zero comes first; it is not an error.
    assert WarmupLinearDecay(total_steps=1, warmup_steps=0.05)(0) == 0.0
    short = WarmupLinearDecay(total_steps=3, warmup_steps=2.5)
    assert [short(t) for t in range(3)] == [0.0, 1 / 2.5, 0.0]
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupLinearDecay(total_steps=3, warmup_steps=3)


def test_tabulated_schedule():
    schedule = TabulatedSchedule((1.0, 0.5, 0.0))
    assert [schedule(t) for t in range(5)] == [1.0, 0.5, 0.0, 0.0, 0.0]


def test_refined_on_constant_norms_is_linear_decay_and_skips_non_finite():
    norms = [2.0] * 50 + [float("nan"), float("inf"), -1.0, 0.0] + [2.0] * 50
    values = refined_schedule(norms, total_steps=11)
    # w constant: η_t ∝ #{p > t} on the 10,000-point grid, i.e. 1 − t/(N − 1), resampled
    assert values == pytest.approx([1.0 - t / 10 for t in range(11)], abs=1e-12)
    assert values[-1] == 0.0


def test_refined_on_a_step_series_by_hand():
    """g = 1 on the first half, 2 on the second; N = 10,000 = T, so no resampling happens.

    The forward median window is k = 1,000: ĝ_t = 1 for t < 4500, 1.5 at t = 4500 (500 ones,
    500 twos), 2 after. l2 weights w = ĝ⁻²: 1, 1/2.25, 1/4."""
    norms = [1.0] * 5000 + [2.0] * 5000
    values = refined_schedule(norms, total_steps=10_000, norm="l2")
    w_mid, w_hi = 1 / 2.25, 0.25

    def unnormalized(t: int) -> float:
        if t < 4500:
            return 1.0 * ((4499 - t) + w_mid + 5499 * w_hi)
        return w_hi * (9999 - t) * w_hi

    peak = unnormalized(0)
    for t in (0, 1000, 4499, 4501, 7000, 9998):
        assert values[t] == pytest.approx(unnormalized(t) / peak, rel=1e-9)
    assert values[4500] == pytest.approx(w_mid * 5499 * w_hi / peak, rel=1e-9)
    assert values[-1] == 0.0


def test_refined_l1_uses_inverse_norms():
    norms = [1.0] * 5000 + [2.0] * 5000
    values = refined_schedule(norms, total_steps=10_000, norm="l1")
    peak = (4499 + 1 / 1.5 + 5499 * 0.5) * 1.0
    assert values[7000] == pytest.approx(0.5 * 2999 * 0.5 / peak, rel=1e-9)


def test_refined_rejects_unusable_input():
    with pytest.raises(ValueError, match="at least 2 finite"):
        refined_schedule([float("nan")] * 10, total_steps=5)
    with pytest.raises(ValueError, match="'l2'"):
        refined_schedule([1.0, 2.0], total_steps=5, norm="linf")


@pytest.mark.parametrize(
    "schedule",
    [
        WarmupCosine(100, 5.0),
        CosineRestarts(10, 2),
        SlantedTriangular(100),
        WarmupLinearDecay(100, 5),
        TabulatedSchedule((1.0, 0.5)),
        Scaled(EpochStepped(SlantedTriangular(10), 2), 0.5),
    ],
)
def test_schedules_pickle_and_lambda_lr_state_round_trips(schedule):
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    state = copy.deepcopy(scheduler.state_dict())
    fresh = torch.optim.SGD([parameter], lr=1.0)
    restored = torch.optim.lr_scheduler.LambdaLR(fresh, copy.deepcopy(schedule))
    restored.load_state_dict(state)
    assert restored.lr_lambdas[0] == schedule
    assert restored.last_epoch == 3
    assert np.isclose(restored.get_last_lr()[0], schedule(3))
