"""The MLflow record of a study: one parent, one child per trial, per-epoch metrics, resume."""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from pathlib import Path

import pytest
from unprivileged import give_to_unprivileged_user, ran_as, run_unprivileged

from dals_tune import provenance
from dals_tune.reports.leaderboard import LeaderboardRow
from dals_tune.study.recording import study_description, winner_line
from dals_tune.tracking import Tracker, open_store
from dals_tune.tracking_entities import trial_run_name

STUDY_TAGS = {
    "dataset": "synthetic",
    "regime": "from_scratch",
    "model": "mlp",
    "searcher": "random",
    "scheduler": "asha",
    "budget": "3x2",
    "seed": 0,
}


def epochs_of(val_accs: list[float]) -> list[dict]:
    return [
        {
            "epoch": index + 1,
            "status": "running",
            "val_acc": acc,
            "val_loss": 1.0 - acc,
            "test_acc": acc - 0.01,
            "lr/fc1": 0.1 / (index + 1),
            "trust_ratio/fc1": 0.5 + index,
            "phase": float(index),
            "grad_norm_l2_mean": 2.0,
            "epoch_seconds": 0.25,
        }
        for index, acc in enumerate(val_accs)
    ]


def log_study(tracker: Tracker, tmp_path: Path) -> tuple[str, dict[str, str]]:
    parent = tracker.start_study("synthetic", STUDY_TAGS, {"strategies": "dals,adamw"})
    ids = {
        "t1": tracker.log_trial(
            parent,
            "t1",
            "dals",
            3,
            "completed",
            {"lr": 0.1, "momentum": 0.9, "grad_norms": list(range(500))},
            epochs_of([0.5, 0.7, 0.8]),
        ),
        "t2": tracker.log_trial(
            parent,
            "t2",
            "adamw",
            1,
            "errored",
            {"lr": 3e-4},
            [],
            error="CUDA out of memory",
        ),
        "t3": tracker.log_trial(
            parent,
            "t3",
            "sgd",
            0,
            "diverged",
            {"lr": 10.0},
            [{"epoch": 1, "status": "diverged", "train_loss": math.nan, "val_acc": 0.0}],
        ),
    }
    for seed in (1, 2):
        ids[f"rerun{seed}"] = tracker.log_trial(
            parent,
            "t1",
            "dals",
            3,
            "completed",
            {"lr": 0.1, "momentum": 0.9},
            epochs_of([0.5, 0.75, 0.79 + seed / 100]),
            kind="rerun",
            seed=seed,
        )
    return parent, ids


def test_a_study_has_one_parent_and_one_child_per_trial_and_rerun(tmp_path):
    tracker = open_store(tmp_path / "out")
    parent, ids = log_study(tracker, tmp_path)
    leaderboard = tmp_path / "leaderboard.csv"
    leaderboard.write_text("strategy,best_val_acc\ndals,0.8\n")
    (tmp_path / "leaderboard.md").write_text("| dals | 0.8 |\n")
    tracker.finish_study(parent, "dals", 0.8, [leaderboard, tmp_path / "leaderboard.md"])

    studies = tracker.studies("synthetic")
    assert [study["run_id"] for study in studies] == [parent]
    study = studies[0]
    assert study["status"] == "FINISHED"
    assert study["tags"]["dals.winner"] == "dals"
    assert float(study["tags"]["dals.winner_val_acc"]) == 0.8
    for key, value in STUDY_TAGS.items():
        assert study["tags"][key] == str(value)
    assert study["tags"]["workload"] == "synthetic"
    assert study["tags"]["dals_tune.version"]
    assert study["tags"]["git_commit"]
    assert study["tags"]["dals.command"].startswith("python ")  # pytest's own command here
    assert study["params"] == {"strategies": "dals,adamw"}
    artifacts = {item.path for item in tracker.client.list_artifacts(parent)}
    assert artifacts == {"leaderboard.csv", "leaderboard.md"}
    assert study["artifact_uri"].startswith((tmp_path / "out" / "mlartifacts").as_uri())
    assert tracker.studies(tracker.experiment_for("synthetic"))[0]["run_id"] == parent

    trials = {trial["run_id"]: trial for trial in tracker.trials_of(parent)}
    assert set(trials) == set(ids.values()) and len(trials) == 5

    completed = trials[ids["t1"]]
    assert completed["status"] == "FINISHED"
    assert completed["tags"] | {"dals.key": ""} == {
        "trial_id": "t1",
        "strategy": "dals",
        "generation": "3",
        "status": "completed",
        "kind": "trial",
        "workload": "synthetic",
        "dals.logged": "1",
        "dals.key": "",
    }
    assert completed["params"] == {"lr": "0.1", "momentum": "0.9"}  # grad_norms skipped
    assert completed["metrics"]["val_acc"] == 0.8
    assert tracker.metric_history(ids["t1"], "val_acc") == [(1, 0.5), (2, 0.7), (3, 0.8)]
    history = tracker.client.get_metric_history(ids["t1"], "lr/fc1")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.1), (2, 0.05), (3, 0.1 / 3)]
    for key in ("val_loss", "test_acc", "trust_ratio/fc1", "phase", "grad_norm_l2_mean"):
        assert len(tracker.metric_history(ids["t1"], key)) == 3
    assert "status" not in completed["metrics"] and "epoch" not in completed["metrics"]

    errored = trials[ids["t2"]]
    assert errored["status"] == "FAILED"
    assert errored["tags"]["status"] == "errored"
    assert errored["tags"]["error"] == "CUDA out of memory"
    assert errored["metrics"] == {}

    diverged = trials[ids["t3"]]
    assert diverged["status"] == "FINISHED" and diverged["tags"]["status"] == "diverged"
    assert math.isnan(diverged["metrics"]["train_loss"])
    assert "error" not in diverged["tags"]

    for seed in (1, 2):
        rerun = trials[ids[f"rerun{seed}"]]
        assert rerun["tags"]["kind"] == "rerun" and rerun["tags"]["seed"] == str(seed)
        assert rerun["tags"]["trial_id"] == "t1"
        assert rerun["metrics"]["val_acc"] == pytest.approx(0.79 + seed / 100)
    parent_tag = tracker.client.get_run(ids["t1"]).data.tags["mlflow.parentRunId"]
    assert parent_tag == parent


