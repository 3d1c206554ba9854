"""Reports from the study store: leaderboard numbers, cross-study tables, the profile, the CLI.

One store, logged through the Tracker as the driver does: an old and a new finished "scratch"
study (only the new one counts across studies), a finished "finetune" study, a newer "scratch"
study still running and a study of another workload in which everything diverged (both
reported, never counted). Creating a store's schema takes seconds, so the tests share it.
"""

from __future__ import annotations

import csv
import math
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from dals_tune import reports
from dals_tune.cli import main
from dals_tune.objective import ACCURACY, Objective
from dals_tune.reports import store_report
from dals_tune.reports.cross_study import PROFILE_TAUS, latest_finished
from dals_tune.reports.leaderboard import LeaderboardRow, median_or_none, strategy_row
from dals_tune.reports.study_report import write_study_files
from dals_tune.reports.study_runs import ChildRun, load_study
from dals_tune.tracking import Tracker, open_store

LAYERS = ("embed", "block2", "block10", "head")


def epochs_of(
    val: list[float], test: list[float] | None = None, seconds: float = 1.0, lr: bool = True
) -> list[dict]:
    """Per-epoch records as a trial reports them, with the running best and test at it."""
    test = test or [value - 0.02 for value in val]
    records, best, at_best = [], -1.0, math.nan
    for index, (val_acc, test_acc) in enumerate(zip(val, test)):
        if val_acc > best:
            best, at_best = val_acc, test_acc
        record = {
            "epoch": index + 1,
            "val_acc": val_acc,
            "test_acc": test_acc,
            "val_loss": 1 - val_acc,
            "train_loss": 1 - val_acc,
            "best_val_acc": best,
            "test_acc_at_best_val": at_best,
            "epoch_seconds": seconds,
        }
        if lr:
            for depth, layer in enumerate(LAYERS):
                record[f"lr/{layer}"] = 0.01 * (depth + 1) / (index + 1)
        else:
            record["lr"] = 0.1 / (index + 1)
        records.append(record)
    return records


def start(
    tracker: Tracker, regime: str, strategies: str, target: float = 0.9, workload="synthetic"
) -> str:
    tags = {
        "dataset": "synthetic-ds",
        "regime": regime,
        "model": "mlp",
        "searcher": "optuna",
        "scheduler": "asha",
        "budget": "3x4",
        "seed": 0,
        "mode": "per-strategy",
        "target_accuracy": target,
    }
    parent = tracker.start_study(workload, tags, {"strategies": strategies, "samples": 3})
    time.sleep(0.01)  # distinct start times: "latest study" is decided by them
    return parent


def trial(tracker, parent, trial_id, strategy, epochs, status="completed", **tags):
    tracker.log_trial(parent, trial_id, strategy, 3, status, {"lr": 0.1}, epochs, tags=tags)


