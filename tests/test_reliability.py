"""Crashes and failures during a study (issue 5): a killed driver, a killed trial worker,
strategies that diverge or raise, two studies writing to one store at once.

Trials are made to fail by hooks defined here around the product's trainable (see
``planted.py``): it runs unchanged, and nothing in the package knows about tests.
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
from planted import ship_by_value, the_product_trainable_with, with_planted_faults

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


# ----- 1. the driver is killed mid-study -----------------------------------------------------


HELD_AFTER_EPOCH = 2


def holds_one_trial(signals: Path):
    """The first trial to report epoch 2 writes its id to ``signals/held`` and then waits,
    training no further, while ``signals/hold`` exists: the test can kill the driver while
    that trial is certainly in flight, its epoch-2 checkpoint in Tune's hands."""

    def hold_once(call, report, metrics: dict, *args, **kwargs) -> None:
        report(metrics, *args, **kwargs)
        if metrics["epoch"] == HELD_AFTER_EPOCH and claim(signals / "held", call.trial_id):
            give_up = time.monotonic() + 900  # never outlive a test that died
            while (signals / "hold").exists() and time.monotonic() < give_up:
                time.sleep(0.1)

    def claim(marker: Path, trial_id: str) -> bool:
        """Write ``trial_id`` to ``marker`` unless another trial got there first."""
        draft = marker.with_name(f"{marker.name}.{os.getpid()}")
        draft.write_text(trial_id)
        try:
            os.link(draft, marker)  # atomic: the marker appears whole, and once
            return True
        except FileExistsError:
            return False
        finally:
            draft.unlink()

    return the_product_trainable_with(hold_once)


def run_driver(trainable, argv: list[str]) -> int:
    """The study command, with ``trainable`` (defined in this module) as the trainable."""
    import trainables

    ship_by_value(__name__)
    trainables.classification_trainable = trainable
    return main(argv)


DRIVER = """
import sys
import test_reliability as here
sys.exit(here.run_driver(here.holds_one_trial(here.Path({signals!r})), {argv!r}))
"""


def saved_experiment_state(out: Path) -> str | None:
    """The text of the newest experiment state Tune saved under ``out``, if it is whole."""
    states = sorted(out.glob("ray/*/*/experiment_state-*.json"), key=os.path.getmtime)
    with contextlib.suppress(OSError, ValueError, IndexError):
        text = states[-1].read_text()
        json.loads(text)
        return text
    return None


