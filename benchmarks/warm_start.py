"""A warm-started study against a cold one on a similar task: how soon each reaches the best
that a first study found.

Study 1 searches the synthetic task (seed 0) into a store. Study 2 is a similar task: the
synthetic task with another seed (another draw of the data, of the validation split and of
the sampler), run twice into copies of that store: cold, and with ``--warm-start`` (each
strategy's default first, then study 1's best configuration of it, then the sampler; the same
sampler seed as the cold run). For each strategy it prints the trial, in the order the
trials started (the order the searcher suggested them), at which study 2 first reached study
1's best validation accuracy of that strategy within the noise floor δ of one run (binomial
on study 2's validation split, ``dals_tune.reports.ties.noise_floor``), where that trial's
configuration came from, the epochs the strategy had spent up to and including it, and its
epochs in all.

    .venv/bin/python benchmarks/warm_start.py [--samples 8] [--max-epochs 6] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dals_tune import tracking
from dals_tune.objective import Objective
from dals_tune.reports.ties import Sample, noise_floor
from dals_tune.study import SearchSettings, run_search
from dals_tune.study.warm_start import best_search_trial
from dals_tune.tracking_tags import KIND_TAG, STRATEGY_TAG, TRIAL_SOURCE_TAG


def study_record(out: Path, parent_run_id: str) -> tuple[Objective, list[dict[str, Any]], Any]:
    """The study's objective, its search trials in the order they started (the order the
    searcher suggested them, up to trials started in the same moment), and its tracker."""
    tracker = tracking.open_store(out)
    (parent,) = [s for s in tracker.all_studies() if s["run_id"] == parent_run_id]
    trials = [t for t in tracker.trials_of(parent_run_id) if t["tags"][KIND_TAG] == "trial"]
    trials.sort(key=lambda t: t["start_time"] or 0)  # when each began: the searcher's order
    return Objective.from_record(parent["tags"]), trials, tracker


def reached(out: Path, parent_run_id: str, targets: dict[str, float], val_size: int) -> dict:
    """Per strategy: (1-based trial reaching its target within δ or None, that trial's
    source, epochs up to it, epochs in all, trials, best value, δ)."""
    objective, trials, tracker = study_record(out, parent_run_id)
    rows = {}
    for strategy, target in targets.items():
        mine = [t for t in trials if t["tags"][STRATEGY_TAG] == strategy]
        floor = noise_floor(Sample(target, math.nan, 1), objective, val_size)
        spent, hit = 0, None
        for index, trial in enumerate(mine, start=1):
            spent += len(tracker.metric_history(trial["run_id"], objective.val_key))
            value = trial["metrics"].get(objective.best_key, math.nan)
            if hit is None and objective.score(value) >= objective.score(target) - floor:
                hit = (index, trial["tags"].get(TRIAL_SOURCE_TAG, "?"), spent)
        best = objective.best_of(t["metrics"].get(objective.best_key) for t in mine)
        rows[strategy] = (hit, spent, len(mine), best, floor)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="adamw,cosine_sgd")
    parser.add_argument("--samples", type=int, default=8, help="trials per strategy")
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1, help="study 2's seed (study 1's is 0)")
    args = parser.parse_args()

    def settings(out: Path, seed: int, warm: bool) -> SearchSettings:
        return SearchSettings(
            workload="synthetic",
            strategies=(args.strategies,),
            samples=args.samples,
            max_epochs=args.max_epochs,
            seeds=0,
            seed=seed,
            out=str(out),
            warm_start=1 if warm else None,
        )

    with tempfile.TemporaryDirectory() as folder:
        first = Path(folder) / "first"
        study_1 = run_search(settings(first, 0, False), echo=lambda line: None)
        objective, trials, _ = study_record(first, study_1.parent_run_id)
        targets = {}
        for strategy in args.strategies.split(","):
            best = best_search_trial(trials, strategy, objective)
            targets[strategy] = best["metrics"][objective.best_key]
        results = {}
        for start in ("cold", "warm"):
            out = Path(folder) / start
            shutil.copytree(first, out)
            notes: list[str] = []
            study_2 = run_search(settings(out, args.seed, start == "warm"), echo=notes.append)
            config = study_2.report_folder / "resolved_config.json"
            val_size = int(json.loads(config.read_text())["workload"]["val_size"])
            results[start] = reached(out, study_2.parent_run_id, targets, val_size)
            if start == "warm":
                print(*[line for line in notes if line.startswith("warm start")], sep="\n")

    print(
        f"study 1: synthetic seed 0, {args.strategies}, {args.samples} trials × "
        f"{args.max_epochs} epochs (ASHA); study 2: synthetic seed {args.seed}, the same "
        "budget, cold and warm-started from study 1"
    )
    header = ("strategy", "start", "target", "δ", "reached at", "its source", "epochs to it",
              "best val", "epochs in all")  # fmt: skip
    widths = (10, 5, 7, 6, 10, 10, 12, 8, 13)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for strategy, target in targets.items():
        for start in ("cold", "warm"):
            hit, spent, count, best, floor = results[start][strategy]
            at = f"{hit[0]} of {count}" if hit else f"not in {count}"
            cells = (strategy, start, f"{target:.4f}", f"{floor:.4f}", at,
                     hit[1] if hit else "-", str(hit[2]) if hit else "-", f"{best:.4f}",
                     str(spent))  # fmt: skip
            print("  ".join(c.ljust(w) for c, w in zip(cells, widths)))


if __name__ == "__main__":
    main()
