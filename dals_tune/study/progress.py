"""The study's console: one line per finished trial, and the search's summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dals_tune.study.outcomes import TrialOutcome

Printer = Callable[[str], None]


class Progress:
    """Counts finished trials against the planned number and keeps each strategy's best
    search result, to show the leader on every line."""

    def __init__(self, planned: int, echo: Printer) -> None:
        self.planned = planned
        self.echo = echo
        self.done = 0
        self.best: dict[str, float] = {}

    def announce(self, outcome: TrialOutcome) -> None:
        strategy_id = outcome.strategy
        self.done += 1
        value = outcome.best_val_acc
        if outcome.status in ("completed", "pruned") and outcome.kind == "trial":
            self.best[strategy_id] = max(self.best.get(strategy_id, 0.0), value)
        last = outcome.epochs[-1] if outcome.epochs else {}
        seconds = sum(float(e.get("epoch_seconds", 0.0) or 0.0) for e in outcome.epochs)
        label = f"{strategy_id} seed {outcome.seed}" if outcome.kind == "rerun" else strategy_id
        leader = max(self.best.items(), key=lambda item: item[1], default=None)
        lead = f"  best so far: {leader[0]} {leader[1]:.4f}" if leader else ""
        error = f"  ({outcome.error})" if outcome.error else ""
        self.echo(
            f"[{self.done:>3}/{self.planned}] {label:<22} {outcome.status:<9} "
            f"val {value:.4f}  test@best {float(last.get('test_acc_at_best_val', 0) or 0):.4f}  "
            f"{len(outcome.epochs)} ep  {seconds:5.1f} s{lead}{error}"
        )

    def summary(self, best: Mapping[str, Mapping[str, Any]]) -> None:
        ranked = sorted(best.items(), key=lambda item: -item[1]["val_acc"])
        self.echo(
            "search done; best validation accuracy per strategy: "
            + ", ".join(f"{sid} {chosen['val_acc']:.4f}" for sid, chosen in ranked)
        )
