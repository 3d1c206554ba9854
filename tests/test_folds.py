"""k-fold selection (``--folds K``, docs/workloads.md "k-fold selection"): how the folds are
dealt, the workloads built on them, the trial's fold mean, its checkpoint, the study's
warning about a small validation split, and a study end to end on a tiny CSV."""

from __future__ import annotations

import csv
import dataclasses
import math
import shutil
from pathlib import Path

import dataset_fixtures as fixtures
import numpy as np
import pytest
import torch
from trial_probe import CHECKPOINT_FILE, TIMING_KEYS

import dals_tune
from dals_tune import tracking
from dals_tune.cli import main
from dals_tune.fold_means import fold_mean
from dals_tune.objective import ACCURACY, Objective
from dals_tune.study import SearchSettings
from dals_tune.study.preflight import check, small_validation_warning
from dals_tune.training import train
from dals_tune.workloads import Split, build_workload
from dals_tune.workloads.config import read_config
from dals_tune.workloads.folds import check_fold_count, fold_assignment, fold_split
from dals_tune.workloads.seeding import FOLD_STREAM, seeded_rng

QUICK = {"workload": "synthetic", "subset": 300, "eval_subset": 100, "device": "cpu"}


def without_timing(epochs: list[dict]) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k not in TIMING_KEYS} for epoch in epochs]


# ----- dealing the folds ---------------------------------------------------------------------


def test_stratified_folds_give_each_class_its_share_by_the_round_robin_deal():
    """Seven of class 0 and five of class 1 in class order, dealt to fold i mod 3: class 0
    takes positions 0-6 (folds 0,1,2,0,1,2,0: 3, 2, 2 per fold), class 1 positions 7-11
    (folds 1,2,0,1,2: 1, 2, 2), so every fold holds 4."""
    labels = np.array([1, 0] * 5 + [0, 0])  # 7 zeros, 5 ones, interleaved
    folds = fold_assignment(labels, 3, np.random.default_rng(0))
    per_fold = [np.bincount(labels[folds == k], minlength=2).tolist() for k in range(3)]
    assert per_fold == [[3, 1], [2, 2], [2, 2]]


def test_real_valued_targets_are_dealt_without_classes():
    """Ten examples into three folds: positions 0, 3, 6, 9 go to fold 0, the rest three each."""
    targets = np.linspace(0.0, 1.0, 10)
    folds = fold_assignment(targets, 3, np.random.default_rng(0))
    assert np.bincount(folds).tolist() == [4, 3, 3]


def test_folds_are_disjoint_cover_the_pool_and_follow_the_seed():
    labels = torch.arange(60) % 3
    pool = Split(inputs=torch.arange(60).unsqueeze(1).float(), labels=labels)
    seen = []
    for fold in range(4):
        train_part, val_part = fold_split(pool, 4, fold, seed=7)
        rows = set(val_part.inputs[:, 0].tolist())
        assert rows.isdisjoint(set(train_part.inputs[:, 0].tolist()))
        assert len(rows) + len(train_part) == 60
        assert np.bincount(val_part.labels.numpy()).tolist() == [5, 5, 5]  # 20 per class / 4
        seen.append(rows)
    assert set().union(*seen) == set(range(60)) and sum(map(len, seen)) == 60

    def folds(seed: int) -> list[int]:
        return fold_assignment(labels.numpy(), 4, seeded_rng(seed, FOLD_STREAM)).tolist()

    assert folds(7) == folds(7)
    assert folds(7) != folds(8)


def test_more_folds_than_a_class_has_examples_are_refused():
    labels = np.array([0] * 6 + [1] * 2)
    check_fold_count(labels, 2)
    with pytest.raises(ValueError, match="--folds 3 needs at least 3 examples of every class"):
        check_fold_count(labels, 3)
    with pytest.raises(ValueError, match="class 1 has 2; use --folds 2 or fewer"):
        check_fold_count(labels, 3)
    with pytest.raises(ValueError, match="needs at least 9 training examples, there are 8"):
        check_fold_count(labels.astype(float), 9)


# ----- the workloads built on the folds ------------------------------------------------------


