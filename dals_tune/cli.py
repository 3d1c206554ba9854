"""The command line: ``python -m dals_tune <command>``: the parser of every command, and
``main``.

Each command is a small function (:mod:`dals_tune.cli_commands`) that parses nothing itself:
argparse does that, and bad
input the library refuses (a ``ValueError`` with a message a user can act on) ends as one line
on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from dals_tune import __version__
from dals_tune.benchmark_scales import SCALES
from dals_tune.cli_commands import (
    run_benchmark,
    run_recommend,
    run_refine,
    run_report,
    run_search,
    run_strategies,
    run_train,
    run_ui,
)
from dals_tune.cli_options import add_workload_options, flag, port_number, positive_int
from dals_tune.study.settings import (
    DEFAULT_NEIGHBOURS,
    MODES,
    SCHEDULERS,
    SEARCHERS,
    SEARCHES,
    SearchSettings,
)
from dals_tune.trial import REGIMES, TrialSpec

USAGE_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C stopped
INTERRUPTED_HINT = (
    "finished trials are recorded and running ones are not; run search again with --resume "
    "(benchmark: the same command) to go on from there"
)
DEFAULT_OUT = SearchSettings().out


class OneLineParser(argparse.ArgumentParser):
    """argparse with the package's error convention: a usage error is one line on stderr and
    exit code 2, pointing at ``--help`` instead of printing the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m dals_tune",
        description="Find out which learning-rate strategy works best, and prove it.",
    )
    parser.add_argument("--version", action="version", version=f"dals_tune {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in (
        add_strategies_command,
        add_train_command,
        add_search_command,
        add_report_command,
        add_recommend_command,
        add_refine_command,
        add_ui_command,
        add_benchmark_command,
    ):
        add_command(commands)
    return parser


def add_strategies_command(commands: Any) -> None:
    strategies = commands.add_parser(
        "strategies", help="list the registered learning-rate strategies"
    )
    strategies.add_argument("--json", action="store_true", help="print a JSON list")
    strategies.set_defaults(run=run_strategies)


def add_train_command(commands: Any) -> None:
    train = commands.add_parser(
        "train", help="run one trial in the foreground: the quickest way to try a strategy"
    )
    train.add_argument("--workload", required=True, help="synthetic, cifar10, trec6, csv:PATH, ...")
    train.add_argument("--strategy", required=True, help="a strategy id (see 'strategies')")
    train.add_argument("--regime", choices=REGIMES, default=None)
    train.add_argument("--epochs", **flag(TrialSpec, "epochs"))
    train.add_argument("--seed", **flag(TrialSpec, "seed"))
    train.add_argument("--device", **flag(TrialSpec, "device", help="auto, cpu or cuda"))
    add_workload_options(train)
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a strategy hyperparameter, e.g. --set lr=0.05 (repeatable)",
    )
    train.set_defaults(run=run_train)


def add_search_command(commands: Any) -> None:
    search = commands.add_parser(
        "search",
        help="run a study: tune each strategy with Optuna + ASHA on Ray Tune, name the winner",
        description="Without arguments: a quick default study on the synthetic task "
        "(a few strategies, a small budget; a few minutes on 2 cores).",
    )
    defaults = SearchSettings()
    search.add_argument("--workload", default=defaults.workload, help="synthetic, cifar10, ...")
    search.add_argument("--regime", choices=REGIMES, default=None)
    search.add_argument(
        "--strategies",
        default=",".join(defaults.strategies),
        help="'all' or comma-separated strategy ids (default %(default)s)",
    )
    search.add_argument("--samples", type=int, default=defaults.samples, help="trials per strategy")
    search.add_argument("--max-epochs", type=int, default=defaults.max_epochs)
    search.add_argument(
        "--seeds", type=int, default=defaults.seeds, help="seed re-runs of each best config"
    )
    search.add_argument(
        "--mode",
        choices=MODES,
        default=defaults.mode,
        help="per-strategy: --samples trials each; joint: one study that picks the strategy "
        "too; race: successive halving over the strategies within the per-strategy budget",
    )
    search.add_argument("--scheduler", choices=SCHEDULERS, default=defaults.scheduler)
    search.add_argument(
        "--searcher",
        choices=SEARCHERS,
        default=defaults.searcher,
        help="the Optuna sampler: optuna (TPE), gp (Gaussian process) or random; every setting "
        "is written out in dals_tune/study/samplers.py and recorded with the study",
    )
    search.add_argument(
        "--search",
        choices=SEARCHES,
        default=defaults.search,
        help="what the trials sample: 'all' of each strategy's space (default), or 'lr', its "
        "learning rate(s) alone with the rest at defaults",
    )
    search.add_argument("--cpus-per-trial", type=float, default=defaults.cpus_per_trial)
    search.add_argument("--gpus-per-trial", type=float, default=defaults.gpus_per_trial)
    search.add_argument(
        "--address", default=None, help="join a Ray cluster: 'auto' or HOST:PORT (default: local)"
    )
    search.add_argument("--space", default=None, help="a YAML/JSON file narrowing the spaces")
    search.add_argument(
        "--seed", **flag(SearchSettings, "seed", help="the searcher's and trials' seed")
    )
    search.add_argument("--resume", action="store_true", help="continue the interrupted study")
    search.add_argument(
        "--refine-from",
        default=None,
        metavar="RUN_ID",
        help="the trial whose refined schedule the 'refined' strategy tunes (see 'refine')",
    )
    search.add_argument(
        "--warm-start",
        type=int,
        nargs="?",
        const=DEFAULT_NEIGHBOURS,
        default=None,
        metavar="K",
        help="after each strategy's default, try its best configurations in the K nearest "
        f"finished studies of the store (default K {DEFAULT_NEIGHBOURS}), then the searcher",
    )
    search.add_argument("-v", "--verbose", action="store_true", help="show Ray's own logs")
    add_store_arguments(search)
    add_workload_options(search)
    search.set_defaults(run=run_search)


