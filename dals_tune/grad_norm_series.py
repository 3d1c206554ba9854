"""The per-step gradient norms a trial reports, and the series the driver keeps of them.

Each epoch's report carries that epoch's per-step ℓ1/ℓ2 gradient norms under
:data:`STEP_GRAD_NORMS`, as ``{"l1": [...], "l2": [...]}``; the study driver joins the
epochs' series (:func:`step_grad_norms`) and logs it with the trial as a document, the input
of the refined schedule. The tracker logs lists as no metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

STEP_GRAD_NORMS = "step_grad_norms"


def step_grad_norms(epochs: list[Mapping[str, Any]]) -> dict[str, list] | None:
    """The per-step gradient norms of a trial's reported epochs, in epoch order, as
    ``{"l1": [...], "l2": [...], "epoch_ends": [...]}``: ``epoch_ends[e]`` is the number of
    optimizer steps taken by the end of epoch e + 1, and a non-finite norm is None (JSON has
    no NaN). The norms are float32, so 9 significant digits keep them exactly, in about half
    the text of a double's. None when no epoch carried them."""
    l1: list[float | None] = []
    l2: list[float | None] = []
    ends: list[int] = []
    for epoch in epochs:
        series = epoch.get(STEP_GRAD_NORMS)
        if not isinstance(series, Mapping):
            continue
        for values, out in ((series["l1"], l1), (series["l2"], l2)):
            out.extend(float(f"{v:.9g}") if _finite(v) else None for v in values)
        ends.append(len(l2))
    return {"l1": l1, "l2": l2, "epoch_ends": ends} if ends else None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
