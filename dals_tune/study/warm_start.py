"""``--warm-start``: a new study starts each strategy where the nearest finished studies ended.

For each strategy of the new study the searcher evaluates, in this order: the strategy's
default configuration (the portfolio-of-defaults point), then the best configuration that
the same strategy reached in each of the k nearest finished studies of the same store,
nearest first, then whatever its sampler picks. Nearness is ``recommend``'s: the task
distance d(a, b) of :mod:`dals_tune.recommend` over the studies it counts (the latest
FINISHED study of each workload and regime with a winner), k = ``--warm-start K`` (default
:data:`~dals_tune.study.settings.DEFAULT_NEIGHBOURS`).

A strategy's best configuration in a study is that of its best search trial, chosen as the
study chose the trial it re-ran (:func:`~dals_tune.study.outcomes.best_outcome`): the best
validation value among the trials that ran their whole budget, else among those a scheduler
stopped early; never a diverged or errored one. Only its hyperparameters are taken, read into
the new study's space: a searched parameter the source trial did not record takes the new
space's default, the new space's fixed values win, and a configuration with a value outside
the new space (another regime's LR range, an older or narrower space) is skipped, not
clipped: a clipped point is a configuration no study tried, so it carries no evidence from
the neighbour. Each skip is one note line. Points equal to the default or to a nearer
neighbour's are dropped, and a strategy gets at most ``samples − 1`` of them (its default
takes one trial of its budget); the farthest are the ones left out, and a note says so.

A store with no finished study (or no store yet) is a note, not an error: the study runs
cold, so the same command works for the first study in a fresh ``--out`` and for the next.

The chosen points are saved with the study (``StudyState.warm_start``), so a resumed study
enqueues and records the same points even if the store has changed since; each trial records
where its configuration came from (:func:`source_tags`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from dals_tune.objective import Objective
from dals_tune.study.outcomes import TrialOutcome, default_inside, same_value
from dals_tune.tracking_tags import (
    KIND_TAG,
    STATUS_TAG,
    STRATEGY_TAG,
    TRIAL_SOURCE_TAG,
    WARM_START_FROM_TAG,
)

if TYPE_CHECKING:
    from dals_tune.study.preflight import CheckedStudy

# What a search trial's configuration came from (the TRIAL_SOURCE_TAG values).
DEFAULT_SOURCE, WARM_START_SOURCE, SAMPLER_SOURCE = "default", "warm-start", "sampler"
TRIAL_SOURCES = (DEFAULT_SOURCE, WARM_START_SOURCE, SAMPLER_SOURCE)


@dataclass(frozen=True)
class WarmStartPoint:
    """One configuration to evaluate after ``strategy``'s default: ``params`` (inside the new
    study's space, fixed values included) from trial run ``run_id`` of the finished study
    ``study`` (``workload/regime``, parent run ``study_run_id``) at task distance
    ``distance``."""

    strategy: str
    params: dict[str, Any]
    run_id: str
    study: str
    study_run_id: str
    distance: float


@dataclass(frozen=True)
class WarmStart:
    """The warm-start points of a study, in evaluation order per strategy, and the one-line
    notes about them (which studies, what was skipped or left out), printed as it starts."""

    points: tuple[WarmStartPoint, ...] = ()
    notes: tuple[str, ...] = ()

    def of(self, strategy_id: str) -> list[WarmStartPoint]:
        return [point for point in self.points if point.strategy == strategy_id]

    def as_record(self) -> dict[str, Any]:
        """The JSON shape saved in ``study.json``."""
        return {"points": [asdict(point) for point in self.points], "notes": list(self.notes)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> WarmStart:
        """What :meth:`as_record` wrote; anything else is a one-line ``ValueError``."""
        try:
            points = tuple(WarmStartPoint(**point) for point in record.get("points", ()))
            return cls(points=points, notes=tuple(str(note) for note in record.get("notes", ())))
        except (TypeError, AttributeError) as error:
            raise ValueError(
                f"cannot resume: the study's saved warm-start points are not what dals_tune "
                f"wrote ({error!r}); move that study folder away, or run search without "
                "--resume to start anew"
            ) from error


@dataclass(frozen=True)
class SourceStudy:
    """A neighbour as the choice needs it: its name, parent run, distance, objective and
    child-run records (``Tracker.trials_of``: tags, params as text, final metrics)."""

    name: str
    run_id: str
    distance: float
    objective: Objective
    trials: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


def read_warm_start(checked: CheckedStudy) -> WarmStart:
    """The warm-start points of ``checked`` from its own store (module docstring); the store
    is only read."""
    from dals_tune import recommend, tracking
    from dals_tune.study.plans import samples_for

    settings = checked.settings
    try:
        tracker = tracking.open_existing_store(settings.out, settings.tracking_uri)
    except ValueError:  # no store yet: check_store has vetted everything else about it
        return WarmStart(notes=(_cold("there is no study store yet"),))
    studies, _ = recommend.finished_studies(tracker)
    if not studies:
        return WarmStart(notes=(_cold(f"the store {tracker.tracking_uri} has no finished study"),))
    task = recommend.facts_features(settings.workload, checked.workload_facts)
    sources = [
        SourceStudy(
            name=neighbour.study.features.name,
            run_id=neighbour.study.run_id,
            distance=neighbour.distance,
            objective=neighbour.study.objective,
            trials=tracker.trials_of(neighbour.study.run_id),
        )
        for neighbour in recommend.nearest(task, studies, settings.warm_start)
    ]
    samples = {sid: samples_for(checked, sid) for sid in checked.strategy_ids}
    return choose_points(sources, checked.strategy_ids, checked.spaces, samples)


def choose_points(
    sources: Sequence[SourceStudy],
    strategy_ids: Sequence[str],
    spaces: Mapping[str, Any],
    samples: Mapping[str, int],
) -> WarmStart:
    """Per strategy, the best configuration of each source (nearest first) that lies in its
    space, is not its default nor a nearer source's, within its ``samples`` budget minus the
    default's trial."""
    points: list[WarmStartPoint] = []
    notes: list[str] = []
    for sid in strategy_ids:
        space = spaces[sid]
        if not space.parameters:
            continue  # one configuration, its default: nothing to start from
        mine = _strategy_points(sid, space, sources, notes)
        room = max(0, samples.get(sid, 0) - (1 if default_inside(space) else 0))
        if len(mine) > room:
            notes.append(
                f"warm start: {sid}'s {samples.get(sid, 0)} trials hold {room} of its "
                f"{len(mine)} warm-start configurations after the default; the farthest are "
                "left out (raise --samples to try them)"
            )
            mine = mine[:room]
        points += mine
    return WarmStart(tuple(points), (_summary(sources, strategy_ids, points), *notes))


