"""ASHA against FIFO on the same search, the race against both, and Ray Tune's per-trial
overhead, in one run.

The studies search the same strategies with the same seeded searcher, the same ``--samples``
per strategy and the same maximum epochs, on the synthetic task or a CIFAR-10 subset
(``--workload cifar10 --subset 2000``); only the scheduler and the mode differ:

- ``asha``, ``fifo``: per-strategy mode, every strategy its ``--samples`` trials;
- ``race-asha``, ``race-fifo``: ``--mode race`` (``dals_tune.study.race``), with per-strategy
  ASHA or FIFO inside each round, capped at the per-strategy mode's trials.

It prints, for each, the best validation value any trial reached, the epochs all trials
spent and the winner (its best trial's strategy; ``--seeds 0``, so the leaderboard ranks
the best trials, with the tie group of single values, ``dals_tune.reports.ties``). Then
ASHA's gap to FIFO (target: within 0.3 points) and its share of FIFO's epochs (target:
≤ 35 %); each race's epochs as a share of the per-strategy study with the same scheduler
(target: ≤ 50 %), and whether the race's winner is the per-strategy winner or in its tie
group. The per-trial overhead of each Tuner run is ``(wall × slots − Σ trial seconds) /
trials`` (see ``dals_tune.study.runner.TuneRunTiming``), summed over a race's rounds; target
≤ 1 s on 2 cores.

Early stopping can only save what lies beyond the first rung: each strategy's ASHA judges a
trial first at its grace period (that strategy's longest warmup: 20 % of the epochs for DALS,
one epoch without warmup), then at 3×, 9×... that, keeping the top third of each rung by
rank (``dals_tune.study.ray_tune.asha``); in a race its rungs hold the strategy's trials of
every round so far. The default budget of 27 epochs gives
three to four rungs; at 9 epochs there are two, and even a synchronous successive halving
would spend about 31 % of FIFO's epochs.

    .venv/bin/python benchmarks/search_efficiency.py [--samples 12] [--max-epochs 27]
        [--studies asha,fifo,race-asha,race-fifo] [--workload cifar10 --subset 2000
        --data-dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dals_tune import tracking
from dals_tune.objective import Objective
from dals_tune.reports import study_leaderboard
from dals_tune.study import SearchSettings, run_search
from dals_tune.tracking_tags import KIND_TAG

STUDIES = {  # name: (mode, scheduler)
    "asha": ("per-strategy", "asha"),
    "fifo": ("per-strategy", "fifo"),
    "race-asha": ("race", "asha"),
    "race-fifo": ("race", "fifo"),
}


@dataclass(frozen=True)
class Measured:
    """One study's figures: the best validation value of any search trial (in the study's
    metric and direction), epochs all its trials ran, trials, the winner and the strategies
    sharing its first place, Tune's time over all its Tuner runs, the whole study's time."""

    best: float
    epochs: int
    trials: int
    winner: str
    first_place: frozenset[str]
    tune_wall: float
    trial_seconds: float
    slots: int
    overhead: float
    study_seconds: float


def measured(out: Path, result, study_seconds: float) -> Measured:
    tracker = tracking.open_store(out)
    (study,) = tracker.all_studies()
    objective = Objective.from_record(study["tags"])
    trials = [t for t in tracker.trials_of(study["run_id"]) if t["tags"][KIND_TAG] == "trial"]
    best = objective.best_of(t["metrics"].get(objective.best_key) for t in trials)
    epochs = sum(len(tracker.metric_history(t["run_id"], objective.val_key)) for t in trials)
    rows = study_leaderboard(tracker, study["run_id"])
    runs = result.tune_runs
    busy = sum(run.wall_seconds * run.slots - run.trial_seconds for run in runs)
    return Measured(
        best=objective.diverged_value if best is None else best,
        epochs=epochs,
        trials=len(trials),
        winner=result.winner,
        first_place=frozenset(row.strategy for row in rows if row.rank == 1),
        tune_wall=sum(run.wall_seconds for run in runs),
        trial_seconds=sum(run.trial_seconds for run in runs),
        slots=max(run.slots for run in runs),
        overhead=busy / max(1, sum(run.trials for run in runs)),
        study_seconds=study_seconds,
    )


def run_study(name: str, args: argparse.Namespace, folder: Path) -> Measured:
    mode, scheduler = STUDIES[name]
    out = folder / name
    settings = SearchSettings(
        workload=args.workload,
        subset=args.subset,
        eval_subset=args.eval_subset,
        data_dir=args.data_dir,
        strategies=(args.strategies,),
        samples=args.samples,
        max_epochs=args.max_epochs,
        seeds=0,
        mode=mode,
        scheduler=scheduler,
        seed=args.seed,
        out=str(out),
    )
    started = time.perf_counter()
    result = run_search(settings, echo=lambda line: None)
    return measured(out, result, time.perf_counter() - started)


def print_table(rows: dict[str, Measured]) -> None:
    header = ("study", "best val", "epochs", "trials", "winner", "Tune wall s", "trial s",
              "slots", "overhead s/trial", "study s")  # fmt: skip
    widths = (9, 9, 7, 6, 12, 11, 8, 5, 16, 8)
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, widths)))
    for name, row in rows.items():
        print(
            f"{name:>9} {row.best:>9.4f} {row.epochs:>7} {row.trials:>6} {row.winner:>12} "
            f"{row.tune_wall:>11.1f} {row.trial_seconds:>8.1f} {row.slots:>5} "
            f"{row.overhead:>16.2f} {row.study_seconds:>8.1f}"
        )


def print_verdicts(rows: dict[str, Measured]) -> None:
    asha, fifo = rows.get("asha"), rows.get("fifo")
    if asha and fifo:
        print(f"ASHA best − FIFO best: {(asha.best - fifo.best) * 100:+.2f} points "
              "(target: ASHA within 0.3 points)")  # fmt: skip
        print(f"ASHA epochs / FIFO epochs: {asha.epochs / fifo.epochs:.2f} (target ≤ 0.35)")
    for name, row in rows.items():
        if not name.startswith("race-"):
            continue
        for other in ("asha", "fifo"):
            base = rows.get(other)
            if base is None:
                continue
            verdict = (
                "the same winner"
                if row.winner == base.winner
                else "in its tie group"
                if row.winner in base.first_place
                else "NOT tied with it"
            )
            print(
                f"{name}: epochs {row.epochs / base.epochs:.2f} of {other}'s (target ≤ 0.50); "
                f"winner {row.winner}, {other}'s {base.winner} "
                f"(first place: {', '.join(sorted(base.first_place))}): {verdict}"
            )
    worst = max(row.overhead for row in rows.values())
    print(f"Tune per-trial overhead: {worst:.2f} s at most (target ≤ 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="dals,adamw,cosine_sgd")
    parser.add_argument("--samples", type=int, default=12, help="trials per strategy")
    parser.add_argument("--max-epochs", type=int, default=27)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--studies", default=",".join(STUDIES), help="a comma list of studies")
    parser.add_argument("--workload", default="synthetic", help="synthetic, cifar10, ...")
    parser.add_argument("--subset", type=int, default=None, help="training examples")
    parser.add_argument("--eval-subset", type=int, default=None)
    parser.add_argument("--data-dir", default=None, help="local dataset copies (read only)")
    args = parser.parse_args()
    names = [name.strip() for name in args.studies.split(",") if name.strip()]
    unknown = sorted(set(names) - set(STUDIES))
    if unknown:
        parser.error(f"unknown studies {', '.join(unknown)}; choose from {', '.join(STUDIES)}")

    with tempfile.TemporaryDirectory() as folder:
        rows = {name: run_study(name, args, Path(folder)) for name in names}
    subset = f" (subset {args.subset})" if args.subset else ""
    print(
        f"search: {args.workload}{subset}, {args.strategies}, {args.samples} trials per "
        f"strategy, max {args.max_epochs} epochs, Optuna TPE seed {args.seed}"
    )
    print_table(rows)
    print_verdicts(rows)


if __name__ == "__main__":
    main()
