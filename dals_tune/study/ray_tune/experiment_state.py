"""Reading the experiment state Tune saves in a plan's folder (``experiment_state-*.json``),
the file ``Tuner.restore`` loads: which trials it lists as finished, and which unfinished
ones a restore could not continue because their latest checkpoint is gone."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

FINISHED = ("TERMINATED", "ERROR")
# What reading a state file half written, or not written by Tune, raises.
UNREADABLE = (OSError, ValueError, TypeError, AttributeError)


def newest(folder: Path) -> tuple[str, float] | None:
    """(path, mtime) of the experiment state ``Tuner.restore`` would load from ``folder``."""
    found = None
    for path in folder.glob("experiment_state-*.json"):
        with contextlib.suppress(OSError):
            mtime = path.stat().st_mtime
            if found is None or mtime > found[1]:
                found = (str(path), mtime)
    return found


def finished_trials(state_file: Path) -> set[str]:
    """Ids of the trials a state file lists as terminated or errored (nothing while the file
    is being written)."""
    try:
        return {
            str(trial.get("trial_id"))
            for trial, _metadata in _trials(state_file)
            if trial.get("status") in FINISHED
        }
    except UNREADABLE:
        return set()


def lost_checkpoints(folder: Path) -> list[Path]:
    """The latest checkpoints of the unfinished trials in ``folder``'s newest state that are
    no longer on disk: a restore would fail on each (Tune continues a trial only from its
    checkpoint). Unreadable state lists none; the restore then says what is wrong."""
    state = newest(folder)
    if state is None:
        return []
    try:
        lost = []
        for trial, metadata in _trials(Path(state[0])):
            name = (metadata.get("last_result") or {}).get("checkpoint_dir_name")
            if trial.get("status") in FINISHED or not name:
                continue
            checkpoint = folder / str(trial.get("relative_logdir")) / str(name)
            if not checkpoint.exists():
                lost.append(checkpoint)
        return lost
    except UNREADABLE:
        return []


def _trials(state_file: Path) -> list[tuple[dict, dict]]:
    """(trial, run metadata) of each trial in a state file, both as Tune wrote them."""
    trial_data = json.loads(state_file.read_text()).get("trial_data", [])
    return [(json.loads(trial), json.loads(metadata)) for trial, metadata in trial_data]
