"""Crashes and failures during a study (issue 5): a killed driver, a killed trial worker,
strategies that diverge or raise, two studies writing to one store at once.

Trials are made to fail by a trainable defined here and shipped to Ray's workers by value
(``register_pickle_by_value``): the product's trainable runs unchanged, with a planted fault
around it, and nothing in the package knows about tests.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from dals_tune import tracking
from dals_tune.cli import main

pytestmark = pytest.mark.slow

SMALL = ["--subset", "1500", "--eval-subset", "300"]


def the_study(out: Path) -> dict | None:
    """The one study in ``out``'s store (None before it exists)."""
    if not list((out / "studies").glob("*/study.json")):
        return None  # the driver may still be creating the store's schema: do not touch it
    studies = tracking.open_store(out).all_studies()
    return studies[0] if studies else None


def children(out: Path, kind: str | None = None) -> list[dict]:
    study = the_study(out)
    if study is None:
        return []
    runs = tracking.open_store(out).trials_of(study["run_id"])
    return [run for run in runs if kind is None or run["tags"].get("kind") == kind]


def trial_results(out: Path) -> dict[str, list[dict]]:
    """Every trial's results as Tune wrote them (``result.json``), by trial id."""
    results: dict[str, list[dict]] = {}
    for path in (out / "ray").glob("*/*/*/result.json"):
        for line in path.read_text().splitlines():
            result = json.loads(line)
            results.setdefault(result["trial_id"], []).append(result)
    return results


def assert_one_finished_child_per_trial(out: Path, trials: int, reruns: int) -> None:
    runs = children(out)
    keys = Counter(run["tags"]["dals.key"] for run in runs)
    assert all(count == 1 for count in keys.values()), keys  # nothing doubled
    kinds = Counter(run["tags"]["kind"] for run in runs)
    assert kinds == {"trial": trials, "rerun": reruns}  # nothing lost
    assert {run["status"] for run in runs} <= {"FINISHED", "FAILED"}  # none left RUNNING


def with_planted_faults(monkeypatch, trainable) -> None:
    """Make the driver run ``trainable`` (defined in this module) instead of the product's."""
    import ray.cloudpickle

    import trainables

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(trainables, "classification_trainable", trainable)


# ----- 1. the driver is killed mid-study -----------------------------------------------------


def test_a_killed_driver_resumes_the_study_without_losing_or_doubling_a_trial(tmp_path):
    out = tmp_path / "runs"
    args = [
        "search", "--strategies", "cosine_sgd,adamw", "--samples", "6", "--max-epochs", "4",
        "--seeds", "1", "--scheduler", "fifo", *SMALL, "--out", str(out),
    ]  # fmt: skip
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(
        [sys.executable, "-m", "dals_tune", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its Ray processes too, so that all of them can be killed
    )
    try:
        deadline = time.monotonic() + 240
        while len(children(out, "trial")) < 2:
            assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "no trial was recorded in time"
            time.sleep(0.5)
        os.kill(driver.pid, signal.SIGKILL)  # the driver, while trials run
        killed_at = time.time()
        driver.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):  # what is left: the driver's local Ray
            os.killpg(driver.pid, signal.SIGKILL)
        log.close()
    before = {run["tags"]["trial_id"]: run for run in children(out, "trial")}
    assert 2 <= len(before) < 12, "the kill came after the search"
    state = json.loads(next((out / "studies").glob("*/study.json")).read_text())
    assert state["phase"] == "search"

    assert main(["search", "--resume", "--out", str(out)]) == 0

    assert_one_finished_child_per_trial(out, trials=12, reruns=2)
    after = {run["tags"]["trial_id"]: run for run in children(out, "trial")}
    results = trial_results(out)
    for trial_id, run in before.items():
        if run["tags"].get(tracking.LOGGED_TAG) == "1":  # fully written before the kill:
            assert after[trial_id]["run_id"] == run["run_id"]  # kept as recorded
        else:  # the kill came while its child was being written: written again, once
            assert after[trial_id]["run_id"] != run["run_id"]
        # Either way not trained again: every result of it predates the kill.
        assert all(result["timestamp"] <= killed_at for result in results[trial_id])
    assert len(results) == 12 + 2
    # The winner comes from all trials: each re-run config is its strategy's best trial.
    study = the_study(out)
    assert study["status"] == "FINISHED" and study["tags"]["dals.winner"] in ("cosine_sgd", "adamw")
    state = json.loads(next((out / "studies").glob("*/study.json")).read_text())
    for strategy, chosen in state["best_configs"].items():
        mine = [run for run in after.values() if run["tags"]["strategy"] == strategy]
        best = max(mine, key=lambda run: run["metrics"].get("best_val_acc", 0.0))
        assert chosen["val_acc"] == pytest.approx(best["metrics"]["best_val_acc"])


# ----- 2. a trial's worker process dies --------------------------------------------------------


def dies_once_after_epoch_two(marker: Path):
    """A trainable whose worker process kills itself once, right after reporting epoch 2."""

    def trainable(config: dict) -> None:
        from dals_tune.study import ray_tune
        from dals_tune.training import train

        def report(metrics: dict, folder: Path) -> None:
            ray_tune.report_epoch(metrics, folder)
            if metrics["epoch"] == 2 and not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)

        with ray_tune.resume_checkpoint() as folder:
            train(ray_tune.trial_spec(config), report=report, resume_from=folder)

    return trainable