def test_logging_the_same_trial_again_keeps_one_child(tmp_path):
    tracker = open_store(tmp_path)
    parent = tracker.start_study("synthetic", STUDY_TAGS, {})
    first = tracker.log_trial(parent, "t1", "dals", 3, "completed", {"lr": 0.1}, epochs_of([0.5]))
    again = tracker.log_trial(parent, "t1", "dals", 3, "completed", {"lr": 0.1}, epochs_of([0.5]))
    assert again == first
    assert len(tracker.trials_of(parent)) == 1
    assert tracker.metric_history(first, "val_acc") == [(1, 0.5)]


def test_a_half_written_child_is_replaced_when_the_trial_is_logged_again(tmp_path):
    tracker = open_store(tmp_path)
    parent = tracker.start_study("synthetic", STUDY_TAGS, {})
    experiment = tracker.experiment_for("synthetic")
    # What a driver killed in the middle of log_trial leaves: the run, without dals.logged.
    tracker.client.create_run(
        experiment, tags={"mlflow.parentRunId": parent, "dals.key": "trial:t1:"}
    )
    logged = tracker.log_trial(parent, "t1", "dals", 3, "pruned", {"lr": 0.1}, epochs_of([0.5]))
    trials = tracker.trials_of(parent)
    assert [trial["run_id"] for trial in trials] == [logged]
    assert trials[0]["tags"]["status"] == "pruned" and trials[0]["status"] == "FINISHED"


def test_the_logged_tag_is_written_last(tmp_path, monkeypatch):
    """A driver killed just before the tag leaves a child with its final status, which the
    next log_trial replaces; with the tag, a child is never left RUNNING (then KILLED)."""
    tracker = open_store(tmp_path)
    parent = tracker.start_study("synthetic", STUDY_TAGS, {})
    set_tag = tracker.client.set_tag

    def killed_at_the_tag(run_id, key, value):
        if key == "dals.logged":
            raise KeyboardInterrupt("killed")
        return set_tag(run_id, key, value)

    monkeypatch.setattr(tracker.client, "set_tag", killed_at_the_tag)
    with pytest.raises(KeyboardInterrupt):
        tracker.log_trial(parent, "t1", "dals", 3, "completed", {"lr": 0.1}, epochs_of([0.5]))
    (cut,) = tracker.trials_of(parent)
    assert cut["status"] == "FINISHED" and "dals.logged" not in cut["tags"]
    monkeypatch.setattr(tracker.client, "set_tag", set_tag)
    logged = tracker.log_trial(parent, "t1", "dals", 3, "completed", {"lr": 0.1}, epochs_of([0.5]))
    (trial,) = tracker.trials_of(parent)
    assert trial["run_id"] == logged != cut["run_id"]
    assert trial["tags"]["dals.logged"] == "1" and trial["status"] == "FINISHED"


