"""The search step of ``--mode race``: the rounds of :mod:`dals_tune.study.race`, each one
Tuner run, each recorded in the study state as it ends.

A round is a per-strategy Tuner run of the raced strategies (``plans.race_round_plan``),
each strategy's ASHA starting with that strategy's trials of the earlier rounds in its
rungs (their per-epoch values, saved with each round), so it runs, is recorded and resumes
like any search: a race cut short goes on with ``--resume`` from the round it was in (the
finished rounds are in ``study.json``; the round in flight is restored from Tune's saved
state, its finished trials kept). The parent run carries the
round each dropped strategy was dropped in (``DROPPED_IN_ROUND_TAG``), for the leaderboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dals_tune.reports.leaderboard import validation_size_of
from dals_tune.study import plans, race
from dals_tune.study.race import RaceRound, Standing
from dals_tune.study.recording import study_params
from dals_tune.tracking_tags import DROPPED_IN_ROUND_TAG, RACE_ROUND_TAG

if TYPE_CHECKING:
    from dals_tune.study.runner import _StudyRunner


def run_race(runner: _StudyRunner) -> dict[str, dict[str, Any]]:
    """Race the study's strategies until the rule ends it; return the survivors' best
    configurations (the seed re-runs' input), each as ``Standing.as_record``."""
    checked, state = runner.checked, runner.state
    ids = checked.strategy_ids
    budget = sum(plans.samples_for(checked, sid) for sid in ids)
    tunable = [sid for sid in ids if checked.spaces[sid].parameters]
    rounds = [RaceRound.from_record(record) for record in state.race_rounds]
    while True:
        trials = race.next_round(rounds, ids, tunable, budget)
        if not trials:
            break
        rounds.append(_run_round(runner, rounds, race.survivors(ids, rounds), trials))
        _save(runner, rounds)
        left = budget - race.spent(rounds)
        runner.progress.planned = runner.progress.done + left + _reruns(runner, rounds)
    runner.progress.planned = runner.progress.done + _reruns(runner, rounds)
    standings = race.standings_after(rounds)
    runner.progress.summary({sid: s.as_record() for sid, s in standings.items()})
    alive = race.survivors(ids, rounds)
    runner.echo(f"race over after {len(rounds)} rounds; seed re-runs for {', '.join(alive)}")
    return {sid: standings[sid].as_record() for sid in alive if sid in standings}


def _run_round(
    runner: _StudyRunner, rounds: list[RaceRound], alive: list[str], trials: Mapping[str, int]
) -> RaceRound:
    """Run round ``len(rounds)``; return it with the standings after it and who is dropped."""
    checked, objective = runner.checked, runner.checked.objective
    index = len(rounds)
    each = max(trials.values())  # every raced strategy gets the same (race.next_round)
    runner.echo(f"race round {index}: {', '.join(trials)}, {each} trial(s) each")
    plan = plans.race_round_plan(
        checked, runner.state.study_id, runner.out, index, trials, race.earlier_histories(rounds)
    )
    outcomes = runner._run(plan, {RACE_ROUND_TAG: index})
    before = race.standings_after(rounds)
    standings: dict[str, Standing | None] = {
        sid: race.improved(before.get(sid), [o for o in outcomes if o.strategy == sid], objective)
        for sid in alive
    }
    val_size = validation_size_of(study_params(checked))
    dropped = race.dropped_after(standings, alive, objective, val_size, index)
    tied = race.tie_group(standings, alive, objective, val_size)
    order = race.ranking(standings, alive, objective)
    runner.echo(
        f"race round {index} done: "
        + ", ".join(f"{sid} {_shown(standings.get(sid))}" for sid in order)
        + f"; tied with the leader: {', '.join(tied[1:]) or 'none'}"
        + f"; dropped: {', '.join(dropped) or 'none'}"
    )
    kept = {sid: standing for sid, standing in standings.items() if standing is not None}
    histories = {
        sid: tuple(race.history_of(o, objective) for o in outcomes if o.strategy == sid)
        for sid in trials
    }
    return RaceRound(index, dict(trials), kept, tuple(dropped), tuple(tied), histories)


def _save(runner: _StudyRunner, rounds: list[RaceRound]) -> None:
    """Tag the parent run with who was dropped when, then save the rounds in the study
    state: a driver killed between the two runs the last round's (finished) Tuner again on
    resume, which trains nothing and tags the same again."""
    dropped = race.dropped_rounds(rounds)
    tags = {DROPPED_IN_ROUND_TAG.format(strategy=sid): index for sid, index in dropped.items()}
    if tags:
        runner.tracker.annotate_run(runner.state.parent_run_id, tags)
    runner.state.race_rounds = [race_round.as_record() for race_round in rounds]
    runner.state.save(runner.out / "studies" / runner.state.study_id)


def _reruns(runner: _StudyRunner, rounds: list[RaceRound]) -> int:
    """The seed re-runs the survivors will have."""
    return runner.settings.seeds * len(race.survivors(runner.checked.strategy_ids, rounds))


def _shown(standing: Standing | None) -> str:
    return "—" if standing is None else f"{standing.value:.4f}"