def test_a_csv_fold_is_standardized_with_its_own_training_part(tmp_path):
    """Fold k trains on the other folds of the pool (the CSV minus its test split) and
    validates on fold k; its features are scaled by its own training statistics, so no
    statistic of the fold it validates on leaks into training."""
    table = fixtures.write_numeric_csv(tmp_path / "table.csv", rows=150)
    config = {"workload": f"csv:{table}", "folds": 3, "device": "cpu"}
    validated = []
    for fold in range(3):
        workload = build_workload(config, fold)
        facts = workload.describe()
        assert (facts["folds"], facts["fold"], facts["pool_size"]) == (3, fold, 120)
        assert facts["train_size"] + facts["val_size"] == 120 and facts["test_size"] == 30
        inputs = workload.train_split.inputs
        assert torch.allclose(inputs.mean(dim=0), torch.zeros(3), atol=1e-5)
        validated.append(workload.val_split.labels.bincount(minlength=3))
    # Stratified: each class's count in a fold is a third of the pool's, rounded down or up.
    pool_counts = sum(validated)
    for counts in validated:
        assert all(abs(int(c) - int(n) / 3) < 1 for c, n in zip(counts, pool_counts))


def test_a_users_tensor_splits_are_pooled_and_their_test_split_kept():
    x = torch.linspace(-1, 1, 60).unsqueeze(1)
    definition = dals_tune.workload(
        name="line", model=lambda: torch.nn.Linear(1, 1),
        train=(x[:40], 3 * x[:40, 0]), val=(x[40:50], 3 * x[40:50, 0]),
        test=(x[50:], 3 * x[50:, 0]), loss="mse", metric="rmse", batch_size=8,
    )  # fmt: skip
    validated = []
    for fold in range(4):
        workload = definition.realise(read_config({"workload": "line", "folds": 4}, fold))
        assert workload.details["pool_size"] == 50
        assert torch.equal(workload.test_split.inputs, x[50:])
        validated.append(set(workload.val_split.inputs[:, 0].tolist()))
    assert [len(rows) for rows in validated] == [13, 13, 12, 12]  # 50 dealt round robin
    assert set().union(*validated) == set(x[:50, 0].tolist())


def test_the_synthetic_workloads_carve_their_folds():
    for workload_id in ("synthetic", "synthetic_gauss10"):
        workload = build_workload({"workload": workload_id, "folds": 2, "device": "cpu"}, 1)
        assert (workload.details["folds"], workload.details["fold"]) == (2, 1)
        assert len(workload.val_split) == workload.details["pool_size"] // 2


# ----- a trial on K folds --------------------------------------------------------------------


def test_the_fold_mean_of_hand_made_evaluations():
    evaluations = [
        {"val_loss": 1.0, "val_acc": 0.50, "test_loss": 2.0, "test_acc": 0.40},
        {"val_loss": 3.0, "val_acc": 0.70, "test_loss": 4.0, "test_acc": 0.60},
    ]
    mean = fold_mean(evaluations, ACCURACY)
    assert mean == pytest.approx({
        "val_loss": 2.0, "val_acc": 0.60, "test_loss": 3.0, "test_acc": 0.50,
        "val_acc_fold0": 0.50, "test_acc_fold0": 0.40,
        "val_acc_fold1": 0.70, "test_acc_fold1": 0.60,
    })  # fmt: skip
    assert fold_mean(evaluations[:1], Objective("rmse", "min")) == evaluations[0]


def test_a_trial_on_three_folds_reports_their_mean_each_epoch():
    record = train({**QUICK, "folds": 3, "strategy": "adamw", "epochs": 2})
    assert record.status == "completed" and record.workload["folds"] == 3
    for epoch in record.epochs:
        for key in ("val_acc", "test_acc"):
            folds = [epoch[f"{key}_fold{k}"] for k in range(3)]
            assert epoch[key] == pytest.approx(sum(folds) / 3)
            assert len(set(folds)) > 1, "each fold model validates on its own fold"
    best = max(record.epochs, key=lambda epoch: epoch["val_acc"])
    assert record.final["best_val_acc"] == best["val_acc"]
    assert record.final["test_acc_at_best_val"] == best["test_acc"]


def test_a_trial_on_folds_resumes_every_fold_and_takes_new_hyperparameters(tmp_path):
    config = {**QUICK, "folds": 2, "strategy": "adamw", "epochs": 2, "lr": 0.001}

    def keep(metrics: dict, folder: Path) -> None:
        shutil.copytree(folder, tmp_path / f"epoch{metrics['epoch']}")

    full = train(config, report=keep)
    saved = torch.load(tmp_path / "epoch1" / CHECKPOINT_FILE, weights_only=False)
    assert len(saved["model"]) == len(saved["optimizer"]) == 2  # one state per fold
    resumed = train(config, resume_from=tmp_path / "epoch1")
    assert without_timing(resumed.epochs) == without_timing(full.epochs)

    def resumed_lr(folder: Path) -> list[float]:
        state = torch.load(folder / CHECKPOINT_FILE, weights_only=False)
        return [optimizer["param_groups"][0]["lr"] for optimizer in state["optimizer"]]

    # PBT: a trial restored from a checkpoint runs on with its new config's LR, every fold.
    train(
        {**config, "lr": 0.004}, report=keep_in(tmp_path / "pbt"), resume_from=tmp_path / "epoch1"
    )
    unchanged = resumed_lr(tmp_path / "epoch2")
    assert resumed_lr(tmp_path / "pbt") == pytest.approx([4 * lr for lr in unchanged])
    with pytest.raises(ValueError, match=r"it holds 2 model state\(s\), this trial trains 3"):
        train({**config, "folds": 3}, resume_from=tmp_path / "epoch1")


