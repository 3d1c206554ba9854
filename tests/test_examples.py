"""The examples in ``examples/`` run, on tiny data, as a user would run them."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import dataset_fixtures as fixtures
import numpy as np
import pytest

from dals_tune import tracking
from dals_tune.training import train
from dals_tune.workloads.config import read_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_image_folder(root: Path, per_class: dict[str, int]) -> None:
    """Red and blue 12×12 PNGs with noise, in ImageFolder's train/val/test layout."""
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = {"red": (200, 30, 30), "blue": (30, 30, 200)}
    for split, count in per_class.items():
        for name, colour in colours.items():
            folder = root / "images" / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = np.clip(np.array(colour) + rng.normal(0, 40, (12, 12, 3)), 0, 255)
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index}.png")


def test_the_regression_example_minimises_rmse(monkeypatch):
    example = load_example("regression_rmse")
    config = read_config({"workload": "friedman1", "seed": 0, "device": "cpu"})
    definition = example.build(config)
    assert (definition.objective.metric, definition.objective.mode) == ("rmse", "min")
    workload = definition.realise(config)
    x, _ = workload.train_split.inputs, workload.train_split.labels
    assert x.shape == (2000, 8)
    from dals_tune.workloads import user_module

    # Known to this process only, as a script's function is (and forgotten afterwards).
    monkeypatch.setitem(user_module._REGISTERED, "example_regression_rmse:build", example.build)
    record = train({"workload": "example_regression_rmse:build", "strategy": "adamw",
                    "epochs": 4, "lr": 0.01})  # fmt: skip
    rmse = [epoch["val_rmse"] for epoch in record.epochs]
    assert rmse[-1] < rmse[0] and record.final["best_val_rmse"] == min(rmse)
    assert record.final["best_val_rmse"] < float(np.std(workload.val_split.labels.numpy()))


@pytest.mark.slow
def test_the_image_folder_example_runs_a_study_from_its_script(tmp_path):
    """``dals_tune.search(workload=build)`` with ``build`` defined in the running script: Ray
    ships the function by value, the workers need no import of the script."""
    write_image_folder(tmp_path / "data", {"train": 24, "val": 8, "test": 8})
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "image_folder_classifier.py"), "--data-dir", "data",
         "--out", "runs", "--samples", "1", "--max-epochs", "2", "--seeds", "1",
         "--strategies", "adamw,cosine_sgd"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "strategy" in done.stdout and "adamw" in done.stdout  # the leaderboard, printed
    tracker = tracking.open_store(tmp_path / "runs")
    (study,) = tracker.all_studies()
    assert study["status"] == "FINISHED"
    runs = tracker.trials_of(study["run_id"])
    assert len(runs) == 4 and all(run["tags"]["status"] == "completed" for run in runs)
    assert all(math.isfinite(run["metrics"]["best_val_acc"]) for run in runs)


@pytest.mark.parametrize("strategy", ["dals", "cosine_sgd"])
def test_the_trainer_example_trains_with_a_strategys_optimizer_and_schedule(tmp_path, strategy):
    example = load_example("hf_trainer_strategy")
    model = fixtures.write_tiny_bert(tmp_path / "bert")
    for words in example.SENTENCES.values():  # the fixture tokenizer knows only its words
        words[:] = ["a brilliant film" if "brilliant" in w else w for w in words]
    result = example.train_with_strategy(str(model), strategy, str(tmp_path / "out"), epochs=2,
                                         copies=4, batch_size=4)  # fmt: skip
    assert result["steps"] == 12
    assert all(math.isfinite(loss) for loss in result["losses"])
    rates = result["learning_rates"]
    assert len(set(rates)) > 2, "the strategy's schedule drives the LR, step by step"
