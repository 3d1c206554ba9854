"""``python -m dals_tune benchmark --scale smoke`` on fixtures of every dataset: every
workload and regime studied, every report file written, finished workloads skipped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import dataset_fixtures as fixtures
import pytest

from dals_tune import benchmark, tracking
from dals_tune.cli import main

pytestmark = pytest.mark.slow
STRATEGIES = "cosine_sgd,linear_decay_sgd,dals"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    """A data folder with tiny copies of CIFAR-10, TREC, RTE and IMDb, and a tiny BERT."""
    base = tmp_path_factory.mktemp("benchmark_data")
    data_dir = base / "data"
    fixtures.write_trec(data_dir)
    fixtures.write_rte(data_dir)
    fixtures.write_imdb_tree(data_dir / "imdb")
    fixtures.write_cifar_batches(data_dir)
    return data_dir, fixtures.write_tiny_bert(base / "tiny_bert")


def test_the_smoke_benchmark_studies_every_workload_and_writes_every_report(tmp_path, data, capsys):
    data_dir, model = data
    out = tmp_path / "runs"
    argv = [
        "benchmark", "--scale", "smoke", "--strategies", STRATEGIES,
        "--data-dir", str(data_dir), "--model", str(model), "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0

    studies = tracking.open_store(out).all_studies()
    studied = {(s["tags"]["workload"], s["tags"]["regime"]) for s in studies}
    assert studied == set(benchmark.WORKLOADS)
    assert {s["status"] for s in studies} == {"FINISHED"}
    reports = out / "reports"
    for name in (
        "winners.csv", "winners.md", "mean_rank.csv", "mean_rank.md", "time_to_target.csv",
        "time_to_target.md", "performance_profile.csv", "performance_profile.png",
    ):  # fmt: skip
        assert (reports / name).stat().st_size > 0, name
    per_study = [path for path in reports.iterdir() if path.is_dir()]
    assert len(per_study) == len(benchmark.WORKLOADS)
    for folder in per_study:
        for name in ("leaderboard.csv", "leaderboard.md", "learning_curves.png"):
            assert (folder / name).exists(), (folder, name)
    rows = list(csv.DictReader((reports / "time_to_target.csv").open()))
    assert len(rows) == 3 * len(benchmark.WORKLOADS)
    assert {row["strategy"] for row in rows} == set(STRATEGIES.split(","))
    winners = list(csv.DictReader((reports / "winners.csv").open()))
    assert len(winners) == len(benchmark.WORKLOADS)

    # Every strategy had the same budget: one trial per study, and one seed re-run of it
    # unless it diverged or errored.
    store = tracking.open_store(out)
    for study in studies:
        runs = store.trials_of(study["run_id"])
        trials = [run for run in runs if run["tags"]["kind"] == "trial"]
        assert sorted(run["tags"]["strategy"] for run in trials) == sorted(STRATEGIES.split(","))
        usable = {
            run["tags"]["strategy"]
            for run in trials
            if run["tags"]["status"] in ("completed", "pruned")
        }
        reruns = [run["tags"]["strategy"] for run in runs if run["tags"]["kind"] == "rerun"]
        assert sorted(reruns) == sorted(usable) and usable, study["tags"]["workload"]

    progress = json.loads((out / "benchmark" / "smoke.json").read_text())
    assert len(progress["finished"]) == len(benchmark.WORKLOADS)

    # Run again: every workload is skipped, nothing is studied twice.
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("skipped") == len(benchmark.WORKLOADS)
    assert len(tracking.open_store(out).all_studies()) == len(benchmark.WORKLOADS)


def test_a_missing_dataset_is_found_before_any_study_runs(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["benchmark", "--scale", "smoke", "--data-dir", str(tmp_path / "empty"),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cifar10" in error
    assert not out.exists()


def test_the_scales_are_documented():
    table = benchmark.describe_scales()
    for name in ("smoke", "cpu", "full"):
        assert f"| {name} |" in table
    assert benchmark.SCALES["full"].subset == {}  # the paper's sizes: whole splits
