"""Strategy selection: which strategies to try first on a new task, read from the finished
studies in the store, and how much better that does than always using one strategy.

A task is described by four features: its regime (scratch or finetune), its model family
(mlp, convnet, resnet, transformer encoder), its training-set size n and its depth L (the
number of depth groups, DESIGN §2). The distance between two tasks a and b is

    d(a, b) = 100·[regime_a ≠ regime_b] + 10·[family_a ≠ family_b]
              + min(4, |log10 n_a − log10 n_b|) + min(4, |L_a − L_b| / 5),

so a regime mismatch outweighs everything else, a family mismatch outweighs size and depth
together, a factor of ten in data counts as much as five depth groups, and a size or depth
unknown on either side counts as its cap (4): unknown is far. The recommendation ranks the
strategies by their mean leaderboard rank over the k nearest finished studies they took part
in (``cross_study.mean_ranks``), with each neighbour's verdict as the evidence.

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
so a mean over studies of different metrics adds unlike units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dals_tune.objective import Objective
from dals_tune.reports.cross_study import MeanRank, StudyResult, latest_finished, mean_ranks
from dals_tune.reports.leaderboard import LeaderboardRow, leaderboard
from dals_tune.reports.recommendation import write_recommendation_files
from dals_tune.reports.store_report import REPORTS_FOLDER
from dals_tune.reports.study_runs import StudyRuns, load_study
from dals_tune.study.settings import DEFAULT_NEIGHBOURS
from dals_tune.tracking_tags import MODEL_TAG, REGIME_TAG, WORKLOAD_TAG

if TYPE_CHECKING:
    from dals_tune.tracking import Tracker

REGIME_WEIGHT = 100.0
FAMILY_WEIGHT = 10.0
SIZE_CAP = 4.0  # in decades of training examples
DEPTH_CAP = 4.0
DEPTH_GROUPS_PER_UNIT = 5.0


@dataclass(frozen=True)
class TaskFeatures:
    """What the distance compares; ``name`` is ``workload/regime``."""

    name: str
    regime: str
    family: str
    train_size: int | None
    depth: int | None


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

    def shares_first_place(self, strategy: str) -> bool:
        """Whether ``strategy`` is in the winner's tie group here (rank 1)."""
        return any(row.strategy == strategy and row.rank == 1 for row in self.rows)


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
        gap = self.single_best_regret
        return (gap - self.recommended_regret) / gap if gap > 0 else math.nan


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


@dataclass(frozen=True)
class WrittenAdvice:
    advice: Advice
    markdown: str
    files: list[Path]


# ----- features and distance -----------------------------------------------------------------


def model_family(model: str) -> str:
    """The family of a study's ``model`` tag: ``mlp 20→256→2`` → mlp, ``small_convnet`` →
    convnet, ``resnet18`` → resnet; any other named model is a Hugging Face encoder (the only
    other kind a workload builds), an empty tag is unknown."""
    text = model.strip().lower()
    if not text:
        return "unknown"
    if text.startswith("mlp"):
        return "mlp"
    if "resnet" in text:
        return "resnet"
    if "conv" in text:
        return "convnet"
    return "transformer encoder"


def study_features(study: StudyRuns) -> TaskFeatures:
    """A stored study's features: regime and model from its tags, the training size and depth
    from its params (``train_size``, ``depth``). A study logged before ``depth`` was recorded
    gets it from its runs' per-layer LR metrics (one ``lr/<layer>`` per depth group)."""
    params = study.parent.get("params", {})
    depth = _whole(params.get("depth"))
    if depth is None:
        layered = [sum(name.startswith("lr/") for name in run.metric_names) for run in study.runs]
        depth = max(layered, default=0) or None
    regime = study.tags.get(REGIME_TAG, "")
    return TaskFeatures(
        name=f"{study.tags.get(WORKLOAD_TAG, '?')}/{regime or '?'}",
        regime=regime,
        family=model_family(study.tags.get(MODEL_TAG, "")),
        train_size=_whole(params.get("train_size")),
        depth=depth,
    )