def keep_in(folder: Path):
    def keep(metrics: dict, checkpoint: Path) -> None:
        shutil.copytree(checkpoint, folder, dirs_exist_ok=True)

    return keep


# ----- the study's warning -------------------------------------------------------------------


def test_a_small_validation_split_is_one_warning_line_unless_folds_are_on(tmp_path):
    table = fixtures.write_numeric_csv(tmp_path / "table.csv", rows=100)
    settings = SearchSettings(
        workload=f"csv:{table}", strategies=("adamw",), out=str(tmp_path / "runs")
    )
    (warning,) = check(settings).warnings
    assert warning == (
        "warning: the validation split has 8 examples; one example moves validation accuracy "
        "by 1/8 = 0.125, and strategies closer than that tie; consider --folds 5 (the mean "
        "over 5 folds of the training data)"
    )
    assert check(dataclasses.replace(settings, folds=5)).warnings == ()
    assert not (tmp_path / "runs").exists()


def test_the_warning_suggests_what_the_workload_can_do():
    facts = {"val_size": 50, "metric": "rmse"}
    line = small_validation_warning(SearchSettings(workload="cifar10", eval_subset=50), facts)
    assert line.endswith("50 examples; too few to tell close strategies apart; consider a "
                         "larger --eval-subset")  # fmt: skip
    assert small_validation_warning(SearchSettings(), {"val_size": 100, "metric": "acc"}) is None


# ----- a study end to end --------------------------------------------------------------------


@pytest.mark.slow
def test_a_study_on_five_folds_of_a_tiny_csv_selects_on_the_fold_mean_and_reports_ties(
    tmp_path, capsys
):
    # Adam and AdamW at their defaults (AdamW's decay is lr·0.01 a step) on the same seeds'
    # folds: the re-runs cannot separate them, so the first place is a tie of the two.
    table = fixtures.write_numeric_csv(tmp_path / "tiny.csv", rows=90)
    out = tmp_path / "runs"
    code = main(
        [
            "search", "--workload", f"csv:{table}", "--folds", "5",
            "--strategies", "adam,adamw", "--samples", "1", "--max-epochs", "2",
            "--seeds", "2", "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "2 epochs of 5 folds" in printed and "warning: the validation" not in printed
    assert "tie for first place: " in printed
    tracker = tracking.open_store(out)
    (study,) = tracker.all_studies()
    assert study["status"] == "FINISHED" and study["params"]["folds"] == "5"
    winner, tied = study["tags"]["dals.winner"], study["tags"]["dals.tied_with"]
    assert {winner, tied} == {"adam", "adamw"}
    runs = tracker.trials_of(study["run_id"])
    assert len(runs) == 6  # the default trial and 2 seed re-runs per strategy
    for run in runs:
        metrics = run["metrics"]
        folds = [metrics[f"val_acc_fold{k}"] for k in range(5)]
        assert metrics["val_acc"] == pytest.approx(sum(folds) / 5)
        history = tracker.metric_history(run["run_id"], "val_acc_fold4")
        assert [step for step, _ in history] == list(range(1, len(history) + 1))
        assert all(math.isfinite(value) for _, value in history)
    reruns = [run for run in runs if run["tags"]["kind"] == "rerun"]
    assert {run["tags"]["seed"] for run in reruns} == {"1", "2"}
    assert all(len(tracker.metric_history(run["run_id"], "val_acc")) == 2 for run in reruns)
    (folder,) = (out / "studies").iterdir()
    with (folder / "leaderboard.csv").open() as file:
        board = {row["strategy"]: row for row in csv.DictReader(file)}
    assert (board["adam"]["rank"], board["adamw"]["rank"]) == ("1", "1")
    assert (board["adam"]["tied_with"], board["adamw"]["tied_with"]) == ("adamw", "adam")
