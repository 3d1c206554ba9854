"""``python -m dals_tune search``: real studies on a local Ray, recorded in a real MLflow store.

The end-to-end study is the one the issue names; the others are kept small (a data subset,
one or two epochs) because each starts its own Ray.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import optuna
import pytest
from planted import the_product_trainable_with, with_planted_faults

from dals_tune import tracking
from dals_tune.cli import main
from dals_tune.reports import study_leaderboard
from dals_tune.study.plans import longest_warmup_epochs
from dals_tune.study.preflight import resolve_strategies


def studies_in(out: Path) -> list[dict]:
    tracker = tracking.open_store(out)
    return [s for s in tracker.all_studies()]


@pytest.mark.slow
def test_end_to_end_study_names_a_winner_from_seed_reruns(tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(
        [
            "search", "--workload", "synthetic", "--strategies", "dals,cosine_sgd,adamw",
            "--samples", "2", "--max-epochs", "3", "--seeds", "2", "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    # Two seeds each rarely separate three strategies: a tie is printed as one.
    assert ("winner:" in printed) != ("tie for first place:" in printed)
    assert "python -m dals_tune ui --out" in printed
    assert printed.count("] ") >= 12  # one progress line per trial and per re-run

    tracker = tracking.open_store(out)
    (parent,) = tracker.all_studies()
    assert parent["status"] == "FINISHED"
    tags = parent["tags"]
    for key in ("workload", "dataset", "regime", "model", "searcher", "scheduler", "budget"):
        assert tags[key], key
    assert tags["regime"] == "scratch" and tags["scheduler"] == "asha"
    assert tags["dals.winner"] in {"dals", "cosine_sgd", "adamw"}
    assert 0.0 < float(tags["dals.winner_val_acc"]) <= 1.0

    children = tracker.trials_of(parent["run_id"])
    trials = [c for c in children if c["tags"]["kind"] == "trial"]
    reruns = [c for c in children if c["tags"]["kind"] == "rerun"]
    assert len(trials) == 6  # 2 per strategy: the same budget for each
    assert len(reruns) == 6  # 2 seeds per strategy
    for child in children:
        assert child["tags"]["strategy"] in {"dals", "cosine_sgd", "adamw"}
        assert child["tags"]["status"] in {"completed", "pruned", "diverged", "errored"}
        assert child["tags"]["generation"]
        assert "val_acc" in child["metrics"] and "epoch_seconds" in child["metrics"]
    for strategy in ("dals", "cosine_sgd", "adamw"):
        mine = [t for t in trials if t["tags"]["strategy"] == strategy]
        assert sum(t["tags"].get("default") == "1" for t in mine) == 1  # defaults first
        seeds = {r["tags"]["seed"] for r in reruns if r["tags"]["strategy"] == strategy}
        assert seeds == {"1", "2"}  # fresh seeds, not the search's seed 0
    # The winner is the best mean validation accuracy over the re-runs.
    by_strategy: dict[str, list[float]] = {}
    for rerun in reruns:
        by_strategy.setdefault(rerun["tags"]["strategy"], []).append(
            rerun["metrics"]["best_val_acc"]
        )
    means = {s: sum(v) / len(v) for s, v in by_strategy.items()}
    assert tags["dals.winner"] == max(means, key=means.get)
    # dals.tied_with names the others of the winner's tie group, and the leaderboard agrees.
    tied = [name for name in tags.get("dals.tied_with", "").split(",") if name]
    assert set(tied) <= set(means) - {tags["dals.winner"]}
    rows = study_leaderboard(tracker, parent["run_id"])
    assert {row.strategy for row in rows if row.rank == 1} == {tags["dals.winner"], *tied}

    # Optuna holds each trial in the state it ended in: every trial ASHA stopped is PRUNED with
    # the values it reported, no COMPLETE trial is short of the 3-epoch budget, and the
    # sampler's settings are on the parent run.
    storage = f"sqlite:///{out / 'optuna.db'}"
    told = [
        trial
        for name in optuna.get_all_study_names(storage)
        for trial in optuna.load_study(study_name=name, storage=storage).trials
    ]
    assert len(told) == len(trials)
    for trial in told:
        last = max(trial.intermediate_values)
        if trial.state.name == "COMPLETE":
            assert last == 3
        else:
            assert trial.state.name == "PRUNED" and last < 3
            assert trial.value == trial.intermediate_values[last]
    pruned = sum(t["tags"]["status"] == "pruned" for t in trials)
    assert pruned == sum(trial.state.name == "PRUNED" for trial in told)
    assert tags["sampler"].startswith("TPESampler(seed=0, ")
    hardware = r"Ray local: 1 node, \d+ CPUs, 0 GPUs; driver: .+, \d+ cores"
    assert re.fullmatch(hardware, tags["dals.hardware"])

    (study_folder,) = (out / "studies").iterdir()
    with open(study_folder / "leaderboard.csv") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["strategy"] for row in rows) == ["adamw", "cosine_sgd", "dals"]
    assert all(row["val_acc_mean"] and row["val_acc_std"] for row in rows)
    config = json.loads((study_folder / "resolved_config.json").read_text())
    assert set(config["best_configs"]) == {"dals", "cosine_sgd", "adamw"}
    assert (out / "optuna.db").exists()  # the searcher's studies, for optuna-dashboard
    assert (out / "ray").is_dir()
    # Each trial's results stay with Tune; its checkpoints go once it has ended and been saved.
    assert len(list((out / "ray").rglob("result.json"))) == 12
    assert not list((out / "ray").rglob("checkpoint_*"))

    assert main(["report", "--out", str(out)]) == 0
    reports = out / "reports"
    assert (reports / "winners.csv").exists()
    assert (reports / "performance_profile.png").stat().st_size > 0
    with open(reports / "winners.csv") as file:
        (winner_row,) = list(csv.DictReader(file))
    assert winner_row["winner"] == tags["dals.winner"]
    with open(reports / "studies.csv") as file:
        (study_row,) = list(csv.DictReader(file))
    assert study_row["run_id"] == parent["run_id"]
    assert (study_row["commit"], study_row["hardware"]) == (
        tags["git_commit"],
        tags["dals.hardware"],
    )
    assert study_row["command"] == tags["dals.command"] and float(study_row["minutes"]) > 0

    # Nothing to resume once the study has finished: one line, exit 2.
    assert main(["search", "--out", str(out), "--resume"]) == 2
    assert "no interrupted study" in capsys.readouterr().err


@pytest.mark.slow
def test_joint_mode_records_the_chosen_strategy_and_honours_a_space_file(tmp_path):
    out = tmp_path / "runs"
    space = tmp_path / "space.yaml"
    space.write_text("adamw:\n  lr: {low: 0.001, high: 0.0012, log: true}\n")
    code = main(
        [
            "search", "--mode", "joint", "--strategies", "adamw,fixed_sgd", "--samples", "2",
            "--max-epochs", "1", "--seeds", "0", "--subset", "400", "--eval-subset", "200",
            "--space", str(space), "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    tracker = tracking.open_store(out)
    (parent,) = tracker.all_studies()
    assert parent["tags"]["mode"] == "joint"
    trials = tracker.trials_of(parent["run_id"])
    assert len(trials) == 4  # samples × strategies, in one Optuna study
    chosen = {t["tags"]["strategy"] for t in trials}
    assert chosen <= {"adamw", "fixed_sgd"} and chosen
    for trial in trials:
        if trial["tags"]["strategy"] == "adamw":
            assert 0.001 <= float(trial["params"]["lr"]) <= 0.0012  # narrowed by the file
        assert not any("." in name for name in trial["params"])  # plain names only
    # One joint Optuna study, its trials told as they ended: a full 1-epoch budget each.
    storage = f"sqlite:///{out / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    told = optuna.load_study(study_name=name, storage=storage).trials
    assert name.endswith("-joint") and len(told) == 4
    assert all(t.state.name == "COMPLETE" and list(t.intermediate_values) == [1] for t in told)


CRIPPLED = "lr: {low: 1.0e-6, high: 2.0e-6, log: true}"  # an SGD that cannot learn in 2 epochs


@pytest.mark.slow
def test_a_race_drops_the_strategies_clearly_behind_and_resumes_from_its_rounds(
    tmp_path, monkeypatch
):
    """adamw against two SGDs whose LR is too small to learn: round 0 (defaults) drops
    nobody; round 1 gives all three one searched trial and drops the worse SGD (outside
    adamw's tie group and the top ⌈3/2⌉ = 2); round 2 gives the two left
    min(2, ⌊(9 − 6)/2⌋) = 1 each and drops the other; one is left, the race ends. The
    driver is stopped once after round 0's Tuner run, before its results were judged: the
    resumed race restores that run without training it again."""
    from dals_tune.study import race

    out, space = tmp_path / "runs", tmp_path / "space.yaml"
    space.write_text(f"fixed_sgd:\n  {CRIPPLED}\ncosine_sgd:\n  {CRIPPLED}\n")
    judged = race.dropped_after

    def stopped_once(*args, **kwargs):
        monkeypatch.setattr(race, "dropped_after", judged)
        raise RuntimeError("driver stopped")

    monkeypatch.setattr(race, "dropped_after", stopped_once)
    argv = [
        "search", "--mode", "race", "--strategies", "adamw,fixed_sgd,cosine_sgd",
        "--samples", "3", "--max-epochs", "2", "--seeds", "0", "--subset", "1000",
        "--eval-subset", "500", "--scheduler", "fifo", "--space", str(space), "--out", str(out),
    ]  # fmt: skip
    with pytest.raises(RuntimeError, match="driver stopped"):
        main(argv)
    (state_file,) = (out / "studies").glob("*/study.json")
    assert json.loads(state_file.read_text())["race_rounds"] == []
    (parent,) = studies_in(out)
    first = {t["tags"]["trial_id"] for t in tracking.open_store(out).trials_of(parent["run_id"])}
    assert len(first) == 3

    assert main(["search", "--resume", "--out", str(out)]) == 0
    state = json.loads(state_file.read_text())
    assert state["phase"] == "finished"
    done = state["race_rounds"]
    assert len(done) == 3  # one strategy left after round 2
    assert done[0]["dropped"] == []  # defaults only: nobody leaves untuned
    (first_out,), (second_out,) = done[1]["dropped"], done[2]["dropped"]
    assert {first_out, second_out} == {"fixed_sgd", "cosine_sgd"}
    assert done[0]["trials"] == {"adamw": 1, "fixed_sgd": 1, "cosine_sgd": 1}
    assert done[1]["trials"] == {"adamw": 1, "fixed_sgd": 1, "cosine_sgd": 1}
    assert done[2]["trials"] == {"adamw": 1, second_out: 1}
    # Each round saved its trials' epochs for the next round's ASHA rungs: 2 epochs each.
    for race_round in done:
        assert {sid: len(runs) for sid, runs in race_round["histories"].items()} == (
            race_round["trials"]
        )
        assert all(len(h) == 2 for runs in race_round["histories"].values() for h in runs)
    assert set(state["best_configs"]) == {"adamw"}  # the survivor's, for its seed re-runs

    tracker = tracking.open_store(out)
    (parent,) = tracker.all_studies()
    assert parent["tags"]["mode"] == "race"
    assert parent["tags"]["dals.winner"] == "adamw"
    assert parent["tags"][f"dals.dropped_in_round.{first_out}"] == "1"
    assert parent["tags"][f"dals.dropped_in_round.{second_out}"] == "2"
    trials = tracker.trials_of(parent["run_id"])
    assert len({t["tags"]["dals.key"] for t in trials}) == len(trials) == 8  # none doubled
    assert {t["tags"]["trial_id"] for t in trials} >= first  # round 0 kept as recorded
    rounds = sorted((t["tags"]["strategy"], t["tags"]["race_round"]) for t in trials)
    assert rounds == sorted(
        [("adamw", "0"), ("adamw", "1"), ("adamw", "2"), (first_out, "0"), (first_out, "1"),
         (second_out, "0"), (second_out, "1"), (second_out, "2")]
    )  # fmt: skip
    assert len(list((out / "ray").rglob("result.json"))) == 8  # no trial trained twice
    # Each strategy's Optuna study went on across the rounds, with no configuration twice.
    storage = f"sqlite:///{out / 'optuna.db'}"
    adamw = optuna.load_study(study_name=f"{state['study_id']}-adamw", storage=storage)
    assert len(adamw.trials) == 3
    assert len({json.dumps(t.params, sort_keys=True) for t in adamw.trials}) == 3

    rows = study_leaderboard(tracker, parent["run_id"])
    assert [(row.strategy, row.dropped_in_round) for row in rows] == [
        ("adamw", None), (second_out, 2), (first_out, 1)
    ]  # fmt: skip
    with open(state_file.parent / "leaderboard.csv") as file:
        table = {row["strategy"]: row for row in csv.DictReader(file)}
    assert table[first_out]["dropped_in_round"] == "1" and table["adamw"]["dropped_in_round"] == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--strategies", "dalls"], "unknown strategy 'dalls'"),
        (["--workload", "mnist"], "unknown workload 'mnist'"),
        (["--samples", "0"], "--samples must be a positive integer"),
        (["--max-epochs", "0"], "--max-epochs must be a positive integer"),
        (["--address", "127.0.0.1:9"], "cannot reach the Ray cluster"),
        (["--mode", "joint", "--scheduler", "pbt"], "use it with --mode per-strategy"),
        (["--resume"], "no interrupted study"),
        (["--mode", "race", "--scheduler", "pbt"], "race with --scheduler asha or fifo"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, arguments, message):
    out = tmp_path / "runs"
    code = main(["search", "--out", str(out), *arguments])
    error = capsys.readouterr().err
    assert code == 2
    assert message in error
    assert error.count("\n") == 1 and error.startswith("error: ")
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("adamw:\n  lr: {low: 1.0, high: 0.1}\n", "adamw"),
        ("adamw: [1, 2\n", "space file"),
        ("adamw:\n  no_such_knob: 0.1\n", "no_such_knob"),
    ],
)
def test_a_bad_space_file_is_refused_before_anything_is_written(tmp_path, capsys, content, message):
    out = tmp_path / "runs"
    space = tmp_path / "space.yaml"
    space.write_text(content)
    code = main(["search", "--strategies", "adamw", "--space", str(space), "--out", str(out)])
    error = capsys.readouterr().err
    assert code == 2 and message in error
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert not out.exists()


def test_strategy_lists_and_the_asha_grace_period():
    assert resolve_strategies(["dals,adamw", "dals"]) == ("dals", "adamw")
    everything = resolve_strategies(["all"])
    assert "dals" in everything and "refined" not in everything and len(everything) >= 27
    import search_spaces

    spaces = {sid: search_spaces.space_for(sid) for sid in ("dals", "adamw", "fixed_sgd")}
    # DALS searches warmup fractions up to 0.2: no trial is judged inside its warmup.
    assert longest_warmup_epochs(spaces, 10) == 2
    assert longest_warmup_epochs({"fixed_sgd": spaces["fixed_sgd"]}, 10) == 1


def test_a_learning_rate_search_samples_the_lr_after_the_default_and_says_so(tmp_path):
    """``--search lr``: each strategy's group samples its learning rate alone, its default
    configuration first; a strategy without one runs once, and the budget names it."""
    import search_spaces
    from dals_tune.study import SearchSettings
    from dals_tune.study.plans import search_plans
    from dals_tune.study.preflight import check
    from dals_tune.study.recording import budget, study_params

    settings = SearchSettings(
        workload="synthetic", strategies=("adamw", "prodigy_schedulefree"), samples=3,
        max_epochs=2, subset=100, search="lr", out=str(tmp_path / "runs"),
    )  # fmt: skip
    checked = check(settings)
    assert checked.spaces["adamw"].names == ("lr",)
    (plan,) = search_plans(checked, "s", tmp_path)
    adamw, single = plan.groups
    assert (adamw.num_samples, single.num_samples) == (3, 1)
    assert adamw.points_to_evaluate == [search_spaces.space_for("adamw").default_point()]
    assert budget(checked) == (
        "3 trials × 2 epochs per strategy (learning rates searched, the rest fixed); "
        "1 trial at its defaults for prodigy_schedulefree (nothing to search)"
    )
    assert study_params(checked)["search"] == "lr"
    assert not (tmp_path / "runs").exists()


def test_each_strategy_gets_asha_rungs_from_its_own_warmup(tmp_path):
    """One ASHA per strategy, each with the grace period of its own longest warmup: a
    strategy without warmup is judged from the first epoch, DALS only after its warmup."""
    from types import SimpleNamespace

    from dals_tune.study.plans import SearchGroup, TrialPlan
    from dals_tune.study.ray_tune.schedulers import scheduler

    groups = [
        SearchGroup(key="dals", num_samples=2, define_by_run=dict, grace_period=6),
        SearchGroup(key="adamw", num_samples=2, define_by_run=dict, grace_period=1),
    ]
    plan = TrialPlan(
        name="search", storage=tmp_path, constants={}, num_samples=4, max_epochs=27,
        scheduler="asha", grace_period=6, groups=groups,
    )  # fmt: skip
    grouped = scheduler(plan)

    def first_rungs(strategy: str) -> list[int]:
        asha = grouped._of(SimpleNamespace(config={"strategy": strategy}))
        return sorted(milestone for milestone, _ in asha._brackets[0]._rungs)

    assert first_rungs("dals") == [6, 18]
    assert first_rungs("adamw") == [1, 3, 9, 27]


def test_asha_keeps_the_top_third_of_a_rung_by_rank():
    """A trial goes on at a rung when it is in the top max(1, ⌊n/3⌋) of the n values there,
    its own included, ties going on. Ray's interpolated quantile would let 0.65 go on
    against 0.5 and 0.7 (its cutoff 0.5 + ⅔·0.2 = 0.6333); the top 1 of 3 does not."""
    from types import SimpleNamespace

    from ray.tune.schedulers import TrialScheduler

    from dals_tune.study.ray_tune.asha import TopOfRungASHA

    asha = TopOfRungASHA(max_t=27, grace_period=1, metric="val_acc", mode="max")

    def at_epoch_one(index: int, value: float) -> str:
        trial = SimpleNamespace(trial_id=f"t_{index:05d}")
        asha.on_trial_add(None, trial)
        return asha.on_trial_result(None, trial, {"epoch": 1, "val_acc": value})

    decisions = [at_epoch_one(i, v) for i, v in enumerate([0.5, 0.7, 0.65, 0.8, 0.4])]
    go, stop = TrialScheduler.CONTINUE, TrialScheduler.STOP
    assert decisions == [go, go, stop, go, stop]  # the best so far while n < 3
    # n = 6: the top 2 are 0.8 and 0.7; 0.7 ties the second and goes on, 0.69 would not.
    assert at_epoch_one(5, 0.7) == go
    assert at_epoch_one(6, 0.69) == stop  # n = 7: still the top 2

    lower = TopOfRungASHA(max_t=27, grace_period=1, metric="rmse", mode="min")
    first = SimpleNamespace(trial_id="r_00000")
    second = SimpleNamespace(trial_id="r_00001")
    for trial, value, expected in ((first, 0.2, go), (second, 0.3, stop)):
        lower.on_trial_add(None, trial)
        assert lower.on_trial_result(None, trial, {"epoch": 1, "rmse": value}) == expected


def one_exploit_paced(signals: Path):
    """Pace two PBT trials (max 2 epochs) so that PBT exploits exactly once, and nothing
    depends on timing: the second trial ("_00001") reports a validation accuracy of 0, so PBT
    ranks it last, until it is restarted from the first trial's checkpoint (then 1, so PBT
    exploits it no more). The first trial reports epoch 1 once the second has a score (so PBT
    keeps its checkpoint), the second reports epoch 2 once the first has (so PBT exploits it
    there), and the first reports epoch 2 once the second has restarted (so the checkpoint
    it took is still there)."""

    def wait_for(marker: str) -> None:
        give_up = time.monotonic() + 120
        while not (signals / marker).exists() and time.monotonic() < give_up:
            time.sleep(0.05)

    def around_report(call, report, metrics: dict, *args, **kwargs) -> None:
        epoch, second = metrics["epoch"], call.trial_id.endswith("_00001")
        if second:
            if epoch == 2 and not call.restored:
                wait_for("first-reported-1")
            planted = {
                "val_acc": 1.0 if call.restored else 0.0,
                "trained_val_acc": metrics["val_acc"],
            }
            report({**metrics, **planted}, *args, **kwargs)
            (
                signals / ("second-restarted" if call.restored else f"second-reported-{epoch}")
            ).touch()
        else:
            wait_for("second-reported-1" if epoch == 1 else "second-restarted")
            report(metrics, *args, **kwargs)
            (signals / f"first-reported-{epoch}").touch()

    return the_product_trainable_with(around_report)


@pytest.mark.slow
def test_pbt_runs_a_population_per_strategy_from_checkpoints(tmp_path, monkeypatch):
    signals = tmp_path / "signals"
    signals.mkdir()
    with_planted_faults(monkeypatch, one_exploit_paced(signals), __name__)
    out = tmp_path / "runs"
    code = main(
        [
            "search", "--scheduler", "pbt", "--strategies", "adamw", "--samples", "2",
            "--max-epochs", "2", "--seeds", "0", "--subset", "400", "--eval-subset", "200",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    tracker = tracking.open_store(out)
    (parent,) = tracker.all_studies()
    assert parent["tags"]["scheduler"] == "pbt" and parent["tags"]["searcher"] == "random"
    trials = tracker.trials_of(parent["run_id"])
    assert len(trials) == 2
    assert {t["tags"]["status"] for t in trials} == {"completed"}

    # PBT logs an exploit in pbt_policy_<trial id>.txt as [the trial's tag, the donor's tag,
    # its iteration, the donor's, the donor's config, the trial's new config].
    results: dict[str, list[dict]] = {}
    for path in out.glob("ray/*/adamw/*/result.json"):
        for line in path.read_text().splitlines():
            result = json.loads(line)
            results.setdefault(result["trial_id"], []).append(result)
    (first,) = [trial_id for trial_id in results if not trial_id.endswith("_00001")]
    (second,) = set(results) - {first}
    (policy,) = out.glob(f"ray/*/adamw/pbt_policy_{second}.txt")
    (exploit,) = [json.loads(line) for line in policy.read_text().splitlines()]
    donor_epoch, donor_config, new_config = exploit[3:]
    assert donor_epoch == 1 and donor_config["lr"] == results[first][0]["config"]["lr"]
    # The exploit copied the first trial's checkpoint: the second went on from its epoch, with
    # the new config and with the best validation accuracy the first had there.
    restart = results[second][-1]
    assert (restart["epoch"], restart["iterations_since_restore"]) == (2, 1)
    assert restart["config"] == new_config != results[second][0]["config"]
    (donor,) = [r for r in results[first] if r["epoch"] == 1]
    assert restart["best_val_acc"] == max(donor["best_val_acc"], restart["trained_val_acc"])


def test_a_restored_trial_without_a_config_takes_it_from_its_folder(tmp_path):
    """Tune restores a trial that errored before its first result (here: a full disk) with no
    config; the driver reads it from the trial's params.json instead of failing on it."""
    from dals_tune.study.outcomes import judged
    from dals_tune.study.plans import TrialPlan
    from dals_tune.study.ray_tune.results import outcome_from_files

    folder = tmp_path / "trial"
    folder.mkdir()
    config = {"workload": "synthetic", "strategy": "fixed_sgd", "lr": 0.01}
    (folder / "params.json").write_text(json.dumps(config))
    (folder / "result.json").write_text("")
    plan = TrialPlan(name="search", storage=tmp_path, constants={}, num_samples=1, max_epochs=1)
    error = "OSError: No space left on device"
    outcome = judged(outcome_from_files(folder, {}, plan, error), planned_epochs=1)
    assert outcome.strategy == "fixed_sgd" and outcome.hyperparameters == {"lr": 0.01}
    assert outcome.status == "errored" and "No space left" in outcome.error
