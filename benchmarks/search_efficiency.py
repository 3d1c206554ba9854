"""ASHA against FIFO on the same search, and Ray Tune's per-trial overhead, in one run.

Both studies search the same strategies with the same seeded searcher, the same number of
trials and the same maximum epochs on the synthetic task; the only difference is the
scheduler. It prints, for each, the best validation accuracy any trial reached and the epochs
all trials spent, then ASHA's gap to FIFO (target: within 0.5 points) and its share of FIFO's
epochs (target: ≤ 40 %). The per-trial overhead of each Tuner run is
``(wall × slots − Σ trial seconds) / trials`` (see ``dals_tune.study.runner.TuneRunTiming``);
target ≤ 1 s on 2 cores.

Early stopping can only save what lies beyond the first rung: each strategy's ASHA judges a
trial first at its grace period (that strategy's longest warmup: 20 % of the epochs for DALS,
one epoch without warmup), then at 3×, 9×... that. The default budget of 27 epochs gives
three to four rungs; at 9 epochs there are two, and even a synchronous successive halving
would spend about 31 % of FIFO's epochs.

    .venv/bin/python benchmarks/search_efficiency.py [--samples 12] [--max-epochs 27]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dals_tune import tracking
from dals_tune.objective import Objective
from dals_tune.study import SearchSettings, run_search
from dals_tune.tracking_tags import KIND_TAG


def best_and_epochs(out: Path) -> tuple[float, int, int]:
    """(best validation value of any search trial, in the study's metric and direction,
    epochs all trials ran, trials). The synthetic workload's metric is accuracy."""
    tracker = tracking.open_store(out)
    (study,) = tracker.all_studies()
    objective = Objective.from_record(study["tags"])
    trials = [t for t in tracker.trials_of(study["run_id"]) if t["tags"][KIND_TAG] == "trial"]
    best = objective.best_of(t["metrics"].get(objective.best_key) for t in trials)
    epochs = sum(len(tracker.metric_history(t["run_id"], objective.val_key)) for t in trials)
    return (objective.diverged_value if best is None else best), epochs, len(trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="dals,adamw,cosine_sgd")
    parser.add_argument("--samples", type=int, default=12, help="trials per strategy")
    parser.add_argument("--max-epochs", type=int, default=27)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for scheduler in ("asha", "fifo"):
            out = Path(folder) / scheduler
            settings = SearchSettings(
                workload="synthetic",
                strategies=(args.strategies,),
                samples=args.samples,
                max_epochs=args.max_epochs,
                seeds=0,
                scheduler=scheduler,
                seed=args.seed,
                out=str(out),
            )
            started = time.perf_counter()
            result = run_search(settings, echo=lambda line: None)
            study_wall = time.perf_counter() - started
            best, epochs, trials = best_and_epochs(out)
            (tune_run,) = result.tune_runs
            rows[scheduler] = (best, epochs, trials, tune_run, study_wall)

    print(
        f"search: synthetic, {args.strategies}, {args.samples} trials per strategy, "
        f"max {args.max_epochs} epochs, Optuna TPE seed {args.seed}"
    )
    header = ("scheduler", "best val", "epochs", "trials", "Tune wall s", "trial s", "slots",
              "overhead s/trial", "study s")  # fmt: skip
    widths = (9, 9, 7, 6, 11, 8, 5, 16, 8)
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, widths)))
    for name, (best, epochs, trials, run, wall) in rows.items():
        print(
            f"{name:>9} {best:>9.4f} {epochs:>7} {trials:>6} {run.wall_seconds:>11.1f} "
            f"{run.trial_seconds:>8.1f} {run.slots:>5} {run.overhead_per_trial:>16.2f} {wall:>8.1f}"
        )
    asha, fifo = rows["asha"], rows["fifo"]
    gap = (fifo[0] - asha[0]) * 100
    share = asha[1] / fifo[1]
    print(f"ASHA best − FIFO best: {-gap:+.2f} points (target: ASHA within 0.5 points)")
    print(f"ASHA epochs / FIFO epochs: {share:.2f} (target ≤ 0.40)")
    worst = max(asha[3].overhead_per_trial, fifo[3].overhead_per_trial)
    print(f"Tune per-trial overhead: {worst:.2f} s at most (target ≤ 1 s)")


if __name__ == "__main__":
    main()