def _strategy_points(
    sid: str, space: Any, sources: Sequence[SourceStudy], notes: list[str]
) -> list[WarmStartPoint]:
    """Each source's best configuration of ``sid`` inside ``space``, nearest first, neither
    the default nor a repeat; what is passed over is said in ``notes``."""
    default = space.default_point() if default_inside(space) else None
    mine: list[WarmStartPoint] = []
    for source in sources:
        trial = best_search_trial(source.trials, sid, source.objective)
        if trial is None:
            continue
        where = f"{sid}'s best configuration in {source.name} (run {trial['run_id']})"
        point, reason = point_in_space(trial.get("params", {}), space)
        if point is None:
            notes.append(f"warm start: skipped {where}: {reason}")
        elif default is not None and same_point(point, default):
            notes.append(f"warm start: {where} is its default, which runs first anyway")
        elif any(same_point(point, other.params) for other in mine):
            notes.append(f"warm start: {where} is a nearer study's too; it runs once")
        else:
            mine.append(
                WarmStartPoint(
                    sid, point, trial["run_id"], source.name, source.run_id, source.distance
                )
            )
    return mine


def best_search_trial(
    trials: Sequence[Mapping[str, Any]], strategy_id: str, objective: Objective
) -> Mapping[str, Any] | None:
    """The strategy's best search trial among child-run records: the best validation value
    (``objective.best_key``) among completed trials, else among pruned ones (as
    :func:`~dals_tune.study.outcomes.best_outcome` chooses); None when it has neither."""
    mine = [
        trial
        for trial in trials
        if trial.get("tags", {}).get(KIND_TAG, "trial") == "trial"
        and trial.get("tags", {}).get(STRATEGY_TAG) == strategy_id
        and _finite(trial.get("metrics", {}).get(objective.best_key))
    ]
    for status in ("completed", "pruned"):
        usable = [trial for trial in mine if trial["tags"].get(STATUS_TAG) == status]
        if usable:
            return max(usable, key=lambda t: objective.score(t["metrics"][objective.best_key]))
    return None


