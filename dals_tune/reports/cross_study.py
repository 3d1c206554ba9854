"""Across studies: which study counts, the winner per workload and regime (and by how much),
each strategy's mean rank and its rank in every study, and the Dolan–Moré performance profile.

Only FINISHED studies count, and of several studies of the same (workload, regime) only the
latest, so a re-done study replaces the old one instead of voting twice. Each study is judged
in its own objective (metric and direction): ranks, leads and errors are computed within a
study, so studies maximising accuracy and studies minimising RMSE can share a table.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dals_tune.objective import Objective
from dals_tune.reports.leaderboard import LeaderboardRow, result_runs
from dals_tune.reports.study_runs import ChildRun, History
from dals_tune.tracking_tags import DATASET_TAG, PILOT_FOR_TAG, REGIME_TAG, WORKLOAD_TAG

PROFILE_TAUS = tuple(1 + step / 100 for step in range(301))  # τ = 1.00, 1.01, ..., 4.00
ERROR_EPSILON = 1e-6  # stands in for a zero error, far below one test example in a million


@dataclass(frozen=True)
class StudyResult:
    """A study's parent record and its leaderboard; ``runs`` are its child runs, for the
    tables that read their histories (the claims), empty where nothing needs them."""

    parent: Mapping[str, Any]
    rows: list[LeaderboardRow]
    runs: tuple[ChildRun, ...] = ()

    def test_histories(self, strategy: str) -> list[History]:
        """The per-epoch test values of ``strategy``'s result runs (its usable seed re-runs,
        or its best trial), as the leaderboard's means are over."""
        own = [run for run in self.runs if run.strategy == strategy]
        return [run.test_history for run in result_runs(own, self.objective) if not run.failed]

    def tag(self, key: str) -> str:
        return self.parent.get("tags", {}).get(key, "")

    @property
    def minutes(self) -> float:
        """The study's wall time, from its parent run's start to its end (NaN while open)."""
        start, end = self.parent.get("start_time"), self.parent.get("end_time")
        return (end - start) / 60_000 if start and end else math.nan

    @property
    def objective(self) -> Objective:
        """The study's metric, direction and target, from its parent's tags."""
        return Objective.from_record(self.parent.get("tags", {}))


@dataclass(frozen=True)
class WinnerRow:
    """The rank-1 strategy of one (workload, regime), fields in the order of ``winners.csv``'s
    columns (named after the study's metric, :mod:`~dals_tune.reports.columns`: ``val_mean``
    is ``val_acc_mean`` in an accuracy study); ``winner`` is None when every strategy of the
    study failed, ``runner_up`` when fewer than two succeeded.

    - ``lead_in_stds``: see :func:`lead_in_stds`.
    - ``reached``: how many of the study's ``strategies`` reached ``target`` (in the metric's
      units; their median seed re-run did, as in the time-to-target table).
    - ``minutes``: the study's wall time, from its parent run's start to its end.
    """

    workload: str
    dataset: str
    regime: str
    winner: str | None
    tied_with: str
    val_mean: float
    val_std: float
    test_mean: float
    test_std: float
    seeds: int
    runner_up: str | None
    runner_up_val_mean: float
    runner_up_val_std: float
    lead_in_stds: float
    target: float | None
    reached: int
    strategies: int
    minutes: float
    run_id: str


@dataclass(frozen=True)
class MeanRank:
    """A strategy's mean rank R̄_k = Σ_{s ∈ S_k} rank_{s,k} / |S_k| over the studies S_k it
    took part in, |S_k| (``studies``) and how many of them it won (``wins``)."""

    strategy: str
    mean_rank: float
    studies: int
    wins: int