def test_a_killed_driver_resumes_the_study_without_losing_or_doubling_a_trial(
    tmp_path, monkeypatch
):
    out, signals = tmp_path / "runs", tmp_path / "signals"
    signals.mkdir()
    (signals / "hold").touch()
    args = [
        "search", "--strategies", "cosine_sgd,adamw", "--samples", "6", "--max-epochs", "4",
        "--seeds", "1", "--scheduler", "fifo", *SMALL, "--out", str(out),
    ]  # fmt: skip
    tests = str(Path(__file__).parent)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
        "TUNE_GLOBAL_CHECKPOINT_S": "1",  # Tune saves its state each second, not each ~10 s
    }
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(signals=str(signals), argv=args)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its Ray processes too, so that all of them can be killed
    )

    def wait_for(what: str, ready) -> None:
        deadline = time.monotonic() + 300
        while not ready():
            assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-2000:]
            assert time.monotonic() < deadline, f"{what} did not happen in time"
            time.sleep(0.2)

    try:
        # A trial holds after epoch 2, and two others are recorded: the kill comes while
        # it is in flight, and after trials the resume must keep as they are.
        wait_for("a held trial", lambda: (signals / "held").exists())
        wait_for("two recorded trials", lambda: len(children(out, "trial")) >= 2)
        # Two more saves of Tune's state: the second began after the trial held, so the
        # state a resume starts from holds the held trial's epoch-2 checkpoint.
        at_hold, saved_since = saved_experiment_state(out), set()

        def saved_twice_more() -> bool:
            saved_since.add(saved_experiment_state(out))
            return len(saved_since - {None, at_hold}) >= 2

        wait_for("two state saves", saved_twice_more)
        os.kill(driver.pid, signal.SIGKILL)  # the driver, while trials run
        killed_at = time.time()
        driver.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):  # what is left: the driver's local Ray
            os.killpg(driver.pid, signal.SIGKILL)
        log.close()
        (signals / "hold").unlink(missing_ok=True)
    held = (signals / "held").read_text()
    before = {run["tags"]["trial_id"]: run for run in children(out, "trial")}
    assert 2 <= len(before) < 12 and held not in before
    state = json.loads(next((out / "studies").glob("*/study.json")).read_text())
    assert state["phase"] == "search"

    with_planted_faults(monkeypatch, holds_one_trial(signals), __name__)  # it holds no trial again
    assert main(["search", "--resume", "--out", str(out)]) == 0

    assert_one_finished_child_per_trial(out, trials=12, reruns=2)
    after = {run["tags"]["trial_id"]: run for run in children(out, "trial")}
    results = trial_results(out)
    # The trial in flight at the kill went on from its epoch-2 checkpoint, not from scratch,
    # and its record holds each epoch once.
    restarts = [r["epoch"] for r in results[held] if r["iterations_since_restore"] == 1]
    assert restarts == [1, HELD_AFTER_EPOCH + 1]
    assert all(r["timestamp"] >= int(killed_at) for r in results[held] if r["epoch"] > 2)
    assert after[held]["tags"]["status"] == "completed" and after[held]["status"] == "FINISHED"
    history = tracking.open_store(out).metric_history(after[held]["run_id"], "val_acc")
    assert [step for step, _ in history] == [1, 2, 3, 4]
    for trial_id, run in before.items():
        if run["tags"].get(tracking.LOGGED_TAG) == "1":  # fully written before the kill:
            assert after[trial_id]["run_id"] == run["run_id"]  # kept as recorded
        else:  # the kill came while its child was being written: written again, once
            assert after[trial_id]["run_id"] != run["run_id"]
        # Either way not trained again: every result of it predates the kill.
        assert all(result["timestamp"] <= killed_at for result in results[trial_id])
    assert len(results) == 12 + 2
    # Optuna holds each of the 12 trials once, at the full budget (FIFO stops none), across
    # the kill and the resume, and no trial left running: what optuna-dashboard shows.
    import optuna

    from dals_tune.study.ray_tune.searchers import ORPHAN_REASON

    storage = f"sqlite:///{out / 'optuna.db'}"
    told = [
        trial
        for name in optuna.get_all_study_names(storage)
        for trial in optuna.load_study(study_name=name, storage=storage).trials
    ]
    complete = [trial for trial in told if trial.state.name == "COMPLETE"]
    assert len(complete) == 12
    assert all(sorted(trial.intermediate_values) == [1, 2, 3, 4] for trial in complete)
    others = [trial for trial in told if trial.state.name != "COMPLETE"]
    # A suggestion the kill came between (and Tune's state did not list) never ran: FAIL.
    assert all(
        trial.state.name == "FAIL" and trial.user_attrs["fail_reason"] == ORPHAN_REASON
        for trial in others
    )
    # The winner comes from all trials: each re-run config is its strategy's best trial.
    study = the_study(out)
    assert study["status"] == "FINISHED" and study["tags"]["dals.winner"] in ("cosine_sgd", "adamw")
    state = json.loads(next((out / "studies").glob("*/study.json")).read_text())
    for strategy, chosen in state["best_configs"].items():
        mine = [run for run in after.values() if run["tags"]["strategy"] == strategy]
        best = max(mine, key=lambda run: run["metrics"].get("best_val_acc", 0.0))
        assert chosen["value"] == pytest.approx(best["metrics"]["best_val_acc"])


# ----- 2. a trial's worker process dies --------------------------------------------------------


def dies_once_after_epoch_two(marker: Path):
    """A trainable whose worker process kills itself once, right after reporting epoch 2."""

    def die_once(call, report, metrics: dict, *args, **kwargs) -> None:
        report(metrics, *args, **kwargs)
        if metrics["epoch"] == 2 and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)

    return the_product_trainable_with(die_once)


def test_a_killed_trial_worker_is_retried_from_its_last_checkpoint(tmp_path, monkeypatch):
    marker = tmp_path / "killed-once"
    with_planted_faults(monkeypatch, dies_once_after_epoch_two(marker), __name__)
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
    with_planted_faults(monkeypatch, adamw_raises, __name__)
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
