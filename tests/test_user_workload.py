"""A user's own workload: ``dals_tune.workload(...)``, ``--workload module:function`` and the
bad input around them (docs/workloads.md, "Your own workload"; docs/bad_inputs.md)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import user_modules
from torch.utils.data import TensorDataset
from trial_probe import NextStepProbe, differences, load_checkpoint

import dals_tune
from dals_tune.cli import main
from dals_tune.objective import Objective
from dals_tune.training import train
from dals_tune.workloads import build_workload
from dals_tune.workloads.config import read_config
from dals_tune.workloads.dataset_split import DatasetSplit

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    """A fresh folder holding the user's modules, as the current folder; the modules are
    forgotten afterwards so that each test imports its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    user_modules.write_module(tmp_path, "regression_task", user_modules.REGRESSION)
    user_modules.write_module(tmp_path, "blobs_task", user_modules.CLASSIFIER)
    for name, source in user_modules.BROKEN.items():
        user_modules.write_module(tmp_path, f"broken_{name}", source)
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            sys.modules.pop(name, None)


def regression_definition(**changes):
    x = torch.linspace(-1, 1, 60).unsqueeze(1)
    y = 3 * x.squeeze(1)
    arguments = dict(
        name="line",
        model=lambda: torch.nn.Linear(1, 1),
        train=(x[:40], y[:40]),
        val=(x[40:50], y[40:50]),
        test=(x[50:], y[50:]),
        loss="mse",
        metric="rmse",
        batch_size=8,
    )
    return dals_tune.workload(**{**arguments, **changes})


def test_a_tensor_regression_minimises_rmse_and_reports_it_under_its_name(user_folder):
    record = train(
        {"workload": "regression_task:build", "strategy": "adamw", "epochs": 3, "lr": 0.01}
    )
    final = record.final
    assert {"val_rmse", "test_rmse", "best_val_rmse", "test_rmse_at_best_val"} <= set(final)
    assert "val_acc" not in final and "best_val_acc" not in final
    history = [epoch["val_rmse"] for epoch in record.epochs]
    assert final["best_val_rmse"] == min(history)  # best means lowest for a min metric
    assert math.isclose(final["val_rmse"] ** 2, final["val_loss"], rel_tol=1e-4)
    described = record.workload
    assert (described["metric"], described["metric_mode"], described["target"]) == (
        "rmse",
        "min",
        0.5,
    )
    assert described["workload"] == "toy_regression" and described["loss"] == "mse"
    assert described["model"] == "Sequential"  # the user's model class, by name


def test_the_objective_follows_the_metric_and_its_direction():
    assert regression_definition().objective == Objective("rmse", "min", None)
    assert regression_definition(metric="loss", target=0.1).objective == Objective(
        "loss", "min", 0.1
    )

    def r_squared(outputs, targets):
        return float(
            1 - ((outputs.squeeze(-1) - targets) ** 2).sum() / targets.var() / len(targets)
        )

    custom = regression_definition(metric=r_squared, mode="max")
    assert custom.objective == Objective("r_squared", "max", None)
    workload = custom.realise(read_config({"workload": "line", "seed": 0, "device": "cpu"}))
    assert set(workload.evaluate(workload.model, "val")) == {"loss", "r_squared"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"loss": "huber"}, "unknown loss 'huber'"),
        ({"metric": "r2"}, "unknown metric 'r2'"),
        ({"mode": "up"}, "mode must be 'max' or 'min'"),
        ({"mode": "max"}, "metric 'rmse' is minimised; mode='max' contradicts it"),
        ({"metric": lambda o, t: 0.0}, "needs its direction"),
        ({"loss": "cross_entropy", "metric": "accuracy"}, "needs integer class targets"),
        ({"val": (torch.zeros(0, 1), torch.zeros(0))}, "the val split is empty"),
        ({"test": torch.zeros(3)}, "must be an (inputs, targets) pair"),
        ({"train": (torch.zeros(5, 1), torch.zeros(4))}, "a different number of inputs"),
        ({"model": torch.nn.Linear(1, 1)}, "model must be a factory"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
    ],
)
def test_a_workload_that_cannot_work_is_refused_in_one_line(changes, message):
    with pytest.raises(ValueError, match="^[^\n]*$") as refused:
        regression_definition(**changes)
    assert message in str(refused.value)


def test_mse_with_integer_targets_is_refused():
    x = torch.zeros(10, 1)
    with pytest.raises(ValueError, match="needs real-valued targets"):
        dals_tune.workload(
            name="ints", model=lambda: torch.nn.Linear(1, 1), train=(x, torch.zeros(10).long()),
            val=(x, torch.zeros(10)), test=(x, torch.zeros(10)), loss="mse", metric="rmse",
        )  # fmt: skip


