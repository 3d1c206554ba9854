"""``--mode race``'s rule (dals_tune/study/race.py) on hand-made values: the trials of each
round, who is dropped after it, the standing a strategy keeps, and the leaderboard of a race.

The noise floor of a single accuracy p on n validation examples is
δ = max(1.96·√(2·p(1 − p)/n), 1/n) (dals_tune/reports/ties.py): at p = 0.9, n = 1000,
δ = 1.96·0.013416 = 0.02630.
"""

from __future__ import annotations

import json
import math

import pytest

from dals_tune.objective import ACCURACY, Objective
from dals_tune.reports.leaderboard import leaderboard
from dals_tune.reports.study_runs import ChildRun, StudyRuns
from dals_tune.study import race
from dals_tune.study.outcomes import TrialOutcome
from dals_tune.study.race import RaceRound, Standing
from dals_tune.tracking_tags import DROPPED_IN_ROUND_TAG

RMSE = Objective("rmse", "min")


def standings(values: dict[str, float | None]) -> dict[str, Standing | None]:
    return {
        sid: None if value is None else Standing(f"{sid}-t", value, {"lr": 0.1}, "completed")
        for sid, value in values.items()
    }


def dropped(values: dict[str, float | None], objective=ACCURACY, val_size=1000) -> list[str]:
    """Who is dropped after a round of search (round 1)."""
    return race.dropped_after(standings(values), list(values), objective, val_size, 1)


# ----- who is dropped ---------------------------------------------------------------------------


def test_outside_the_tie_group_and_the_top_half_is_dropped():
    # Leader 0.90, δ = 0.0263: b (gap 0.02) is tied; c and d are neither tied nor in the top 2.
    assert dropped({"a": 0.90, "b": 0.88, "c": 0.80, "d": 0.70}) == ["c", "d"]
    # Gaps of 0.0262 and 0.0264 on either side of δ = 0.02630.
    assert dropped({"a": 0.90, "x": 0.89, "b": 0.8738, "c": 0.8736}) == ["c"]


def test_round_zero_drops_nobody_since_its_trials_are_untuned_defaults():
    # An SGD whose default LR ruins a pretrained encoder (0.24 against 0.94) gets its search.
    values = {"adamw": 0.94, "schedulefree_adamw": 0.93, "dals": 0.24, "fixed_sgd": 0.28}
    assert race.dropped_after(standings(values), list(values), ACCURACY, 500, 0) == []
    assert race.dropped_after(standings(values), list(values), ACCURACY, 500, 1) == [
        "fixed_sgd",
        "dals",
    ]


def test_a_strategy_tied_with_the_leader_is_never_dropped_whatever_its_rank():
    # Top ⌈4/2⌉ = 2 is a and b, but c (gap 0.02 ≤ δ) is tied: only d goes.
    assert dropped({"a": 0.90, "b": 0.89, "c": 0.88, "d": 0.70}) == ["d"]
    # The whole field within the floor: nobody goes.
    assert dropped({"a": 0.90, "b": 0.89, "c": 0.88}) == []
    group = race.tie_group(standings({"c": 0.88, "d": 0.70, "a": 0.90}), "cda", ACCURACY, 1000)
    assert group == ["a", "c"]  # the leader first


def test_no_round_drops_more_than_half_the_field():
    # b is far behind but in the top ⌈3/2⌉ = 2: it races on; c goes.
    assert dropped({"a": 0.90, "b": 0.50, "c": 0.40}) == ["c"]
    # Of two, the one not tied with the leader goes (top ⌈2/2⌉ = 1).
    assert dropped({"a": 0.90, "b": 0.50}) == ["b"]
    assert dropped({"a": 0.90}) == []


