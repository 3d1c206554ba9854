"""The two records of a search space: a :class:`Parameter` (one searched hyperparameter) and a
:class:`Space` (one strategy's parameters, resolved for a regime).

A ``Parameter`` in the spec may have bounds *relative* to the registry's default for the
regime (``relative=True``: the searched range is ``[low·default, high·default]``), which is how
one declaration of the LR gives the fine-tuning regime its own, lower range. A ``Space`` only
holds absolute bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Distribution = Literal["float", "int", "categorical"]
DISTRIBUTIONS = ("float", "int", "categorical")


@dataclass(frozen=True)
class Parameter:
    """One searched hyperparameter: ``float`` and ``int`` over ``[low, high]`` (both ends
    included, uniform or, with ``log``, log-uniform), or ``categorical`` over ``choices``.

    ``name`` is the strategy's hyperparameter name (a key of
    ``strategies.resolve_config(id, regime)``). Invalid bounds raise ``ValueError`` with a
    one-line reason, which the space-file loader prefixes with where the entry was.
    """

    name: str
    distribution: Distribution
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    relative: bool = False

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"distribution {self.distribution!r} is not one of {', '.join(DISTRIBUTIONS)}"
            )
        if self.distribution == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs at least one choice")
            if self.low is not None or self.high is not None or self.log or self.relative:
                raise ValueError("a categorical parameter takes choices, not low/high/log")
            return
        if self.choices:
            raise ValueError(f"a {self.distribution} parameter takes low/high, not choices")
        for end in ("low", "high"):
            value = getattr(self, end)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{end} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{end} must be finite, got {value!r}")
            if self.distribution == "int" and not self.relative and not isinstance(value, int):
                raise ValueError(f"an int parameter needs integer bounds, got {end} {value!r}")
        if self.low >= self.high:
            raise ValueError(
                f"low {self.low:g} ≥ high {self.high:g}; give one value instead to fix it"
            )
        if self.log and self.low <= 0:
            raise ValueError(f"log scale needs low > 0, got low {self.low:g}")

    def resolve(self, default: Any) -> Parameter:
        """This parameter with absolute bounds, given the registry's default for the regime."""
        if not self.relative:
            return self
        if isinstance(default, bool) or not isinstance(default, int | float) or default <= 0:
            raise ValueError(
                f"{self.name}: bounds relative to the default need a positive default, "
                f"got {default!r}"
            )
        # 12 significant digits: 3e-4 × 0.1 is 3e-05, not 2.9999999999999997e-05.
        low, high = (float(f"{end * default:.12g}") for end in (self.low, self.high))
        if self.distribution == "int":
            low, high = max(1, math.floor(low)), math.ceil(high)
        return replace(self, low=low, high=high, relative=False)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` can be sampled from this parameter."""
        if self.distribution == "categorical":
            return value in self.choices
        return self.low <= value <= self.high

    def describe(self) -> str:
        """``log-uniform [0.003, 0.3]``, ``int [1, 10]``, ``one of 'a', 'b'``; relative bounds
        are shown as multiples of the default."""
        if self.distribution == "categorical":
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        kind = {"float": "uniform", "int": "int"}[self.distribution]
        if self.log:
            kind = "log-uniform" if self.distribution == "float" else "log-int"
        if self.relative:
            return f"{kind} [default×{self.low:g}, default×{self.high:g}]"
        return f"{kind} [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Space:
    """One strategy's search space for one regime.

    ``parameters`` are searched (absolute bounds); ``fixed`` are pinned by a space file and
    passed as constants; ``defaults`` is the strategy's full default configuration for the
    regime (``strategies.resolve_config``, with ``fixed`` on top), so ``defaults[name]`` is the
    value the portfolio-of-defaults trial uses. ``reason`` says why a space is empty.
    """

    strategy_id: str
    regime: str
    parameters: tuple[Parameter, ...]
    defaults: Mapping[str, Any]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """The searched hyperparameter names, in declaration order."""
        return tuple(parameter.name for parameter in self.parameters)

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(f"{self.strategy_id} searches no parameter {name!r}")

    def default_point(self) -> dict[str, Any]:
        """The registry default of every searched parameter, plus the fixed values: the
        portfolio-of-defaults point evaluated first."""
        point = {parameter.name: self.defaults[parameter.name] for parameter in self.parameters}
        point.update(self.fixed)
        return point
