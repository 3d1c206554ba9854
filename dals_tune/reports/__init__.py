"""Reports from the study store: per study a leaderboard, learning curves and the winner's
per-layer LR heatmap; across studies the winner per workload and regime, mean rank and a
Dolan–Moré performance profile (formulas in ``docs/reports.md``), each study in its own
metric's direction (``dals_tune.objective``).

- ``study_runs``: a study read from the store into plain records (the only reader);
- ``leaderboard``: ranking one study's strategies, mean ± std, time to target;
- ``ties``: which strategies the seed re-runs cannot separate from the leader (Welch's
  t-test, or a noise floor for single runs): the shared first place;
- ``study_report``: one study's report files;
- ``cross_study``: latest finished studies, winners and their lead, mean rank, the rank
  matrix, performance profile;
- ``cross_study_files``: the cross-study CSV/Markdown tables and the profile figure;
- ``columns``: the written columns named after the study's metric (``val_acc_mean``,
  ``val_rmse_mean``), or neutral with a metric column where studies differ;
- ``tables`` and ``plots``: CSV/Markdown writing and the matplotlib (Agg) figures;
- ``store_report``: ``python -m dals_tune report``;
- ``recommendation``: the files of ``python -m dals_tune recommend`` (the advice itself is
  ``dals_tune.recommend``'s).
"""

from dals_tune.reports.cross_study import (
    PROFILE_TAUS,
    MeanRank,
    WinnerRow,
    latest_finished,
    lead_in_stds,
    mean_ranks,
    performance_profile,
    performance_ratios,
    rank_matrix,
    study_errors,
)
from dals_tune.reports.leaderboard import (
    LeaderboardRow,
    mean_and_std,
    study_leaderboard,
    time_to_target,
)
from dals_tune.reports.store_report import write_reports
from dals_tune.reports.study_report import StudyReport, write_study_report

__all__ = [
    "PROFILE_TAUS",
    "LeaderboardRow",
    "MeanRank",
    "StudyReport",
    "WinnerRow",
    "latest_finished",
    "lead_in_stds",
    "mean_and_std",
    "mean_ranks",
    "performance_profile",
    "performance_ratios",
    "rank_matrix",
    "study_errors",
    "study_leaderboard",
    "time_to_target",
    "write_reports",
    "write_study_report",
]
