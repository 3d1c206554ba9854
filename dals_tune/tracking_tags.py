"""The names of the tags a study's runs carry in the MLflow store, defined once.

``dals_tune.tracking`` writes them; the reports, ``refine``, ``recommend`` and ``benchmark``
read them back from the run records. The values are the store's layout: renaming one leaves
every store written before unreadable, so a new tag gets a new name and an old one keeps its
own. Nothing heavy is imported here, so a reader can use the names without loading MLflow.
"""

from __future__ import annotations

# ----- on the experiment (one per workload) ---------------------------------------------------

# MLflow's own: which of its UI's views the experiment belongs to. MLflow 3 opens an
# experiment without it in the GenAI views (traces, evaluations); a study is model training.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"

# ----- on every run ---------------------------------------------------------------------------

KIND_TAG = "kind"  # STUDY_KIND on a study's parent run, one of TRIAL_KINDS on a child
WORKLOAD_TAG = "workload"  # the workload (also the experiment's name)

# ----- a study's parent run -------------------------------------------------------------------

DATASET_TAG = "dataset"
REGIME_TAG = "regime"  # scratch | finetune
MODEL_TAG = "model"
SEARCHER_TAG = "searcher"
SAMPLER_TAG = "sampler"  # the Optuna sampler with every setting: study.samplers
SCHEDULER_TAG = "scheduler"
MODE_TAG = "mode"  # "joint" when one searcher picks the strategies as well
BUDGET_TAG = "budget"
SEED_TAG = "seed"  # the study's seed; on a seed re-run, that re-run's seed
# The objective (dals_tune.objective.Objective.describe): the metric's short name, max | min,
# and the target in the metric's units. Stores from before metrics had a direction carry
# only TARGET_ACCURACY_TAG, read as an accuracy target.
METRIC_TAG = "metric"
METRIC_MODE_TAG = "metric_mode"
TARGET_TAG = "target"
TARGET_ACCURACY_TAG = "target_accuracy"
VERSION_TAG = "dals_tune.version"
GIT_COMMIT_TAG = "git_commit"
COMMAND_TAG = "dals.command"  # the command line that started the study (provenance)
# A benchmark's refined-schedule pilot: the study it pilots ("cifar10/scratch"). A pilot is
# a study of one strategy, never counted across studies (cross_study.latest_finished).
PILOT_FOR_TAG = "dals.pilot_for"
HARDWARE_TAG = "dals.hardware"  # where it ran: the Ray cluster's resources and the CPU model
WINNER_TAG = "dals.winner"
# The others of the winner's tie group (comma-separated; empty: it leads alone).
TIED_WITH_TAG = "dals.tied_with"
# The winner's validation value, named after the study's metric (Objective.winner_key); the
# parent's metric of the same value drops the "dals." (Objective.winner_metric).
WINNER_VALUE_TAG = "dals.winner_val_{metric}"
WINNER_VAL_ACC_TAG = WINNER_VALUE_TAG.format(metric="acc")  # an accuracy study's
# A race's (--mode race): the round whose results dropped a strategy from it, one tag per
# dropped strategy (``dals.dropped_in_round.adamw`` = "1"); survivors have none.
DROPPED_IN_ROUND_TAG = "dals.dropped_in_round.{strategy}"
# MLflow's own: the run's description, shown first on its page (Markdown). On a study's
# parent run: the winner, the leaderboard and the plots attached (``Tracker.finish_study``).
DESCRIPTION_TAG = "mlflow.note.content"

# ----- a study's child runs (trials and seed re-runs) ---------------------------------------

PARENT_TAG = "mlflow.parentRunId"  # MLflow's own: the UI nests children under their study
KEY_TAG = "dals.key"  # kind:trial_id:seed, what makes logging a trial twice a no-op
# A child run is complete once this tag is set (the last write of ``Tracker.log_trial``); a
# child without it was cut off mid-logging and is replaced when the trial is logged again.
LOGGED_TAG = "dals.logged"
TRIAL_ID_TAG = "trial_id"
STRATEGY_TAG = "strategy"
GENERATION_TAG = "generation"
STATUS_TAG = "status"  # one of TRIAL_STATUSES
ERROR_TAG = "error"  # an errored trial's message
DEFAULT_TAG = "default"  # "1": the trial evaluated its strategy's default configuration
# A search trial's: where its configuration came from, one of default | warm-start | sampler
# (study.warm_start.TRIAL_SOURCES); a warm-start trial's WARM_START_FROM_TAG is the run id of
# the finished study's trial whose configuration it repeats.
TRIAL_SOURCE_TAG = "source"
WARM_START_FROM_TAG = "warm_start_from"
NODE_ID_TAG = "node_id"  # the Ray node the trial ran on
SOURCE_TRIAL_TAG = "source_trial"  # a seed re-run's: the trial whose configuration it repeats
REFINE_FROM_TAG = "refine_from"  # a refined trial's: the run its gradient norms come from
RACE_ROUND_TAG = "race_round"  # a race's trial: the round it ran in (0: the defaults)
# Set by ``refine`` on the trial a refined schedule was computed from.
REFINED_TAG = "dals.refined"  # "1" once the schedule's files are attached
REFINED_BASE_TAG = "dals.refined_base"  # sgd | adamw
REFINED_NORM_TAG = "dals.refined_norm"  # l2 | l1
# "1" | "0": whether the norms the refined schedule comes from are past their initial rise
# (dals_tune.grad_norm_transient). Set by ``refine`` on the trial it refined, and by a refined
# study on each of its trials, about the trial they were refined from.
REFINED_PAST_TRANSIENT_TAG = "dals.refined_past_transient"

# ----- tag values -----------------------------------------------------------------------------

STUDY_KIND = "study"
TRIAL_KINDS = ("trial", "rerun")
TRIAL_STATUSES = ("completed", "pruned", "errored", "diverged")
# A study's identity on its parent run (the driver passes all but the workload).
STUDY_TAGS = (
    WORKLOAD_TAG,
    DATASET_TAG,
    REGIME_TAG,
    MODEL_TAG,
    SEARCHER_TAG,
    SCHEDULER_TAG,
    BUDGET_TAG,
    SEED_TAG,
)
