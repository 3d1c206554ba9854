"""Which strategies to try first on a task, from its nearest finished studies, and how much
better that does than always using one strategy.

The recommendation ranks the strategies by their mean leaderboard rank over the k nearest
finished studies they took part in (``cross_study.mean_ranks``; distance in ``features``),
with each neighbour's verdict as the evidence.

Leave-one-out: each finished study S in turn is the "new task" and the others are the store.
With best_S the validation value of S's winner and v_S(x) that of strategy x in S (the
leaderboard's mean over seed re-runs, in S's own metric), the regret of x is how far it falls
short of the winner in S's direction: best_S − v_S(x) for a maximised metric (accuracy),
v_S(x) − best_S for a minimised one (RMSE, loss), ≥ 0 either way. A strategy that failed in S
scores the metric's floor where there is one (0 accuracy) and otherwise the worst value a
strategy reached in S. The single best strategy a_S is the first strategy S ran in the
mean-rank order of the other studies; the recommendation b_S is the first S ran in the
mean-rank order of S's k nearest other studies, followed by that overall order. With Ā and B̄
the mean regrets over the held-out studies, the recommendation closes the share (Ā − B̄) / Ā
of the gap. Ranks are each study's own (in its direction); regrets are in each study's units,
so a mean over studies of different metrics adds unlike units. The scaled regret divides each
study's regret by that study's range, the regret of its last strategy, so that 0 is its
winner and 1 its last: its means Ā' and B̄' and share (Ā' − B̄') / Ā' add like to like.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dals_tune.recommend.features import TaskFeatures, distance
from dals_tune.recommend.finished import FinishedStudy
from dals_tune.reports.cross_study import MeanRank, mean_ranks
from dals_tune.study.settings import DEFAULT_NEIGHBOURS


@dataclass(frozen=True)
class Neighbour:
    study: FinishedStudy
    distance: float


@dataclass(frozen=True)
class Recommendation:
    """A strategy's mean rank over the nearest studies it ran in, and its verdict in each."""

    rank: MeanRank
    evidence: tuple[str, ...]

    @property
    def strategy(self) -> str:
        return self.rank.strategy


@dataclass(frozen=True)
class Pick:
    """A strategy chosen for a study, its validation value there (in the study's metric) and
    its regret (module docstring)."""

    strategy: str
    value: float
    regret: float
    scaled_regret: float  # regret / the study's range: 0 its winner, 1 its last strategy


@dataclass(frozen=True)
class HeldOut:
    """One leave-one-out round: study S held out, (a) and (b) chosen from the others."""

    study: FinishedStudy
    single_best: Pick
    recommended: Pick
    neighbours: tuple[Neighbour, ...]


@dataclass(frozen=True)
class LeaveOneOut:
    rounds: tuple[HeldOut, ...]
    skipped: tuple[str, ...]  # held-out studies that share no strategy with the others

    @property
    def single_best_regret(self) -> float:
        """Ā: the mean regret of the single best strategy of the other studies."""
        return _mean([held.single_best.regret for held in self.rounds])

    @property
    def recommended_regret(self) -> float:
        """B̄: the mean regret of the recommendation from the k nearest other studies."""
        return _mean([held.recommended.regret for held in self.rounds])

    @property
    def share_closed(self) -> float:
        """(Ā − B̄) / Ā; NaN when Ā = 0 (no gap to close). Negative: the recommendation did
        worse than the single best strategy."""
        return _share_closed(self.single_best_regret, self.recommended_regret)

    @property
    def single_best_scaled(self) -> float:
        """Ā': the single best strategy's mean regret, each study's scaled by its range."""
        return _mean([held.single_best.scaled_regret for held in self.rounds])

    @property
    def recommended_scaled(self) -> float:
        """B̄': the recommendation's mean regret, each study's scaled by its range."""
        return _mean([held.recommended.scaled_regret for held in self.rounds])

    @property
    def share_closed_scaled(self) -> float:
        """(Ā' − B̄') / Ā', as :attr:`share_closed` in unit-free regrets."""
        return _share_closed(self.single_best_scaled, self.recommended_scaled)


@dataclass(frozen=True)
class Advice:
    """The whole answer for one new task."""

    task: TaskFeatures
    k: int
    studies: tuple[FinishedStudy, ...]
    left_out: tuple[str, ...]  # finished studies in which every strategy failed
    neighbours: tuple[Neighbour, ...]
    recommendations: tuple[Recommendation, ...]
    single_best: MeanRank
    single_best_gap: float  # mean regret of ``single_best`` over all studies (in-sample)
    leave_one_out: LeaveOneOut | None  # None with fewer than two studies