def test_subsets_are_drawn_from_the_users_splits_by_seed():
    definition = regression_definition()
    config = {"workload": "line", "device": "cpu", "subset": 12, "eval_subset": 4}
    first = definition.realise(read_config({**config, "seed": 1}))
    again = definition.realise(read_config({**config, "seed": 1}))
    other = definition.realise(read_config({**config, "seed": 2}))
    assert (len(first.train_split), len(first.val_split), len(first.test_split)) == (12, 4, 4)
    assert torch.equal(first.train_split.inputs, again.train_split.inputs)
    assert not torch.equal(first.train_split.inputs, other.train_split.inputs)


def test_a_dataset_workload_batches_through_a_loader_with_dict_inputs(user_folder):
    workload = build_workload({"workload": "blobs_task:build", "seed": 0, "device": "cpu"})
    assert isinstance(workload.train_split, DatasetSplit)
    assert workload.class_names == ("a", "b", "c") and workload.num_classes == 3
    inputs, targets = next(iter(workload.train_batches(0)))
    assert set(inputs) == {"features"} and inputs["features"].shape == (24, 2)
    assert targets.dtype == torch.long
    assert workload.steps_per_epoch == len(list(workload.train_batches(0))) == 10
    first = [t.tolist() for _, t in workload.train_batches(1)]
    assert first == [t.tolist() for _, t in workload.train_batches(1)]  # (seed, epoch) alone
    assert first != [t.tolist() for _, t in workload.train_batches(2)]


def test_a_dataset_workload_learns_and_reproduces_by_seed(user_folder):
    config = {"workload": "blobs_task:build", "strategy": "adamw", "epochs": 3, "lr": 0.02}
    first, again = train({**config, "seed": 4}), train({**config, "seed": 4})
    assert first.final["best_val_acc"] > 0.8
    assert [e["val_acc"] for e in first.epochs] == [e["val_acc"] for e in again.epochs]
    assert first.final["train_loss"] == again.final["train_loss"]


def test_a_dataset_workload_resumes_into_the_identical_next_epoch(user_folder, tmp_path):
    """The loader path keeps the trainer's promise: epoch 3 after a resume at epoch 2 starts
    from the uninterrupted run's RNG and optimizer state and ends with its checkpoint
    (model, optimizer, schedule, RNG), augmentation draws included."""
    import shutil

    config = {"workload": "blobs_task:build", "strategy": "dals", "epochs": 3, "seed": 2}

    def keep(metrics, folder):
        shutil.copytree(folder, tmp_path / f"epoch{metrics['epoch']}")
        if metrics["epoch"] == 2:
            probe.arm()

    with NextStepProbe(armed=False) as probe:
        train(config, report=keep)
    (epoch3_start,) = probe.steps

    def keep_resumed(metrics, folder):
        shutil.copytree(folder, tmp_path / f"resumed{metrics['epoch']}")

    with NextStepProbe() as after_restore:
        resumed = train(config, report=keep_resumed, resume_from=tmp_path / "epoch2")
    (first_step,) = after_restore.steps
    assert [e["epoch"] for e in resumed.epochs] == [1, 2, 3]
    # (The RNG at the first forward pass is not compared: the workload's own check runs a
    # forward pass before the checkpoint is restored; the epoch-3 checkpoint holds the RNG.)
    assert differences(first_step.optimizer, epoch3_start.optimizer) == []
    assert (
        differences(load_checkpoint(tmp_path / "resumed3"), load_checkpoint(tmp_path / "epoch3"))
        == []
    )


def test_a_layer_mapping_override_sets_the_depth_groups():
    x = torch.randn(20, 2)
    definition = dals_tune.workload(
        name="deep", model=lambda: torch.nn.Sequential(*[torch.nn.Linear(2, 2) for _ in range(4)]),
        train=(x, x[:, 0].clone()), val=(x, x[:, 0].clone()), test=(x, x[:, 0].clone()),
        loss=lambda outputs, targets: ((outputs[:, 0] - targets) ** 2).mean(),
        metric="loss", layer_mapping=lambda name: "low" if name[0] in "01" else "high",
    )  # fmt: skip
    workload = definition.realise(read_config({"workload": "deep", "seed": 0, "device": "cpu"}))
    assert workload.describe()["depth"] == 2
    record = train_on(workload)
    assert math.isfinite(record["val_loss"])


def train_on(workload):
    workload.model.train()
    return {"val_loss": workload.evaluate(workload.model, "val")["loss"]}


