"""What a task is, for choosing its strategies, and how far apart two tasks are.

A task is described by four features: its regime (scratch or finetune), its model family
(mlp, convnet, resnet, transformer encoder), its training-set size n and its depth L (the
number of depth groups, DESIGN §2). The distance between two tasks a and b is

    d(a, b) = 100·[regime_a ≠ regime_b] + 10·[family_a ≠ family_b]
              + min(4, |log10 n_a − log10 n_b|) + min(4, |L_a − L_b| / 5),

so a regime mismatch outweighs everything else, a family mismatch outweighs size and depth
together, a factor of ten in data counts as much as five depth groups, and a size or depth
unknown on either side counts as its cap (4): unknown is far.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dals_tune.reports.study_runs import StudyRuns
from dals_tune.tracking_tags import MODEL_TAG, REGIME_TAG, WORKLOAD_TAG

REGIME_WEIGHT = 100.0
FAMILY_WEIGHT = 10.0
SIZE_CAP = 4.0  # in decades of training examples
DEPTH_CAP = 4.0
DEPTH_GROUPS_PER_UNIT = 5.0


@dataclass(frozen=True)
class TaskFeatures:
    """What the distance compares; ``name`` is ``workload/regime``."""

    name: str
    regime: str
    family: str
    train_size: int | None
    depth: int | None


def model_family(model: str) -> str:
    """The family of a study's ``model`` tag: ``mlp 20→256→2`` → mlp, ``small_convnet`` →
    convnet, ``resnet18`` → resnet; any other named model is a Hugging Face encoder (the only
    other kind a workload builds), an empty tag is unknown."""
    text = model.strip().lower()
    if not text:
        return "unknown"
    if text.startswith("mlp"):
        return "mlp"
    if "resnet" in text:
        return "resnet"
    if "conv" in text:
        return "convnet"
    return "transformer encoder"


def study_features(study: StudyRuns) -> TaskFeatures:
    """A stored study's features: regime and model from its tags, the training size and depth
    from its params (``train_size``, ``depth``). A study logged before ``depth`` was recorded
    gets it from its runs' per-layer LR metrics (one ``lr/<layer>`` per depth group)."""
    params = study.parent.get("params", {})
    depth = _whole(params.get("depth"))
    if depth is None:
        layered = [sum(name.startswith("lr/") for name in run.metric_names) for run in study.runs]
        depth = max(layered, default=0) or None
    regime = study.tags.get(REGIME_TAG, "")
    return TaskFeatures(
        name=f"{study.tags.get(WORKLOAD_TAG, '?')}/{regime or '?'}",
        regime=regime,
        family=model_family(study.tags.get(MODEL_TAG, "")),
        train_size=_whole(params.get("train_size")),
        depth=depth,
    )


def workload_features(workload: str, options: Mapping[str, Any]) -> TaskFeatures:
    """A new task's features, from building its workload (data and an untrained model, on the
    CPU) without training. ``options`` are fields of the trial contract's
    :class:`~dals_tune.trial.WorkloadSpec` (None: the default). An unknown workload or a
    missing dataset raises ``ValueError`` in one line."""
    from dals_tune.trial import WorkloadSpec
    from dals_tune.workloads import build_workload

    given = {key: value for key, value in options.items() if value is not None}
    facts = build_workload(WorkloadSpec(**{**given, "workload": workload, "device": "cpu"}))
    return facts_features(workload, facts.describe())


def facts_features(workload: str, facts: Mapping[str, Any]) -> TaskFeatures:
    """A task's features from its workload's facts (``Workload.describe()``: regime, model,
    training size, depth), for a study that has built its workload already."""
    return TaskFeatures(
        name=f"{workload}/{facts['regime']}",
        regime=facts["regime"],
        family=model_family(str(facts.get("model", ""))),
        train_size=_whole(facts.get("train_size")),
        depth=_whole(facts.get("depth")),
    )


def distance(a: TaskFeatures, b: TaskFeatures) -> float:
    """d(a, b) of the module docstring: regime, then family, then capped log size and depth."""
    if a.train_size and b.train_size:
        size = min(SIZE_CAP, abs(math.log10(a.train_size) - math.log10(b.train_size)))
    else:
        size = SIZE_CAP
    if a.depth and b.depth:
        depth = min(DEPTH_CAP, abs(a.depth - b.depth) / DEPTH_GROUPS_PER_UNIT)
    else:
        depth = DEPTH_CAP
    return (
        REGIME_WEIGHT * (a.regime != b.regime)
        + FAMILY_WEIGHT * (a.family != b.family)
        + size
        + depth
    )


def _whole(value: Any) -> int | None:
    """A positive count from a param or fact (``"18000"``, ``18000``); None when absent."""
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