def test_a_metric_without_a_noise_floor_is_halved_and_ties_only_equal_values():
    # RMSE, lower is better: no floor from one value, so the top ⌈4/2⌉ = 2 stay.
    assert dropped({"a": 0.10, "b": 0.11, "c": 0.12, "d": 0.50}, RMSE) == ["c", "d"]
    assert dropped({"a": 0.10, "b": 0.10, "c": 0.10, "d": 0.50}, RMSE) == ["d"]
    # An accuracy whose validation size is not known has no floor either.
    assert dropped({"a": 0.90, "b": 0.89, "c": 0.88, "d": 0.70}, val_size=None) == ["c", "d"]


def test_a_strategy_without_a_usable_trial_ranks_last():
    assert race.ranking(standings({"a": None, "b": 0.5, "c": 0.9}), ["a", "b", "c"], ACCURACY) == [
        "c",
        "b",
        "a",
    ]
    assert dropped({"a": None, "b": 0.5, "c": 0.9}) == ["a"]
    # In the top half, even without a usable trial, it gets another round.
    assert dropped({"a": None, "b": 0.9}) == ["a"]
    assert dropped({"a": None, "b": None, "c": 0.9}) == ["b"]


# ----- the trials of each round -----------------------------------------------------------------


def done(*rounds: tuple[dict[str, int], list[str], list[str]]) -> list[RaceRound]:
    """Finished rounds from (trials, dropped, tie group) each."""
    return [
        RaceRound(index, trials, {}, tuple(out), tuple(tied))
        for index, (trials, out, tied) in enumerate(rounds)
    ]


def test_round_zero_runs_every_strategy_once():
    assert race.next_round([], ["a", "b", "free"], ["a", "b"], 13) == {"a": 1, "b": 1, "free": 1}


def test_later_rounds_give_each_tunable_survivor_eta_to_the_r_minus_1_cut_to_the_budget():
    # B = 18 (3 strategies × 6); t_r = min(2^(r−1), ⌊(18 − S_r)/m_r⌋).
    ids = ["a", "b", "c"]
    zero = ({"a": 1, "b": 1, "c": 1}, [], ["a"])  # round 0 drops nobody
    assert race.next_round(done(zero), ids, ids, 18) == {"a": 1, "b": 1, "c": 1}
    one = ({"a": 1, "b": 1, "c": 1}, ["c"], ["a"])
    assert race.next_round(done(zero, one), ids, ids, 18) == {"a": 2, "b": 2}
    kept = ({"a": 1, "b": 1, "c": 1}, [], ["a", "b"])
    assert race.next_round(done(zero, kept), ids, ids, 18) == {"a": 2, "b": 2, "c": 2}
    two = ({"a": 2, "b": 2, "c": 2}, ["c"], ["a"])
    assert race.next_round(done(zero, kept, two), ids, ids, 18) == {"a": 3, "b": 3}  # ⌊6/2⌋
    assert race.next_round(done(zero, kept, two), ids, ids, 13) == {}  # ⌊1/2⌋ = 0: over
    # A survivor with nothing to tune keeps its one trial and gets none.
    assert race.next_round(done(({"a": 1, "free": 1}, [], ["a"])), ["a", "free"], ["a"], 7) == {
        "a": 1
    }
    free = ({"free": 1, "other": 1}, [], ["free"])
    assert race.next_round(done(free), ["free", "other"], [], 2) == {}
    assert (
        race.next_round(done(zero, ({"a": 1, "b": 1, "c": 1}, ["b", "c"], ["a"])), ids, ids, 18)
        == {}
    )


def test_one_tie_group_ends_the_race_only_after_a_round_of_search():
    ids = ["a", "b"]
    zero = ({"a": 1, "b": 1}, [], ["a", "b"])  # the defaults of a and b are tied
    assert race.next_round(done(zero), ids, ids, 12) == {"a": 1, "b": 1}
    tied = ({"a": 1, "b": 1}, [], ["b", "a"])
    assert race.next_round(done(zero, tied), ids, ids, 12) == {}  # their re-runs decide
    apart = ({"a": 1, "b": 1}, [], ["b"])  # not tied, but b is in the top ⌈2/2⌉: kept
    assert race.next_round(done(zero, apart), ids, ids, 12) == {"a": 2, "b": 2}


