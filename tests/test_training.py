"""One trial end to end: metrics, resume, divergence, seeding, the CLI and Ray Tune."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from trial_probe import (
    NextStep,
    NextStepProbe,
    differences,
    global_rng_state,
    load_checkpoint,
    stir_global_rng,
)

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


def output_dtypes_of_linear_layers(config: dict) -> tuple[set, object]:
    """The dtypes every ``nn.Linear`` computed in during ``train(config)``, and its record."""
    import torch

    seen = set()

    def record_dtype(module, inputs, output) -> None:
        if isinstance(module, torch.nn.Linear):
            seen.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record_dtype)
    try:
        record = train(config)
    finally:
        handle.remove()
    return seen, record


def test_bf16_autocast_runs_and_stays_finite():
    import torch

    config = {**QUICK, "strategy": "adamw", "epochs": 1}
    dtypes, record = output_dtypes_of_linear_layers({**config, "precision": "bf16"})
    assert dtypes == {torch.bfloat16}, "every matrix product ran under bf16 autocast"
    assert record.status == "completed"
    assert math.isfinite(record.final["train_loss"]) and record.final["val_acc"] > 0.5
    dtypes, _ = output_dtypes_of_linear_layers({**config, "precision": "fp32"})
    assert dtypes == {torch.float32}


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(tmp_path: Path):
    """A real resume, not a fresh start with the saved epochs copied back (the same seed
    gives the same record either way): only the epochs after the checkpoint run and are
    reported, and they start from the checkpoint's optimizer, schedule and RNG state."""
    config = {**QUICK, "strategy": "dals_fast", "epochs": 4}
    at_checkpoint = {}

    def keep_every_checkpoint(metrics: dict, folder: Path) -> None:
        epoch = metrics["epoch"]
        if epoch == 1:
            stir_global_rng()  # so that the epoch-2 checkpoint's RNG is not the seeded one
        shutil.copytree(folder, tmp_path / f"epoch{epoch}")
        if epoch == 2:
            at_checkpoint["rng"] = global_rng_state()
            uninterrupted.arm()  # the state epoch 3 starts from

    with NextStepProbe() as uninterrupted:
        full = train(config, report=keep_every_checkpoint)
    fresh_start, epoch3_start = uninterrupted.steps

    reported = []

    def keep_reports(metrics: dict, folder: Path) -> None:
        reported.append(metrics["epoch"])
        shutil.copytree(folder, tmp_path / f"resumed{metrics['epoch']}")

    with NextStepProbe() as after_restore:
        resumed = train(config, report=keep_reports, resume_from=tmp_path / "epoch2")
    (first_step,) = after_restore.steps

    assert reported == [3, 4], "a resumed trial runs and reports only the epochs after it"
    assert differences(first_step.rng, at_checkpoint["rng"]) == []
    assert differences(fresh_start.rng, at_checkpoint["rng"]) != []  # so the check can fail
    assert differences(first_step.optimizer, epoch3_start.optimizer) == []
    assert differences(fresh_start.optimizer, epoch3_start.optimizer) != []
    # One epoch on, model, optimizer, schedule and RNG are still the uninterrupted run's.
    assert (
        differences(load_checkpoint(tmp_path / "resumed3"), load_checkpoint(tmp_path / "epoch3"))
        == []
    )
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
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--epochs", "1", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran


@pytest.mark.parametrize("strategy", ["cosine_sgd", "dals", "prodigy"])
def test_a_resumed_trial_takes_its_configs_hyperparameters_as_pbt_needs(tmp_path, strategy):
    """PBT restarts a trial from a checkpoint with a perturbed config: the new LR (scaled
    through the schedule's position) and weight decay take effect; the state comes along."""
    base = {**QUICK, "strategy": strategy, "epochs": 3}

    def keep_first_epoch(metrics: dict, folder: Path) -> None:
        if metrics["epoch"] == 1:
            shutil.copytree(folder, tmp_path / "checkpoint")
            uninterrupted.arm()  # the state epoch 2 starts from

    with NextStepProbe(armed=False) as uninterrupted:
        full = train(base, report=keep_first_epoch)
    (epoch2_start,) = uninterrupted.steps
    from dals_tune import strategies

    def resume(config: dict) -> tuple[list[int], NextStep, object]:
        reported = []
        with NextStepProbe() as probe:
            record = train(
                config,
                report=lambda metrics, folder: reported.append(metrics["epoch"]),
                resume_from=tmp_path / "checkpoint",
            )
        return reported, probe.steps[0], record

    default_lr = strategies.resolve_config(strategy, "scratch")["lr"]
    perturbed = {**base, "lr": 2 * default_lr, "weight_decay": 0.0}
    reported, first_step, resumed = resume(perturbed)
    assert reported == [2, 3], "PBT's restart goes on from the checkpoint's epoch"
    # The state comes along: every buffer and step count the checkpoint holds...
    state = {k: v for k, v in first_step.optimizer.items() if k != "param_groups"}
    expected = {k: v for k, v in epoch2_start.optimizer.items() if k != "param_groups"}
    assert differences(state, expected) == []
    # ... and the config's hyperparameters replace the checkpoint's.
    groups = zip(first_step.optimizer["param_groups"], epoch2_start.optimizer["param_groups"])
    for group, before in groups:
        assert group["weight_decay"] == 0.0 and before["weight_decay"] > 0.0
        assert math.isclose(group["lr"], 2 * before["lr"], rel_tol=1e-2)
    lr_keys = [k for k in full.epochs[1] if k == "lr" or k.startswith("lr/")]
    assert lr_keys
    for key in lr_keys:
        # Within 1 %: cosine_sgd's floor η_min is not scaled with the base LR.
        assert math.isclose(resumed.epochs[1][key], 2 * full.epochs[1][key], rel_tol=1e-2)
    # Same config: nothing is overridden, and the run is the uninterrupted one.
    reported, first_step, again = resume(base)
    assert reported == [2, 3]
    assert differences(first_step.optimizer, epoch2_start.optimizer) == []
    assert without_timing(again.epochs) == without_timing(full.epochs)
