"""A trial's checkpoint: all that an exact resume needs, in one file per reported epoch.

``trial_state.pt`` holds the epochs done, the best-so-far values, the hyperparameters the
trial ran with (PBT compares them with its new config's), the model, optimizer and scheduler
states, the global RNG states, the epochs' records and the per-step gradient norms. A trial
with ``--folds K`` trains K models in lockstep, so its ``model``, ``optimizer`` and
``scheduler`` entries are lists of K states, fold by fold; a resumed or PBT-exploited trial
goes on with every fold. Without folds they are single states, as they always were, so a
checkpoint written before folds existed still resumes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from dals_tune.training import Learner, TrialRecord

CHECKPOINT_FILE = "trial_state.pt"
CHECKPOINT_KEYS = (
    "epochs_done", "best", "model", "optimizer", "scheduler", "rng", "epochs", "grad_norms_l1",
    "grad_norms_l2",
)  # fmt: skip
PER_LEARNER_KEYS = ("model", "optimizer", "scheduler")  # one state per fold with --folds


def save(
    folder: Path,
    epochs_done: int,
    best: dict[str, float],
    learners: Sequence[Learner],
    record: TrialRecord,
    hyperparameters: Mapping[str, Any],
) -> None:
    states = {
        "model": [learner.model.state_dict() for learner in learners],
        "optimizer": [learner.optimizer.state_dict() for learner in learners],
        "scheduler": [
            None if learner.scheduler is None else learner.scheduler.state_dict()
            for learner in learners
        ],
    }
    if len(learners) == 1:  # one model: single states
        states = {key: values[0] for key, values in states.items()}
    torch.save(
        {
            "epochs_done": epochs_done,
            "hyperparameters": dict(hyperparameters),
            "best": best,
            **states,
            "rng": {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            "epochs": record.epochs,
            "grad_norms_l1": record.grad_norms_l1,
            "grad_norms_l2": record.grad_norms_l2,
        },
        folder / CHECKPOINT_FILE,
    )


def restore(
    folder: Path, learners: Sequence[Learner], record: TrialRecord
) -> tuple[int, dict[str, float], dict[str, Any] | None]:
    """Load a checkpoint :func:`save` wrote into ``learners`` and ``record``, or refuse it in
    one line; returns ``(epochs done, best so far, the hyperparameters it ran with)``.

    A damaged checkpoint is an error, not a fresh start: a trial that silently began again
    would report a budget it did not spend (and, under PBT, lose the weights it was given).
    Under Ray Tune the trial ends as errored with this message, and the study goes on."""
    path = folder / CHECKPOINT_FILE
    if not path.is_file():
        raise ValueError(f"no trial checkpoint at {path}; resume from a folder train() reported")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        missing = [key for key in CHECKPOINT_KEYS if key not in state]
        if missing:
            raise KeyError(f"it lacks {', '.join(missing)}")
        models, optimizers, schedulers = (
            _per_learner(state[key], len(learners)) for key in PER_LEARNER_KEYS
        )
        for learner, model, optimizer, scheduler in zip(learners, models, optimizers, schedulers):
            learner.model.load_state_dict(model)
            learner.optimizer.load_state_dict(optimizer)
            if learner.scheduler is not None and scheduler is not None:
                learner.scheduler.load_state_dict(scheduler)
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        restored = int(state["epochs_done"]), dict(state["best"]), state.get("hyperparameters")
    except Exception as error:  # truncated, foreign, or from another model: say so in one line
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        reason = reason.split(". ")[0].strip("'\"")[:160]
        raise ValueError(
            f"cannot resume from {path}: damaged, or not written by train() for this workload "
            f"and strategy ({reason}); resume from another checkpoint, or from none to start "
            "the trial afresh"
        ) from error
    record.epochs.extend(state["epochs"])
    record.grad_norms_l1.extend(state["grad_norms_l1"])
    record.grad_norms_l2.extend(state["grad_norms_l2"])
    return restored


def _per_learner(saved: Any, learners: int) -> list[Any]:
    """A checkpoint entry as one state per learner; a fold count that differs from the
    trial's is refused (a 5-fold trial cannot go on from a 3-fold one)."""
    states = saved if isinstance(saved, list) else [saved]
    if len(states) != learners:
        raise ValueError(
            f"it holds {len(states)} model state(s), this trial trains {learners} (one per fold)"
        )
    return states
