"""The trial contract: the one list of what a trial needs.

A trial is a workload with its options, a regime, a strategy with its hyperparameters, a
number of epochs, a seed and a device. Every floor takes it from here:

- the command line's data flags (``train``, ``search``, ``benchmark``, ``recommend``) are
  made from :class:`WorkloadSpec`'s fields (:func:`dals_tune.cli_options.add_workload_options`);
- ``train`` and the Ray trainable build a :class:`TrialSpec` from a flat config
  (:meth:`TrialSpec.from_config`), the shape Ray Tune hands a trial;
- a study's settings (:class:`dals_tune.study.settings.SearchSettings`) extend
  :class:`WorkloadSpec`, and each of its trials is :meth:`TrialSpec.to_config` of one;
- ``recommend`` builds the workload of a :class:`WorkloadSpec`.

Each setting has one default and one check, declared with its field: the check runs when a
record is made, which is where a user's input enters (the command line rephrases the same
check's refusal in argparse's words). No heavy imports, so ``--help`` stays instant.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dals_tune.precision import PRECISIONS

REGIMES = ("scratch", "finetune")
# What ``wanted`` reads as for each lowest value a whole number may take.
_WHOLE_NUMBER_WANTED = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}

Check = Callable[[Any, str], Any]  # (value, name) -> the value to keep, or SettingError


class SettingError(ValueError):
    """A setting refused in one line: ``name`` must be ``wanted``, and was ``value``."""

    def __init__(self, name: str, wanted: str, value: Any) -> None:
        super().__init__(f"{name} must be {wanted}, got {value!r}")
        self.name, self.wanted, self.value = name, wanted, value


def whole_number(value: Any, name: str, minimum: int | None = None) -> int:
    """``3``, ``3.0``, ``"3"`` and numpy integers → 3; anything else, or a number below
    ``minimum``, is refused in one line."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not integral or (minimum is not None and value < minimum):
        wanted = _WHOLE_NUMBER_WANTED.get(minimum, f"an integer >= {minimum}")
        raise SettingError(name, wanted, value)
    return int(value)


def positive(value: Any, name: str) -> int:
    return whole_number(value, name, minimum=1)


def finite_number(value: Any, name: str) -> float:
    """``0.9``, ``"0.9"``, ``1`` → a float; text that is no number, a bool, NaN or ±∞ is
    refused in one line."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise SettingError(name, "a finite number", value)
    return number


def non_negative(value: Any, name: str) -> int:
    return whole_number(value, name, minimum=0)


def fold_count(value: Any, name: str) -> int:
    """K of k-fold selection: two folds at least (one "fold" would be no validation data at
    all); the single validation split is asked for by leaving the setting out."""
    wanted = "an integer >= 2 (leave it out for one validation split)"
    try:
        count = whole_number(value, name)
    except SettingError:
        raise SettingError(name, wanted, value) from None
    if count < 2:
        raise SettingError(name, wanted, count)
    return count


def text(value: Any, name: str) -> str:
    """A name or a path; one typed as a number (``--set data_dir=2024``) is its text."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise SettingError(name, "a string", value)


def one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any, name: str) -> str:
        if value not in choices:
            raise SettingError(name, " or ".join(repr(choice) for choice in choices), value)
        return value

    check.choices = choices  # what the command line offers
    return check


def optional(check: Check) -> Check:
    """``check``, with None meaning "the default of the workload or library"."""

    def check_unless_none(value: Any, name: str) -> Any:
        return None if value is None else check(value, name)

    check_unless_none.choices = getattr(check, "choices", None)
    return check_unless_none


def setting(default: Any, check: Check, help: str = "", flag: bool = True) -> Any:
    """A field with its one check; ``flag`` puts it among the command line's workload
    options (``--data-dir`` for ``data_dir``), with ``help`` as its help text."""
    return field(default=default, metadata={"check": check, "help": help, "flag": flag})


def check_fields(record: Any) -> None:
    """Run each field's check on a frozen record, keeping what the check returns (so
    ``"3"`` becomes 3, a ``Path`` its text)."""
    for item in dataclasses.fields(record):
        check = item.metadata.get("check")
        if check is not None:
            object.__setattr__(record, item.name, check(getattr(record, item.name), item.name))


