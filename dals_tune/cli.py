"""The command line: ``python -m dals_tune <command>``.

Each command is a small function that parses nothing itself: argparse does that, and bad
input the library refuses (a ``ValueError`` with a message a user can act on) ends as one line
on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from dals_tune import __version__

USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dals_tune",
        description="Find out which learning-rate strategy works best, and prove it.",
    )
    parser.add_argument("--version", action="version", version=f"dals_tune {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    strategies = commands.add_parser(
        "strategies", help="list the registered learning-rate strategies"
    )
    strategies.add_argument("--json", action="store_true", help="print a JSON list")
    strategies.set_defaults(run=run_strategies)

    train = commands.add_parser(
        "train", help="run one trial in the foreground: the quickest way to try a strategy"
    )
    train.add_argument("--workload", required=True, help="synthetic, cifar10, trec6, csv:PATH, ...")
    train.add_argument("--strategy", required=True, help="a strategy id (see 'strategies')")
    train.add_argument("--regime", choices=["scratch", "finetune"], default=None)
    train.add_argument("--epochs", type=positive_int, default=10)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--data-dir", default=None, help="where local dataset copies live")
    train.add_argument(
        "--subset", type=positive_int, default=None, help="stratified N-example training set"
    )
    train.add_argument(
        "--eval-subset",
        type=positive_int,
        default=None,
        help="stratified N-example validation and test sets",
    )
    train.add_argument("--model", default=None, help="Hugging Face hub id or local path")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda")
    train.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    train.add_argument("--batch-size", type=positive_int, default=None)
    train.add_argument("--label-column", default=None, help="csv: the label column")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a strategy hyperparameter, e.g. --set lr=0.05 (repeatable)",
    )
    train.set_defaults(run=run_train)
    return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def parse_assignments(pairs: list[str]) -> dict[str, object]:
    """``["lr=0.05", "nesterov=true"]`` → ``{"lr": 0.05, "nesterov": True}`` (YAML scalars)."""
    import yaml

    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        values[key.strip()] = yaml.safe_load(text)
    return values


def run_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dals_tune.training import train

    config = {
        "workload": args.workload,
        "strategy": args.strategy,
        "epochs": args.epochs,
        "seed": args.seed,
        "device": args.device,
        "precision": args.precision,
        **{
            key: value
            for key, value in {
                "regime": args.regime,
                "data_dir": args.data_dir,
                "subset": args.subset,
                "eval_subset": args.eval_subset,
                "model": args.model,
                "batch_size": args.batch_size,
                "label_column": args.label_column,
            }.items()
            if value is not None
        },
        **parse_assignments(args.set),
    }
    columns = ("epoch", "train_loss", "val_loss", "val_acc", "test_acc", "epoch_seconds")
    progress: list[tqdm] = []  # opened at the first epoch, after the config was accepted

    def show(metrics: dict, _checkpoint: object) -> None:
        if not progress:
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

    record = train(config, report=show)
    for bar in progress:
        bar.close()
    described = record.workload
    if described.get("subset") or described.get("eval_subset"):
        print(
            f"subset used: {described['train_size']} of {described['full_train_size']} "
            f"training examples, validation {described['val_size']}, "
            f"test {described['test_size']}"
        )
    if record.status == "diverged":
        print(f"status=diverged at epoch {record.final['epoch']}")
    print(f"test_acc_at_best_val={record.final['test_acc_at_best_val']:.4f}")
    return 0


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:>13.4f}"
    return f"{value!s:>13}"


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, PermissionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
