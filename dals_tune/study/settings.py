"""What defines a study, and the bookkeeping saved with it.

Free of heavy imports, so the command line can show the defaults of ``search`` without
loading torch or Ray. A study's settings extend the trial contract's
:class:`~dals_tune.trial.WorkloadSpec` (the workload, its regime, seed and options: one
definition, one default, one check each) with what only a study has; every setting is
checked once, when the record is made.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dals_tune.study.samplers import SAMPLERS
from dals_tune.trial import (
    WORKLOAD_FIELDS,
    SettingError,
    TrialSpec,
    WorkloadSpec,
    check_fields,
)

MODES = ("per-strategy", "joint", "race")  # race: dals_tune.study.race
SCHEDULERS = ("asha", "fifo", "pbt")
SEARCHERS = tuple(SAMPLERS)  # optuna (TPE), gp, random: dals_tune.study.samplers
# What a study's trials sample: every parameter of each strategy's space, or its learning
# rates alone with the rest at their defaults (search_spaces.learning_rates_only).
SEARCHES = ("all", "lr")
STATE_FILE = "study.json"
# The quick default study of `python -m dals_tune search` with no arguments: a strategy from
# each generation but the last, a few trials each, on the synthetic task.
QUICK_STRATEGIES = ("fixed_sgd", "cosine_sgd", "adamw", "dals")
KIND_NAMES = {int: "an integer", float: "a number", str: "a string"}
# How many nearest finished studies recommend ranks from and --warm-start reuses (its K).
DEFAULT_NEIGHBOURS = 3


def _of_kind(kind: type, optional: bool = False) -> Any:
    """A check that the value is of ``kind`` (a path counts as a string), or None when
    ``optional``: from a library caller or a damaged ``study.json``."""

    def check(value: Any, name: str) -> Any:
        if value is None and optional:
            return value
        if kind is str:
            ok = isinstance(value, str | os.PathLike)
        else:
            allowed = int if kind is int else int | float
            ok = isinstance(value, allowed) and not isinstance(value, bool)
        if not ok:
            wanted = KIND_NAMES[kind] + (" or None" if optional else "")
            raise SettingError(f"search setting {name}", wanted, value)
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    return check


def _strategy_ids(value: Any, name: str) -> tuple[str, ...]:
    if not (isinstance(value, tuple | list) and all(isinstance(v, str) for v in value)):
        raise SettingError(f"search setting {name}", "a tuple of strategy ids", value)
    return tuple(value)


def _at_least(kind: type, low: float, wanted: str, optional: bool = False) -> Any:
    def check(value: Any, name: str) -> Any:
        value = _of_kind(kind, optional)(value, name)
        if value is not None and value < low:
            raise ValueError(f"--{name.replace('_', '-')} must be {wanted}, got {value}")
        return value

    return check


def _choice(choices: tuple[str, ...]) -> Any:
    def check(value: Any, name: str) -> str:
        value = _of_kind(str)(value, name)
        if value not in choices:
            raise ValueError(f"--{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    return check


def _study(default: Any, check: Any) -> Any:
    return field(default=default, metadata={"check": check, "flag": False})


@dataclass(frozen=True)
class SearchSettings(WorkloadSpec):
    """Everything a study is defined by (saved with it, so ``--resume`` needs only --out):
    the workload part of the trial contract, and the study's own settings."""

    strategies: tuple[str, ...] = _study(QUICK_STRATEGIES, _strategy_ids)
    samples: int = _study(3, _at_least(int, 1, "a positive integer"))
    max_epochs: int = _study(4, _at_least(int, 1, "a positive integer"))
    seeds: int = _study(2, _at_least(int, 0, "0 or more"))
    mode: str = _study("per-strategy", _choice(MODES))
    scheduler: str = _study("asha", _choice(SCHEDULERS))
    searcher: str = _study("optuna", _choice(SEARCHERS))
    search: str = _study("all", _choice(SEARCHES))
    cpus_per_trial: float = _study(1.0, _of_kind(float))
    gpus_per_trial: float = _study(0.0, _of_kind(float))
    address: str | None = _study(None, _of_kind(str, optional=True))
    out: str = _study("./dals_tune_runs", _of_kind(str))
    tracking_uri: str | None = _study(None, _of_kind(str, optional=True))
    space_file: str | None = _study(None, _of_kind(str, optional=True))
    # The run id of the trial whose refined schedule the `refined` strategy tunes.
    refine_from: str | None = _study(None, _of_kind(str, optional=True))
    # --warm-start K: after each strategy's default, its best configurations in the K nearest
    # finished studies of the store (study.warm_start); None: start cold.
    warm_start: int | None = _study(None, _at_least(int, 1, "a positive integer", optional=True))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise ValueError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
        if self.mode == "joint" and self.scheduler == "pbt":
            raise ValueError(
                "--scheduler pbt mutates one strategy's knobs; use it with --mode per-strategy"
            )
        if self.mode == "race" and self.scheduler == "pbt":
            raise ValueError(
                "--mode race goes on with each strategy's searcher from round to round, and "
                "--scheduler pbt takes none; race with --scheduler asha or fifo"
            )

    def trial(self, regime: str | None, **changes: Any) -> TrialSpec:
        """A trial of this study: its workload part at ``regime`` (None: the workload's own)
        and the study's budget, with ``changes`` (the strategy, its hyperparameters, ...)."""
        workload = {name: getattr(self, name) for name in WORKLOAD_FIELDS}
        return TrialSpec(**{**workload, "regime": regime, "epochs": self.max_epochs, **changes})


@dataclass
class StudyState:
    """The study's bookkeeping in ``studies/<id>/study.json``."""

    study_id: str
    settings: SearchSettings
    parent_run_id: str | None = None
    phase: str = "search"  # search | reruns | finished
    best_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The --warm-start points chosen when the study began (WarmStart.as_record), so that a
    # resumed study enqueues and records the same ones whatever the store holds by then.
    warm_start: dict[str, Any] | None = None
    # --mode race: the rounds finished so far (study.race.RaceRound.as_record), so that a
    # resumed race goes on from the round it was in.
    race_rounds: list[dict[str, Any]] = field(default_factory=list)

    def save(self, folder: Path) -> None:
        data = {**dataclasses.asdict(self), "settings": dataclasses.asdict(self.settings)}
        temporary = folder / f".{STATE_FILE}.tmp"
        temporary.write_text(json.dumps(data, indent=2, default=str))
        temporary.replace(folder / STATE_FILE)

    @classmethod
    def load(cls, path: Path) -> StudyState:
        """The state ``save`` wrote; anything else (a truncated or hand-edited file) is
        refused in one line that names it."""
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
            settings = data.pop("settings")
            settings["strategies"] = tuple(settings["strategies"])
            return cls(settings=SearchSettings(**settings), **data)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            reason = str(error) if isinstance(error, ValueError) else repr(error)
            raise ValueError(
                f"cannot resume from {path}: not a study state dals_tune wrote ({reason}); "
                "move that study folder away, or run search without --resume to start anew"
            ) from error
