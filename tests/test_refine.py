"""``python -m dals_tune refine`` and ``search --strategies refined --refine-from RUN_ID``.

The end-to-end test builds its store with a real (tiny) study, refines one of its trials and
runs a refined study from it. The rest works on a store written by hand through
``tracking.Tracker``, so bad input is checked without starting Ray.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import search_spaces
from dals_tune import tracking
from dals_tune.cli import main
from dals_tune.grad_norm_series import STEP_GRAD_NORMS, step_grad_norms
from dals_tune.grad_norm_transient import initial_rise
from dals_tune.refine import GRAD_NORMS_DOCUMENT, refine, registered_source
from dals_tune.schedules import refined_schedule
from dals_tune.study.preflight import resolve_strategies

TINY = ["--max-epochs", "2", "--subset", "600", "--eval-subset", "200"]


def only_trial_run_ids(out: Path) -> list[str]:
    tracker = tracking.open_store(out)
    (study,) = tracker.all_studies()
    return [run["run_id"] for run in tracker.trials_of(study["run_id"])]


@pytest.mark.slow
def test_refine_a_trial_then_tune_the_peak_lr_of_its_schedule(tmp_path, capsys):
    out = tmp_path / "runs"
    search = ["search", *TINY, "--out", str(out)]
    assert main([*search, "--strategies", "cosine_sgd", "--samples", "1", "--seeds", "0"]) == 0
    (run_id,) = only_trial_run_ids(out)
    capsys.readouterr()

    assert main(["refine", "--run", run_id, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    folder = out / "refined" / run_id
    assert f"schedule: {folder / 'refined_schedule.json'}" in printed
    assert f"--strategies refined --refine-from {run_id}" in printed
    assert (folder / "refined_schedule.png").stat().st_size > 0
    saved = json.loads((folder / "refined_schedule.json").read_text())
    tracker = tracking.open_store(out)
    norms = tracker.document(run_id, GRAD_NORMS_DOCUMENT)
    steps = len(norms["l2"])
    assert norms["epoch_ends"][-1] == steps and len(norms["epoch_ends"]) == 2
    assert (saved["base"], saved["grad_norm_kind"], saved["total_steps"]) == ("sgd", "l2", steps)
    multipliers = saved["multipliers"]
    assert multipliers == pytest.approx(refined_schedule(norms["l2"], steps, "l2"))
    assert all(0.0 <= value <= 1.0 for value in multipliers) and multipliers[-1] == 0.0
    tags = tracker.run(run_id)["tags"]  # registered on the trial's run
    assert (tags["dals.refined"], tags["dals.refined_base"], tags["dals.refined_norm"]) == (
        "1", "sgd", "l2",
    )  # fmt: skip

    refined = [*search, "--strategies", "refined", "--refine-from", run_id]
    assert main([*refined, "--samples", "2", "--seeds", "1"]) == 0
    studies = tracker.all_studies()
    assert len(studies) == 2 and studies[0]["params"]["refine_from"] == run_id
    children = tracker.trials_of(studies[0]["run_id"])
    assert sorted(c["tags"]["kind"] for c in children) == ["rerun", "trial", "trial"]
    for child in children:
        assert child["tags"]["status"] == "completed"
        assert child["tags"]["refine_from"] == run_id
        assert child["params"]["base"] == "sgd" and child["params"]["grad_norm_kind"] == "l2"
        assert "grad_norms" not in child["params"]
        # The LR at each epoch's end is the peak LR times the schedule refined from the source
        # trial's norms, computed for this trial's own number of steps.
        own = tracker.document(child["run_id"], GRAD_NORMS_DOCUMENT)
        schedule = refined_schedule(norms["l2"], len(own["l2"]), "l2")
        peak = float(child["params"]["lr"])
        expected = [peak * schedule[min(end, len(schedule) - 1)] for end in own["epoch_ends"]]
        history = tracker.metric_history(child["run_id"], "lr")
        assert [value for _, value in history] == pytest.approx(expected)
        assert history[-1][1] == 0.0  # the refined schedule ends at zero


def hand_built_store(out: Path) -> dict[str, str]:
    """A study with an AdamW trial that logged per-step norms and one that did not."""
    tracker = tracking.open_store(out)
    parent = tracker.start_study("synthetic", {"regime": "scratch"}, {})
    epochs = [{"epoch": 1, "val_acc": 0.6, "lr": 2e-4}, {"epoch": 2, "val_acc": 0.7, "lr": 0.0}]
    norms = {
        "l1": [4.0, 3.0, None, 2.0, 2.0, 1.5, 1.0, 1.0],
        "l2": [0.4, 0.3, None, 0.2, 0.2, 0.15, 0.1, 0.1],
        "epoch_ends": [4, 8],
    }
    with_norms = tracker.log_trial(
        parent, "a", "adamw", 3, "completed", {"lr": 3e-4}, epochs,
        documents={GRAD_NORMS_DOCUMENT: norms},
    )  # fmt: skip
    without = tracker.log_trial(parent, "b", "adamw", 3, "completed", {"lr": 3e-4}, epochs)
    return {"parent": parent, "with_norms": with_norms, "without_norms": without}


def test_an_adam_type_trial_is_refined_for_adamw_from_its_l1_norms(tmp_path, capsys):
    runs = hand_built_store(tmp_path)
    tracker = tracking.open_store(tmp_path)
    refined = refine(tracker, runs["with_norms"], tmp_path / "refined")
    assert (refined.source.base, refined.source.grad_norm_kind) == ("adamw", "l1")
    l1 = [4.0, 3.0, math.nan, 2.0, 2.0, 1.5, 1.0, 1.0]  # the missing norm is dropped
    assert list(refined.multipliers) == pytest.approx(refined_schedule(l1, 8, "l1"))
    assert refined.plot_path.stat().st_size > 0
    source = registered_source(tracker, runs["with_norms"])
    assert source.pinned() == {"base": "adamw", "grad_norm_kind": "l1"}
    assert source.grad_norms[:2] == (4.0, 3.0) and math.isnan(source.grad_norms[2])
    search = ["search", "--strategies", "refined", "--refine-from", runs["with_norms"]]
    assert main([*search, "--workload", "synthetic_gauss10", "--out", str(tmp_path)]) == 2
    assert "refine a trial of the same workload" in capsys.readouterr().err


def test_a_trial_reports_its_per_step_norms_and_the_driver_joins_them():
    epochs = [
        {"epoch": 1, STEP_GRAD_NORMS: {"l1": [3.0, 2.0], "l2": [0.3, 0.2]}},
        {"epoch": 2, STEP_GRAD_NORMS: {"l1": [1.0, float("nan"), 1.0], "l2": [0.1, 0.1, 0.1]}},
    ]
    assert step_grad_norms(epochs) == {
        "l1": [3.0, 2.0, 1.0, None, 1.0],
        "l2": [0.3, 0.2, 0.1, 0.1, 0.1],
        "epoch_ends": [2, 5],
    }
    assert step_grad_norms([{"epoch": 1, "val_acc": 0.5}]) is None


RISING = [0.31] * 16 + [0.38] * 16 + [0.94] * 16 + [1.26] * 16 + [1.42] * 16  # per epoch


@pytest.mark.parametrize(
    ("norms", "past", "settled"),
    [
        # Rising to the end (the 5-epoch CIFAR-10 pilot of docs/results.md), windows of 8,
        # final level 1.42: the last window under 0.8 × 1.42 holds four 0.94s (steps 45-52),
        # so it settles at the middle of steps 46-53, step 49 of 80: too late.
        (RISING, False, 49),
        ([1.0 + step / 10 for step in range(50)], False, 37),  # windows of 5, ends at 5.7
        # Up from 1 to 3, then down to 2: below 1.6 while a window holds five 1s (up to
        # steps 16-23); settled from steps 17-24, middle step 20.
        ([1.0] * 20 + [3.0] * 20 + [2.0] * 40, True, 20),
        ([5 - step / 20 for step in range(80)], True, 4),  # falling: settled from the start
        ([2.0] * 40, True, 2),  # flat: windows of 4
        # A spike in the first steps, then a rise from 1 to 4 over steps 21-80, ending at
        # 3.82 (steps 73-80): the last window under 3.06 is steps 57-64, so step 61.
        ([3.0] * 10 + [1.0] * 10 + list(np.linspace(1.0, 4.0, 60)), False, 61),
        ([None, 1.0, math.nan, 2.0, 0.0, -1.0], False, 2),  # only 1.0 and 2.0 count
        ([], False, None),  # nothing to tell it by
    ],
)  # fmt: skip
def test_a_run_is_past_its_initial_rise_once_its_norm_stays_near_its_final_level(
    norms, past, settled
):
    transient = initial_rise(norms)
    assert (transient.past, transient.settled_step) == (past, settled)


def test_a_noisy_plateau_has_settled_and_a_late_sag_unsettles_it():
    plateau = [2.0 * (1.15 if step % 2 else 0.85) for step in range(90)]  # ±15 % around 2
    norms = [0.5] * 10 + plateau  # windows of 10: medians ≥ 1.7 once four 0.5s at most
    # are left in them, from the window of steps 7-16 (middle step 11) on
    transient = initial_rise(norms)
    assert (transient.past, transient.settled_step) == (True, 11)
    norms[60:75] = [1.0] * 15  # half the final level, for longer than a window
    assert not initial_rise(norms).past


def test_a_long_run_is_judged_at_the_schedules_resolution():
    rise, fall = np.linspace(1.0, 5.0, 30_000), np.linspace(5.0, 3.0, 30_000)
    transient = initial_rise([*rise, *fall])  # its last window's median is 3.2; 0.8 × 3.2
    assert transient.past and transient.steps == 60_000
    assert 11_650 < transient.settled_step < 11_750  # = 2.56, which the rise crosses at 11,700
    assert not initial_rise(list(rise)).past


def test_refine_records_whether_its_trial_was_past_its_initial_rise(tmp_path, capsys):
    runs = hand_built_store(tmp_path)  # the AdamW trial's norms fall from its first step
    tracker = tracking.open_store(tmp_path)
    epochs = [{"epoch": 1, "val_acc": 0.6}, {"epoch": 2, "val_acc": 0.7}]
    rising = {"l1": RISING, "l2": RISING, "epoch_ends": [40, 80]}
    short = tracker.log_trial(
        runs["parent"], "c", "linear_decay_sgd", 2, "completed", {"lr": 0.03}, epochs,
        documents={GRAD_NORMS_DOCUMENT: rising},
    )  # fmt: skip
    for run_id, past in ((runs["with_norms"], "1"), (short, "0")):
        assert main(["refine", "--run", run_id, "--out", str(tmp_path)]) == 0
        printed = capsys.readouterr().out
        assert tracker.run(run_id)["tags"]["dals.refined_past_transient"] == past
        saved = json.loads((tmp_path / "refined" / run_id / "refined_schedule.json").read_text())
        assert saved["past_transient"] is (past == "1")
        notes = [line for line in printed.splitlines() if line.startswith("note: ")]
        if past == "1":
            assert notes == []
        else:
            assert notes == [
                f"note: trial {short} is still in its initial rise: its smoothed gradient norm "
                "stays at 80% of its final level only from step 49 of 80 on, not for the run's "
                "second half; the refined schedule assumes norms past that rise, so it comes "
                "from a run too short for it (refine a longer run)"
            ]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """One hand-built store for the bad-input cases, which must leave it as it was."""
    out = tmp_path_factory.mktemp("store")
    return out, hand_built_store(out)


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize(
    ("command", "run", "message"),
    [
        (["refine"], "0" * 32, "no run '00000000000000000000000000000000'"),
        (["refine"], "parent", "is a study's parent run"),
        (["refine"], "without_norms", "has no per-step gradient norms"),
        (["search", "--strategies", "refined"], None, "pass --refine-from RUN_ID"),
        (["search", "--strategies", "refined"], "with_norms", "no refined schedule yet"),
        (["search", "--strategies", "refined"], "parent", "is a study's parent run"),
        (["search", "--strategies", "adamw"], "with_norms", "--refine-from is for the 'refined'"),
    ],
)
def test_bad_refine_input_is_one_line_exit_2_and_writes_nothing(
    shared_store, capsys, command, run, message
):
    out, runs = shared_store
    before = files_under(out)
    run_id = runs.get(run, run)
    flag = "--run" if command == ["refine"] else "--refine-from"
    code = main([*command, "--out", str(out), *([flag, run_id] if run_id else [])])
    error = capsys.readouterr().err
    assert code == 2 and message in error
    assert error.count("\n") == 1 and error.startswith("error: ")
    assert files_under(out) == before
    tracker = tracking.open_store(out)
    assert len(tracker.all_studies()) == 1
    assert "dals.refined" not in tracker.run(runs["with_norms"])["tags"]


def test_refine_without_a_store_creates_none(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["refine", "--run", "abc", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert f"no study store at {out / 'mlflow.db'}" in error
    assert not out.exists()


def test_the_refined_space_follows_the_registered_base(tmp_path):
    pinned = {"base": "adamw", "grad_norm_kind": "l1"}
    space = search_spaces.space_for("refined", "scratch", pinned)
    lr = space.parameter("lr")
    assert space.fixed == pinned and space.defaults["lr"] == pytest.approx(3e-4)
    assert (lr.low, lr.high) == pytest.approx((3e-5, 3e-3))  # around AdamW's default
    file = tmp_path / "space.yaml"
    file.write_text("refined:\n  weight_decay: 0.01\n")
    spaces = search_spaces.load_space_file(file, ["refined"], "scratch", {"refined": pinned})
    narrowed = spaces["refined"]
    assert narrowed.fixed == {**pinned, "weight_decay": 0.01}
    assert narrowed.names == ("lr",) and narrowed.parameter("lr").high == pytest.approx(3e-3)
    assert "refined" in resolve_strategies(["all"], with_refined=True)
