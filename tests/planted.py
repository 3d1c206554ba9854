"""Faults and pacing planted around the product's trainable, for studies run under Ray.

The product's trainable runs unchanged; only its calls of ``tune.report`` (Ray's public
API, which the trainable reaches through ``dals_tune.study.ray_tune.report_epoch``) pass through a
test's hook first. The hooks are shipped to Ray's workers by value
(``register_pickle_by_value``), so nothing in the package knows about tests.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrialCall:
    """One run of the trainable in a worker: a trial's start, or its restart from a
    checkpoint (a retry, or a PBT exploit)."""

    trial_id: str
    restored: bool  # whether this run began from a checkpoint


# around_report(call, report, metrics, *args, **kwargs) is called in place of each
# tune.report(metrics, *args, **kwargs), and calls ``report`` itself (or not). A function
# trainable's report returns once Tune has taken the result and its checkpoint and asks for
# the next epoch.
AroundReport = Callable[..., None]


def the_product_trainable_with(around_report: AroundReport) -> Callable[[dict], None]:
    """The product's trainable, with ``around_report`` in the way of each ``tune.report``."""

    def trainable(config: dict[str, Any]) -> None:
        from ray import tune

        from trainables import classification

        report = tune.report
        call = TrialCall(tune.get_context().get_trial_id(), tune.get_checkpoint() is not None)

        def hooked(metrics: dict, *args: Any, **kwargs: Any) -> None:
            around_report(call, report, metrics, *args, **kwargs)

        tune.report = hooked
        try:
            classification.classification_trainable(config)
        finally:
            tune.report = report

    return trainable


def ship_by_value(*modules: types.ModuleType | str) -> None:
    """Let Ray's workers unpickle the hooks defined in ``modules`` without importing them."""
    import ray.cloudpickle

    for module in (sys.modules[__name__], *modules):
        ray.cloudpickle.register_pickle_by_value(
            sys.modules[module] if isinstance(module, str) else module
        )


def with_planted_faults(monkeypatch: Any, trainable: Callable, *modules: str) -> None:
    """Make the study driver of this process run ``trainable`` instead of the product's;
    ``modules`` are those its hooks are defined in."""
    import trainables

    ship_by_value(*modules)
    monkeypatch.setattr(trainables, "classification_trainable", trainable)
