"""Datasets × models × regimes (DESIGN §6), behind one entry point::

workload = build_workload({"workload": "trec6", "seed": 0, "subset": 1000})
model = workload.model
for inputs, labels in workload.train_batches(epoch):
    loss = criterion(workload.forward(model, inputs), labels)
scores = workload.evaluate(model, "val")  # {"loss": ..., "acc": ...}: the loss and the metric
"""

from dals_tune.workloads.base import (
    DatasetNotFoundError,
    DatasetUnreadableError,
    ModelNotFoundError,
    Split,
    Workload,
)
from dals_tune.workloads.registry import WORKLOADS, build_workload, workload_ids

__all__ = [
    "WORKLOADS",
    "DatasetNotFoundError",
    "DatasetUnreadableError",
    "ModelNotFoundError",
    "Split",
    "Workload",
    "build_workload",
    "workload_ids",
]