def test_train_names_the_metric_in_its_last_line(user_folder, capsys):
    code = main(["train", "--workload", "regression_task:build", "--strategy", "adamw",
                 "--epochs", "2"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert out.strip().splitlines()[-1].startswith("test_rmse_at_best_val=")


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        ("no_such_module:build", "no module 'no_such_module'"),
        ("regression_task:make", "has no function 'make'"),
        ("broken_raises:build", "the function raised RuntimeError: no data here"),
        ("broken_returns_model:build", "returned Linear, not a workload"),
        ("broken_unknown_loss:build", "unknown loss 'huber'"),
        ("broken_unknown_metric:build", "unknown metric 'r2'"),
        ("broken_bad_mode:build", "mode must be 'max' or 'min'"),
        ("broken_class_loss_on_reals:build", "needs integer class targets"),
        ("broken_empty_split:build", "the val split is empty"),
        ("broken_wrong_outputs:build", "the model's outputs do not fit the targets"),
        ("broken_syntax_error:build", "importing 'broken_syntax_error' failed"),
    ],
)
def test_a_broken_user_workload_is_refused_before_anything_is_written(
    user_folder, capsys, monkeypatch, workload, message
):
    from dals_tune.study import ray_tune

    monkeypatch.setattr(ray_tune, "connect", lambda *a, **k: pytest.fail("reached Ray"))
    out = user_folder / "runs"
    code = main(["search", "--workload", workload, "--out", str(out), "--samples", "1"])
    error = capsys.readouterr().err
    assert code == 2, error
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert message in error and "Traceback" not in error
    assert not out.exists()


def test_the_module_is_imported_from_the_current_folder_without_pythonpath(tmp_path):
    """As a user runs it: a fresh process in the folder that holds the module."""
    user_modules.write_module(tmp_path, "regression_task", user_modules.REGRESSION)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "dals_tune", "train", "--workload", "regression_task:build",
         "--strategy", "adamw", "--epochs", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "test_rmse_at_best_val=" in done.stdout


def test_a_dataset_of_tensors_and_the_tensor_pair_give_the_same_evaluation():
    x, y = torch.randn(50, 3), torch.randint(0, 2, (50,))
    model = lambda: torch.nn.Linear(3, 2)  # noqa: E731
    pairs = dals_tune.workload(name="p", model=model, train=(x, y), val=(x, y), test=(x, y))
    loaded = dals_tune.workload(
        name="d", model=model, train=TensorDataset(x, y), val=TensorDataset(x, y),
        test=TensorDataset(x, y),
    )  # fmt: skip
    config = read_config({"workload": "p", "seed": 0, "device": "cpu"})
    a, b = pairs.realise(config), loaded.realise(config)
    assert a.evaluate(a.model, "val") == pytest.approx(b.evaluate(b.model, "val"))


@pytest.mark.slow
def test_a_study_of_a_users_regression_ranks_by_rmse_ascending(tmp_path):
    """``search --workload module:function`` end to end, as a user runs it from the folder
    that holds the module: the winner, the leaderboard's order and the MLflow tags follow
    the minimised metric."""
    import csv

    from dals_tune import tracking

    user_modules.write_module(tmp_path, "regression_task", user_modules.REGRESSION)
    done = subprocess.run(
        [sys.executable, "-m", "dals_tune", "search", "--workload", "regression_task:build",
         "--strategies", "adamw,fixed_sgd,cosine_sgd", "--samples", "2", "--max-epochs", "3",
         "--seeds", "1", "--out", "runs"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    tracker = tracking.open_store(tmp_path / "runs")
    (study,) = tracker.all_studies()
    tags = study["tags"]
    assert (tags["metric"], tags["metric_mode"], tags["target"]) == ("rmse", "min", "0.5")
    assert study["status"] == "FINISHED" and "dals.winner_val_acc" not in tags
    (folder,) = (tmp_path / "runs" / "studies").iterdir()
    with open(folder / "leaderboard.csv") as file:
        rows = list(csv.DictReader(file))
    means = [float(row["val_rmse_mean"]) for row in rows]
    assert means == sorted(means), "a minimised metric ranks ascending"
    assert rows[0]["strategy"] == tags["dals.winner"]
    assert float(tags["dals.winner_val_rmse"]) == pytest.approx(means[0])
    assert f"winner: {tags['dals.winner']} (validation" in done.stdout
    runs = tracker.trials_of(study["run_id"])
    assert all("best_val_rmse" in run["metrics"] for run in runs)
    # recommend takes the same workload, and reasons on the study's own direction.
    advised = subprocess.run(
        [sys.executable, "-m", "dals_tune", "recommend", "--workload", "regression_task:build",
         "--out", "runs"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert advised.returncode == 0, advised.stderr[-2000:]
    assert tags["dals.winner"] in advised.stdout


def test_only_the_studys_own_script_function_is_shipped(monkeypatch):
    """A function registered by value (from a running script) travels with its own study
    only: another study in the same process must not carry, and fail to unpickle, it."""
    from dals_tune.workloads import user_module

    monkeypatch.setitem(user_module._REGISTERED, "script_a:build", lambda settings: None)
    assert set(user_module.registered("script_a:build")) == {"script_a:build"}
    assert user_module.registered("synthetic") == {}
    assert user_module.registered("regression_task:build") == {}