def point_in_space(params: Mapping[str, Any], space: Any) -> tuple[dict[str, Any] | None, str]:
    """A recorded configuration (MLflow keeps params as text) read into ``space``: each
    searched parameter parsed to its distribution's type (a missing one takes the space's
    default), the space's fixed values on top. ``(None, reason)`` when a value does not parse
    or lies outside the space."""
    point: dict[str, Any] = {}
    for parameter in space.parameters:
        name = parameter.name
        if name not in params:
            point[name] = space.defaults[name]
            continue
        value = _parsed(params[name], parameter)
        if value is None:
            return None, f"{name} {params[name]!r} is not {_kind(parameter)}"
        if not parameter.contains(value):
            return None, f"{name} {value!r} is outside the space ({parameter.describe()})"
        point[name] = value
    point.update(space.fixed)
    return point, ""


def same_point(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.keys() == b.keys() and all(same_value(a[name], b[name]) for name in a)


def warm_start_origin(outcome: TrialOutcome, warm_start: WarmStart) -> WarmStartPoint | None:
    """The warm-start point a search trial ran, if it ran one (its hyperparameters equal the
    point's, as :func:`~dals_tune.study.outcomes.is_default` tells the default)."""
    for point in warm_start.of(outcome.strategy):
        ran = {name: outcome.hyperparameters.get(name) for name in point.params}
        if same_point(ran, point.params):
            return point
    return None


def source_tags(outcome: TrialOutcome, is_default: bool, warm_start: WarmStart) -> dict[str, str]:
    """A search trial's ``source`` tag (default, warm-start or sampler) and, for a warm-start
    trial, ``warm_start_from``: the run id of the trial whose configuration it repeats."""
    if is_default:
        return {TRIAL_SOURCE_TAG: DEFAULT_SOURCE}
    origin = warm_start_origin(outcome, warm_start)
    if origin is None:
        return {TRIAL_SOURCE_TAG: SAMPLER_SOURCE}
    return {TRIAL_SOURCE_TAG: WARM_START_SOURCE, WARM_START_FROM_TAG: origin.run_id}


def _summary(
    sources: Sequence[SourceStudy], strategy_ids: Sequence[str], points: Sequence[WarmStartPoint]
) -> str:
    """``warm start from the 2 nearest finished studies (synthetic/scratch at distance 0,
    ...): adamw 2, cosine_sgd 1 configurations after the defaults``."""
    nearest = ", ".join(f"{s.name} at distance {s.distance:.3g}" for s in sources)
    counts = ", ".join(f"{sid} {sum(p.strategy == sid for p in points)}" for sid in strategy_ids)
    plural = "study" if len(sources) == 1 else "studies"
    return (
        f"warm start from the {len(sources)} nearest finished {plural} ({nearest}): {counts} "
        "configurations after the defaults"
    )


def _cold(why: str) -> str:
    return f"warm start: {why}, so this study starts cold (defaults, then the sampler)"


def _parsed(text: Any, parameter: Any) -> Any:
    """``text`` as a value of ``parameter``'s distribution; None when it is not one."""
    if parameter.distribution == "categorical":
        return next((c for c in parameter.choices if str(c) == str(text) or c == text), None)
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if parameter.distribution == "int":
        return int(number) if number.is_integer() else None
    return number


def _kind(parameter: Any) -> str:
    if parameter.distribution == "categorical":
        return "one of " + ", ".join(repr(choice) for choice in parameter.choices)
    return "an integer" if parameter.distribution == "int" else "a number"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