def rerun(tracker, parent, strategy, seed, epochs, status="completed"):
    tracker.log_trial(
        parent,
        f"{strategy}-best",
        strategy,
        3,
        status,
        {"lr": 0.1},
        epochs,
        kind="rerun",
        seed=seed,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("runs")
    tracker = open_store(out)

    old = start(tracker, "scratch", "dals")
    rerun(tracker, old, "dals", 1, epochs_of([0.5]))
    tracker.finish_study(old, "dals", 0.5)

    scratch = start(tracker, "scratch", "dals,adamw,sgd,fixed_sgd")
    trial(tracker, scratch, "t1", "dals", epochs_of([0.5, 0.7, 0.8]), default=1)
    trial(tracker, scratch, "t2", "dals", epochs_of([0.6, 0.85, 0.9]))
    trial(tracker, scratch, "t3", "dals", epochs_of([0.4]), status="pruned")
    rerun(tracker, scratch, "dals", 1, epochs_of([0.6, 0.9, 0.92], [0.58, 0.88, 0.90]))
    rerun(
        tracker,
        scratch,
        "dals",
        2,
        epochs_of([0.7, 0.88, 0.91, 0.94], [0.69, 0.86, 0.90, 0.92], seconds=0.5),
    )
    rerun(tracker, scratch, "dals", 3, epochs_of([0.5, 0.8, 0.86], [0.5, 0.79, 0.85]))
    trial(tracker, scratch, "u1", "adamw", epochs_of([0.85, 0.88], lr=False))
    tracker.log_trial(scratch, "u2", "adamw", 2, "errored", {"lr": 9.0}, [], error="OOM")
    rerun(tracker, scratch, "adamw", 1, epochs_of([0.8, 0.89], [0.79, 0.87], lr=False))
    rerun(tracker, scratch, "adamw", 2, epochs_of([0.85, 0.91], [0.84, 0.89], lr=False))
    diverged = [{"epoch": 1, "val_acc": 0.1, "train_loss": math.nan, "epoch_seconds": 1.0}]
    trial(tracker, scratch, "v1", "sgd", diverged, status="diverged")
    trial(tracker, scratch, "v2", "sgd", diverged, status="diverged")
    trial(tracker, scratch, "w1", "fixed_sgd", epochs_of([0.7, 0.75], [0.7, 0.74]))
    tracker.finish_study(scratch, "dals", 0.9)

    finetune = start(tracker, "finetune", "dals,adamw,lion,rmsprop", target=0.8)
    trial(tracker, finetune, "t1", "dals", epochs_of([0.7, 0.8, 0.85]))
    rerun(tracker, finetune, "dals", 1, epochs_of([0.75, 0.85], [0.74, 0.84]))
    trial(tracker, finetune, "u1", "adamw", epochs_of([0.85]))
    rerun(tracker, finetune, "adamw", 1, epochs_of([0.82, 0.85], [0.81, 0.80]))
    trial(tracker, finetune, "l1", "lion", epochs_of([0.8, 0.8]))
    rerun(tracker, finetune, "lion", 1, epochs_of([0.78, 0.80], [0.80, 0.86]))
    tracker.finish_study(finetune, "adamw", 0.85)

    running = start(tracker, "scratch", "adamw")
    trial(tracker, running, "u1", "adamw", epochs_of([0.99]))

    failed = start(tracker, "scratch", "sgd", workload="other")
    trial(tracker, failed, "v1", "sgd", [{"epoch": 1, "train_loss": math.nan}], "diverged")
    return {
        "out": out,
        "tracker": tracker,
        "old": old,
        "scratch": scratch,
        "finetune": finetune,
        "running": running,
        "failed": failed,
    }


def rows_by_strategy(rows) -> dict:
    return {row.strategy: row for row in rows}


def test_the_leaderboard_ranks_by_validation_with_diverged_strategies_last(store):
    rows = reports.study_leaderboard(store["tracker"], store["scratch"])
    # dals 0.9067 ± 0.0416 (3 seeds) and adamw 0.9000 ± 0.0141 (2 seeds): Welch's test cannot
    # separate them, so they share rank 1; fixed_sgd's one trial (0.75) is no tie (no noise
    # floor without a recorded validation size: only an equal value ties).
    assert [(row.rank, row.strategy) for row in rows] == [
        (1, "dals"),
        (1, "adamw"),
        (3, "fixed_sgd"),
        (4, "sgd"),
    ]
    dals, adamw, fixed, sgd = rows
    assert (dals.tied_with, adamw.tied_with, fixed.tied_with) == ("adamw", "dals", "")
    assert (dals.runs, adamw.runs, fixed.runs, sgd.runs) == (3, 2, 1, 0)

    # dals: re-runs reach best_val 0.92, 0.94, 0.86 with test 0.90, 0.92, 0.85 at those epochs.
    # Mean 2.72/3; deviations 0.04/3, 0.10/3, -0.14/3; sample variance Σd²/(3 − 1).
    assert dals.val_mean == pytest.approx(2.72 / 3)
    assert dals.val_std == pytest.approx(math.sqrt((0.04**2 + 0.1**2 + 0.14**2) / 9 / 2))
    assert dals.val_std == pytest.approx(0.0416333, abs=1e-6)
    # Test: mean 0.89; deviations 0.01, 0.03, -0.04; (0.0001 + 0.0009 + 0.0016)/2 = 0.0013.
    assert dals.test_mean == pytest.approx(0.89)
    assert dals.test_std == pytest.approx(math.sqrt(0.0013))
    assert (dals.seeds, dals.trials, dals.epochs_spent) == (3, 3, 3 + 3 + 1)
    assert dals.best_trial_val == pytest.approx(0.9)
    assert dals.default_val == pytest.approx(0.8) and dals.tuned_beats_default is True
    # Target 0.9: seed 1 at epoch 2 (1 s + 1 s), seed 2 at epoch 3 (3 × 0.5 s), seed 3 never.
    assert dals.epochs_to_target == 3 and dals.seconds_to_target == pytest.approx(2.0)
    assert dals.note == "trials: 2 completed, 1 pruned; re-runs: 3 completed"
    assert dals.generation == "3" and not dals.failed

    assert adamw.val_mean == pytest.approx(0.90)
    assert adamw.val_std == pytest.approx(math.sqrt(2 * 0.01**2))
    assert adamw.test_mean == pytest.approx(0.88)
    assert (adamw.trials, adamw.epochs_spent, adamw.seeds) == (2, 2, 2)
    assert adamw.default_val is None and adamw.tuned_beats_default is None
    # One of two re-runs reaches 0.9: the median is (2 + ∞)/2, i.e. not reached.
    assert adamw.epochs_to_target is None and adamw.seconds_to_target is None
    assert adamw.note == "trials: 1 completed, 1 errored; re-runs: 2 completed"

    # No re-runs: the best search trial alone, no spread.
    assert (fixed.val_mean, fixed.test_mean, fixed.seeds) == (0.75, 0.74, 0)
    assert math.isnan(fixed.val_std) and math.isnan(fixed.test_std)
    assert fixed.epochs_to_target is None
    assert fixed.note.startswith("no re-runs: best search trial shown")

    assert sgd.failed and math.isnan(sgd.val_mean) and sgd.epochs_spent == 2
    assert sgd.note == "ranked last: all 2 trials diverged or errored; trials: 2 diverged"


def test_validation_decides_ties_go_to_the_cheaper_search_and_unrun_strategies_rank_last(store):
    rows = reports.study_leaderboard(store["tracker"], store["finetune"])
    # dals and adamw tie at 0.85 validation; adamw spent 1 epoch searching, dals 3. lion has
    # the best test accuracy (0.86) and still ranks by its validation accuracy (0.80).
    assert [row.strategy for row in rows] == ["adamw", "dals", "lion", "rmsprop"]
    by_name = rows_by_strategy(rows)
    assert by_name["lion"].test_mean == pytest.approx(0.86)
    assert by_name["rmsprop"].failed and by_name["rmsprop"].note == "ranked last: no runs recorded"
    # One seed: std NaN; target 0.8 reached at epoch 1 (0.82) by adamw's only re-run.
    assert math.isnan(by_name["adamw"].val_std)
    assert (by_name["adamw"].epochs_to_target, by_name["adamw"].seconds_to_target) == (1, 1.0)


def child(kind: str, status: str, best: float, seed: int | None = None) -> ChildRun:
    return ChildRun(
        run_id=f"{kind}-{seed}-{status}",
        strategy="s",
        generation="2",
        kind=kind,
        status=status,
        trial_id="t",
        seed=seed,
        is_default=False,
        error="loss is nan" if status == "diverged" else None,
        best_val=best,
        test_at_best_val=best - 0.1,
        val_history=((1, best),),
        epoch_seconds=((1, 1.0),),
    )


def test_a_diverged_re_run_gives_no_numbers_and_is_counted_in_the_note():
    runs = [child("trial", "completed", 0.8), child("rerun", "completed", 0.7, seed=1)]
    row = strategy_row("s", [*runs, child("rerun", "diverged", 0.9, seed=2)], ACCURACY)
    assert (row.val_mean, row.seeds, row.failed) == (0.7, 2, False)
    assert math.isnan(row.val_std)
    assert row.note == "trials: 1 completed; re-runs: 1 completed, 1 diverged"

    # With re-runs, their failure is the strategy's, however good its search trial was.
    row = strategy_row("s", [runs[0], child("rerun", "diverged", 0.9, seed=2)], ACCURACY)
    assert row.failed and math.isnan(row.val_mean) and row.best_trial_val == 0.8
    assert row.note.startswith("ranked last: its one re-run diverged or errored; ")
    assert "first error: loss is nan" in row.note


@pytest.mark.parametrize(
    "values, expected",
    [([3.0], 3.0), ([2.0, 3.0, math.inf], 3.0), ([2.0, math.inf], None), ([1.0, 2.0], 1.5)],
)
def test_the_median_time_to_target_counts_a_run_that_never_reaches_it_as_infinite(values, expected):
    assert median_or_none(values) == expected


def test_time_to_target_sums_the_seconds_of_the_epochs_up_to_the_first_reaching_one():
    val = ((1, 0.5), (2, 0.91), (3, 0.95))
    seconds = ((1, 2.0), (2, 3.0), (3, 4.0))
    assert reports.time_to_target(val, seconds, Objective(target=0.9)) == (2.0, 5.0)
    assert reports.time_to_target(val, seconds, Objective(target=0.99)) == (math.inf, math.inf)


def test_mean_and_std_use_the_sample_std_and_nan_for_one_value():
    assert reports.mean_and_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    mean, std = reports.mean_and_std([0.7])
    assert mean == 0.7 and math.isnan(std)
    assert all(math.isnan(value) for value in reports.mean_and_std([]))


def test_a_study_report_writes_its_files_and_names_the_winner(store, tmp_path):
    report = reports.write_study_report(store["tracker"], store["scratch"], tmp_path / "s")
    assert report.winner == "dals"
    assert report.winner_value == pytest.approx(2.72 / 3)
    names = [path.name for path in report.files]
    assert names == ["leaderboard.csv", "leaderboard.md", "learning_curves.png", "lr_heatmap.png"]
    assert all(path.stat().st_size > 0 for path in report.files)
    with (tmp_path / "s" / "leaderboard.csv").open() as file:
        table = list(csv.DictReader(file))
    assert [row["strategy"] for row in table] == ["dals", "adamw", "fixed_sgd", "sgd"]
    assert float(table[0]["val_acc_mean"]) == pytest.approx(2.72 / 3)
    assert table[1]["epochs_to_target"] == "" and table[2]["val_acc_std"] == ""
    markdown = (tmp_path / "s" / "leaderboard.md").read_text()
    assert "0.9067 ± 0.0416" in markdown and "not reached" in markdown
    assert "ranked last: all 2 trials diverged or errored" in markdown


def test_a_study_whose_strategies_all_failed_has_no_winner(store, tmp_path):
    report = reports.write_study_report(store["tracker"], store["failed"], tmp_path / "report")
    assert report.winner is None and math.isnan(report.winner_value)
    assert [path.name for path in report.files] == [
        "leaderboard.csv",
        "leaderboard.md",
        "learning_curves.png",
    ]


def test_performance_profile_by_hand():
    # Study 1: errors a 0.1, b 0.2, c failed; study 2: a 0.3, b 0.15, c missing.
    errors = [{"a": 0.1, "b": 0.2, "c": math.inf}, {"a": 0.3, "b": 0.15}]
    ratios = reports.performance_ratios(errors)
    assert ratios[0] == {"a": 1.0, "b": pytest.approx(2.0), "c": math.inf}
    assert ratios[1] == {"a": pytest.approx(2.0), "b": 1.0, "c": math.inf}
    profile = reports.performance_profile(errors, taus=[1.0, 1.5, 2.5])
    assert profile == {"a": [0.5, 0.5, 1.0], "b": [0.5, 0.5, 1.0], "c": [0.0, 0.0, 0.0]}
    # A perfect score does not divide by zero: ε stands in for the zero error.
    assert reports.performance_ratios([{"a": 0.0, "b": 1e-5}])[0]["b"] == pytest.approx(10.0)


def test_write_reports_covers_every_study_and_counts_the_latest_finished_ones(store):
    out: Path = store["out"]
    written = reports.write_reports(out)
    folder = out / "reports"
    assert all(path.is_file() and folder in path.parents for path in written)
    study_folders = {path.parent.name for path in written if path.parent != folder}
    assert study_folders == {
        f"{workload}-{regime}-{store[key][:8]}"
        for key, workload, regime in [
            ("old", "synthetic", "scratch"),
            ("scratch", "synthetic", "scratch"),
            ("finetune", "synthetic", "finetune"),
            ("running", "synthetic", "scratch"),
            ("failed", "other", "scratch"),
        ]
    }
    assert not list(out.glob(".reports-*"))

    with (folder / "winners.csv").open() as file:
        winners = list(csv.DictReader(file))
    assert [(row["regime"], row["winner"], row["run_id"]) for row in winners] == [
        ("finetune", "adamw", store["finetune"]),
        ("scratch", "dals", store["scratch"]),
    ]
    assert winners[1]["dataset"] == "synthetic-ds"
    assert float(winners[1]["test_acc_mean"]) == pytest.approx(0.89)
    assert "0.9067 ± 0.0416" in (folder / "winners.md").read_text()
    # scratch: dals 0.9067 ± 0.0416 leads adamw 0.9000 ± 0.0141 by 0.0067 / 0.0416 = 0.16
    # stds. Target 0.9: dals's median re-run reaches it (2 of 3 do), adamw's does not (1 of
    # 2), fixed_sgd's trial does not, sgd diverged. finetune: adamw ties dals at 0.85 (one
    # seed each, no std); target 0.8 reached by adamw, dals and lion, not by unrun rmsprop.
    finetune, scratch = winners
    assert (scratch["runner_up"], float(scratch["runner_up_val_acc_mean"])) == ("adamw", 0.9)
    # ... and the seeds cannot separate the two: a tie, in either study.
    assert (scratch["tied_with"], finetune["tied_with"]) == ("adamw", "dals")
    assert float(scratch["lead_in_stds"]) == pytest.approx(0.00667 / 0.04163, abs=1e-3)
    assert (scratch["target_accuracy"], scratch["reached"], scratch["strategies"]) == (
        "0.9", "1", "4",
    )  # fmt: skip
    assert (finetune["runner_up"], finetune["lead_in_stds"]) == ("dals", "")  # NaN: no std
    assert (finetune["reached"], finetune["strategies"]) == ("3", "4")
    assert all(float(row["minutes"]) > 0 for row in winners)
    markdown = (folder / "winners.md").read_text()
    assert "| 0.2 | 0.90 | 1 of 4 |" in markdown and "| — | 0.80 | 3 of 4 |" in markdown

    # The rank matrix: every strategy's rank and accuracy per study, in mean-rank order.
    with (folder / "ranks.csv").open() as file:
        cells = [(row["regime"], row["strategy"], row["rank"]) for row in csv.DictReader(file)]
    # Both studies' first places are ties (dals and adamw), so both strategies rank 1 twice.
    assert cells == [
        ("finetune", "adamw", "1"), ("scratch", "adamw", "1"),
        ("finetune", "dals", "1"), ("scratch", "dals", "1"),
        ("scratch", "fixed_sgd", "3"), ("finetune", "lion", "3"),
        ("finetune", "rmsprop", "4"), ("scratch", "sgd", "4"),
    ]  # fmt: skip
    matrix = (folder / "ranks.md").read_text()
    assert "| strategy | synthetic / finetune | synthetic / scratch |" in matrix
    assert "| dals | #1: 0.8500 | #1: 0.9067 ± 0.0416 |" in matrix
    assert "| lion | #3: 0.8000 | — |" in matrix

    with (folder / "mean_rank.csv").open() as file:
        ranks = [
            (row["strategy"], float(row["mean_rank"]), int(row["studies"]), int(row["wins"]))
            for row in csv.DictReader(file)
        ]
    assert ranks == [
        ("adamw", 1.0, 2, 2),
        ("dals", 1.0, 2, 2),
        ("fixed_sgd", 3.0, 1, 0),
        ("lion", 3.0, 1, 0),
        ("rmsprop", 4.0, 1, 0),
        ("sgd", 4.0, 1, 0),
    ]

    # Errors 1 − test mean. scratch: dals 0.11, adamw 0.12, fixed_sgd 0.26, sgd failed;
    # finetune: lion 0.14, dals 0.16, adamw 0.20, rmsprop failed. Absent strategies: ∞. dals
    # and adamw share both first places, so their ratio is 1 in both: a shared win.
    with (folder / "performance_profile.csv").open() as file:
        profile = list(csv.DictReader(file))
    assert len(profile) == len(PROFILE_TAUS) == 301
    at_one, at_four = profile[0], profile[-1]
    assert float(at_one["tau"]) == 1.0 and float(at_four["tau"]) == 4.0
    expected_at_one = {"adamw": 1, "dals": 1, "fixed_sgd": 0, "lion": 0.5, "rmsprop": 0, "sgd": 0}
    expected_at_four = {
        "adamw": 1,
        "dals": 1,
        "fixed_sgd": 0.5,
        "lion": 0.5,
        "rmsprop": 0,
        "sgd": 0,
    }
    assert {key: float(at_one[key]) for key in expected_at_one} == expected_at_one
    assert {key: float(at_four[key]) for key in expected_at_four} == expected_at_four
    # fixed_sgd's ratio: 0.26/0.11 = 2.3636 (scratch); it did not run the finetune study.
    steps = {
        round(float(profile[index]["tau"]), 2): float(profile[index]["fixed_sgd"])
        for index in (136, 137)
    }
    assert steps == {2.36: 0.0, 2.37: 0.5}
    for name in ("winners.md", "mean_rank.md", "ranks.md", "performance_profile.png"):
        assert (folder / name) in written


def test_a_failing_report_leaves_the_previous_reports_folder_as_it_was(store, monkeypatch):
    out = store["out"]
    (out / "reports").mkdir(exist_ok=True)
    (out / "reports" / "earlier.txt").write_text("kept")
    calls = []

    def fail_on_second_study(*args):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return write_study_files(*args)

    monkeypatch.setattr(store_report, "write_study_files", fail_on_second_study)
    with pytest.raises(RuntimeError, match="disk full"):
        reports.write_reports(out)
    assert (out / "reports" / "earlier.txt").read_text() == "kept"
    assert not list(out.glob(".reports-*"))


def test_the_report_command_writes_the_cross_study_files(store, capsys):
    out = store["out"]
    shutil.rmtree(out / "reports", ignore_errors=True)  # what an earlier test wrote
    assert main(["report", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    for name in ("winners.csv", "mean_rank.csv", "performance_profile.png"):
        assert str(out / "reports" / name) in printed
        assert (out / "reports" / name).is_file()
    with (out / "reports" / "winners.csv").open() as file:
        winners = [(row["regime"], row["winner"]) for row in csv.DictReader(file)]
    assert winners == [("finetune", "adamw"), ("scratch", "dals")]  # the store's studies


def test_studies_md_names_each_counted_studys_commit_command_and_wall_time(store):
    written = reports.write_reports(store["out"])
    folder = store["out"] / "reports"
    assert {folder / "studies.csv", folder / "studies.md"} <= set(written)
    with (folder / "studies.csv").open() as file:
        rows = list(csv.DictReader(file))
    # The latest finished study of each regime, as winners.csv counts them.
    assert [(row["regime"], row["run_id"]) for row in rows] == [
        ("finetune", store["finetune"]),
        ("scratch", store["scratch"]),
    ]
    parent = store["tracker"].client.get_run(store["scratch"])
    scratch = rows[1]
    assert scratch["commit"] == parent.data.tags["git_commit"]
    assert scratch["command"] == parent.data.tags["dals.command"]
    # These studies were logged without the driver, which alone knows the cluster.
    assert scratch["hardware"] == "not recorded"
    minutes = (parent.info.end_time - parent.info.start_time) / 60_000
    assert float(scratch["minutes"]) == pytest.approx(minutes)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime(parent.info.start_time / 1000))
    assert scratch["started_utc"] == started
    markdown = (folder / "studies.md").read_text()
    assert f"| `{store['scratch']}` | {started} |" in markdown
    assert f"`{parent.data.tags['git_commit'][:7]}`" in markdown


def test_a_benchmarks_pilot_is_never_its_workloads_latest_study():
    def study(run_id, start, status="FINISHED", **tags):
        tags = {"workload": "cifar10", "regime": "scratch", **tags}
        return {"run_id": run_id, "status": status, "start_time": start, "tags": tags}

    pilot = study("pilot", 2, **{"dals.pilot_for": "cifar10/scratch"})
    # While the main study runs, its finished pilot is newer than the last finished study.
    assert latest_finished([study("old", 1), pilot, study("main", 3, "RUNNING")]) == [
        study("old", 1)
    ]
    assert latest_finished([pilot]) == []


def test_report_without_a_store_is_one_line_and_creates_nothing(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", "--out", str(empty)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert f"no study store at {empty / 'mlflow.db'}" in error
    assert "python -m dals_tune search --out" in error
    assert list(empty.iterdir()) == []
    assert main(["report", "--out", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / "missing").exists()


def test_a_new_report_keeps_the_recommendation_files(tmp_path):
    """``recommend`` writes into ``reports/``; ``report`` swaps that folder but keeps them."""
    from dals_tune.reports.store_report import _keep_recommendation

    final, staging = tmp_path / "reports", tmp_path / "staging"
    final.mkdir()
    staging.mkdir()
    (final / "recommendation.md").write_text("# try dals first\n")
    (final / "winners.md").write_text("old\n")
    _keep_recommendation(final, staging)
    assert (staging / "recommendation.md").read_text() == "# try dals first\n"
    assert not (staging / "winners.md").exists()  # the report's own files are written anew


def leader(mean: float, std: float) -> LeaderboardRow:
    return LeaderboardRow(
        rank=1, strategy="s", generation="g", val_mean=mean, val_std=std,
        test_mean=mean, test_std=std, seeds=2, trials=1, epochs_spent=1,
        best_trial_val=mean, default_val=None, tuned_beats_default=None,
        epochs_to_target=None, seconds_to_target=None, failed=False, note="",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("winner", "runner_up", "expected"),
    [
        ((0.80, 0.02), (0.74, 0.03), 2.0),  # the larger std divides
        ((0.80, 0.0), (0.70, 0.0), math.inf),  # two identical seeds each, a real lead
        ((0.80, 0.0), (0.80, 0.0), 0.0),  # an exact tie
        ((0.80, math.nan), (0.70, 0.01), math.nan),  # one seed: no spread was measured
    ],
)
def test_the_winners_lead_is_counted_in_the_larger_std(winner, runner_up, expected):
    lead = reports.lead_in_stds(leader(*winner), leader(*runner_up), ACCURACY)
    assert lead == pytest.approx(expected, nan_ok=True)


# ----- a minimised metric: an RMSE study, and one beside an accuracy study -------------------


def rmse_epochs(val: list[float], test: list[float]) -> list[dict]:
    """Per-epoch records as a regression trial minimising RMSE reports them."""
    records, best, at_best = [], math.inf, math.nan
    for index, (val_rmse, test_rmse) in enumerate(zip(val, test)):
        if val_rmse < best:
            best, at_best = val_rmse, test_rmse
        records.append(
            {
                "epoch": index + 1,
                "val_rmse": val_rmse,
                "test_rmse": test_rmse,
                "val_loss": val_rmse**2,
                "train_loss": val_rmse**2,
                "best_val_rmse": best,
                "test_rmse_at_best_val": at_best,
                "epoch_seconds": 1.0,
                "lr": 0.1 / (index + 1),
            }
        )
    return records


def start_rmse(tracker: Tracker, workload: str = "regress", target: float = 0.3) -> str:
    tags = {"dataset": "regress-ds", "regime": "scratch", "model": "mlp", "seed": 0}
    objective = Objective("rmse", "min", target).describe()
    parent = tracker.start_study(workload, {**tags, **objective}, {"strategies": "dals,adamw,sgd"})
    time.sleep(0.01)
    return parent


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory) -> dict:
    """An RMSE study (dals 0.265 beats adamw 0.34: lower is better; sgd diverged) and an
    accuracy study (adamw 0.90 beats dals 0.85), both finished."""
    out = tmp_path_factory.mktemp("mixed")
    tracker = open_store(out)

    rmse = start_rmse(tracker)
    trial(tracker, rmse, "t1", "dals", rmse_epochs([0.6, 0.4], [0.6, 0.4]), default=1)
    trial(tracker, rmse, "t2", "dals", rmse_epochs([0.5, 0.3], [0.5, 0.3]))
    rerun(tracker, rmse, "dals", 1, rmse_epochs([0.5, 0.3, 0.25], [0.52, 0.31, 0.27]))
    rerun(tracker, rmse, "dals", 2, rmse_epochs([0.45, 0.28, 0.29], [0.46, 0.30, 0.31]))
    trial(tracker, rmse, "u1", "adamw", rmse_epochs([0.45, 0.36], [0.45, 0.36]))
    rerun(tracker, rmse, "adamw", 1, rmse_epochs([0.4, 0.35], [0.41, 0.37]))
    rerun(tracker, rmse, "adamw", 2, rmse_epochs([0.38, 0.33], [0.39, 0.35]))
    diverged = [{"epoch": 1, "train_loss": math.nan, "epoch_seconds": 1.0}]
    trial(tracker, rmse, "v1", "sgd", diverged, status="diverged")
    report = write_study_files(tracker, load_study(tracker, rmse), out / "rmse-report")
    tracker.finish_study(rmse, report.winner, report.winner_value)

    accuracy = start(tracker, "scratch", "dals,adamw", target=0.9)
    rerun(tracker, accuracy, "dals", 1, epochs_of([0.8, 0.85], [0.8, 0.82]))
    rerun(tracker, accuracy, "adamw", 1, epochs_of([0.85, 0.9], [0.84, 0.88]))
    tracker.finish_study(accuracy, "adamw", 0.9)
    return {"out": out, "tracker": tracker, "rmse": rmse, "report": report}


def test_an_rmse_study_ranks_ascending_and_its_target_is_reached_from_above(mixed_store):
    rows = reports.study_leaderboard(mixed_store["tracker"], mixed_store["rmse"])
    # dals 0.265 ± 0.021 is lower than adamw 0.34 ± 0.014, but with two seeds each Welch's test
    # (t = 4.16, ν = 1.7, p = 0.06) cannot separate them: they share rank 1, dals listed first.
    assert [(row.rank, row.strategy) for row in rows] == [(1, "dals"), (1, "adamw"), (3, "sgd")]
    dals, adamw, sgd = rows
    assert (dals.tied_with, adamw.tied_with) == ("adamw", "dals")
    # dals's re-runs: best (lowest) val 0.25 and 0.28, test 0.27 and 0.30 at those epochs.
    assert dals.val_mean == pytest.approx(0.265) and dals.test_mean == pytest.approx(0.285)
    assert adamw.val_mean == pytest.approx(0.34) and adamw.test_mean == pytest.approx(0.36)
    # Best trial: the lower of 0.4 (the default) and 0.3; tuned beats default by being lower.
    assert dals.best_trial_val == pytest.approx(0.3) and dals.default_val == pytest.approx(0.4)
    assert dals.tuned_beats_default is True
    # Target 0.3: both dals re-runs are at or below it at epoch 2; adamw's never get there.
    assert (dals.epochs_to_target, dals.seconds_to_target) == (2, 2.0)
    assert adamw.epochs_to_target is None
    assert sgd.failed and sgd.note.startswith("ranked last: its one trial diverged")


def test_time_to_target_of_a_minimised_metric_is_the_first_epoch_at_or_below_it():
    val = ((1, 0.5), (2, 0.3), (3, 0.2))
    seconds = ((1, 2.0), (2, 3.0), (3, 4.0))
    assert reports.time_to_target(val, seconds, Objective("rmse", "min", 0.3)) == (2.0, 5.0)
    assert reports.time_to_target(val, seconds, Objective("rmse", "min", 0.1)) == (
        math.inf,
        math.inf,
    )


def test_an_rmse_studys_files_and_winner_tag_name_the_metric(mixed_store):
    report = mixed_store["report"]
    assert (report.winner, report.objective.metric) == ("dals", "rmse")
    assert report.winner_value == pytest.approx(0.265)
    with (mixed_store["out"] / "rmse-report" / "leaderboard.csv").open() as file:
        reader = csv.DictReader(file)
        table = list(reader)
    assert {"val_rmse_mean", "test_rmse_std", "best_trial_val_rmse", "default_val_rmse"} <= set(
        reader.fieldnames
    )
    assert not any("acc" in name for name in reader.fieldnames)
    assert float(table[0]["val_rmse_mean"]) == pytest.approx(0.265)
    markdown = (mixed_store["out"] / "rmse-report" / "leaderboard.md").read_text()
    assert "| val rmse |" in markdown and "lower is better" in markdown
    assert "validation rmse ≤ target" in markdown

    tags = mixed_store["tracker"].run(mixed_store["rmse"])["tags"]
    metrics = mixed_store["tracker"].run(mixed_store["rmse"])["metrics"]
    assert float(tags["dals.winner_val_rmse"]) == pytest.approx(0.265)
    assert "dals.winner_val_acc" not in tags
    assert metrics["winner_val_rmse"] == pytest.approx(0.265)


def test_a_minimised_metrics_error_is_its_test_value():
    rows = [leader(0.2, 0.01), replace(leader(0.3, 0.01), strategy="t", rank=2)]
    assert reports.study_errors(rows, Objective("rmse", "min")) == {"s": 0.2, "t": 0.3}
    assert reports.study_errors(rows, ACCURACY) == {
        "s": pytest.approx(0.8),
        "t": pytest.approx(0.7),
    }
    # The winner's lead is counted toward lower values: (0.3 − 0.2) / 0.01 = 10 stds.
    lead = reports.lead_in_stds(rows[0], rows[1], Objective("rmse", "min"))
    assert lead == pytest.approx(10.0)


def test_cross_study_files_over_a_max_and_a_min_study_rank_each_in_its_direction(mixed_store):
    out = mixed_store["out"]
    reports.write_reports(out)
    folder = out / "reports"
    with (folder / "mean_rank.csv").open() as file:
        ranks = [(row["strategy"], float(row["mean_rank"])) for row in csv.DictReader(file)]
    # dals leads the RMSE study (lower), tied with adamw, and adamw wins the accuracy one (single
    # runs, 0.90 against 0.85, no validation size: no noise floor): 1.0 and 1.5, sgd last.
    assert ranks == [("adamw", 1.0), ("dals", 1.5), ("sgd", 3.0)]

    with (folder / "winners.csv").open() as file:
        reader = csv.DictReader(file)
        winners = {row["workload"]: row for row in reader}
    # Different metrics: neutral columns, each row with its own metric and direction.
    assert {"val_mean", "target", "metric", "metric_mode"} <= set(reader.fieldnames)
    assert (winners["regress"]["winner"], winners["regress"]["metric_mode"]) == ("dals", "min")
    assert (winners["synthetic"]["winner"], winners["synthetic"]["metric"]) == ("adamw", "acc")
    # regress: lead (0.34 − 0.265) / max(std) with stds of (0.25, 0.28) and (0.35, 0.33).
    stds = (math.sqrt(2 * 0.015**2), math.sqrt(2 * 0.01**2))
    assert float(winners["regress"]["lead_in_stds"]) == pytest.approx(0.075 / max(stds))
    assert float(winners["regress"]["target"]) == 0.3

    # Errors: regress dals 0.285, adamw 0.36 (the test RMSE), sgd failed; synthetic
    # adamw 1 − 0.88 = 0.12, dals 1 − 0.82 = 0.18. Ratios: adamw 1 (a share of the tied first
    # place, not 0.36/0.285 = 1.263) and 1; dals 1 and 1.5.
    with (folder / "performance_profile.csv").open() as file:
        profile = {round(float(row["tau"]), 2): row for row in csv.DictReader(file)}
    assert {name: float(profile[1.0][name]) for name in ("adamw", "dals", "sgd")} == {
        "adamw": 1.0,
        "dals": 0.5,
        "sgd": 0.0,
    }
    assert (float(profile[1.49]["dals"]), float(profile[1.51]["dals"])) == (0.5, 1.0)