def add_report_command(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="write leaderboards, the winner table and the profile plot from the store"
    )
    add_store_arguments(report)
    report.set_defaults(run=run_report)


def add_recommend_command(commands: Any) -> None:
    recommend = commands.add_parser(
        "recommend",
        help="which strategies to try first on a task, from the finished studies in the store",
    )
    recommend.add_argument("--workload", required=True, help="synthetic, cifar10, trec6, ...")
    recommend.add_argument("--regime", choices=REGIMES, default=None)
    recommend.add_argument(
        "--neighbours",
        type=positive_int,
        default=DEFAULT_NEIGHBOURS,
        help=f"nearest studies to rank from ({DEFAULT_NEIGHBOURS})",
    )
    add_store_arguments(recommend)
    add_workload_options(recommend)
    recommend.set_defaults(run=run_recommend)


def add_refine_command(commands: Any) -> None:
    refine = commands.add_parser(
        "refine",
        help="compute a refined schedule from a finished trial's gradient norms, for "
        "search --strategies refined --refine-from RUN_ID",
    )
    refine.add_argument("--run", dest="run_id", required=True, metavar="RUN_ID",
                        help="the MLflow run id of a finished trial")  # fmt: skip
    add_store_arguments(refine)
    refine.set_defaults(run=run_refine)


def add_ui_command(commands: Any) -> None:
    ui = commands.add_parser("ui", help="open the MLflow UI on the study store (localhost)")
    add_store_arguments(ui)
    ui.add_argument("--host", default="127.0.0.1", help="interface to listen on (default local)")
    ui.add_argument("--port", type=port_number, default=5000)
    ui.set_defaults(run=run_ui)


def add_benchmark_command(commands: Any) -> None:
    benchmark = commands.add_parser(
        "benchmark",
        help="every strategy on every workload, both regimes, then the cross-study report",
    )
    benchmark.add_argument("--scale", choices=list(SCALES), default="cpu")
    benchmark.add_argument(
        "--strategies",
        default=None,
        help="'all' or id,id,... (default: the scale's own, see docs/reports.md)",
    )
    benchmark.add_argument(
        "--workloads",
        default="all",
        help="'all' (default: the benchmark's list) or WORKLOAD/REGIME,... e.g. "
        "lm/scratch,my_task:build/scratch",
    )
    add_workload_options(benchmark, only=("data_dir", "model"))  # the scale sets the rest
    benchmark.add_argument("--address", default=None, help="join a Ray cluster: auto|HOST:PORT")
    benchmark.add_argument("--out", default=DEFAULT_OUT)
    benchmark.add_argument(
        "--redo",
        action="append",
        default=[],
        metavar="WORKLOAD/REGIME",
        help="study a finished workload again (repeatable), e.g. trec6/scratch after its runs "
        "errored for a reason of the machine; the new study replaces the old one in the reports",
    )
    benchmark.add_argument("-v", "--verbose", action="store_true", help="show Ray's own logs")
    benchmark.set_defaults(run=run_benchmark)


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"the study folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--tracking-uri", default=None, help="an MLflow store other than <out>/mlflow.db"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, PermissionError) as error:
        # One line, whatever the message: a library's own text may span several.
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        # Ctrl-C, inside a Tuner run (Tune then saves its state) or outside one.
        print(f"interrupted: {INTERRUPTED_HINT}", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