def schedule(n: int, samples: int, keep: list[int]) -> list[int]:
    """The trials of each round when ``keep[r]`` strategies survive round r, none tied."""
    ids = [f"s{index}" for index in range(n)]
    rounds: list[RaceRound] = []
    alive = ids
    for index in range(20):
        trials = race.next_round(rounds, ids, ids, n * samples)
        if not trials:
            return [sum(r.trials.values()) for r in rounds]
        kept = alive[: keep[index]] if index < len(keep) else alive
        out = tuple(sid for sid in alive if sid not in kept)
        rounds.append(RaceRound(index, trials, {}, out, (kept[0],)))
        alive = kept
    raise AssertionError("the race did not end")


def test_a_halving_race_searches_every_strategy_once_then_halves_and_stops_at_one():
    # 8 strategies × 20 samples = 160: 8 defaults, 8 searched, 4·2, 2·4, one left: 32 trials.
    assert schedule(8, 20, keep=[8, 4, 2, 1]) == [8, 8, 8, 8]
    # 4 × 4 = 16: 4 defaults, 4 searched, 2·2, one left: 12.
    assert schedule(4, 4, keep=[4, 2, 1]) == [4, 4, 4]


def test_a_race_that_separates_nobody_spends_the_per_strategy_budget_and_no_more():
    assert schedule(3, 6, keep=[3] * 5) == [3, 3, 6, 6]  # 1 + 1 + 2 + 2 = 6 trials each
    assert sum(schedule(4, 5, keep=[4] * 10)) <= 20
    assert sum(schedule(4, 5, keep=[4] * 10)) > 20 - 4  # what is left cannot go round


# ----- the standing a strategy keeps ------------------------------------------------------------


def outcome(trial_id: str, value: float, status: str = "completed") -> TrialOutcome:
    return TrialOutcome(
        trial_id, "trial", "a", {"lr": value}, 0, [{"epoch": 1, "best_val_acc": value}], None,
        status=status,
    )  # fmt: skip


def test_the_standing_is_the_trial_the_seed_reruns_would_repeat():
    first = race.improved(None, [outcome("t1", 0.8), outcome("t2", 0.85, "pruned")], ACCURACY)
    assert first == Standing("t1", 0.8, {"lr": 0.8}, "completed")  # completed before pruned
    better = race.improved(first, [outcome("t3", 0.82)], ACCURACY)
    assert better.trial_id == "t3"
    kept = race.improved(better, [outcome("t4", 0.95, "pruned")], ACCURACY)
    assert kept == better  # a pruned trial does not replace a completed one
    assert race.improved(kept, [], ACCURACY) == kept
    assert race.improved(None, [outcome("t5", 0.9, "diverged")], ACCURACY) is None
    pruned = race.improved(None, [outcome("t6", 0.7, "pruned")], ACCURACY)
    assert pruned.status == "pruned"
    assert race.improved(pruned, [outcome("t7", 0.6)], ACCURACY).trial_id == "t7"


