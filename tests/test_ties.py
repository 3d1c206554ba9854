"""The tie test of a study's first place (dals_tune/reports/ties.py), on hand-computed cases.

Welch's test with two runs on each side and equal variances has ν = 2, for which Student's t
has a closed form: P(T > t) = (1 − t/√(t² + 2))/2, so p = 1 − t/√(t² + 2).
"""

from __future__ import annotations

import math

import pytest

from dals_tune.objective import ACCURACY, Objective
from dals_tune.reports.leaderboard import leaderboard
from dals_tune.reports.study_runs import ChildRun, StudyRuns
from dals_tune.reports.ties import (
    Sample,
    first_place_group,
    is_tied,
    noise_floor,
    tie_rule,
    welch_p_value,
)

LOSS = Objective("loss", "min")


def sample(values: list[float]) -> Sample:
    mean = sum(values) / len(values)
    std = (
        math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        if len(values) > 1
        else math.nan
    )
    return Sample(mean, std, len(values))


def test_two_seeds_each_within_welchs_noise_are_tied():
    # [0.9, 0.8] against [0.7, 0.6]: s² = 0.005 each, SE² = 0.005, t = 0.2/√0.005 = 2.8284,
    # ν = 0.005²/(2·0.0025²) = 2, p = 1 − 2.8284/√10 = 0.1056 ≥ 0.05: tied.
    best, other = sample([0.9, 0.8]), sample([0.7, 0.6])
    assert welch_p_value(best, other) == pytest.approx(1 - 2.8284271 / math.sqrt(10), abs=1e-6)
    assert is_tied(best, other, ACCURACY, None)


def test_two_seeds_each_far_apart_are_not_tied():
    # [0.95, 0.93] against [0.85, 0.83]: s² = 0.0002 each, t = 0.1/√0.0002 = 7.0711, ν = 2,
    # p = 1 − 7.0711/√52 = 0.0194 < 0.05.
    best, other = sample([0.95, 0.93]), sample([0.85, 0.83])
    assert welch_p_value(best, other) == pytest.approx(1 - 7.0710678 / math.sqrt(52), abs=1e-6)
    assert not is_tied(best, other, ACCURACY, None)


def test_equal_means_are_tied_and_zero_spread_ties_only_equal_values():
    assert welch_p_value(sample([0.9, 0.8]), sample([0.95, 0.75])) == pytest.approx(1.0)
    assert is_tied(sample([1.0, 1.0]), sample([1.0, 1.0]), ACCURACY, 14)
    assert welch_p_value(sample([1.0, 1.0]), sample([0.9, 0.9])) == 0.0
    assert not is_tied(sample([1.0, 1.0]), sample([0.9, 0.9]), ACCURACY, None)


def test_one_seed_ties_within_the_binomial_noise_floor_of_the_validation_split():
    # p = 0.9 on 100 examples: δ = 1.96·√(2·0.9·0.1/100) = 1.96·0.042426 = 0.08315.
    best = sample([0.9])
    assert noise_floor(best, ACCURACY, 100) == pytest.approx(1.959964 * 0.0424264, abs=1e-5)
    assert is_tied(best, sample([0.82]), ACCURACY, 100)
    assert not is_tied(best, sample([0.81]), ACCURACY, 100)
    # A perfect score has no binomial spread: the floor is one example, 1/50.
    assert noise_floor(sample([1.0]), ACCURACY, 50) == pytest.approx(0.02)
    assert is_tied(sample([1.0]), sample([0.98]), ACCURACY, 50)
    assert not is_tied(sample([1.0]), sample([0.97]), ACCURACY, 50)
    # One seed on one side only: the floor still decides (no spread for Welch).
    assert is_tied(sample([0.9, 0.9]), sample([0.82]), ACCURACY, 100)


def test_one_seed_of_a_metric_without_a_sampling_model_ties_only_an_equal_value():
    assert noise_floor(sample([0.3]), LOSS, 1000) == 0.0
    assert noise_floor(sample([0.9]), ACCURACY, None) == 0.0  # size not recorded
    assert is_tied(sample([0.3]), sample([0.3]), LOSS, 1000)
    assert not is_tied(sample([0.3]), sample([0.3001]), LOSS, 1000)
    assert "no noise floor" in tie_rule([sample([0.3]), sample([0.4])], LOSS, 1000)


def test_the_group_starts_with_the_leader_and_keeps_the_given_order():
    samples = [
        ("a", sample([0.95, 0.93])),
        ("b", sample([0.85, 0.83])),  # p = 0.019: separated
        ("c", sample([0.9, 0.8])),  # p > 0.05 against a
    ]
    assert first_place_group(samples, ACCURACY, None) == ["a", "c"]
    assert first_place_group([], ACCURACY, None) == []
    assert "Welch" in tie_rule([s for _, s in samples], ACCURACY, None)
    floor_rule = tie_rule([sample([0.9]), sample([0.8])], ACCURACY, 100)
    assert "δ = 0.0832" in floor_rule and "100 validation examples" in floor_rule


def rerun(strategy: str, seed: int, value: float) -> ChildRun:
    return ChildRun(
        run_id=f"{strategy}{seed}", strategy=strategy, generation="3", kind="rerun",
        status="completed", trial_id=strategy, seed=seed, is_default=False, error=None,
        best_val=value, test_at_best_val=value, val_history=((1, value),),
        epoch_seconds=((1, 1.0),),
    )  # fmt: skip


def study(values: dict[str, list[float]], val_size: int | None = None) -> StudyRuns:
    runs = tuple(
        rerun(name, seed, value)
        for name, seeds in values.items()
        for seed, value in enumerate(seeds, 1)
    )
    params = {"strategies": ",".join(values), "val_size": val_size or ""}
    tags = {"metric": "acc", "metric_mode": "max"}
    return StudyRuns(parent={"run_id": "p", "params": params, "tags": tags}, runs=runs)


def test_the_tie_group_shares_rank_one_and_comes_first_on_the_board():
    # b's mean is second, but its tiny spread separates it from a; c's wide spread does not.
    rows = leaderboard(
        study({"a": [0.95, 0.93], "b": [0.85, 0.83], "c": [0.9, 0.8], "d": [0.1, 0.12]})
    )
    assert [(row.rank, row.strategy, row.tied_with) for row in rows] == [
        (1, "a", "c"),
        (1, "c", "a"),
        (3, "b", ""),
        (4, "d", ""),
    ]


def test_equal_values_share_the_first_place_whatever_the_search_spent():
    # The 178-row case: single runs at 1.0 on 14 validation examples are one tie of three.
    rows = leaderboard(study({"z": [1.0], "a": [1.0], "m": [1.0], "low": [0.5]}, val_size=14))
    assert [(row.rank, row.strategy) for row in rows] == [(1, "a"), (1, "m"), (1, "z"), (4, "low")]
    assert rows[0].tied_with == "m,z"


def test_with_folds_the_noise_floor_counts_every_example_of_the_training_pool():
    from dals_tune.reports.leaderboard import validation_size

    one_split = study({"a": [0.9]}, val_size=14)
    assert validation_size(one_split) == 14
    params = {"strategies": "a", "folds": "5", "train_size": "112", "val_size": "28"}
    folded = StudyRuns(parent={"run_id": "p", "params": params, "tags": {}}, runs=())
    assert validation_size(folded) == 140
    assert validation_size(study({"a": [0.9]})) is None
