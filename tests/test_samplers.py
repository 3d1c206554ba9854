"""The Optuna side of a search: explicit, reproducible samplers, and each trial told to Optuna
in the state it ended in (COMPLETE, PRUNED with its intermediate values, FAIL)."""

from __future__ import annotations

import optuna
import pytest

from dals_tune.study.samplers import (
    SAMPLERS,
    describe_sampler,
    make_sampler,
    sampler_settings,
    strategy_seed,
)
from dals_tune.study.settings import SEARCHERS


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 1e-4, 1.0, log=True)
    y = trial.suggest_float("y", -1.0, 1.0)
    return (x - 0.01) ** 2 + y**2


def suggestions(searcher: str, seed: int, trials: int = 12) -> list[dict]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=make_sampler(searcher, seed))
    study.optimize(objective, n_trials=trials)
    return [trial.params for trial in study.trials]


@pytest.mark.parametrize("searcher", SEARCHERS)
def test_the_same_seed_and_settings_give_the_same_suggestions(searcher):
    # 12 trials: past the 10 random start-up trials of TPE and GP, into their models.
    first = suggestions(searcher, seed=3)
    assert first == suggestions(searcher, seed=3)
    assert first != suggestions(searcher, seed=4)


def test_every_sampler_setting_is_written_out_and_recorded():
    assert set(SEARCHERS) == {"optuna", "gp", "random"}
    tpe = make_sampler("optuna", 0)
    assert isinstance(tpe, optuna.samplers.TPESampler)
    # Optuna 5.0 turned these on by default; here they are stated, whatever the version.
    assert SAMPLERS["optuna"][1]["multivariate"] is True
    assert SAMPLERS["optuna"][1]["constant_liar"] is True
    assert isinstance(make_sampler("gp", 0), optuna.samplers.GPSampler)
    assert sampler_settings("random", 7) == {"sampler": "RandomSampler", "seed": 7}
    line = describe_sampler("optuna", 0)
    assert line.startswith("TPESampler(seed=0, n_startup_trials=10, ")
    assert "multivariate=True" in line and "constant_liar=True" in line


def test_each_strategy_has_its_own_seed_so_its_start_up_trials_sit_elsewhere_in_its_range():
    # (seed + crc32(id)) mod 2^32: crc32(b"adamw") = 2165545430.
    assert strategy_seed(0, "adamw") == 2165545430
    assert strategy_seed(5, "adamw") == 2165545435
    assert strategy_seed(2**32 - 1, "adamw") == 2165545429  # wraps round
    first = {
        sid: suggestions("optuna", strategy_seed(0, sid), trials=3) for sid in ("adamw", "dals")
    }
    assert first["adamw"] != first["dals"]  # one seed for all would give both the same points
    assert first["adamw"] == suggestions("optuna", strategy_seed(0, "adamw"), trials=3)


def test_a_per_strategy_plan_seeds_each_strategys_sampler_apart(tmp_path, monkeypatch):
    from dals_tune.study import SearchSettings
    from dals_tune.study.plans import search_plans
    from dals_tune.study.preflight import check
    from dals_tune.study.ray_tune import searchers

    seeds = []
    monkeypatch.setattr(
        searchers, "make_sampler", lambda name, seed: seeds.append(seed) or make_sampler(name, seed)
    )
    study = SearchSettings(strategies=("adamw,dals",), seed=2, subset=400, out=str(tmp_path))
    (plan,) = search_plans(check(study), "s", tmp_path)
    searchers.searcher(plan)
    assert sorted(seeds) == sorted([strategy_seed(2, "adamw"), strategy_seed(2, "dals")])


def test_a_pbt_plan_gives_each_strategy_a_population_of_its_own(tmp_path):
    from dals_tune.study import SearchSettings
    from dals_tune.study.plans import search_plans
    from dals_tune.study.preflight import check

    study = SearchSettings(
        strategies=("adamw,dals",), scheduler="pbt", seed=2, subset=400, out=str(tmp_path)
    )
    plans = search_plans(check(study), "s", tmp_path)
    assert {plan.name: plan.seed for plan in plans} == {
        "adamw": strategy_seed(2, "adamw"),
        "dals": strategy_seed(2, "dals"),
    }


def truthful_searcher(storage: str):
    from dals_tune.study.ray_tune.searchers import TruthfulOptunaSearch

    def space(trial):
        trial.suggest_float("lr", 1e-3, 1.0, log=True)

    return TruthfulOptunaSearch(
        space,
        metric="val_acc",
        mode="max",
        sampler=make_sampler("optuna", 0),
        study_name="s",
        storage=optuna.storages.RDBStorage(storage),
    )


def test_each_trial_reaches_optuna_in_the_state_it_ended_in(tmp_path):
    from dals_tune.study.ray_tune.searchers import optuna_state

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = truthful_searcher(storage)
    ends = {
        "full": [(1, 0.5, "running"), (2, 0.6, "running"), (3, 0.7, "completed")],
        "stopped": [(1, 0.4, "running")],  # the scheduler stopped it after one epoch
        "diverged": [(1, 0.5, "running"), (2, 0.0, "diverged")],
    }
    for trial_id, epochs in ends.items():
        searcher.suggest(trial_id)
        for epoch, value, status in epochs:
            result = {"val_acc": value, "training_iteration": epoch, "status": status}
            searcher.on_trial_result(trial_id, result)
        searcher.on_trial_complete(trial_id, result)
    searcher.suggest("crashed")
    searcher.on_trial_complete("crashed", None, error=True)

    trials = optuna.load_study(study_name="s", storage=storage).trials
    states = [trial.state.name for trial in trials]
    assert states == ["COMPLETE", "PRUNED", "FAIL", "FAIL"]
    full, stopped, diverged, _ = trials
    assert full.value == 0.7 and full.intermediate_values == {1: 0.5, 2: 0.6, 3: 0.7}
    # A pruned trial keeps what it reported: its value is its last intermediate value.
    assert stopped.intermediate_values == {1: 0.4} and stopped.value == 0.4
    assert diverged.value is None and diverged.intermediate_values == {1: 0.5, 2: 0.0}
    assert optuna_state({"status": "completed"}, error=False) == "COMPLETE"
    assert optuna_state({}, error=False) == "FAIL"


def test_a_suggestion_left_running_by_a_killed_driver_ends_fail_once_its_run_is_over(tmp_path):
    from types import SimpleNamespace

    from dals_tune.study.ray_tune.searchers import ORPHAN_REASON, fail_orphaned_trials

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    mine = optuna.create_study(study_name="s1-adamw", storage=storage)
    other = optuna.create_study(study_name="s2-adamw", storage=storage)  # another study's
    finished = mine.ask()
    mine.tell(finished, 0.5)
    mine.ask()  # suggested, then the driver was killed
    other.ask()
    plan = SimpleNamespace(optuna_storage=storage, optuna_study="s1")
    assert fail_orphaned_trials(plan) == 1
    states = [trial.state.name for trial in optuna.load_study(study_name="s1-adamw",
                                                              storage=storage).trials]  # fmt: skip
    assert states == ["COMPLETE", "FAIL"]
    assert mine.trials[1].user_attrs["fail_reason"] == ORPHAN_REASON
    assert [trial.state.name for trial in other.trials] == ["RUNNING"]  # not this study's
    assert fail_orphaned_trials(plan) == 0