def latest_finished(studies: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Per (workload, regime) tag pair, the FINISHED study that started last; sorted by
    workload, then regime. A benchmark's pilots (``PILOT_FOR_TAG``) never count: while the
    study they pilot runs, they would otherwise be its workload's latest finished study."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for study in studies:
        tags = study.get("tags", {})
        if study.get("status") != "FINISHED" or tags.get(PILOT_FOR_TAG):
            continue
        key = (tags.get(WORKLOAD_TAG, ""), tags.get(REGIME_TAG, ""))
        if key not in latest or (study.get("start_time") or 0) > (
            latest[key].get("start_time") or 0
        ):
            latest[key] = study
    return [latest[key] for key in sorted(latest)]


def winners(results: Sequence[StudyResult]) -> list[WinnerRow]:
    """One row per study: its rank-1 strategy with validation and test mean and std, the
    runner-up and how far ahead the winner is, how many strategies reached the target, and
    the study's wall time."""
    table = []
    for result in results:
        usable = [row for row in sorted(result.rows, key=lambda row: row.rank) if not row.failed]
        best = usable[0] if usable else None
        second = usable[1] if len(usable) > 1 else None
        objective = result.objective
        table.append(
            WinnerRow(
                workload=result.tag(WORKLOAD_TAG),
                dataset=result.tag(DATASET_TAG),
                regime=result.tag(REGIME_TAG),
                winner=best.strategy if best else None,
                tied_with=best.tied_with if best else "",
                val_mean=best.val_mean if best else math.nan,
                val_std=best.val_std if best else math.nan,
                test_mean=best.test_mean if best else math.nan,
                test_std=best.test_std if best else math.nan,
                seeds=best.seeds if best else 0,
                runner_up=second.strategy if second else None,
                runner_up_val_mean=second.val_mean if second else math.nan,
                runner_up_val_std=second.val_std if second else math.nan,
                lead_in_stds=(
                    lead_in_stds(best, second, objective) if best and second else math.nan
                ),
                target=objective.target,
                reached=sum(row.epochs_to_target is not None for row in result.rows),
                strategies=len(result.rows),
                minutes=result.minutes,
                run_id=result.parent["run_id"],
            )
        )
    return table


def lead_in_stds(winner: LeaderboardRow, runner_up: LeaderboardRow, objective: Objective) -> float:
    """(v̄₁ − v̄₂) / max(s₁, s₂) for a maximised metric, (v̄₂ − v̄₁) / max(s₁, s₂) for a
    minimised one: the winner's lead in the validation metric over the runner-up, in units of
    the larger of their two sample stds over seeds (≥ 0 either way). With a handful of seeds a
    lead below about 2 does not separate them. NaN when a std was not measured (a single run);
    a lead over two zero stds is ∞ (0 for an exact tie)."""
    gap = objective.score(winner.val_mean) - objective.score(runner_up.val_mean)
    stds = (winner.val_std, runner_up.val_std)
    if math.isnan(gap) or any(math.isnan(std) for std in stds):
        return math.nan
    spread = max(stds)
    if spread == 0:
        return 0.0 if gap == 0 else math.inf
    return gap / spread


def rank_matrix(results: Sequence[StudyResult]) -> dict[str, list[LeaderboardRow | None]]:
    """Every strategy's leaderboard row in each study (None where it did not take part), in
    the order of :func:`mean_ranks`."""
    order = [row.strategy for row in mean_ranks(results)]
    by_study = [{row.strategy: row for row in result.rows} for result in results]
    return {strategy: [rows.get(strategy) for rows in by_study] for strategy in order}


def mean_ranks(results: Sequence[StudyResult]) -> list[MeanRank]:
    """Each strategy's mean rank over the studies it took part in, best first (ties: more
    studies, then name). Ranks are those of the leaderboards, each in its own study's
    direction (rank 1 the highest accuracy, or the lowest RMSE), failed strategies last; every
    member of a study's first-place tie group has rank 1 there, and a win."""
    ranks: dict[str, list[int]] = {}
    for result in results:
        for row in result.rows:
            ranks.setdefault(row.strategy, []).append(row.rank)
    table = [
        MeanRank(
            strategy=strategy,
            mean_rank=sum(values) / len(values),
            studies=len(values),
            wins=values.count(1),
        )
        for strategy, values in ranks.items()
    ]
    return sorted(table, key=lambda row: (row.mean_rank, -row.studies, row.strategy))


def study_errors(rows: Sequence[LeaderboardRow], objective: Objective) -> dict[str, float]:
    """The held-out error e_{s,k} of strategy k's configuration (selected on validation) in
    study s, from its mean test value t_{s,k}: lower is better in both directions.

    - a maximised metric, taken to score at most 1 (accuracy, F1, AUC): e = 1 − t;
    - a minimised metric (RMSE, loss) is an error already: e = t.

    ∞ when the strategy failed or has no test value. Errors are compared only within a study
    (:func:`performance_ratios`), so studies of different metrics can share a profile."""
    return {
        row.strategy: _error(row.test_mean, objective)
        if not row.failed and math.isfinite(row.test_mean)
        else math.inf
        for row in rows
    }


def _error(test_mean: float, objective: Objective) -> float:
    return 1.0 - test_mean if objective.mode == "max" else test_mean


def first_places(results: Sequence[StudyResult]) -> list[frozenset[str]]:
    """Per study, the strategies that share its first place (rank 1: the winner's tie
    group)."""
    return [
        frozenset(row.strategy for row in result.rows if row.rank == 1 and not row.failed)
        for result in results
    ]


def performance_ratios(
    errors: Sequence[Mapping[str, float]], shared_first: Sequence[Collection[str]] = ()
) -> list[dict[str, float]]:
    """r_{s,k} = max(e_{s,k}, ε) / max(min_j e_{s,j}, ε) for every study s and every strategy
    k of any study; ∞ where k is missing from s or failed in it (and for every k of a study in
    which all failed). ε = ``ERROR_EPSILON`` keeps a perfect score (and a negative error, a
    maximised score above 1 or a minimised one below 0) from dividing by zero or flipping the
    ratio. For a minimised metric r = max(t, ε) / max(min_j t_j, ε): the test value over the
    study's best; for accuracy r = max(1 − acc, ε) / max(1 − max_j acc_j, ε).

    ``shared_first`` names, per study, the strategies that share its first place (the
    winner's tie group, :func:`first_places`): their r is 1, a shared win."""
    strategies = sorted({strategy for study in errors for strategy in study})
    ratios = []
    for index, study in enumerate(errors):
        best = min(study.values(), default=math.inf)
        firsts = shared_first[index] if index < len(shared_first) else ()
        row = {}
        for strategy in strategies:
            error = study.get(strategy, math.inf)
            if strategy in firsts and math.isfinite(error):
                row[strategy] = 1.0
            elif math.isinf(error) or math.isinf(best):
                row[strategy] = math.inf
            else:
                row[strategy] = max(error, ERROR_EPSILON) / max(best, ERROR_EPSILON)
        ratios.append(row)
    return ratios


def performance_profile(
    errors: Sequence[Mapping[str, float]],
    taus: Sequence[float] = PROFILE_TAUS,
    shared_first: Sequence[Collection[str]] = (),
) -> dict[str, list[float]]:
    """Dolan–Moré profile ρ_k(τ) = |{s : r_{s,k} ≤ τ}| / |S| for each τ in ``taus``.

    ρ_k(1) is the fraction of studies k won (on test error, :func:`study_errors`: 1 − t for a
    maximised metric, t for a minimised one; a share of a tied first place, ``shared_first``,
    counts as a win); ρ_k(τ) → the fraction of studies in which k came within a factor τ of
    the best error. Strategies in name order.
    """
    ratios = performance_ratios(errors, shared_first)
    strategies = sorted({strategy for study in errors for strategy in study})
    count = len(ratios)
    return {
        strategy: [
            sum(study[strategy] <= tau for study in ratios) / count if count else 0.0
            for tau in taus
        ]
        for strategy in strategies
    }
