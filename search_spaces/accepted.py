"""What each hyperparameter name accepts, so a space (declared or from a user's file) can only
sample values the strategies take: ``momentum`` in [0, 1), ``lr`` > 0, ``cooldown`` one of the
WSD shapes, ``tau_lo ≤ tau_hi``. The same name means the same thing in every strategy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from search_spaces.parameter import Parameter


@dataclass(frozen=True)
class Interval:
    """An interval of accepted numbers; ``integer`` also requires whole numbers."""

    low: float = -math.inf
    high: float = math.inf
    low_closed: bool = True
    high_closed: bool = True
    integer: bool = False

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below and (not self.integer or float(value).is_integer())

    def __str__(self) -> str:
        low = f"{'[' if self.low_closed else '('}{self.low:g}"
        high = "∞)" if self.high == math.inf else f"{self.high:g}{']' if self.high_closed else ')'}"
        return f"{'an integer in ' if self.integer else ''}{low}, {high}"


def _closed(low: float, high: float = math.inf) -> Interval:
    return Interval(low, high)


def _positive() -> Interval:
    return Interval(0.0, math.inf, low_closed=False)


def _fraction(low_closed: bool = True, high_closed: bool = False) -> Interval:
    return Interval(0.0, 1.0, low_closed, high_closed)


ACCEPTED: dict[str, Interval] = {
    "lr": _positive(),
    "final_lr": _positive(),
    "momentum": _fraction(),
    "base_momentum": _fraction(),
    "max_momentum": _fraction(),
    "beta1": _fraction(),
    "beta2": _fraction(),
    "eps": _positive(),
    "weight_decay": _closed(0.0),
    "eta_min": _closed(0.0),
    "warmup_frac": _fraction(),
    "decay_frac": _fraction(high_closed=True),
    "pct_start": _fraction(low_closed=False),
    "cut_frac": _fraction(low_closed=False),
    "div_factor": _positive(),
    "final_div_factor": _positive(),
    "first_cycle_epochs": _positive(),
    "cycle_mult": Interval(1, integer=True),
    "restart_epochs": _positive(),
    "restart_mult": _closed(1.0),
    "ratio": _closed(1.0),
    "gamma": _fraction(low_closed=False),
    "tau_hi": _closed(0.0),
    "tau_lo": _closed(0.0),
    "depth_decay": _fraction(low_closed=False, high_closed=True),
    "alpha0": _fraction(),
    "grokfast_alpha": _fraction(),
    "grokfast_lambda": _closed(0.0),
    "blend_lo": _fraction(high_closed=True),
    "blend_hi": _fraction(high_closed=True),
    "trust_coefficient": _positive(),
    "trust_min": _positive(),
    "trust_max": _positive(),
    "rho": _positive(),
    "layer_divisor": _positive(),
    "layer_decay": _fraction(low_closed=False, high_closed=True),
    "lookahead_k": Interval(1, integer=True),
    "lookahead_alpha": _fraction(low_closed=False, high_closed=True),
    "d_coef": _positive(),
}

ACCEPTED_CHOICES: dict[str, tuple[Any, ...]] = {
    "cooldown": ("cosine", "1-sqrt", "linear", "1-square"),  # pytorch-optimizer's WSD shapes
    "base": ("sgd", "adamw"),  # refined's base optimizer
    "grad_norm_kind": (None, "l1", "l2"),
}

# Data a strategy is given, not a hyperparameter to search.
NOT_SEARCHABLE: dict[str, str] = {
    "grad_norms": "a previous run's per-step gradient norms, given by the study, not searched",
}

# (a, b): every value of a must be ≤ every value of b.
AT_MOST: tuple[tuple[str, str], ...] = (("tau_lo", "tau_hi"), ("trust_min", "trust_max"))
# (a, b): a + b must be ≤ 1 (WSD's warmup and cooldown share the run).
SUM_AT_MOST_ONE: tuple[tuple[str, str], ...] = (("warmup_frac", "decay_frac"),)


def value_problem(name: str, value: Any, default: Any) -> str | None:
    """Why ``value`` is not accepted for hyperparameter ``name`` (None when it is)."""
    if name in NOT_SEARCHABLE:
        return f"{name} is {NOT_SEARCHABLE[name]}"
    if name in ACCEPTED:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name} must be a number, got {value!r}"
        if value not in ACCEPTED[name]:
            return f"{name} must be in {ACCEPTED[name]}, got {value!r}"
        return None
    if name in ACCEPTED_CHOICES:
        if value not in ACCEPTED_CHOICES[name]:
            accepted = ", ".join(repr(choice) for choice in ACCEPTED_CHOICES[name])
            return f"{name} must be one of {accepted}, got {value!r}"
        return None
    if isinstance(default, bool) and not isinstance(value, bool):
        return f"{name} must be true or false, got {value!r}"
    return None


def parameter_problem(parameter: Parameter, default: Any) -> str | None:
    """Why ``parameter`` could sample a value its strategy does not accept (None when not)."""
    if parameter.distribution == "categorical":
        values: Iterable[Any] = parameter.choices
    else:
        values = (parameter.low, parameter.high)
    for value in values:
        problem = value_problem(parameter.name, value, default)
        if problem is not None:
            return problem
    return None


def _extent(values: Mapping[str, Any], parameters: Mapping[str, Parameter], name: str):
    """(smallest, largest) value ``name`` can take: its range when searched, else its value."""
    parameter = parameters.get(name)
    if parameter is None:
        return values[name], values[name]
    if parameter.distribution == "categorical":
        return min(parameter.choices), max(parameter.choices)
    return parameter.low, parameter.high


def constraint_problem(values: Mapping[str, Any], parameters: Iterable[Parameter]) -> str | None:
    """Why some sample of ``parameters`` (the rest taken from ``values``) would break a
    constraint between two hyperparameters (None when none can)."""
    searched = {parameter.name: parameter for parameter in parameters}
    for smaller, larger in AT_MOST:
        if smaller in values and larger in values:
            top = _extent(values, searched, smaller)[1]
            bottom = _extent(values, searched, larger)[0]
            if top > bottom:
                return (
                    f"{smaller} must not exceed {larger}, but {smaller} can reach {top:g} "
                    f"while {larger} can be as low as {bottom:g}; keep {smaller}'s range "
                    f"below {larger}'s"
                )
    for first, second in SUM_AT_MOST_ONE:
        if first in values and second in values:
            total = _extent(values, searched, first)[1] + _extent(values, searched, second)[1]
            if total > 1:
                return f"{first} + {second} must be at most 1, but can reach {total:g}"
    return None
