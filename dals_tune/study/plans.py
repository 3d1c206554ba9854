"""What Tune will run, as plain data: pure functions from a checked study to its plans.

A :class:`TrialPlan` is one ``tune.Tuner`` run, described without Ray: the trials' common
config, where their configurations come from (Optuna define-by-run functions, a space for
PBT to sample and mutate, or a fixed grid of re-runs), the scheduler and the budget. The Ray
layer (:func:`dals_tune.study.ray_tune.run_trials`) runs a plan; nothing here imports it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dals_tune.objective import ACCURACY, Objective
from dals_tune.study.outcomes import default_inside
from dals_tune.study.preflight import CheckedStudy
from dals_tune.study.samplers import searcher_for, strategy_seed
from dals_tune.workloads.user_module import registered

REFINE_FROM_FILE = "refine_from.json"  # the --refine-from norms the refined trials read


@dataclass
class SearchGroup:
    """The trials of one strategy in a per-strategy study: its own searcher (an Optuna
    define-by-run function) and its own scheduler, with ``num_samples`` trials."""

    key: str
    num_samples: int
    define_by_run: Callable[[Any], dict[str, Any]]
    points_to_evaluate: list[dict[str, Any]] = field(default_factory=list)
    grace_period: int | None = None  # this strategy's ASHA grace period (else the plan's)
    # This strategy's trials of earlier Tuner runs of the study (a race's earlier rounds),
    # each its validation value at epochs 1, 2, …: its ASHA's rungs start holding them.
    earlier_trials: list[tuple[float | None, ...]] = field(default_factory=list)


@dataclass
class TrialPlan:
    """One ``tune.Tuner`` run.

    ``constants`` go to every trial (a flat trial config, :meth:`TrialSpec.to_config`); the
    searched part comes from ``define_by_run`` (an Optuna define-by-run function; ``sampler``
    the ``--searcher`` whose Optuna sampler it uses, :mod:`dals_tune.study.samplers`), from
    ``groups`` (one searcher and one scheduler per strategy, all in
    one Tuner, so worker processes are started once for the whole study), from ``space`` (a
    strategy's search space, sampled at random and mutated by PBT), or, for re-runs, from
    ``grid`` (fixed configs, one trial each). ``points_to_evaluate`` are evaluated first (the
    defaults). ``kind`` is what its trials are to the study: "trial" or "rerun".
    ``objective`` is the workload's: the metric the searcher and scheduler read, and its
    direction.
    """

    name: str
    storage: Path  # absolute; the Tuner's folder is storage / name
    constants: dict[str, Any]
    num_samples: int
    max_epochs: int
    kind: str = "trial"
    scheduler: str = "fifo"  # asha | fifo | pbt
    grace_period: int = 1
    define_by_run: Callable[[Any], dict[str, Any]] | None = None
    sampler: str = "optuna"  # a key of samplers.SAMPLERS
    space: Any = None  # search_spaces.Space, for PBT
    grid: list[dict[str, Any]] = field(default_factory=list)
    groups: list[SearchGroup] = field(default_factory=list)
    group_key: str = "strategy"  # the config key that names a trial's group
    points_to_evaluate: list[dict[str, Any]] = field(default_factory=list)
    seed: int = 0
    optuna_storage: str | None = None  # an Optuna storage URL (sqlite:///...)
    optuna_study: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2
    objective: Objective = ACCURACY
    # The study's workload function when it lives in the running script only: Ray ships it
    # to the trials by value (user_module.registered).
    workload_functions: dict[str, Callable[..., Any]] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """The Tuner's experiment folder, where an interrupted run is restored from."""
        return self.storage / self.name


def trial_constants(checked: CheckedStudy, study_folder: Path) -> dict[str, Any]:
    """What every trial's config holds besides its strategy and hyperparameters; with
    --refine-from, the path of the norms file that the refined trials read."""
    source_run_file = None
    if checked.refine_source is not None:
        source_run_file = str(study_folder / REFINE_FROM_FILE)
    return checked.settings.trial(checked.regime, source_run_file=source_run_file).to_config()


def samples_for(checked: CheckedStudy, strategy_id: str) -> int:
    """A space with nothing to tune has one configuration: one trial says all there is."""
    return checked.settings.samples if checked.spaces[strategy_id].parameters else 1


def planned_trials(checked: CheckedStudy) -> int:
    """How many trials the study runs in all, seed re-runs included (for "[done/planned]")."""
    ids, settings = checked.strategy_ids, checked.settings
    if settings.mode == "joint":
        search = settings.samples * len(ids)
    else:
        search = sum(samples_for(checked, sid) for sid in ids)
    return search + settings.seeds * len(ids)


def longest_warmup_epochs(spaces: Mapping[str, Any], max_epochs: int) -> int:
    """The longest warmup any searched configuration can have, in epochs: ASHA's grace
    period, so that no trial is judged before its LR has warmed up."""
    longest = 0.0
    for space in spaces.values():
        fraction = float(space.defaults.get("warmup_frac", 0.0) or 0.0)
        if "warmup_frac" in space.names:
            fraction = max(fraction, float(space.parameter("warmup_frac").high))
        longest = max(longest, fraction)
    return max(1, math.ceil(longest * max_epochs))


def search_plans(checked: CheckedStudy, study_id: str, out: Path) -> list[TrialPlan]:
    """The search step's Tuner runs: one per-strategy run with a searcher and a scheduler per
    strategy, one joint Optuna study, or (PBT, which takes no searcher) one run per strategy."""
    import search_spaces

    settings = checked.settings
    common: dict[str, Any] = {
        "storage": out / "ray" / study_id,
        "max_epochs": settings.max_epochs,
        "scheduler": settings.scheduler,
        "grace_period": longest_warmup_epochs(checked.spaces, settings.max_epochs),
        "sampler": searcher_for(settings.searcher, settings.scheduler),
        "seed": settings.seed,
        "optuna_storage": f"sqlite:///{out / 'optuna.db'}",
        "cpus_per_trial": settings.cpus_per_trial,
        "gpus_per_trial": settings.gpus_per_trial,
        "objective": checked.objective,
        "workload_functions": registered(settings.workload),
    }
    constants = trial_constants(checked, out / "studies" / study_id)
    ids, regime, spaces = checked.strategy_ids, checked.regime, checked.spaces
    if settings.mode == "joint":
        defaults = [
            search_spaces.joint_default_params(sid, regime, spaces[sid])
            for sid in ids
            if default_inside(spaces[sid])
        ]
        warm = [_joint_point(spaces[p.strategy], p.params) for p in checked.warm_start.points]
        return [
            TrialPlan(
                name="joint",
                constants=constants,
                num_samples=settings.samples * len(ids),
                define_by_run=search_spaces.joint_define_by_run(ids, regime, spaces),
                points_to_evaluate=defaults + warm,
                optuna_study=f"{study_id}-joint",
                **common,
            )
        ]
    if settings.scheduler == "pbt":
        return [
            TrialPlan(
                name=sid,
                constants={**constants, "strategy": sid},
                num_samples=samples_for(checked, sid),
                space=spaces[sid],
                points_to_evaluate=first_points(checked, sid),
                # A population of its own, not the other strategies' quantiles.
                **{**common, "seed": strategy_seed(settings.seed, sid)},
            )
            for sid in ids
        ]
    groups = [
        SearchGroup(
            key=sid,
            num_samples=samples_for(checked, sid),
            define_by_run=search_spaces.per_strategy_define_by_run(sid, regime, spaces[sid]),
            points_to_evaluate=first_points(checked, sid),
            # Per strategy: one with a long warmup does not hold back one without.
            grace_period=longest_warmup_epochs({sid: spaces[sid]}, settings.max_epochs),
        )
        for sid in ids
    ]
    return [
        TrialPlan(
            name="search",
            constants=constants,
            num_samples=sum(group.num_samples for group in groups),
            groups=groups,
            optuna_study=study_id,
            **common,
        )
    ]


def first_points(checked: CheckedStudy, strategy_id: str) -> list[dict[str, Any]]:
    """What a strategy's searcher evaluates before its own picks: its default configuration
    (when its space holds it), then its ``--warm-start`` points, nearest study first."""
    space = checked.spaces[strategy_id]
    default = [space.default_point()] if default_inside(space) else []
    return default + [dict(point.params) for point in checked.warm_start.of(strategy_id)]


def _joint_point(space: Any, params: dict[str, Any]) -> dict[str, Any]:
    """A strategy's configuration under a joint study's Optuna names (``"dals.lr"``), with the
    strategy itself, for ``study.enqueue_trial`` (as ``joint_default_params`` gives its
    default): only the searched names, since fixed values are not Optuna's to suggest."""
    import search_spaces

    sid = space.strategy_id
    named = {search_spaces.joint_name(sid, name): params[name] for name in space.names}
    return {search_spaces.STRATEGY_KEY: sid, **named}


def race_round_plan(
    checked: CheckedStudy,
    study_id: str,
    out: Path,
    index: int,
    trials: Mapping[str, int],
    earlier: Mapping[str, list[tuple[float | None, ...]]] | None = None,
) -> TrialPlan:
    """Round ``index`` of a race (:mod:`dals_tune.study.race`): per-strategy mode's Tuner run
    cut to the raced strategies, ``trials[s]`` trials each, defaults first in round 0 only.
    Each strategy's Optuna study is the one of every round (same name), so round r goes on
    with its search; its sampler is seeded with seed + r (then apart per strategy,
    ``samplers.strategy_seed``), else each round's random start-up trials would repeat the
    last round's. ``earlier[s]``: strategy s's trials of the rounds before
    (``race.earlier_histories``), which its ASHA's rungs start with."""
    (plan,) = search_plans(checked, study_id, out)
    earlier = earlier or {}
    groups = [
        dataclasses.replace(
            group,
            num_samples=trials[group.key],
            points_to_evaluate=group.points_to_evaluate if index == 0 else [],
            earlier_trials=list(earlier.get(group.key, [])),
        )
        for group in plan.groups
        if group.key in trials
    ]
    return dataclasses.replace(
        plan,
        name=f"race-round-{index}",
        groups=groups,
        num_samples=sum(group.num_samples for group in groups),
        seed=checked.settings.seed + index,
    )


def rerun_seeds(checked: CheckedStudy) -> list[int]:
    """The fresh seeds of the re-runs: the search seed + 1, + 2, ..."""
    settings = checked.settings
    return [settings.seed + 1 + index for index in range(settings.seeds)]


def rerun_plan(
    checked: CheckedStudy,
    study_id: str,
    out: Path,
    best_configs: Mapping[str, Mapping[str, Any]],
) -> TrialPlan | None:
    """Each strategy's best configuration again with every fresh seed, at the full budget,
    as a grid (FIFO); None when no strategy has a configuration to re-run."""
    grid = [
        {"strategy": strategy_id, **chosen["config"], "seed": seed}
        for strategy_id, chosen in best_configs.items()
        for seed in rerun_seeds(checked)
    ]
    if not grid:
        return None
    settings = checked.settings
    return TrialPlan(
        name="reruns",
        storage=out / "ray" / study_id,
        constants=trial_constants(checked, out / "studies" / study_id),
        num_samples=1,
        max_epochs=settings.max_epochs,
        kind="rerun",
        scheduler="fifo",
        grid=grid,
        cpus_per_trial=settings.cpus_per_trial,
        gpus_per_trial=settings.gpus_per_trial,
        objective=checked.objective,
        workload_functions=registered(settings.workload),
    )
