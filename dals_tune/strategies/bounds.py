"""What each hyperparameter name accepts, and the constraints between names: the one table
that a trial's hyperparameters (:func:`dals_tune.strategies.check_hyperparameters`, which
:func:`~dals_tune.strategies.build` calls), the DALS optimizer and the search spaces are all
checked against. ``momentum`` in [0, 1), ``lr`` > 0, ``cooldown`` one of the WSD shapes,
``tau_lo ≤ tau_hi``. The same name means the same thing in every strategy.

A constraint is checked over *extents*, the (smallest, largest) value each name can take: a
single value is the extent (v, v), a searched range its (low, high); a constraint holds when it
holds for every pair of values the extents allow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Extent = tuple[float, float]  # (smallest, largest) value a hyperparameter can take


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
        return f"{low}, {high}"

    @property
    def requirement(self) -> str:
        """What a value must be, as the end of "``name`` must be …": ``in [0, 1)``."""
        return f"an integer in {self}" if self.integer else f"in {self}"


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
    "cycle_mult": Interval(1, integer=True),  # torch's warm restarts take a whole T_mult
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
    "beta3": _fraction(),
    "ademamix_alpha": _closed(0.0),
    "mars_gamma": _closed(0.0, 1.0),
    "precondition_frequency": Interval(1, integer=True),
    "block_size": Interval(1, integer=True),
    "cocob_alpha": _closed(0.0),
    "reps_rel": _positive(),
}

ACCEPTED_CHOICES: dict[str, tuple[Any, ...]] = {
    "cooldown": ("cosine", "1-sqrt", "linear", "1-square"),  # pytorch-optimizer's WSD shapes
    "base": ("sgd", "adamw"),  # refined's base optimizers, the keys of refined.REFINED_BASES
    "grad_norm_kind": (None, "l1", "l2"),
}

# Data a strategy is given, not a hyperparameter to search.
NOT_SEARCHABLE: dict[str, str] = {
    "grad_norms": "a previous run's per-step gradient norms, given by the study, not searched",
}


def _is_point(extent: Extent) -> bool:
    return extent[0] == extent[1]


@dataclass(frozen=True)
class AtMost:
    """Every value of ``smaller`` must be at most every value of ``larger``."""

    smaller: str
    larger: str

    @property
    def names(self) -> tuple[str, str]:
        return self.smaller, self.larger

    def problem(self, extents: Mapping[str, Extent]) -> str | None:
        low, high = extents[self.smaller], extents[self.larger]
        top, bottom = low[1], high[0]
        if top <= bottom:
            return None
        if _is_point(low) and _is_point(high):
            return (
                f"{self.smaller} must not exceed {self.larger}, got {self.smaller}={top:g} and "
                f"{self.larger}={bottom:g}"
            )
        return (
            f"{self.smaller} must not exceed {self.larger}, but {self.smaller} can reach "
            f"{top:g} while {self.larger} can be as low as {bottom:g}; keep {self.smaller}'s "
            f"range below {self.larger}'s"
        )


@dataclass(frozen=True)
class SumAtMostOne:
    """``first + second`` must be at most 1 (fractions of a run that share it)."""

    first: str
    second: str

    @property
    def names(self) -> tuple[str, str]:
        return self.first, self.second

    def problem(self, extents: Mapping[str, Extent]) -> str | None:
        first, second = extents[self.first], extents[self.second]
        total = first[1] + second[1]
        if total <= 1:
            return None
        if _is_point(first) and _is_point(second):
            return (
                f"{self.first} + {self.second} must be at most 1, got {first[1]:g} + {second[1]:g}"
            )
        return f"{self.first} + {self.second} must be at most 1, but can reach {total:g}"


CONSTRAINTS: tuple[AtMost | SumAtMostOne, ...] = (
    AtMost("tau_lo", "tau_hi"),  # DALS's phase boundaries
    AtMost("trust_min", "trust_max"),  # DALS's trust-ratio clamp
    SumAtMostOne("warmup_frac", "decay_frac"),  # WSD's warmup and cooldown share the run
)


def value_problem(name: str, value: Any, default: Any = None) -> str | None:
    """Why ``value`` is not accepted for hyperparameter ``name`` (None when it is).
    ``default`` is the strategy's default: a value for a true/false default must be one too."""
    if name in NOT_SEARCHABLE:
        return f"{name} is {NOT_SEARCHABLE[name]}"
    if name in ACCEPTED:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name} must be a number, got {value!r}"
        if value not in ACCEPTED[name]:
            return f"{name} must be {ACCEPTED[name].requirement}, got {value!r}"
        return None
    if name in ACCEPTED_CHOICES:
        if value not in ACCEPTED_CHOICES[name]:
            accepted = ", ".join(repr(choice) for choice in ACCEPTED_CHOICES[name])
            return f"{name} must be one of {accepted}, got {value!r}"
        return None
    if isinstance(default, bool) and not isinstance(value, bool):
        return f"{name} must be true or false, got {value!r}"
    return None


def constraint_problem(extents: Mapping[str, Extent]) -> str | None:
    """Why some values within ``extents`` would break a constraint between two
    hyperparameters (None when none can). Constraints naming a hyperparameter that
    ``extents`` lacks are not checked."""
    for constraint in CONSTRAINTS:
        if all(name in extents for name in constraint.names):
            problem = constraint.problem(extents)
            if problem is not None:
                return problem
    return None


def plain_value(value: Any) -> Any:
    """``value``, with a numpy or torch scalar (what a searcher may hand over) made a Python
    number, so that it is checked as one."""
    return value.item() if getattr(value, "ndim", None) == 0 else value


def hyperparameters_problem(
    defaults: Mapping[str, Any], hyperparameters: Mapping[str, Any]
) -> str | None:
    """Why ``hyperparameters`` of a strategy whose defaults are ``defaults`` are not accepted
    (None when they are): a value of the wrong kind or out of range, or values that break a
    constraint between two of them. Given data (``grad_norms``) and None where the default is
    None ("decided by another setting") are not checked."""
    points: dict[str, Extent] = {}
    for name, value in hyperparameters.items():
        default = defaults.get(name)
        if name in NOT_SEARCHABLE or (value is None and default is None):
            continue
        value = plain_value(value)
        problem = value_problem(name, value, default)
        if problem is not None:
            return problem
        if name in ACCEPTED:
            points[name] = (value, value)
    return constraint_problem(points)


def refused_names(values: Mapping[str, Any]) -> list[str]:
    """The names in ``values`` whose value is refused, alone or with the other name of a
    constraint it breaks, in the order of ``values``; for a caller that lists them."""
    values = {name: plain_value(value) for name, value in values.items()}
    refused = {name for name, value in values.items() if value_problem(name, value) is not None}
    points = {
        name: (value, value)
        for name, value in values.items()
        if name in ACCEPTED and name not in refused
    }
    for constraint in CONSTRAINTS:
        if all(name in points for name in constraint.names) and constraint.problem(points):
            refused.update(constraint.names)
    return [name for name in values if name in refused]
