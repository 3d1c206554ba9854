"""Reading Tune's saved experiment state: finished trials, and unfinished ones whose latest
checkpoint is gone (a restore would fail on them). The file is written here the way Tune 2.x
writes it: ``trial_data`` pairs of a trial's JSON and its run metadata's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dals_tune.study.plans import TrialPlan
from dals_tune.study.ray_tune import experiment_state
from dals_tune.study.ray_tune.tuner import refuse_lost_checkpoints


def write_state(folder: Path, trials: list[tuple[str, str, str | None]]) -> None:
    """``trials``: (id, status, latest checkpoint's folder name or None)."""
    data = []
    for trial_id, status, checkpoint in trials:
        trial = {"trial_id": trial_id, "status": status, "relative_logdir": f"trial_{trial_id}"}
        last_result = {"epoch": 1, "checkpoint_dir_name": checkpoint} if checkpoint else {}
        data.append([json.dumps(trial), json.dumps({"last_result": last_result})])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "experiment_state-2026-12-03_14-01-06.json").write_text(
        json.dumps({"trial_data": data})
    )


def test_lost_checkpoints_names_only_unfinished_trials_whose_checkpoint_is_gone(tmp_path):
    write_state(
        tmp_path,
        [
            ("kept", "RUNNING", "checkpoint_000001"),
            ("lost", "RUNNING", "checkpoint_000000"),
            ("pending", "PENDING", None),  # nothing saved yet: it starts afresh
            ("done", "TERMINATED", "checkpoint_000001"),  # its checkpoints are dropped
            ("failed", "ERROR", "checkpoint_000000"),
        ],
    )
    (tmp_path / "trial_kept" / "checkpoint_000001").mkdir(parents=True)
    assert experiment_state.lost_checkpoints(tmp_path) == [
        tmp_path / "trial_lost" / "checkpoint_000000"
    ]
    state = Path(experiment_state.newest(tmp_path)[0])
    assert experiment_state.finished_trials(state) == {"done", "failed"}


def test_no_state_or_an_unreadable_one_lists_nothing(tmp_path):
    assert experiment_state.lost_checkpoints(tmp_path) == []
    (tmp_path / "experiment_state-x.json").write_text('{"trial_data": [["{", ')
    assert experiment_state.lost_checkpoints(tmp_path) == []
    assert experiment_state.finished_trials(tmp_path / "experiment_state-x.json") == set()


def test_a_restore_with_a_lost_checkpoint_is_refused_in_one_line(tmp_path):
    plan = TrialPlan(
        name="race-round-1", storage=tmp_path, constants={}, num_samples=1, max_epochs=2
    )
    write_state(plan.folder, [("lost", "RUNNING", "checkpoint_000000")])
    with pytest.raises(ValueError, match=r"cannot resume the trials in .*race-round-1: 1 of"):
        refuse_lost_checkpoints(plan)
    (plan.folder / "trial_lost" / "checkpoint_000000").mkdir(parents=True)
    refuse_lost_checkpoints(plan)  # back in place: the restore goes on