def test_rounds_survive_the_study_state_and_say_who_is_left():
    rounds = [
        RaceRound(0, {"a": 1, "b": 1, "c": 1}, standings({"a": 0.9, "b": 0.8, "c": 0.5}),
                  ("c",), ("a", "b"), {"a": ((0.5, 0.9),), "b": ((0.4, None),)}),
        RaceRound(1, {"a": 2, "b": 2}, standings({"a": 0.92, "b": 0.81}), ("b",), ("a",),
                  {"a": ((0.6, 0.92), (0.3,)), "b": ((0.45, 0.81), (0.2,))}),
    ]  # fmt: skip
    saved = json.loads(json.dumps([r.as_record() for r in rounds]))
    assert [RaceRound.from_record(record) for record in saved] == rounds
    assert race.survivors(["a", "b", "c"], rounds) == ["a"]
    assert race.dropped_rounds(rounds) == {"c": 0, "b": 1}
    assert race.spent(rounds) == 7
    assert {sid: s.value for sid, s in race.standings_after(rounds).items()} == {
        "a": 0.92,
        "b": 0.81,
        "c": 0.5,
    }
    # What each strategy's ASHA holds in round 2: its trials of rounds 0 and 1, oldest first.
    assert race.earlier_histories(rounds) == {
        "a": [(0.5, 0.9), (0.6, 0.92), (0.3,)],
        "b": [(0.4, None), (0.45, 0.81), (0.2,)],
    }
    assert race.earlier_histories(rounds[:1])["a"] == [(0.5, 0.9)]
    assert race.earlier_histories([]) == {}


def test_a_trials_history_is_its_validation_value_at_each_epoch():
    trial = TrialOutcome(
        "t", "trial", "a", {}, 0,
        [{"epoch": 1, "val_acc": 0.5, "best_val_acc": 0.5},
         {"epoch": 2, "val_acc": 0.4, "best_val_acc": 0.5}],
    )  # fmt: skip
    assert race.history_of(trial, ACCURACY) == (0.5, 0.4)  # what ASHA read, not the best


# ----- the leaderboard of a race ----------------------------------------------------------------


def run(strategy: str, kind: str, value: float, seed: int | None = None) -> ChildRun:
    return ChildRun(
        run_id=f"{strategy}-{kind}-{seed}-{value}", strategy=strategy, generation="3",
        kind=kind, status="completed", trial_id=strategy, seed=seed, is_default=False,
        error=None, best_val=value, test_at_best_val=value, val_history=((1, value),),
        epoch_seconds=((1, 1.0),),
    )  # fmt: skip


def test_dropped_strategies_rank_after_the_survivors_and_never_share_the_first_place():
    runs = (
        run("a", "trial", 0.90), run("a", "rerun", 0.88, 1), run("a", "rerun", 0.87, 2),
        run("b", "trial", 0.89), run("b", "rerun", 0.80, 1), run("b", "rerun", 0.79, 2),
        run("c", "trial", 0.885),  # dropped after round 1, though its trial beats the re-runs
        run("d", "trial", 0.40),  # dropped after round 0
    )  # fmt: skip
    tags = {
        "metric": "acc",
        "metric_mode": "max",
        "mode": "race",
        DROPPED_IN_ROUND_TAG.format(strategy="c"): "1",
        DROPPED_IN_ROUND_TAG.format(strategy="d"): "0",
    }
    params = {"strategies": "a,b,c,d", "val_size": "1000"}
    rows = leaderboard(StudyRuns(parent={"run_id": "p", "params": params, "tags": tags}, runs=runs))
    assert [(row.rank, row.strategy, row.dropped_in_round) for row in rows] == [
        (1, "a", None),
        (2, "b", None),
        (3, "c", 1),
        (4, "d", 0),
    ]
    assert rows[0].tied_with == ""  # c is within a's floor, but it is out of the race
    assert rows[2].note.startswith("dropped from the race after round 1; no re-runs")
    assert math.isnan(rows[2].val_std) and rows[2].seeds == 0


@pytest.mark.parametrize("mode", ["per-strategy", "joint"])
def test_other_studies_have_no_dropped_strategies(mode):
    runs = (run("a", "trial", 0.9), run("b", "trial", 0.5))
    tags = {"metric": "acc", "metric_mode": "max", "mode": mode}
    study = StudyRuns(
        parent={"run_id": "p", "params": {"strategies": "a,b"}, "tags": tags}, runs=runs
    )
    assert study.dropped_rounds == {}
    assert [row.dropped_in_round for row in leaderboard(study)] == [None, None]


