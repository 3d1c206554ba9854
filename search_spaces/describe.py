"""The Markdown table of every strategy's searched parameters, generated from the spec so that
docs/search_spaces.md can be regenerated: ``python -c "import search_spaces as s;
print(s.describe_markdown())"``."""

from __future__ import annotations

from collections.abc import Iterable

from dals_tune import strategies
from search_spaces.parameter import Parameter, Space
from search_spaces.resolve import declared_parameters, space_for


def _range(parameter: Parameter) -> str:
    if parameter.distribution == "categorical":
        return "{" + ", ".join(str(choice) for choice in parameter.choices) + "}"
    return f"[{parameter.low:g}, {parameter.high:g}]"


def _value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(space: Space, name: str) -> str:
    return f"{_range(space.parameter(name))}, default {_value(space.defaults[name])}"


def describe_markdown(strategy_ids: Iterable[str] | None = None) -> str:
    """One row per searched parameter: its distribution as declared, then the resolved range
    and default for each regime. Strategies with nothing to tune get one row saying why."""
    ids = list(strategy_ids) if strategy_ids is not None else list(strategies.REGISTRY)
    lines = [
        "| strategy | parameter | distribution (as declared) | scratch | finetune |",
        "|---|---|---|---|---|",
    ]
    for strategy_id in ids:
        scratch, finetune = space_for(strategy_id, "scratch"), space_for(strategy_id, "finetune")
        if not scratch.parameters:
            lines.append(f"| {strategy_id} | — | nothing to tune: {scratch.reason} | | |")
            continue
        for declared in declared_parameters(strategy_id):
            name = declared.name
            lines.append(
                f"| {strategy_id} | `{name}` | {declared.describe()} | "
                f"{_cell(scratch, name)} | {_cell(finetune, name)} |"
            )
    return "\n".join(lines) + "\n"