def nearest(task: TaskFeatures, studies: Sequence[FinishedStudy], k: int) -> list[Neighbour]:
    """The k studies closest to ``task`` (ties: by name, then run id)."""
    scored = [Neighbour(study, distance(task, study.features)) for study in studies]
    scored.sort(key=lambda n: (n.distance, n.study.features.name, n.study.run_id))
    return scored[:k]


def recommend(neighbours: Sequence[Neighbour]) -> list[Recommendation]:
    """The neighbours' strategies by mean rank over the neighbours each ran in, best first,
    each with its verdict in every neighbour (nearest first). Ties go to the strategy ranked
    in more of them, then to the one ranked better in the nearer study, then by name."""
    ranks = mean_ranks([neighbour.study.result for neighbour in neighbours])
    ranks.sort(
        key=lambda rank: (
            rank.mean_rank,
            -rank.studies,
            [neighbour.study.rank_of(rank.strategy) for neighbour in neighbours],
            rank.strategy,
        )
    )
    return [
        Recommendation(
            rank=rank,
            evidence=tuple(
                verdict
                for neighbour in neighbours
                if (verdict := _verdict(neighbour.study, rank.strategy))
            ),
        )
        for rank in ranks
    ]


def pick(study: FinishedStudy, ranking: Sequence[str]) -> Pick | None:
    """The first strategy of ``ranking`` that ``study`` ran, with its value and regret; None
    when the study ran none of them."""
    for strategy in ranking:
        value = study.value_of(strategy)
        if value is not None:
            # A share of a tied first place is no regret: the runs cannot tell it from the best.
            regret = 0.0 if study.shares_first_place(strategy) else study.regret(value)
            return Pick(strategy, value, regret, study.scaled_regret(regret))
    return None


def leave_one_out(studies: Sequence[FinishedStudy], k: int) -> LeaveOneOut | None:
    """Each study held out in turn (module docstring); None with fewer than two studies."""
    if len(studies) < 2:
        return None
    rounds, skipped = [], []
    for held_out in studies:
        others = [study for study in studies if study is not held_out]
        overall = _strategy_order(others)
        neighbours = nearest(held_out.features, others, k)
        suggested = [row.strategy for row in recommend(neighbours)] + overall
        single_best, recommended = pick(held_out, overall), pick(held_out, suggested)
        if single_best is None or recommended is None:
            skipped.append(held_out.features.name)
            continue
        rounds.append(HeldOut(held_out, single_best, recommended, tuple(neighbours)))
    return LeaveOneOut(tuple(rounds), tuple(skipped))


def advise(
    task: TaskFeatures,
    studies: Sequence[FinishedStudy],
    k: int = DEFAULT_NEIGHBOURS,
    left_out: Sequence[str] = (),
) -> Advice:
    """Nearest studies, the recommendation, the single best strategy's in-sample gap and the
    leave-one-out evaluation for ``task``. ``studies`` must not be empty."""
    if k < 1:
        raise ValueError(f"--neighbours must be a positive integer, got {k}")
    neighbours = nearest(task, studies, k)
    single_best = mean_ranks([study.result for study in studies])[0]
    order = _strategy_order(studies)
    picks = [pick(study, order) for study in studies]
    return Advice(
        task=task,
        k=k,
        studies=tuple(studies),
        left_out=tuple(left_out),
        neighbours=tuple(neighbours),
        recommendations=tuple(recommend(neighbours)),
        single_best=single_best,
        single_best_gap=_mean([chosen.regret for chosen in picks if chosen is not None]),
        leave_one_out=leave_one_out(studies, k),
    )


def _strategy_order(studies: Sequence[FinishedStudy]) -> list[str]:
    return [rank.strategy for rank in mean_ranks([study.result for study in studies])]


def _verdict(study: FinishedStudy, strategy: str) -> str:
    """``won cifar10/scratch``, ``rank 2 of 4 on trec6/finetune`` or ``failed on ...``; empty
    when the strategy did not take part."""
    name = study.features.name
    for row in study.rows:
        if row.strategy == strategy:
            if row.failed:
                return f"failed on {name}"
            if row.rank != 1:
                return f"rank {row.rank} of {len(study.rows)} on {name}"
            return f"tied first on {name}" if row.tied_with else f"won {name}"
    return ""


def _share_closed(gap: float, recommended: float) -> float:
    return (gap - recommended) / gap if gap > 0 else math.nan


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan
