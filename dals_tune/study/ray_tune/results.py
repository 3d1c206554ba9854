"""Tune's results, read back: each trial becomes the driver's :class:`TrialOutcome`.

This is the boundary where Ray's shapes end: the config Tune hands a trial (a re-run's
``"run"`` grid point, a joint study's ``"dals.lr"`` names) is read into the trial contract,
and Ray's own result keys are dropped, so the driver sees the strategy, its
hyperparameters, the seed and the epochs the trainer reported.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dals_tune.study.outcomes import TrialOutcome
from dals_tune.study.plans import TrialPlan
from dals_tune.study.ray_tune.trial_side import trial_spec

# Keys Ray adds to every reported result; everything else came from the trainer, except
# ``time_total_s`` (the trial's wall time so far, evaluation and checkpoints included), kept.
_RAY_RESULT_KEYS = {
    "timestamp", "checkpoint_dir_name", "done", "training_iteration", "trial_id", "date",
    "time_this_iter_s", "pid", "hostname", "node_ip", "config",
    "time_since_restore", "iterations_since_restore", "experiment_tag", "should_checkpoint",
    "episodes_total", "timesteps_total", "timesteps_since_restore", "experiment_id",
}  # fmt: skip


def outcome(
    trial_id: str,
    config: Mapping[str, Any],
    epochs: Mapping[int, dict[str, Any]],
    plan: TrialPlan,
    error: str | None,
    reported_at: Mapping[int, float] | None = None,
) -> TrialOutcome:
    """The driver's record of one trial: its contract read from Tune's config, its epochs in
    order, and when it ran (:func:`trial_times`, from ``reported_at``: when each epoch's
    result was reported, by epoch). Its status is the driver's to judge
    (:func:`dals_tune.study.outcomes.judged`)."""
    spec = trial_spec(dict(config))
    ordered = [epochs[k] for k in sorted(epochs)]
    node_ids = [e["node_id"] for e in ordered if e.get("node_id")]
    started_at, ended_at = trial_times(epochs, reported_at or {})
    return TrialOutcome(
        trial_id=trial_id,
        kind=plan.kind,
        strategy=str(spec.strategy),
        hyperparameters=dict(spec.hyperparameters),
        seed=spec.seed,
        epochs=ordered,
        error=error,
        node_id=node_ids[-1] if node_ids else None,
        started_at=started_at,
        ended_at=ended_at,
    )


def trial_times(
    epochs: Mapping[int, Mapping[str, Any]], reported_at: Mapping[int, float]
) -> tuple[float | None, float | None]:
    """When a trial started and ended, in seconds since the epoch: it ended when its last
    result was reported, and started its first result's ``time_total_s`` (Tune's clock of the
    trial's own time: set-up, the epoch, its evaluation) before that result was reported.
    Without a report time for both, (None, None): the record then keeps the logging time."""
    reported = sorted(epoch for epoch in epochs if epoch in reported_at)
    if not reported:
        return None, None
    first = epochs[reported[0]]
    before = first.get("time_total_s", first.get("epoch_seconds", 0.0))
    try:
        before = max(float(before), 0.0)
    except (TypeError, ValueError):
        before = 0.0
    return reported_at[reported[0]] - before, reported_at[reported[-1]]


def outcome_from_files(folder: Path, config: dict, plan: TrialPlan, error: Any) -> TrialOutcome:
    """A trial that finished before an interruption: its epochs (and their report times)
    from its ``result.json``, its config from ``params.json`` when Tune's restored result has
    none (a trial that errored before its first result, e.g. on a full disk)."""
    epochs = read_results(folder)
    message = None if error is None else _first_line(str(error), last=True)
    if not config:
        with contextlib.suppress(OSError, ValueError):
            config = json.loads((folder / "params.json").read_text())
    return outcome(_trial_id_in(folder), config, epochs, plan, message, report_times(folder))


def _trial_id_in(folder: Path) -> str:
    """The trial id Tune wrote into the trial's results (the folder name if there are none)."""
    path = folder / "result.json"
    lines = path.read_text().splitlines() if path.exists() else []
    for line in reversed(lines):
        with contextlib.suppress(json.JSONDecodeError):
            return str(json.loads(line)["trial_id"])
    return folder.name


def read_results(folder: Path) -> dict[int, dict[str, Any]]:
    """The epochs Tune wrote to ``result.json`` (one JSON object per line), by epoch."""
    epochs: dict[int, dict[str, Any]] = {}
    path = folder / "result.json"
    if not path.exists():
        return epochs
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            metrics = trainer_metrics(json.loads(line))
            if "epoch" in metrics:
                epochs[int(metrics["epoch"])] = metrics
    return epochs


def report_times(folder: Path) -> dict[int, float]:
    """When each epoch in ``result.json`` was reported: Ray's ``timestamp`` (whole seconds)."""
    times: dict[int, float] = {}
    path = folder / "result.json"
    if not path.exists():
        return times
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError, ValueError):
            result = json.loads(line)
            times[int(result["epoch"])] = float(result["timestamp"])
    return times


def trainer_metrics(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in _RAY_RESULT_KEYS}


def error_line(trial: Any) -> str:
    """The last line of the trial's error file (the exception and its message)."""
    path = getattr(trial, "error_file", None)
    with contextlib.suppress(OSError, TypeError):
        if path and Path(path).exists():
            return _first_line(Path(path).read_text(), last=True)
    return "the trial raised an error (see its error.txt in the Ray storage)"


def _first_line(text: str, last: bool = False) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    return lines[-1] if last else lines[0]