def workload_features(workload: str, options: Mapping[str, Any]) -> TaskFeatures:
    """A new task's features, from building its workload (data and an untrained model, on the
    CPU) without training. ``options`` are fields of the trial contract's
    :class:`~dals_tune.trial.WorkloadSpec` (None: the default). An unknown workload or a
    missing dataset raises ``ValueError`` in one line."""
    from dals_tune.trial import WorkloadSpec
    from dals_tune.workloads import build_workload

    given = {key: value for key, value in options.items() if value is not None}
    facts = build_workload(WorkloadSpec(**{**given, "workload": workload, "device": "cpu"}))
    return facts_features(workload, facts.describe())


def facts_features(workload: str, facts: Mapping[str, Any]) -> TaskFeatures:
    """A task's features from its workload's facts (``Workload.describe()``: regime, model,
    training size, depth), for a study that has built its workload already."""
    return TaskFeatures(
        name=f"{workload}/{facts['regime']}",
        regime=facts["regime"],
        family=model_family(str(facts.get("model", ""))),
        train_size=_whole(facts.get("train_size")),
        depth=_whole(facts.get("depth")),
    )


def distance(a: TaskFeatures, b: TaskFeatures) -> float:
    """d(a, b) of the module docstring: regime, then family, then capped log size and depth."""
    if a.train_size and b.train_size:
        size = min(SIZE_CAP, abs(math.log10(a.train_size) - math.log10(b.train_size)))
    else:
        size = SIZE_CAP
    if a.depth and b.depth:
        depth = min(DEPTH_CAP, abs(a.depth - b.depth) / DEPTH_GROUPS_PER_UNIT)
    else:
        depth = DEPTH_CAP
    return (
        REGIME_WEIGHT * (a.regime != b.regime)
        + FAMILY_WEIGHT * (a.family != b.family)
        + size
        + depth
    )


def nearest(task: TaskFeatures, studies: Sequence[FinishedStudy], k: int) -> list[Neighbour]:
    """The k studies closest to ``task`` (ties: by name, then run id)."""
    scored = [Neighbour(study, distance(task, study.features)) for study in studies]
    scored.sort(key=lambda n: (n.distance, n.study.features.name, n.study.run_id))
    return scored[:k]


# ----- recommendation and leave-one-out ------------------------------------------------------


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
            return Pick(strategy, value, regret)
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


# ----- the command ---------------------------------------------------------------------------


def write_recommendation(
    out: Path | str,
    workload: str,
    options: Mapping[str, Any],
    k: int = DEFAULT_NEIGHBOURS,
    tracking_uri: str | None = None,
) -> WrittenAdvice:
    """``python -m dals_tune recommend``: advise on ``workload`` from the store under ``out``
    and write ``<out>/reports/recommendation.md``, ``recommendation.csv`` and
    ``recommendation_leave_one_out.csv``. The files are written in a temporary folder beside
    them and renamed into place once all are written. A missing store, a store without a
    finished study, an unknown workload or a missing dataset raises ``ValueError`` before
    anything is written."""
    from dals_tune.tracking import open_existing_store

    out = Path(out).expanduser().absolute()
    tracker = open_existing_store(out, tracking_uri)
    studies, left_out = finished_studies(tracker)
    if not studies:
        raise ValueError(
            f"the study store {tracker.tracking_uri} has no finished study with a winner; "
            f"run python -m dals_tune search --out {out} first"
        )
    task = workload_features(workload, options)
    advice = advise(task, studies, k, left_out)
    markdown, files = write_recommendation_files(out / REPORTS_FOLDER, advice)
    return WrittenAdvice(advice, markdown, files)


# ----- internals -----------------------------------------------------------------------------


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


def _whole(value: Any) -> int | None:
    """A positive count from a param or fact (``"18000"``, ``18000``); None when absent."""
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan
