"""What defines a study, and the bookkeeping saved with it.

Kept apart from the driver (``dals_tune.search``) and free of heavy imports, so the command
line can show the defaults of ``search`` without loading torch or Ray.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("per-strategy", "joint")
SCHEDULERS = ("asha", "fifo", "pbt")
SEARCHERS = ("optuna", "random")
STATE_FILE = "study.json"
# The quick default study of `python -m dals_tune search` with no arguments: a strategy from
# each generation but the last, a few trials each, on the synthetic task.
QUICK_STRATEGIES = ("fixed_sgd", "cosine_sgd", "adamw", "dals")
PATH_FIELDS = ("out", "space_file", "data_dir")  # a pathlib.Path is as good as a str here
KIND_NAMES = {"int": "an integer", "float": "a number", "str": "a string"}


@dataclass(frozen=True)
class SearchSettings:
    """Everything a study is defined by (saved with it, so ``--resume`` needs only --out)."""

    workload: str = "synthetic"
    regime: str | None = None
    strategies: tuple[str, ...] = QUICK_STRATEGIES
    samples: int = 3
    max_epochs: int = 4
    seeds: int = 2
    mode: str = "per-strategy"
    scheduler: str = "asha"
    searcher: str = "optuna"
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None
    out: str = "./dals_tune_runs"
    tracking_uri: str | None = None
    space_file: str | None = None
    seed: int = 0
    data_dir: str | None = None
    subset: int | None = None
    eval_subset: int | None = None
    model: str | None = None
    batch_size: int | None = None
    label_column: str | None = None
    max_length: int | None = None  # text workloads: tokens per example (the task's own if None)
    precision: str = "fp32"
    refine_from: str | None = None  # the trial run whose refined schedule `refined` tunes

    def __post_init__(self) -> None:
        """Refuse a value of the wrong kind in one line (from a library caller, or a damaged
        ``study.json``); ranges are :func:`dals_tune.search.check`'s to refuse."""
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            kinds = str(item.type).split(" | ")
            if value is None and "None" in kinds:
                continue
            if kinds[0].startswith("tuple"):
                expected = "a tuple of strategy ids"
                ok = isinstance(value, tuple | list) and all(isinstance(v, str) for v in value)
            elif kinds[0] in ("int", "float"):
                expected = KIND_NAMES[kinds[0]]
                number = int if kinds[0] == "int" else int | float
                ok = isinstance(value, number) and not isinstance(value, bool)
            else:
                expected = KIND_NAMES["str"]
                path = item.name in PATH_FIELDS and isinstance(value, os.PathLike)
                ok = isinstance(value, str) or path
            if not ok:
                optional = " or None" if "None" in kinds else ""
                raise ValueError(
                    f"search setting {item.name} must be {expected}{optional}, got {value!r}"
                )

    def trial_constants(self, regime: str) -> dict[str, Any]:
        """What every trial's config holds besides the strategy and its hyperparameters."""
        optional = {
            "data_dir": self.data_dir,
            "subset": self.subset,
            "eval_subset": self.eval_subset,
            "model": self.model,
            "batch_size": self.batch_size,
            "label_column": self.label_column,
            "max_length": self.max_length,
        }
        return {
            "workload": self.workload,
            "regime": regime,
            "epochs": self.max_epochs,
            "seed": self.seed,
            "precision": self.precision,
            **{key: value for key, value in optional.items() if value is not None},
        }


@dataclass
class StudyState:
    """The study's bookkeeping in ``studies/<id>/study.json``."""

    study_id: str
    settings: SearchSettings
    parent_run_id: str | None = None
    phase: str = "search"  # search | reruns | finished
    best_configs: dict[str, dict[str, Any]] = field(default_factory=dict)

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
