"""What each command of ``python -m dals_tune`` does once argparse has read its arguments
(:mod:`dals_tune.cli` builds the parser and turns a refusal into one line and exit code 2).

Each ``run_<command>`` takes the parsed arguments, calls the library, prints what a user
needs and returns the exit code. Heavy modules are imported inside each function, so
``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math

from dals_tune.cli_options import workload_options
from dals_tune.objective import Objective, reported_metric
from dals_tune.study.settings import SearchSettings
from dals_tune.trial import TrialSpec


def parse_assignments(pairs: list[str]) -> dict[str, object]:
    """``["lr=0.05", "nesterov=true"]`` → ``{"lr": 0.05, "nesterov": True}`` (YAML scalars)."""
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        values[key.strip()] = _scalar(text)
    return values


def _scalar(text: str) -> object:
    """A YAML scalar, but ``1e-4`` is a number: YAML 1.1 (PyYAML) reads a float only with a
    dot in it (``1.0e-4``), and a learning rate is most often written ``1e-4``."""
    import yaml

    value = yaml.safe_load(text)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value)
            if math.isfinite(number):  # "nan" and "inf" stay words, refused as such
                return number
    return value


def run_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dals_tune.training import train

    config = {
        "workload": args.workload,
        "regime": args.regime,
        "strategy": args.strategy,
        "epochs": args.epochs,
        "seed": args.seed,
        "device": args.device,
        **workload_options(args),
        **parse_assignments(args.set),
    }
    spec = TrialSpec.from_config(config)
    progress: list[tqdm] = []  # opened at the first epoch, after the config was accepted
    columns: list[str] = []  # named from the first epoch's metrics: val_<m>, test_<m>

    def show(metrics: dict, _checkpoint: object) -> None:
        if not progress:
            metric = reported_metric(metrics)
            shown = ("val_loss",) if metric == "loss" else ("val_loss", f"val_{metric}")
            columns.extend(("epoch", "train_loss", *shown))
            columns.extend((f"test_{metric}", "epoch_seconds"))
            bar = tqdm(
                total=args.epochs,
                desc=f"{args.strategy} on {args.workload}",
                unit="epoch",
                initial=metrics["epoch"] - 1,
            )
            bar.write("  ".join(f"{c:>13}" for c in columns))
            progress.append(bar)
        progress[0].write("  ".join(_cell(metrics.get(c)) for c in columns))
        progress[0].update(1)

    record = train(spec, report=show)
    for bar in progress:
        bar.close()
    described = record.workload
    if described.get("subset_used"):  # a workload that counts its subsets otherwise (lm)
        print(f"subset used: {described['subset_used']}")
    elif described.get("subset") or described.get("eval_subset"):
        print(
            f"subset used: {described['train_size']} of {described['full_train_size']} "
            f"training examples, validation {described['val_size']}, "
            f"test {described['test_size']}"
        )
    if record.status == "diverged":
        print(f"status=diverged at epoch {record.final['epoch']}")
    key = Objective.from_record(record.workload).test_at_best_key
    print(f"{key}={record.final[key]:.4f}")
    return 0


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:>13.4f}"
    return f"{value!s:>13}"


def run_search(args: argparse.Namespace) -> int:
    from dals_tune.study import NO_WINNER, run_search

    settings = SearchSettings(
        workload=args.workload,
        regime=args.regime,
        strategies=(args.strategies,),
        samples=args.samples,
        max_epochs=args.max_epochs,
        seeds=args.seeds,
        mode=args.mode,
        scheduler=args.scheduler,
        searcher=args.searcher,
        search=args.search,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        address=args.address,
        out=args.out,
        tracking_uri=args.tracking_uri,
        space_file=args.space,
        seed=args.seed,
        refine_from=args.refine_from,
        warm_start=args.warm_start,
        **workload_options(args),
    )
    result = run_search(settings, resume=args.resume, verbose=args.verbose)
    print()
    print(result.leaderboard_markdown.rstrip())
    print()
    if result.winner == NO_WINNER:
        print("no winner: every strategy diverged or errored (see the notes above)")
    else:
        metric = result.objective.full_name
        value = f"validation {metric} {result.winner_value:.4f}"
        if result.tied_with:
            tied = ", ".join([result.winner, *result.tied_with.split(",")])
            print(
                f"tie for first place: {tied} (the runs cannot separate them; best mean "
                f"{result.winner}, {value})"
            )
        else:
            print(f"winner: {result.winner} ({value})")
    print(f"reports: {result.report_folder}")
    print(f"MLflow UI: python -m dals_tune ui --out {args.out}")
    return 0


def run_benchmark(args: argparse.Namespace) -> int:
    from dals_tune import benchmark

    scale = benchmark.SCALES[args.scale]
    studies = benchmark.plan(
        scale,
        args.out,
        strategies=None if args.strategies is None else (args.strategies,),
        data_dir=args.data_dir,
        model=args.model,
        address=args.address,
        workloads=benchmark.parse_workloads(args.workloads),
    )
    result = benchmark.run_benchmark(scale, studies, verbose=args.verbose, redo=tuple(args.redo))
    print(f"benchmark ({args.scale}): {len(result.studies)} studies, {len(result.skipped)} "
          "finished earlier")  # fmt: skip
    for path in result.report_files:
        if path.parent.name == "reports":  # the cross-study files; per-study folders below
            print(path)
    return 0


def run_refine(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dals_tune import tracking
    from dals_tune.refine import refine

    tracker = tracking.open_existing_store(args.out, args.tracking_uri)
    refined = refine(tracker, args.run_id, Path(args.out) / "refined" / args.run_id)
    source = refined.source
    print(
        f"refined schedule of {source.strategy} trial {source.run_id}: {source.base} with "
        f"{source.grad_norm_kind} norms, {len(refined.multipliers)} steps"
    )
    print(f"schedule: {refined.schedule_path}")
    print(f"plot: {refined.plot_path}")
    note = refined.too_short_note()
    if note is not None:
        print(note)
    store = f" --tracking-uri {args.tracking_uri}" if args.tracking_uri else ""
    print(
        f"next: python -m dals_tune search --workload {source.workload} --strategies refined "
        f"--refine-from {source.run_id} --out {args.out}{store}"
    )
    return 0


def run_report(args: argparse.Namespace) -> int:
    from dals_tune import reports

    written = reports.write_reports(args.out, tracking_uri=args.tracking_uri)
    for path in written:
        print(path)
    return 0


def run_recommend(args: argparse.Namespace) -> int:
    from dals_tune import recommend

    options = {"regime": args.regime, **workload_options(args)}
    written = recommend.write_recommendation(
        args.out, args.workload, options, args.neighbours, tracking_uri=args.tracking_uri
    )
    print(written.markdown.rstrip())
    print()
    for path in written.files:
        print(path)
    return 0


def run_ui(args: argparse.Namespace) -> int:
    from dals_tune.tracking_ui import serve_ui

    return serve_ui(args.out, args.tracking_uri, host=args.host, port=args.port)


def run_strategies(args: argparse.Namespace) -> int:
    from dals_tune import strategies

    records = list(strategies.REGISTRY.values())
    if args.json:
        rows = [
            {
                "id": s.id,
                "generation": s.generation,
                "family": s.family,
                "library": s.library,
                "licence": s.licence,
                "paper": s.paper,
                "description": s.description,
                "defaults": s.defaults,
            }
            for s in records
        ]
        print(json.dumps(rows, indent=2))
        return 0
    header = ("id", "gen", "family", "library", "description")
    rows = [(s.id, str(s.generation), s.family, s.library, s.description) for s in records]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join([*cells, row[4]]))
    return 0
