"""Our records as MLflow's entities, and MLflow's runs as our records: params from
hyperparameters, metrics from per-epoch dicts (at ``step = epoch``, stamped on the trial's
own clock), tag values and keys MLflow accepts, a child run's name. No store is touched
here; :mod:`dals_tune.tracking` writes and reads what these functions make.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH

from dals_tune.tracking_tags import TRIAL_KINDS, TRIAL_STATUSES

MAX_LIST_PARAM = 16  # longer lists (grad_norms, per-step histories) are data, not parameters
_KEY_SAFE = re.compile(r"[^\w\-. /:]")
_TRIAL_NUMBER = re.compile(r"(\d+)$")  # Ray's trial ids end in the trial's index: 3f2a_00003


def as_params(params: Mapping[str, Any]) -> list[Param]:
    """Hyperparameters as MLflow params: strings, long lists skipped, long values cut."""
    out = []
    for key, value in flatten(params).items():
        if isinstance(value, (list, tuple, set)) and len(value) > MAX_LIST_PARAM:
            continue
        if hasattr(value, "shape") and getattr(value, "size", 0) > MAX_LIST_PARAM:
            continue  # numpy arrays and tensors
        text = str(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            text = text[: MAX_PARAM_VAL_LENGTH - 3] + "..."
        out.append(Param(safe_key(key), text))
    return out


def child_key(status: str, kind: str, trial_id: str, seed: int | None) -> str:
    """A trial's child run's ``KEY_TAG``, ``kind:trial_id:seed``, once ``status`` and
    ``kind`` are known ones."""
    if status not in TRIAL_STATUSES:
        raise ValueError(f"unknown trial status {status!r}; use one of {TRIAL_STATUSES}")
    if kind not in TRIAL_KINDS:
        raise ValueError(f"unknown run kind {kind!r}; use one of {TRIAL_KINDS}")
    return f"{kind}:{trial_id}:{'' if seed is None else seed}"


def trial_run_name(strategy: str, trial_id: str, seed: int | None = None) -> str:
    """A child run's name: ``adamw · trial 3`` for a search trial (the number that ends
    its trial id, else the whole id), ``adamw · seed 3`` for a seed re-run."""
    if seed is not None:
        return f"{strategy} · seed {seed}"
    number = _TRIAL_NUMBER.search(str(trial_id))
    return f"{strategy} · trial {int(number.group(1)) if number else trial_id}"


def epoch_metrics(
    epochs: Iterable[Mapping[str, Any]], started_at: float | None = None
) -> list[Metric]:
    """Every numeric value of every epoch at ``step = epoch``; stamped at the epoch's end on
    the trial's own clock when ``started_at`` is known (see ``Tracker.log_trial``)."""
    metrics = []
    now = int(time.time() * 1000)
    elapsed = 0.0
    for position, epoch in enumerate(epochs, start=1):
        step = epoch.get("epoch", position)
        step = int(step) if isinstance(step, (int, float)) and math.isfinite(step) else position
        elapsed += _seconds(epoch.get("epoch_seconds"))
        stamp = now
        if started_at is not None:
            total = epoch.get("time_total_s")
            since_start = _seconds(total) if _seconds(total) > 0 else elapsed
            stamp = milliseconds(started_at + since_start)
        for key, value in flatten(epoch).items():
            if key == "epoch" or isinstance(value, str) or value is None:
                continue
            try:
                number = float(value)  # ints, floats, bools, numpy and 0-d torch scalars
            except (TypeError, ValueError):
                continue
            metrics.append(as_metric(safe_key(key), number, step, stamp))
    return metrics


def _seconds(value: Any) -> float:
    """A duration a trainer reported, 0 when missing or not a finite number."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def milliseconds(seconds: float | None) -> int | None:
    """Seconds since the epoch as MLflow's milliseconds; None stays None (MLflow: now)."""
    return None if seconds is None else round(seconds * 1000)


def description_value(text: str) -> str:
    """A description MLflow can store: within its tag limit, cut at a line if longer."""
    if len(text) <= MAX_TAG_VAL_LENGTH:
        return text
    cut = "\n\n… (cut to fit; the full leaderboard is the artifact leaderboard.md)\n"
    kept = text[: MAX_TAG_VAL_LENGTH - len(cut)]
    return kept[: kept.rfind("\n") + 1 or len(kept)].rstrip("\n") + cut


def as_metric(key: str, value: float, step: int, timestamp: int | None = None) -> Metric:
    return Metric(key, value, timestamp or int(time.time() * 1000), step)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def as_record(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "artifact_uri": run.info.artifact_uri,
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
    }


def tag_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 5000 else text[:4997] + "..."


def safe_key(key: str) -> str:
    return _KEY_SAFE.sub("_", str(key))


def safe_folder(name: str) -> str:
    return re.sub(r"[^\w\-.]", "_", name)


def quote(text: str) -> str:
    return text.replace("'", "\\'")
