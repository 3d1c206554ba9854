"""``--mode race``: which strategy, answered by successive halving over the strategies.

Giving every strategy the whole budget, however hopeless, is the cost of per-strategy mode.
The race treats "which strategy?" as algorithm selection (Revisiting Learning Rate Control,
arXiv 2507.01724): strategies that are clearly behind after equal budgets stop receiving
trials, and what they would have spent goes to the contenders. The rule, pure Python:

- **Budget.** B = Σ_s samples_s, the search trials of per-strategy mode (``samples`` per
  strategy, one for a strategy with nothing to tune): the race never spends more.
- **Rounds.** Round 0 runs every strategy once, at its default configuration. Round r ≥ 1
  gives each surviving strategy that has something to tune (m_r of them) the same number of
  new trials, from its own searcher, which goes on with its study:

      t_r = min(η^(r−1), ⌊(B − S_r) / m_r⌋),  S_r = trials spent before round r,  η = 2.

  Round 1 is one searched trial for every tunable strategy, since round 0 drops nobody
  (below). With the survivors halved each round after it, m_r · t_r = (m_1 / 2^(r−1)) ·
  2^(r−1) = m_1: each round costs about what round 0 did and the trials a dropped strategy
  no longer gets go to the survivors (successive halving's shape, Karnin et al. 2013;
  Jamieson & Talwalkar 2016). Every trial has the same maximum epochs. A strategy with
  nothing to tune keeps its one trial and stays in the race until it is dropped.
- **Standing.** A strategy's standing is its best trial so far, the one its seed re-runs
  would repeat (:func:`~dals_tune.study.outcomes.best_outcome`: the best validation value
  among completed trials, else among pruned ones).
- **Who is dropped.** Nobody after round 0: it compares defaults, and a strategy whose
  default learning rate is wrong for the task (DALS fine-tuning MiniLM on TREC-6: 0.24 at
  its default 0.03, 0.88 at 0.02) would leave the race untuned, although "which strategy"
  includes tuning it. After round r ≥ 1, with n_r strategies raced, rank them by standing
  (a strategy without a usable trial last). A strategy stops receiving trials when it is
  *both* outside the leader's tie group, the rule of :mod:`dals_tune.reports.ties` applied
  to single values (|x_b − x_k| ≤ δ, δ the leader's binomial noise floor for an accuracy on
  the validation split; a metric without a floor ties only at an equal value), *and* outside
  the top ⌈n_r / η⌉. So a strategy tied with the leader is never dropped, and no round drops
  more than half of the field on one noisy comparison.
- **End.** The race ends when one strategy is left; when, after a round of search
  (r ≥ 1), the survivors are all in the leader's tie group, since the validation split can
  no longer separate them and their seed re-runs will (round 0 compares defaults only, and
  "which strategy" includes tuning it); when no survivor has anything left to tune
  (m_r = 0); or when the budget left cannot give each one more trial (t_r = 0). The
  survivors go on to the seed re-runs; the dropped ones are reported after them.
- **Scheduler.** Inside a round each strategy's trials are pruned by its own ASHA, whose
  rungs hold that strategy's trials of *every* round so far (``RaceRound.histories``,
  replayed into the round's ASHA): a round-r trial is stopped at a rung when it is below
  the top 1/3 of all its strategy's trials there, as in per-strategy mode, rather than of
  the one or two trials of its own round. Strategies are never compared with each other
  at a rung, only at their standings: an early epoch favours schedules that decay early,
  and a warmup or a late decay is a strategy's own affair.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dals_tune.objective import Objective
from dals_tune.reports.ties import Sample, first_place_group
from dals_tune.study.outcomes import TrialOutcome, best_outcome

ETA = 2  # the halving factor η: the top ⌈n/η⌉ are kept, t_r = η^(r−1) trials per survivor


@dataclass(frozen=True)
class Standing:
    """A strategy's best trial so far: what the race ranks it by and what its seed re-runs
    repeat (saved in the study state as ``trial_id``, ``value``, ``config``, ``status``)."""

    trial_id: str
    value: float
    config: dict[str, Any]
    status: str  # completed | pruned

    def as_record(self) -> dict[str, Any]:
        """The entry of ``StudyState.best_configs`` and of a round's record."""
        return {
            "trial_id": self.trial_id,
            "value": self.value,
            "config": self.config,
            "status": self.status,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Standing:
        return cls(
            str(record["trial_id"]),
            float(record["value"]),
            dict(record["config"]),
            str(record.get("status", "completed")),
        )


History = tuple[float | None, ...]  # a trial's validation value at epochs 1, 2, … it reached


@dataclass(frozen=True)
class RaceRound:
    """One finished round: the strategies raced, the trials each got, every raced
    strategy's standing after it, those dropped on its results, the leader's tie group
    after it (the leader first) and each strategy's trials as per-epoch validation values
    (``histories``: what its ASHA's rungs hold in the later rounds)."""

    index: int
    trials: dict[str, int]
    standings: dict[str, Standing]
    dropped: tuple[str, ...] = field(default_factory=tuple)
    tied: tuple[str, ...] = field(default_factory=tuple)
    histories: dict[str, tuple[History, ...]] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """The round as the study state saves it (``StudyState.race_rounds``)."""
        return {
            "round": self.index,
            "trials": dict(self.trials),
            "standings": {sid: s.as_record() for sid, s in self.standings.items()},
            "dropped": list(self.dropped),
            "tied": list(self.tied),
            "histories": {sid: [list(h) for h in runs] for sid, runs in self.histories.items()},
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RaceRound:
        return cls(
            index=int(record["round"]),
            trials={sid: int(n) for sid, n in record["trials"].items()},
            standings={
                sid: Standing.from_record(s) for sid, s in record.get("standings", {}).items()
            },
            dropped=tuple(record.get("dropped", ())),
            tied=tuple(record.get("tied", ())),
            histories={
                sid: tuple(tuple(h) for h in runs)
                for sid, runs in record.get("histories", {}).items()
            },
        )


def next_round(
    rounds: Sequence[RaceRound],
    strategy_ids: Sequence[str],
    tunable: Sequence[str],
    budget: int,
    eta: int = ETA,
) -> dict[str, int]:
    """The trials per strategy of the round after ``rounds`` (module docstring): one each in
    round 0; then t_r = min(η^(r−1), ⌊(B − S_r)/m_r⌋) for each survivor in ``tunable``. Empty
    when the race is over: one survivor left, the survivors one tie group after a round of
    search, none with anything to tune, or too little budget for one more trial each."""
    index, alive = len(rounds), survivors(strategy_ids, rounds)
    if index == 0:
        return {sid: 1 for sid in alive}
    if len(alive) <= 1 or (index >= 2 and set(alive) <= set(rounds[-1].tied)):
        return {}
    contenders = [sid for sid in alive if sid in tunable]
    if not contenders:
        return {}
    each = min(eta ** (index - 1), (budget - spent(rounds)) // len(contenders))
    return {sid: each for sid in contenders} if each > 0 else {}


def improved(
    standing: Standing | None, outcomes: Sequence[TrialOutcome], objective: Objective
) -> Standing | None:
    """The standing after a round's judged ``outcomes`` of one strategy: the trial its seed
    re-runs would repeat, chosen by ``best_outcome`` from the new trials and the one that
    stood before (which keeps only its best value)."""
    candidates = list(outcomes)
    if standing is not None:
        candidates.append(
            TrialOutcome(
                trial_id=standing.trial_id,
                kind="trial",
                strategy=outcomes[0].strategy if outcomes else "",
                hyperparameters=standing.config,
                seed=0,
                epochs=[{objective.best_key: standing.value}],
                status=standing.status,
            )
        )
    chosen = best_outcome(candidates, objective)
    if chosen is None:
        return None
    value = chosen.best_value(objective)
    return Standing(chosen.trial_id, value, dict(chosen.hyperparameters), str(chosen.status))


def ranking(
    standings: Mapping[str, Standing | None], raced: Sequence[str], objective: Objective
) -> list[str]:
    """``raced`` best standing first (in the objective's direction); those without a usable
    trial last; equal values by name."""

    def key(sid: str) -> tuple[bool, float, str]:
        standing = standings.get(sid)
        if standing is None or not math.isfinite(standing.value):
            return (True, 0.0, sid)
        return (False, -objective.score(standing.value), sid)

    return sorted(raced, key=key)


def tie_group(
    standings: Mapping[str, Standing | None], raced: Sequence[str], objective: Objective,
    val_size: int | None,
) -> list[str]:  # fmt: skip
    """The leader of ``raced`` and the strategies tied with it, by the tie rule of
    :mod:`dals_tune.reports.ties` applied to single values (one run each: the noise floor)."""
    usable = [
        (sid, Sample(mean=standings[sid].value, std=math.nan, runs=1))
        for sid in ranking(standings, raced, objective)
        if standings.get(sid) is not None and math.isfinite(standings[sid].value)
    ]
    return first_place_group(usable, objective, val_size)


def dropped_after(
    standings: Mapping[str, Standing | None],
    raced: Sequence[str],
    objective: Objective,
    val_size: int | None,
    round_index: int,
    eta: int = ETA,
) -> list[str]:
    """The strategies of ``raced`` that stop receiving trials after round ``round_index``
    (module docstring): none after round 0, whose trials are defaults; later, those outside
    the leader's tie group and outside the top ⌈n_r/η⌉, in ranking order."""
    if round_index == 0:
        return []
    order = ranking(standings, raced, objective)
    tied = set(tie_group(standings, raced, objective, val_size))
    top = set(order[: math.ceil(len(order) / eta)])
    return [sid for sid in order if sid not in tied and sid not in top]


def dropped_rounds(rounds: Sequence[RaceRound]) -> dict[str, int]:
    """Each dropped strategy and the round whose results dropped it (it ran in rounds 0 to
    that one, and in none after)."""
    return {sid: race_round.index for race_round in rounds for sid in race_round.dropped}


def survivors(strategy_ids: Sequence[str], rounds: Sequence[RaceRound]) -> list[str]:
    """The strategies not dropped in ``rounds``, in the study's order."""
    dropped = dropped_rounds(rounds)
    return [sid for sid in strategy_ids if sid not in dropped]


def spent(rounds: Sequence[RaceRound]) -> int:
    """S: the trials the finished ``rounds`` ran."""
    return sum(sum(race_round.trials.values()) for race_round in rounds)


def standings_after(rounds: Sequence[RaceRound]) -> dict[str, Standing]:
    """Every strategy's standing after the last of ``rounds`` that raced it."""
    standings: dict[str, Standing] = {}
    for race_round in rounds:
        standings.update(race_round.standings)
    return standings


def history_of(outcome: TrialOutcome, objective: Objective) -> History:
    """The trial's validation value at each epoch it reported, in order: what ASHA read."""
    return tuple(epoch.get(objective.val_key) for epoch in outcome.epochs)


def earlier_histories(rounds: Sequence[RaceRound]) -> dict[str, list[History]]:
    """Each strategy's trials of the finished ``rounds``, oldest first: the next round's
    ASHA of that strategy starts with them in its rungs (module docstring, *Scheduler*)."""
    histories: dict[str, list[History]] = {}
    for race_round in rounds:
        for sid, runs in race_round.histories.items():
            histories.setdefault(sid, []).extend(runs)
    return histories