def test_interrupted_runs_are_marked_killed_and_the_study_can_still_finish(tmp_path):
    tracker = open_store(tmp_path)
    parent = tracker.start_study("synthetic", STUDY_TAGS, {})
    tracker.log_trial(parent, "t1", "dals", 3, "completed", {"lr": 0.1}, epochs_of([0.5]))
    experiment = tracker.experiment_for("synthetic")
    tracker.client.create_run(experiment, tags={"mlflow.parentRunId": parent})
    tracker.client.set_terminated(parent, "KILLED")  # Ctrl-C ended the driver

    assert tracker.mark_interrupted_runs(parent) == 1
    statuses = [trial["status"] for trial in tracker.trials_of(parent)]
    assert sorted(statuses) == ["FINISHED", "KILLED"]
    assert tracker.studies("synthetic")[0]["status"] == "RUNNING"  # the study goes on
    assert tracker.mark_interrupted_runs(parent) == 0

    tracker.finish_study(parent, "dals", 0.5, [])
    assert tracker.studies("synthetic")[0]["status"] == "FINISHED"


def assert_one_line_value_error(call, *words: str) -> None:
    with pytest.raises(ValueError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_an_out_folder_that_cannot_be_written_gives_one_line_and_no_store(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out = blocker / "out"  # a folder under a file cannot exist, even for root
    assert_one_line_value_error(lambda: open_store(out), "cannot write", "writable folder")
    assert not list(tmp_path.rglob("mlflow.db"))


OPEN_BOTH_STORES = """
from pathlib import Path
from dals_tune.tracking import open_store

try:
    open_store(Path({read_only!r}))
    print("opened the read-only store")
except ValueError as error:
    print(f"refused: {{error}}")
open_store(Path({writable!r}))
print("opened the writable store")
"""


def test_a_read_only_out_folder_gives_one_line_and_no_store(unprivileged_folder):
    """As a user who may not write there (root, as CI runs, writes anyway); the same user
    does get a store in a folder it may write to, so the refusal is the read-only one's."""
    read_only, writable = unprivileged_folder / "read_only", unprivileged_folder / "writable"
    for folder, mode in ((read_only, 0o500), (writable, 0o700)):
        folder.mkdir()
        give_to_unprivileged_user(folder, mode)
    code = OPEN_BOTH_STORES.format(read_only=str(read_only), writable=str(writable))
    warm_up = unprivileged_folder / "warm_up"  # MLflow imports its migrations only then
    warm_up.mkdir()
    result = run_unprivileged(
        code,
        cwd=unprivileged_folder,
        preload=("dals_tune.tracking",),
        first=f"import dals_tune.tracking as t; t.open_store({str(warm_up)!r})",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert ran_as(result) != 0
    _, refused, opened = result.stdout.splitlines()
    reason = "(Permission denied); choose a writable folder"
    assert refused == f"refused: cannot write to --out folder {read_only} {reason}"
    assert opened == "opened the writable store"
    assert list(read_only.iterdir()) == []
    assert (writable / "mlflow.db").is_file()


@pytest.mark.parametrize(
    "uri, words",
    [
        ("nosuchscheme://somewhere", ("unsupported tracking URI", "sqlite:///")),
        ("http://127.0.0.1:9", ("cannot reach the MLflow server",)),
    ],
)
def test_a_bad_tracking_uri_gives_one_line_and_no_store(tmp_path, uri, words):
    assert_one_line_value_error(lambda: open_store(tmp_path, uri), *words)
    assert not list(tmp_path.rglob("mlflow.db"))


def test_a_sqlite_uri_in_an_unwritable_place_gives_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    uri = f"sqlite:///{blocker / 'sub' / 'mlflow.db'}"
    assert_one_line_value_error(lambda: open_store(tmp_path, uri), "cannot write")
    assert not list(tmp_path.rglob("mlflow.db"))


def log_ten_trials(out: str, parent: str, worker: int) -> None:
    tracker = open_store(Path(out))
    for index in range(10):
        tracker.log_trial(
            parent,
            f"w{worker}-t{index}",
            "dals",
            3,
            "completed",
            {"lr": 0.01 * (index + 1), "worker": worker},
            epochs_of([0.1 * step for step in range(1, 6)]),
        )


def test_two_processes_log_to_one_sqlite_store_at_once(tmp_path):
    tracker = open_store(tmp_path)  # creates the schema once, before the workers start
    parent = tracker.start_study("synthetic", STUDY_TAGS, {})
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=log_ten_trials, args=(str(tmp_path), parent, worker))
        for worker in range(2)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0, 0]
    trials = tracker.trials_of(parent)
    assert len(trials) == 20
    assert len({trial["tags"]["trial_id"] for trial in trials}) == 20
    assert all(trial["status"] == "FINISHED" for trial in trials)


def test_a_trial_logged_with_its_times_starts_and_ends_when_it_ran(tmp_path):
    """The run's duration is the training's; each epoch's metrics are stamped on the trial's
    own timeline (start + time_total_s, else + Σ epoch_seconds), for MLflow's wall-time axis."""
    tracker = open_store(tmp_path)
    parent = tracker.start_study("synthetic", STUDY_TAGS, {})
    started = 1_700_000_000.25
    with_totals = [
        {"epoch": 1, "val_acc": 0.5, "epoch_seconds": 2.0, "time_total_s": 2.5},
        {"epoch": 2, "val_acc": 0.7, "epoch_seconds": 2.0, "time_total_s": 4.75},
    ]
    run_id = tracker.log_trial(
        parent, "t1", "dals", 3, "completed", {}, with_totals, started_at=started,
        ended_at=started + 4.75,
    )  # fmt: skip
    info = tracker.client.get_run(run_id).info
    assert (info.start_time, info.end_time) == (1_700_000_000_250, 1_700_000_005_000)
    history = tracker.client.get_metric_history(run_id, "val_acc")
    assert sorted((m.step, m.timestamp) for m in history) == [
        (1, 1_700_000_002_750),
        (2, 1_700_000_005_000),
    ]

    only_epoch_seconds = [{"epoch": k, "val_acc": 0.5, "epoch_seconds": 1.5} for k in (1, 2, 3)]
    run_id = tracker.log_trial(
        parent, "t2", "dals", 3, "completed", {}, only_epoch_seconds, started_at=started,
        ended_at=started + 4.5,
    )  # fmt: skip
    history = tracker.client.get_metric_history(run_id, "val_acc")
    assert sorted(m.timestamp - 1_700_000_000_250 for m in history) == [1500, 3000, 4500]


def test_a_trial_logged_without_times_starts_and_ends_as_it_is_logged(tmp_path):
    tracker = open_store(tmp_path)
    parent = tracker.start_study("synthetic", STUDY_TAGS, {})
    before = time.time() * 1000
    run_id = tracker.log_trial(parent, "t1", "dals", 3, "completed", {}, epochs_of([0.5]))
    info = tracker.client.get_run(run_id).info
    assert before - 1 <= info.start_time <= info.end_time <= time.time() * 1000 + 1


def test_runs_are_named_by_strategy_and_trial_or_seed_once(tmp_path):
    assert trial_run_name("adamw", "4f3e2_00003") == "adamw · trial 3"
    assert trial_run_name("adamw", "t12") == "adamw · trial 12"
    assert trial_run_name("adamw", "default") == "adamw · trial default"
    assert trial_run_name("radam", "radam", seed=3) == "radam · seed 3"
    tracker = open_store(tmp_path)
    parent, ids = log_study(tracker, tmp_path)
    names = {trial["run_id"]: trial["name"] for trial in tracker.trials_of(parent)}
    assert names[ids["t1"]] == "dals · trial 1"
    assert names[ids["rerun2"]] == "dals · seed 2"
    assert tracker.client.get_run(ids["rerun2"]).data.tags["dals.key"] == "rerun:t1:2"


def test_the_study_description_is_the_runs_description(tmp_path):
    tracker = open_store(tmp_path)
    parent = tracker.start_study("synthetic", STUDY_TAGS, {})
    tracker.finish_study(parent, "dals", 0.8, description="**Winner: dals**\n\n| a |\n|---|\n")
    assert tracker.client.get_run(parent).data.tags["mlflow.note.content"] == (
        "**Winner: dals**\n\n| a |\n|---|\n"
    )
    too_long = tracker.start_study("synthetic", STUDY_TAGS, {})
    rows = "".join(f"| row {index} | {'x' * 60} |\n" for index in range(400))
    tracker.finish_study(too_long, "dals", 0.8, description="**Winner: dals**\n\n" + rows)
    kept = tracker.client.get_run(too_long).data.tags["mlflow.note.content"]
    assert len(kept) <= 8000 and kept.startswith("**Winner: dals**")
    assert kept.endswith("the full leaderboard is the artifact leaderboard.md)\n")
    assert "| row 0 |" in kept and all(line.endswith("|") for line in kept.splitlines()[2:-2])


def test_experiments_are_marked_as_model_training_new_and_old(tmp_path):
    """MLflow 3 shows an experiment without the mark in its GenAI views; one created before
    the mark existed gets it when a study starts in it, and a kind the user chose stays."""
    tracker = open_store(tmp_path)
    kind = "mlflow.experimentKind"
    created = tracker.client.get_experiment(tracker.experiment_for("synthetic"))
    assert created.tags[kind] == "custom_model_development"
    old = tracker.client.create_experiment("old_workload")
    chosen = tracker.client.create_experiment("chosen", tags={kind: "genai_development"})
    tracker.start_study("old_workload", STUDY_TAGS, {})
    tracker.start_study("chosen", STUDY_TAGS, {})
    assert tracker.client.get_experiment(old).tags[kind] == "custom_model_development"
    assert tracker.client.get_experiment(chosen).tags[kind] == "genai_development"


def leaderboard_row(strategy: str, mean: float, std: float, seeds: int, spent: int, **rest):
    fields = {
        "rank": 0, "strategy": strategy, "generation": "3", "val_mean": mean,
        "val_std": std, "test_mean": mean, "test_std": std, "seeds": seeds,
        "trials": 2, "epochs_spent": spent, "best_trial_val": mean, "default_val": None,
        "tuned_beats_default": None, "epochs_to_target": None, "seconds_to_target": None,
        "failed": False, "note": "",
    }  # fmt: skip
    return LeaderboardRow(**{**fields, **rest})


def test_the_description_heads_the_leaderboard_with_the_winner_and_ends_with_the_plots():
    rows = [
        leaderboard_row("dals", 0.93, 0.004, 3, 12, rank=1, tied_with="adamw,lion"),
        leaderboard_row("adamw", 0.93, 0.01, 3, 15, rank=1, tied_with="dals,lion"),
        leaderboard_row("lion", 0.925, 0.01, 3, 15, rank=1, tied_with="dals,adamw"),
        leaderboard_row("sgd", 0.80, 0.02, 3, 9, rank=4),
    ]
    text = study_description(rows, "# Leaderboard: x\n\n| rank |\n", ["learning_curves.png"])
    assert text.splitlines() == [
        "**Tie for first place: dals, adamw, lion** (the runs cannot separate them); best "
        "mean dals, val_acc 0.9300 ± 0.0040, mean ± std over 3 seed re-runs.",
        "",
        "# Leaderboard: x",
        "",
        "| rank |",
        "",
        "Plots (in the run's artifacts):",
        "- `learning_curves.png`",
    ]
    clear = [leaderboard_row("dals", 0.93, 0.004, 3, 12), leaderboard_row("sgd", 0.8, 0.02, 3, 9)]
    assert winner_line(clear) == (
        "**Winner: dals**, val_acc 0.9300 ± 0.0040, mean ± std over 3 seed re-runs."
    )
    alone = [leaderboard_row("dals", 0.9, math.nan, 0, 12)]
    assert winner_line(alone) == (
        "**Winner: dals**, val_acc 0.9000, the best search trial alone (no seed re-runs)."
    )
    failed = [leaderboard_row("dals", math.nan, math.nan, 2, 3, failed=True)]
    assert winner_line(failed) == "**No winner**: every strategy's runs diverged or errored."


def test_a_trials_times_come_from_when_its_results_were_reported():
    from dals_tune.study.ray_tune.results import trial_times  # imports Ray: only here

    epochs = {1: {"epoch": 1, "time_total_s": 2.5}, 2: {"epoch": 2, "time_total_s": 4.0}}
    assert trial_times(epochs, {1: 1000.0, 2: 1001.5}) == (997.5, 1001.5)
    assert trial_times({1: {"epoch": 1, "epoch_seconds": 2.0}}, {1: 50.0}) == (48.0, 50.0)
    assert trial_times(epochs, {}) == (None, None)


def test_the_command_line_is_written_as_one_would_type_it_again():
    entry = str(provenance.PACKAGE_ENTRY)
    assert provenance.command_line([entry, "search", "--out", "my runs"]) == (
        "python -m dals_tune search --out 'my runs'"
    )
    assert provenance.command_line(["study.py", "--fast"]) == "python study.py --fast"
    assert provenance.command_line([""]) == "python"


def test_the_hardware_words_name_the_cluster_and_the_drivers_processor():
    words = provenance.hardware("local", 1, 2.0, 0.0)
    assert words.startswith("Ray local: 1 node, 2 CPUs, 0 GPUs; driver: ")
    assert f"{provenance.processor_name()}, {os.cpu_count()} cores" in words
    assert provenance.hardware("10.0.0.1:6379", 3, 96.0, 8.0).startswith(
        "Ray 10.0.0.1:6379: 3 nodes, 96 CPUs, 8 GPUs; "
    )
