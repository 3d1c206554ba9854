"""Ctrl-C during a study: one line saying how to go on, exit 130, and a store that
``search --resume`` finishes with every trial recorded once (docs/bad_inputs.md).

Tune catches the first SIGINT itself, saves its state and ends the Tuner run early; before
``TuneRunInterrupted`` the driver read that run's pending trials as results and stopped on
``the config needs a 'workload' key``, exit 2, as if the input were bad. On its way it
deleted the stopped trials' checkpoints and ended their Optuna trials FAIL, so the resume
that should have continued them from their last epoch crashed instead."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import user_modules
from optuna.trial import TrialState

from dals_tune import cli, tracking
from dals_tune.cli import INTERRUPTED, INTERRUPTED_HINT
from dals_tune.study.ray_tune import tuner
from dals_tune.tracking_tags import KEY_TAG, KIND_TAG

# A user's classifier whose forward pass is slow (0.2 s a batch, 2 s an epoch) while the
# file SLOW exists.
SLOW_CLASSIFIER = user_modules.CLASSIFIER.replace(
    "    def forward(self, features):\n",
    "    def forward(self, features):\n"
    "        if self.training and Path(SLOW).exists():\n"
    "            time.sleep(0.2)\n",
).replace("import torch\n", "import time\nfrom pathlib import Path\n\nimport torch\n", 1)


def test_main_turns_ctrl_c_into_one_line_and_exit_130(monkeypatch, capsys):
    def pressed_ctrl_c(args):
        raise KeyboardInterrupt

    class Parser:
        def parse_args(self, argv):
            return argparse.Namespace(command="search", run=pressed_ctrl_c)

    monkeypatch.setattr(cli, "build_parser", Parser)
    assert cli.main(["search"]) == cli.INTERRUPTED == 130
    assert capsys.readouterr().err == f"interrupted: {cli.INTERRUPTED_HINT}\n"


def tune_like_fit(ctrl_c: bool) -> None:
    """What a Tuner fit does with SIGINT (Ray 2.x, ``tune.tune._setup_signal_catching``): it
    installs its own handler and, on Ctrl-C, puts back the one it found."""
    found = signal.getsignal(signal.SIGINT)

    def tunes(signum, frame):
        signal.signal(signal.SIGINT, found)

    signal.signal(signal.SIGINT, tunes)
    if ctrl_c:
        tunes(signal.SIGINT, None)


@pytest.mark.parametrize("ctrl_c", [False, True])
def test_the_watch_tells_a_fit_that_ctrl_c_stopped_and_restores_the_handler(ctrl_c):
    before = signal.getsignal(signal.SIGINT)
    with tuner._ctrl_c_watch() as watch:
        tune_like_fit(ctrl_c)
    assert watch.stopped_the_run is ctrl_c
    assert signal.getsignal(signal.SIGINT) is before  # not the fit's, left behind


@pytest.mark.slow
def test_ctrl_c_during_a_search_ends_in_one_line_and_resume_finishes_it(tmp_path):
    slow = tmp_path / "slow"
    user_modules.write_module(tmp_path, "slow_task", f"SLOW = {str(slow)!r}\n" + SLOW_CLASSIFIER)
    slow.touch()
    search = [sys.executable, "-m", "dals_tune", "search", "--out", "runs"]
    driver = subprocess.Popen(
        [*search, "--workload", "slow_task:build", "--strategies", "adamw,fixed_sgd",
         "--samples", "2", "--max-epochs", "4", "--seeds", "1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Ctrl-C once the first trial has saved its first epoch, with three epochs to go.
    give_up = time.monotonic() + 300
    while not (saved := saved_checkpoints(tmp_path)) and driver.poll() is None:
        assert time.monotonic() < give_up, "no trial saved a checkpoint"
        time.sleep(0.1)
    driver.send_signal(signal.SIGINT)
    out, err = driver.communicate(timeout=180)
    assert driver.returncode == INTERRUPTED, (out + err)[-3000:]
    assert "Traceback" not in err and "error:" not in err
    assert err.strip().splitlines()[-1] == f"interrupted: {INTERRUPTED_HINT}"
    # What the resume needs to continue the stopped trial is left as Tune saved it.
    assert saved <= saved_checkpoints(tmp_path)
    assert not optuna_trials(tmp_path / "runs", TrialState.FAIL)

    # Without them the resume is refused in one line; put back, they resume as if untouched.
    present = sorted(saved_checkpoints(tmp_path))
    aside = {path: tmp_path / f"aside-{n}" for n, path in enumerate(present)}
    for path, place in aside.items():
        path.rename(place)
    refused = subprocess.run(
        [*search, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 2, (refused.stdout + refused.stderr)[-3000:]
    assert "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: cannot resume the trials in")
    for path, place in aside.items():
        place.rename(path)

    slow.unlink()  # the rest runs fast
    done = subprocess.run(
        [*search, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    tracker = tracking.open_store(Path(tmp_path / "runs"))
    (study,) = tracker.all_studies()
    assert study["status"] == "FINISHED"
    runs = tracker.trials_of(study["run_id"])
    trials = [run for run in runs if run["tags"][KIND_TAG] == "trial"]
    keys = [run["tags"][KEY_TAG] for run in runs]
    assert len(trials) == 4 and len(keys) == len(set(keys)), keys  # 2 strategies × 2, once each


def saved_checkpoints(folder: Path) -> set[Path]:
    return set((folder / "runs" / "ray").rglob("checkpoint_*"))


def optuna_trials(out: Path, state: TrialState) -> list:
    storage = f"sqlite:///{out / 'optuna.db'}"
    return [
        trial
        for name in optuna.get_all_study_names(storage)
        for trial in optuna.load_study(study_name=name, storage=storage).get_trials(
            deepcopy=False, states=(state,)
        )
    ]
