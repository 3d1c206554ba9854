"""Read a user's space file (YAML or JSON) that narrows, replaces or pins parameters::

    dals:
      lr: {low: 0.01, high: 0.1}        # a range (log scale kept from the declared space)
      momentum: {high: 0.95}            # narrow one end only
      tau_hi: [0.005, 0.01, 0.02]       # a list: a categorical over these choices
      grokfast_lambda: 0                # one value: fixed, not searched
    adamw:
      eps: {low: 1.0e-8, high: 1.0e-6, log: true}   # a parameter not searched by default

Ranges are absolute. A parameter the strategy takes but does not search by default can be
added (with both ``low`` and ``high``). Numbers written as ``1e-3`` (which YAML 1.1 reads as
text) are read as numbers. Every invalid entry raises ``ValueError`` with one line naming the
file, the entry (``dals.momentum``) and what is wrong.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dals_tune import strategies
from search_spaces.parameter import Parameter, Space
from search_spaces.resolve import build_space, declared_parameters, registry_defaults

RANGE_KEYS = ("low", "high", "log")


@dataclass(frozen=True)
class _Fixed:
    value: Any


def load_space_file(
    path: str | Path,
    strategy_ids: Iterable[str],
    regime: str = "scratch",
    pinned: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Space]:
    """The space of each of ``strategy_ids`` for ``regime``: the declared one with the file's
    entries applied. Entries for registered strategies outside ``strategy_ids`` are checked
    too (so one file can serve several studies) but not returned. ``pinned`` fixes values
    per strategy before the file's entries (which may replace them): a refined study's
    ``base`` and ``grad_norm_kind``."""
    pinned = pinned or {}
    path = Path(path)
    where = f"space file {path}"
    ids = [strategies.get(strategy_id).id for strategy_id in strategy_ids]
    data = _read(path)
    if not isinstance(data, dict):
        raise ValueError(
            f"{where}: expected a mapping of strategy id → parameters, got {_kind(data)}"
        )
    spaces: dict[str, Space] = {}
    for key, entries in data.items():
        try:
            strategy_id = strategies.get(str(key)).id
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if not isinstance(entries, dict):
            raise ValueError(
                f"{where}: {strategy_id}: expected a mapping of parameter → range, list of "
                f"choices or value, got {_kind(entries)}"
            )
        spaces[strategy_id] = _apply(
            strategy_id, regime, entries, where, pinned.get(strategy_id, {})
        )
    return {
        sid: spaces[sid] if sid in spaces else _apply(sid, regime, {}, where, pinned.get(sid, {}))
        for sid in ids
    }


def _read(path: Path) -> Any:
    if not path.is_file():
        raise ValueError(f"space file {path} does not exist (or is not a file)")
    is_json = path.suffix.lower() == ".json"
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as error:
        reason = _parse_error(error)
        raise ValueError(
            f"space file {path} is not valid {'JSON' if is_json else 'YAML'}: {reason}"
        ) from None
    if data is None:
        raise ValueError(f"space file {path} is empty; expected strategy id → parameters")
    return data


def _parse_error(error: Exception) -> str:
    """The parser's complaint on one line, with where it is when the parser says."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(error).split())


def _apply(
    strategy_id: str,
    regime: str,
    entries: Mapping[Any, Any],
    where: str,
    pinned: Mapping[str, Any],
) -> Space:
    strategy = strategies.get(strategy_id)
    declared = {p.name: p for p in declared_parameters(strategy_id)}
    try:
        defaults = registry_defaults(strategy_id, regime, pinned)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    fixed: dict[str, Any] = dict(pinned)
    for name, entry in entries.items():
        location = f"{where}: {strategy_id}.{name}"
        if name not in strategy.hyperparameters:
            close = difflib.get_close_matches(str(name), strategy.hyperparameters, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"{location}: {strategy_id} takes no hyperparameter {name!r}{hint}; "
                f"it takes: {', '.join(strategy.hyperparameters)}"
            )
        try:
            parsed = _parse_entry(name, entry, declared.get(name), defaults[name])
        except ValueError as error:
            raise ValueError(f"{location}: {error}") from None
        if isinstance(parsed, _Fixed):
            declared.pop(name, None)
            fixed[name] = parsed.value
        else:
            fixed.pop(name, None)
            declared[name] = parsed
    try:
        return build_space(strategy_id, regime, tuple(declared.values()), fixed)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _parse_entry(name: str, entry: Any, declared: Parameter | None, default: Any):
    numeric = name in strategies.ACCEPTED
    if isinstance(entry, dict):
        return _parse_range(name, entry, declared, default)
    if isinstance(entry, list):
        if not entry:
            raise ValueError("an empty list of choices; give at least one")
        choices = [_like_default(choice, default) if numeric else choice for choice in entry]
        if any(isinstance(choice, dict | list) for choice in choices):
            raise ValueError("choices must be plain values (numbers, text, true/false)")
        return Parameter(name, "categorical", choices=tuple(dict.fromkeys(choices)))
    return _Fixed(_like_default(entry, default) if numeric else entry)


def _parse_range(name: str, entry: dict, declared: Parameter | None, default: Any) -> Parameter:
    unknown = [str(key) for key in entry if key not in RANGE_KEYS]
    if unknown or not entry:
        raise ValueError(
            f"a range takes {', '.join(RANGE_KEYS)}, got {', '.join(map(repr, unknown)) or '{}'}"
        )
    if declared is not None and declared.distribution == "categorical":
        raise ValueError(f"{name} is categorical; give a list of choices or one value")
    base = declared.resolve(default) if declared is not None else None
    if base is None and not {"low", "high"} <= set(entry):
        raise ValueError(f"{name} is not searched by default; give both low and high")
    log = entry.get("log", base.log if base is not None else False)
    if not isinstance(log, bool):
        raise ValueError(f"log must be true or false, got {log!r}")
    if base is not None:
        distribution = base.distribution
    elif isinstance(default, int) and not isinstance(default, bool):
        distribution = "int"
    else:
        distribution = "float"
    ends = {}
    for end in ("low", "high"):
        value = _number(entry[end]) if end in entry else getattr(base, end)
        if distribution == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        ends[end] = value
    return Parameter(name, distribution, ends["low"], ends["high"], log=log)


def _number(value: Any) -> Any:
    """``value``, or the number it spells when it is text such as ``"1e-3"``."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _like_default(value: Any, default: Any) -> Any:
    """A number given for ``default``'s hyperparameter, whole when the default is an int."""
    value = _number(value)
    integral_default = isinstance(default, int) and not isinstance(default, bool)
    if integral_default and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", type(None): "nothing"}.get(
        type(value), f"{type(value).__name__} {value!r}"
    )