@dataclass(frozen=True)
class WorkloadSpec:
    """What builds a workload: its id, the regime, the seed, the device and the workload
    options."""

    workload: str = setting("synthetic", text, flag=False)
    regime: str | None = setting(None, optional(one_of(REGIMES)), flag=False)
    seed: int = setting(0, non_negative, flag=False)
    device: str = setting("auto", text, flag=False)  # auto, cpu or cuda
    data_dir: str | None = setting(None, optional(text), "where local dataset copies live")
    subset: int | None = setting(None, optional(positive), "stratified N-example training set")
    eval_subset: int | None = setting(
        None, optional(positive), "stratified N-example validation and test sets"
    )
    model: str | None = setting(
        None,
        optional(text),
        "Hugging Face hub id or local path, or a built-in model's name (docs/workloads.md)",
    )
    precision: str = setting(
        "auto",
        one_of(PRECISIONS),
        "bf16 autocast or fp32; auto: bf16 where the hardware has it natively and it was "
        "measured faster, else fp32",
    )
    batch_size: int | None = setting(None, optional(positive), "examples per batch")
    label_column: str | None = setting(None, optional(text), "csv: the label column")
    text_column: str | None = setting(None, optional(text), "csv: the text column, if any")
    max_length: int | None = setting(
        None,
        optional(positive),
        "text workloads: tokens kept per example (default: the task's, e.g. imdb 256)",
    )
    target: float | None = setting(
        None,
        optional(finite_number),
        "the validation value that counts as reached (time to target, the winners' 'reached'), "
        "in the metric's units; default: the workload's own",
    )
    folds: int | None = setting(
        None,
        optional(fold_count),
        "k-fold selection: the objective is the mean over K stratified folds of the training "
        "data (synthetic, csv: and your own tensor workloads; default: one validation split)",
    )

    def __post_init__(self) -> None:
        check_fields(self)


def option_fields() -> list[dataclasses.Field]:
    """The workload options the command line offers, in their order."""
    return [item for item in dataclasses.fields(WorkloadSpec) if item.metadata["flag"]]


WORKLOAD_FIELDS = tuple(item.name for item in dataclasses.fields(WorkloadSpec))


@dataclass(frozen=True)
class TrialSpec(WorkloadSpec):
    """One trial: a workload, a strategy with its hyperparameters and a number of epochs.

    ``source_run_file`` is what a strategy built from a finished run reads of it (the
    gradient norms of ``search --refine-from``, for the refined schedule)."""

    strategy: str | None = setting(None, optional(text))
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = setting(10, positive)
    source_run_file: str | None = setting(None, optional(text))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrialSpec:
        """The spec of a flat trial config: the contract's keys, and every other key a
        hyperparameter of the strategy."""
        if "workload" not in config:
            raise ValueError("the config needs a 'workload' key (synthetic, cifar10, trec6, ...)")
        known = {key: value for key, value in config.items() if key in TRIAL_KEYS}
        hyperparameters = {k: v for k, v in config.items() if k not in TRIAL_KEYS}
        return cls(**known, hyperparameters=hyperparameters)

    def to_config(self) -> dict[str, Any]:
        """The flat config :meth:`from_config` reads back (what a Ray trial is given)."""
        values = {name: getattr(self, name) for name in TRIAL_KEYS}
        plain = {key: value for key, value in values.items() if value is not None}
        return {**plain, **self.hyperparameters}


TRIAL_KEYS = tuple(
    item.name for item in dataclasses.fields(TrialSpec) if item.name != "hyperparameters"
)


def as_workload_spec(config: WorkloadSpec | Mapping[str, Any]) -> WorkloadSpec:
    """A record as it is, or the workload part of a flat config (other keys ignored)."""
    if isinstance(config, WorkloadSpec):
        return config
    if "workload" not in config:
        raise ValueError("the config needs a 'workload' key (synthetic, cifar10, trec6, ...)")
    return WorkloadSpec(**{key: config[key] for key in WORKLOAD_FIELDS if key in config})