# ----- a round's Tuner run ----------------------------------------------------------------------


def test_a_round_is_the_per_strategy_run_of_the_raced_strategies(tmp_path):
    from dals_tune.study import plans
    from dals_tune.study.preflight import check
    from dals_tune.study.settings import SearchSettings

    settings = SearchSettings(
        workload="synthetic", strategies=("adamw", "cosine_sgd", "fixed_sgd"), subset=100,
        mode="race", seed=5, out=str(tmp_path / "runs"),
    )  # fmt: skip
    checked = check(settings)
    first = plans.race_round_plan(checked, "s", tmp_path, 0, {"adamw": 1, "cosine_sgd": 1})
    later = plans.race_round_plan(checked, "s", tmp_path, 2, {"adamw": 4, "cosine_sgd": 4})
    assert (first.name, later.name) == ("race-round-0", "race-round-2")
    assert [group.key for group in later.groups] == ["adamw", "cosine_sgd"]  # not fixed_sgd
    assert [group.num_samples for group in later.groups] == [4, 4] and later.num_samples == 8
    assert all(len(group.points_to_evaluate) == 1 for group in first.groups)  # the defaults
    assert all(not group.points_to_evaluate for group in later.groups)
    assert all(not group.earlier_trials for group in first.groups)
    earlier = {"adamw": [(0.5, 0.6)], "fixed_sgd": [(0.2,)]}
    second = plans.race_round_plan(checked, "s", tmp_path, 1, {"adamw": 2}, earlier)
    assert [(group.key, group.earlier_trials) for group in second.groups] == [
        ("adamw", [(0.5, 0.6)])
    ]
    assert (first.seed, later.seed) == (5, 7)  # seed + r: no round repeats the last one's draws
    assert first.optuna_study == later.optuna_study == "s"  # one Optuna study per strategy
    assert not (tmp_path / "runs").exists()


def test_a_rounds_asha_judges_a_trial_against_its_strategys_earlier_rounds(tmp_path):
    """adamw's trials of earlier rounds scored 0.5, 0.6, 0.7 at epoch 1: its ASHA's first
    rung holds them, so a new trial goes on at epoch 1 only in the top max(1, ⌊4/3⌋) = 1
    of the four values, at least 0.7 (a tie goes on). A strategy with no earlier trials
    (cosine_sgd) starts with empty rungs: its first trial always goes on."""
    from types import SimpleNamespace

    from ray.tune.schedulers import TrialScheduler

    from dals_tune.study.plans import SearchGroup, TrialPlan
    from dals_tune.study.ray_tune.schedulers import scheduler

    earlier = [(0.5, 0.55, 0.6), (0.6, 0.7), (0.7,)]
    groups = [
        SearchGroup("adamw", 2, dict, grace_period=1, earlier_trials=earlier),
        SearchGroup("cosine_sgd", 2, dict, grace_period=1),
    ]
    plan = TrialPlan(
        name="race-round-1", storage=tmp_path, constants={}, num_samples=4, max_epochs=9,
        scheduler="asha", groups=groups,
    )  # fmt: skip
    grouped = scheduler(plan)

    def first_epoch(trial_id: str, strategy: str, value: float) -> str:
        trial = SimpleNamespace(trial_id=trial_id, config={"strategy": strategy})
        grouped.on_trial_add(None, trial)
        return grouped.on_trial_result(None, trial, {"epoch": 1, "val_acc": value})

    assert first_epoch("r1_00000", "adamw", 0.69) == TrialScheduler.STOP
    assert first_epoch("r1_00001", "adamw", 0.70) == TrialScheduler.CONTINUE
    assert first_epoch("r1_00002", "cosine_sgd", 0.1) == TrialScheduler.CONTINUE
    (rung_one,) = [r for m, r in grouped.schedulers["adamw"]._brackets[0]._rungs if m == 1]
    assert len(rung_one) == 5  # the three earlier trials and the two new ones
