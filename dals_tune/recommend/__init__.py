"""Strategy selection: which strategies to try first on a new task, read from the finished
studies in the store, and how much better that does than always using one strategy.

- ``features``: a task's four features and the distance between two tasks;
- ``finished``: the counted studies of a store, read into features and leaderboards;
- ``selection``: the nearest studies, the ranking they give, and its leave-one-out test;
- ``command``: the ``recommend`` command, which writes the advice as report files.
"""

from dals_tune.recommend.command import WrittenAdvice, write_recommendation
from dals_tune.recommend.features import (
    TaskFeatures,
    distance,
    facts_features,
    model_family,
    study_features,
    workload_features,
)
from dals_tune.recommend.finished import FinishedStudy, finished_studies
from dals_tune.recommend.selection import (
    Advice,
    HeldOut,
    LeaveOneOut,
    Neighbour,
    Pick,
    Recommendation,
    advise,
    leave_one_out,
    nearest,
    pick,
    recommend,
)

__all__ = [
    "Advice",
    "FinishedStudy",
    "HeldOut",
    "LeaveOneOut",
    "Neighbour",
    "Pick",
    "Recommendation",
    "TaskFeatures",
    "WrittenAdvice",
    "advise",
    "distance",
    "facts_features",
    "finished_studies",
    "leave_one_out",
    "model_family",
    "nearest",
    "pick",
    "recommend",
    "study_features",
    "workload_features",
    "write_recommendation",
]
