"""Everything that imports Ray: the only package that does.

- inside a trial: :func:`report_epoch`, :func:`resume_checkpoint` and :func:`trial_spec`
  (``trial_side``), which the trainable in ``trainables/`` calls;
- in the driver: :func:`connect` (a local Ray, or ``--address`` to join a cluster;
  ``cluster``) and :func:`run_trials` (``tuner``), which runs one
  :class:`~dals_tune.study.plans.TrialPlan` as a ``tune.Tuner`` with its searcher
  (``searchers``), scheduler (``schedulers``) and Tune domains (``domains``), and hands
  every finished trial to the driver as a :class:`~dals_tune.study.outcomes.TrialOutcome`
  (``collector``, ``results``), the moment it finishes and again when the Tuner returns.

The driver (:mod:`dals_tune.study.runner`) decides *what* to run and what a trial's outcome
means; this package only knows *how* to run it on Ray.
"""

import os

# Before Ray is imported: no usage stats, no "new output engine" banner, no metrics exporter.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
os.environ.setdefault("RAY_enable_metrics_collection", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "1e9")

from dals_tune.study.ray_tune.cluster import Cluster, connect, disconnect
from dals_tune.study.ray_tune.domains import tune_param_space
from dals_tune.study.ray_tune.trial_side import (
    report_epoch,
    resume_checkpoint,
    trial_spec,
)
from dals_tune.study.ray_tune.tuner import run_trials

__all__ = [
    "Cluster",
    "connect",
    "disconnect",
    "report_epoch",
    "resume_checkpoint",
    "run_trials",
    "trial_spec",
    "tune_param_space",
]