def test_a_killed_trial_worker_is_retried_from_its_last_checkpoint(tmp_path, monkeypatch):
    marker = tmp_path / "killed-once"
    with_planted_faults(monkeypatch, dies_once_after_epoch_two(marker))
    out = tmp_path / "runs"
    args = [
        "search", "--strategies", "cosine_sgd", "--samples", "1", "--max-epochs", "4",
        "--seeds", "0", *SMALL, "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    assert marker.exists()  # the worker did die
    (trial,) = children(out, "trial")
    assert trial["tags"]["status"] == "completed" and trial["status"] == "FINISHED"
    (results,) = trial_results(out).values()
    # The retry started from the epoch-2 checkpoint, not from scratch...
    restarts = [r["epoch"] for r in results if r["iterations_since_restore"] == 1]
    assert restarts == [1, 3]
    # ... and the record holds each epoch once.
    history = tracking.open_store(out).metric_history(trial["run_id"], "val_acc")
    assert [step for step, _ in history] == [1, 2, 3, 4]


# ----- 3. strategies that diverge or raise -----------------------------------------------------


def adamw_raises(config: dict) -> None:
    """The product's trainable, except that every AdamW trial raises."""
    from trainables import classification

    if config.get("strategy") == "adamw":
        raise RuntimeError("planted failure: AdamW cannot run here")
    classification.classification_trainable(config)


def test_diverging_and_crashing_strategies_are_recorded_and_ranked_last(tmp_path, monkeypatch):
    with_planted_faults(monkeypatch, adamw_raises)
    space = tmp_path / "space.yaml"
    space.write_text("fixed_sgd:\n  lr: 1.0e+6\n")  # pinned: every fixed_sgd trial diverges
    out = tmp_path / "runs"
    args = [
        "search", "--strategies", "cosine_sgd,fixed_sgd,adamw", "--samples", "2",
        "--max-epochs", "2", "--seeds", "1", "--space", str(space), *SMALL, "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0  # neither stops the study

    by_strategy: dict[str, list[dict]] = {}
    for run in children(out, "trial"):
        by_strategy.setdefault(run["tags"]["strategy"], []).append(run)
    assert {run["tags"]["status"] for run in by_strategy["fixed_sgd"]} == {"diverged"}
    errored = by_strategy["adamw"]
    assert len(errored) == 2 and {run["tags"]["status"] for run in errored} == {"errored"}
    assert all("planted failure" in run["tags"]["error"] for run in errored)
    assert all(run["status"] == "FAILED" for run in errored)
    # Only the strategy that worked is re-run with fresh seeds, and it wins.
    assert {run["tags"]["strategy"] for run in children(out, "rerun")} == {"cosine_sgd"}
    assert the_study(out)["tags"]["dals.winner"] == "cosine_sgd"

    # The leaderboard ranks the two last and says why.
    (board,) = (out / "studies").glob("*/leaderboard.csv")
    rows = list(csv.DictReader(board.open()))
    assert rows[0]["strategy"] == "cosine_sgd"
    notes = {row["strategy"]: row["note"] for row in rows[1:]}
    assert set(notes) == {"fixed_sgd", "adamw"}
    assert "diverged" in notes["fixed_sgd"]
    assert "errored" in notes["adamw"] and "planted failure" in notes["adamw"]
    # So does the cross-study report.
    assert main(["report", "--out", str(out)]) == 0
    ranks = (out / "reports" / "mean_rank.csv").read_text()
    assert ranks.index("cosine_sgd") < min(ranks.index("fixed_sgd"), ranks.index("adamw"))


# ----- 4. two studies write to one store at once -----------------------------------------------


def test_two_studies_at_once_share_one_store_without_losing_a_run(tmp_path):
    out = tmp_path / "runs"
    common = ["search", "--samples", "3", "--max-epochs", "2", "--seeds", "1", *SMALL]
    commands = [
        [*common, "--strategies", "cosine_sgd,adamw", "--out", str(out)],
        [*common, "--strategies", "fixed_sgd,adamw", "--seed", "7", "--out", str(out)],
    ]
    logs = [(tmp_path / f"study{i}.log").open("w") for i in range(2)]
    drivers = [
        subprocess.Popen(
            [sys.executable, "-m", "dals_tune", *command], stdout=log, stderr=subprocess.STDOUT
        )
        for command, log in zip(commands, logs, strict=True)
    ]
    codes = [driver.wait(timeout=600) for driver in drivers]
    for log in logs:
        log.close()
    texts = [(tmp_path / f"study{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], texts
    assert not any("database is locked" in text for text in texts)

    store = tracking.open_store(out)
    studies = store.all_studies()
    assert len(studies) == 2 and {s["status"] for s in studies} == {"FINISHED"}
    for study in studies:
        runs = store.trials_of(study["run_id"])
        kinds = Counter(run["tags"]["kind"] for run in runs)
        assert kinds == {"trial": 6, "rerun": 2}, kinds
        assert len({run["tags"]["dals.key"] for run in runs}) == 8
        assert study["tags"].get("dals.winner")
    assert len(list((out / "studies").glob("*/leaderboard.csv"))) == 2
