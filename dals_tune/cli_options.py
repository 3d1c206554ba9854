"""The command line's options that come from the trial contract, and its number parsers.

A flag made from a contract field (``--subset`` from ``WorkloadSpec.subset``) takes that
field's default, help and check: argparse runs the same check the record runs, and says its
refusal in argparse's words (``argument --subset: expected a positive integer, got 0``).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from typing import Any

from dals_tune.trial import SettingError, WorkloadSpec, option_fields


def field_of(record: type, name: str) -> dataclasses.Field:
    return next(item for item in dataclasses.fields(record) if item.name == name)


def flag(record: type, name: str, **overrides: Any) -> dict[str, Any]:
    """``add_argument`` keywords for the contract field ``name`` of ``record``."""
    item = field_of(record, name)
    check = item.metadata["check"]
    keywords: dict[str, Any] = {"default": item.default, "help": item.metadata.get("help")}
    choices = getattr(check, "choices", None)
    if choices:
        keywords["choices"] = list(choices)
    else:
        keywords["type"] = argument_type(check, name)
    return {**keywords, **overrides}


def argument_type(check: Any, name: str) -> Any:
    def parse(text: str) -> Any:
        try:
            return check(text, name)
        except SettingError as error:
            raise argparse.ArgumentTypeError(
                f"expected {error.wanted}, got {error.value!r}"
            ) from None

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def add_workload_options(parser: argparse.ArgumentParser, only: Iterable[str] = ()) -> None:
    """The workload options of the trial contract (``--data-dir``, ``--subset``, ...), all of
    them or ``only`` those named."""
    wanted = set(only)
    for item in option_fields():
        if not wanted or item.name in wanted:
            parser.add_argument("--" + item.name.replace("_", "-"), **flag(WorkloadSpec, item.name))


def workload_options(args: argparse.Namespace) -> dict[str, Any]:
    """The workload options a command was given, by field name (None: not given)."""
    return {
        item.name: getattr(args, item.name) for item in option_fields() if hasattr(args, item.name)
    }


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {value}")
    return value
