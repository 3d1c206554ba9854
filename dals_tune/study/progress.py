"""The study's console: one line per finished trial, and the search's summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dals_tune.objective import Objective
from dals_tune.study.outcomes import TrialOutcome

Printer = Callable[[str], None]


class Progress:
    """Counts finished trials against the planned number and keeps each strategy's best
    search result, to show the leader on every line."""

    def __init__(self, planned: int, echo: Printer, objective: Objective) -> None:
        self.planned = planned
        self.echo = echo
        self.objective = objective
        self.done = 0
        self.best: dict[str, float] = {}

    def announce(self, outcome: TrialOutcome) -> None:
        strategy_id = outcome.strategy
        self.done += 1
        objective = self.objective
        value = outcome.best_value(objective)
        if outcome.status in ("completed", "pruned") and outcome.kind == "trial":
            before = self.best.get(strategy_id, objective.worst)
            self.best[strategy_id] = value if objective.better(value, before) else before
        last = outcome.epochs[-1] if outcome.epochs else {}
        test = float(last.get(objective.test_at_best_key, 0) or 0)
        seconds = sum(float(e.get("epoch_seconds", 0.0) or 0.0) for e in outcome.epochs)
        label = f"{strategy_id} seed {outcome.seed}" if outcome.kind == "rerun" else strategy_id
        leader = max(self.best.items(), key=lambda item: objective.score(item[1]), default=None)
        lead = f"  best so far: {leader[0]} {leader[1]:.4f}" if leader else ""
        error = f"  ({outcome.error})" if outcome.error else ""
        self.echo(
            f"[{self.done:>3}/{self.planned}] {label:<22} {outcome.status:<9} "
            f"val {value:.4f}  test@best {test:.4f}  "
            f"{len(outcome.epochs)} ep  {seconds:5.1f} s{lead}{error}"
        )

    def summary(self, best: Mapping[str, Mapping[str, Any]]) -> None:
        objective = self.objective
        ranked = sorted(best.items(), key=lambda item: -objective.score(item[1]["value"]))
        self.echo(
            f"search done; best validation {objective.metric} per strategy: "
            + ", ".join(f"{sid} {chosen['value']:.4f}" for sid, chosen in ranked)
        )
