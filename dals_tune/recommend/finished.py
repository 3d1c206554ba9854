"""The studies a recommendation learns from: each workload and regime's counted study, read
from the store into its features and leaderboard."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dals_tune.objective import Objective
from dals_tune.recommend.features import TaskFeatures, study_features
from dals_tune.reports.cross_study import StudyResult, latest_finished
from dals_tune.reports.leaderboard import LeaderboardRow, leaderboard
from dals_tune.reports.study_runs import load_study

if TYPE_CHECKING:
    from dals_tune.tracking import Tracker


@dataclass(frozen=True)
class FinishedStudy:
    """A counted study (latest FINISHED of its workload and regime, with a winner)."""

    features: TaskFeatures
    result: StudyResult

    @property
    def rows(self) -> list[LeaderboardRow]:
        return self.result.rows

    @property
    def run_id(self) -> str:
        return self.result.parent["run_id"]

    @property
    def winner(self) -> LeaderboardRow:
        return self.rows[0]

    @property
    def objective(self) -> Objective:
        return self.result.objective

    def rank_of(self, strategy: str) -> float:
        """The strategy's leaderboard rank here; ∞ when it did not take part."""
        return next((row.rank for row in self.rows if row.strategy == strategy), math.inf)

    def value_of(self, strategy: str) -> float | None:
        """v_S(strategy): its mean validation value; when it failed here the metric's floor
        (0 accuracy) or, for a metric without one, the worst value a strategy reached here;
        None when it did not take part."""
        for row in self.rows:
            if row.strategy == strategy:
                return self.failed_value if row.failed else row.val_mean
        return None

    @property
    def failed_value(self) -> float:
        """What a failed strategy scores here (:meth:`value_of`)."""
        floor = self.objective.diverged_value
        if math.isfinite(floor):
            return floor
        reached = [row.val_mean for row in self.rows if not row.failed]
        return min(reached, key=self.objective.score)

    def regret(self, value: float) -> float:
        """How far ``value`` falls short of the winner's, in this study's direction (≥ 0)."""
        return self.objective.score(self.winner.val_mean) - self.objective.score(value)

    @property
    def value_range(self) -> float:
        """The regret of the study's last strategy (a failed one at :attr:`failed_value`): how
        far first and last lie apart, in this study's direction (≥ 0)."""
        values = [self.value_of(row.strategy) for row in self.rows]
        return max(self.regret(value) for value in values if value is not None)

    def scaled_regret(self, regret: float) -> float:
        """``regret`` as a share of :attr:`value_range`: 0 for the winner, 1 for the last
        strategy, in any metric; 0 when all strategies scored the same."""
        spread = self.value_range
        return regret / spread if spread > 0 else 0.0

    def shares_first_place(self, strategy: str) -> bool:
        """Whether ``strategy`` is in the winner's tie group here (rank 1)."""
        return any(row.strategy == strategy and row.rank == 1 for row in self.rows)


def finished_studies(tracker: Tracker) -> tuple[list[FinishedStudy], list[str]]:
    """The latest FINISHED study of each workload and regime, read into features and
    leaderboards, and the names of those left out because every strategy failed in them."""
    studies, left_out = [], []
    for parent in latest_finished(tracker.all_studies()):
        runs = load_study(tracker, parent["run_id"], parent)
        rows = leaderboard(runs)
        features = study_features(runs)
        if not rows or rows[0].failed:
            left_out.append(features.name)
            continue
        studies.append(FinishedStudy(features, StudyResult(parent=parent, rows=rows)))
    return studies, left_out
