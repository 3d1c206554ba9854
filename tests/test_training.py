"""One trial end to end: metrics, resume, divergence, seeding, the CLI and Ray Tune."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from dals_tune.cli import main
from dals_tune.training import train

QUICK = {"workload": "synthetic", "subset": 2000, "eval_subset": 500, "seed": 3}
TIMING_KEYS = {"epoch_seconds", "samples_per_second"}


def without_timing(epochs: list[dict]) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k not in TIMING_KEYS} for epoch in epochs]


def test_a_dals_trial_reports_every_epoch_with_the_promised_metrics():
    reports = []
    record = train(
        {**QUICK, "strategy": "dals", "epochs": 2},
        report=lambda metrics, folder: reports.append(metrics),
    )
    assert record.status == "completed" and len(reports) == 2
    last = reports[-1]
    for key in (
        "epoch",
        "train_loss",
        "val_loss",
        "val_acc",
        "test_acc",
        "best_val_acc",
        "test_acc_at_best_val",
        "epoch_seconds",
        "samples_per_second",
        "phase",
        "trust_ratio",
        "grad_norm_l1_mean",
        "grad_norm_l2_mean",
    ):
        assert key in last, key
    assert last["epoch"] == 2 and last["status"] == "completed"
    assert any(key.startswith("lr/") for key in last)  # one LR per depth group
    assert any(key.startswith("trust_ratio/") for key in last)
    best = max(reports, key=lambda m: m["val_acc"])
    assert last["test_acc_at_best_val"] == best["test_acc"]
    assert len(record.grad_norms_l2) == len(record.grad_norms_l1) > 0
    assert record.workload["subset"] == 2000 and record.workload["train_size"] == 2000
    assert record.workload["eval_subset"] == 500 and record.workload["full_train_size"] == 18000


def test_the_readme_command_reaches_90_percent_on_synthetic(capsys):
    """`python -m dals_tune train --workload synthetic --strategy dals --epochs 5`."""
    assert main(["train", "--workload", "synthetic", "--strategy", "dals", "--epochs", "5"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("test_acc_at_best_val=")
    assert float(last.split("=")[1]) >= 0.90


def test_bf16_autocast_runs_and_stays_finite():
    record = train({**QUICK, "strategy": "adamw", "epochs": 1, "precision": "bf16"})
    assert record.status == "completed"
    assert math.isfinite(record.final["train_loss"]) and record.final["val_acc"] > 0.5


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(tmp_path: Path):
    config = {**QUICK, "strategy": "dals_fast", "epochs": 3}
    full = train(config)

    class Interrupted(Exception):
        pass

    def stop_after_first_epoch(metrics: dict, folder: Path) -> None:
        shutil.copytree(folder, tmp_path / "checkpoint")
        raise Interrupted

    with pytest.raises(Interrupted):
        train(config, report=stop_after_first_epoch)
    resumed = train(config, resume_from=tmp_path / "checkpoint")
    assert without_timing(resumed.epochs) == without_timing(full.epochs)
    assert resumed.grad_norms_l2 == full.grad_norms_l2


def test_the_same_seed_gives_the_same_metrics():
    config = {**QUICK, "strategy": "adamw", "epochs": 2}
    assert without_timing(train(config).epochs) == without_timing(train(config).epochs)
    other = without_timing(train({**config, "seed": 4}).epochs)
    assert other != without_timing(train(config).epochs)


def test_a_huge_learning_rate_ends_the_trial_as_diverged_not_as_a_crash():
    reports = []
    record = train(
        {**QUICK, "strategy": "fixed_sgd", "epochs": 3, "lr": 1e6},
        report=lambda metrics, folder: reports.append(metrics),
    )
    assert record.status == "diverged"
    assert reports[-1]["status"] == "diverged"
    assert math.isnan(reports[-1]["train_loss"])


def test_train_command_prints_the_table_and_the_final_line(capsys):
    code = main(
        [
            "train",
            "--workload",
            "synthetic",
            "--strategy",
            "cosine_sgd",
            "--epochs",
            "2",
            "--subset",
            "2000",
            "--eval-subset",
            "500",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.strip().splitlines()[-1].startswith("test_acc_at_best_val=")
    assert "subset used: 2000 of 18000 training examples" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workload", "synthetic", "--strategy", "dalls"], "did you mean 'dals'"),
        (["--workload", "nope", "--strategy", "dals"], "nope"),
        (["--workload", "synthetic", "--strategy", "dals", "--set", "nonsense=1"], "nonsense"),
        (["--workload", "trec6", "--strategy", "dals", "--data-dir", "/nonexistent"], "trec"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, monkeypatch, argv, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    code = main(["train", "--epochs", "1", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("strategy", ["cosine_sgd", "dals", "prodigy"])
def test_a_resumed_trial_takes_its_configs_hyperparameters_as_pbt_needs(tmp_path, strategy):
    """PBT restarts a trial from a checkpoint with a perturbed config: the new LR (scaled
    through the schedule's position) and weight decay take effect; the state comes along."""
    base = {**QUICK, "strategy": strategy, "epochs": 3}
    full = train(base)

    def keep_first_epoch(metrics: dict, folder: Path) -> None:
        if metrics["epoch"] == 1:
            shutil.copytree(folder, tmp_path / "checkpoint")

    train(base, report=keep_first_epoch)
    from dals_tune import strategies

    default_lr = strategies.resolve_config(strategy, "scratch")["lr"]
    perturbed = {**base, "lr": 2 * default_lr, "weight_decay": 0.0}
    resumed = train(perturbed, resume_from=tmp_path / "checkpoint")
    lr_keys = [k for k in full.epochs[1] if k == "lr" or k.startswith("lr/")]
    assert lr_keys
    for key in lr_keys:
        # Within 1 %: cosine_sgd's floor η_min is not scaled with the base LR.
        assert math.isclose(resumed.epochs[1][key], 2 * full.epochs[1][key], rel_tol=1e-2)
    # Same config: nothing is overridden, and the run is the uninterrupted one.
    again = train(base, resume_from=tmp_path / "checkpoint")
    assert without_timing(again.epochs) == without_timing(full.epochs)
