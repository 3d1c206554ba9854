"""The pre-flight check of a study: everything that can be refused is refused here, in one
line, before the driver writes anything or starts Ray.

The settings checked their own values when they were made
(:class:`~dals_tune.study.settings.SearchSettings`); what is left needs the world: the store,
the strategy ids, the workload and its data, the space file, the run to refine from; the
store is also where ``--warm-start`` reads its points from (:mod:`dals_tune.study.warm_start`).
What can run but is worth a word (a validation split too small to rank strategies, a store
with no finished study to warm-start from) is a warning, printed as the study starts.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dals_tune import strategies
from dals_tune.objective import ACCURACY, Objective
from dals_tune.precision import resolve_precision
from dals_tune.study.settings import STATE_FILE, SearchSettings
from dals_tune.study.warm_start import WarmStart, read_warm_start
from dals_tune.workloads import build_workload
from dals_tune.workloads.config import resolve_data_dir, resolve_device
from dals_tune.workloads.registry import takes_folds

# Fewer validation examples than this and one example is a visible step of the metric: the
# study says so in one line (small_validation_warning), suggesting --folds SUGGESTED_FOLDS.
SMALL_VALIDATION_SPLIT = 100
SUGGESTED_FOLDS = 5


@dataclass(frozen=True)
class CheckedStudy:
    """Settings checked and resolved: strategy ids, their spaces, the workload's facts."""

    settings: SearchSettings
    strategy_ids: tuple[str, ...]
    spaces: dict[str, Any]
    regime: str
    objective: Objective  # the workload's metric, direction and target
    workload_facts: dict[str, Any]
    refine_source: Any = None  # refine.RefineSource of --refine-from, for `refined`
    warnings: tuple[str, ...] = ()  # one line each, printed as the study starts
    warm_start: WarmStart = field(default_factory=WarmStart)  # --warm-start's (none without)


def check(settings: SearchSettings, warm_start: WarmStart | None = None) -> CheckedStudy:
    """Refuse a study that cannot run with a one-line ``ValueError``, creating nothing:
    an unusable store, unknown strategies or workload, a missing dataset, a bad space file.
    With ``--warm-start``, its points: ``warm_start`` when given (those a resumed study chose
    when it began), else read from the store. With ``search="lr"`` each space keeps its
    learning rates only."""
    import search_spaces
    from dals_tune import tracking

    tracking.check_store(settings.out, settings.tracking_uri)  # before Ray starts, creating nothing
    strategy_ids = resolve_strategies(settings.strategies, settings.refine_from is not None)
    refine_source = _refine_source(settings, strategy_ids)
    needing = [sid for sid in strategy_ids if strategies.get(sid).needs_source_run]
    pinned = {sid: refine_source.pinned() for sid in needing} if refine_source else {}
    probe = dataclasses.replace(settings.trial(settings.regime), device="cpu")
    workload = build_workload(probe)  # a missing dataset or model fails here, in one line
    regime = workload.regime
    if settings.space_file is not None:
        spaces = search_spaces.load_space_file(settings.space_file, strategy_ids, regime, pinned)
    else:
        spaces = {
            sid: search_spaces.space_for(sid, regime, pinned.get(sid)) for sid in strategy_ids
        }
    if settings.search == "lr":  # after the space file, which may narrow the ranges kept
        spaces = {sid: search_spaces.learning_rates_only(space) for sid, space in spaces.items()}
    # What the trials compute in, on the device they run on (the probe above runs on the CPU).
    precision = resolve_precision(settings.precision, resolve_device(settings.device))
    facts = {**workload.describe(), "precision": precision}
    checked = CheckedStudy(
        settings=settings,
        strategy_ids=strategy_ids,
        spaces=spaces,
        regime=regime,
        objective=workload.objective,
        workload_facts=facts,
        refine_source=refine_source,
        warnings=tuple(filter(None, [small_validation_warning(settings, facts)])),
    )
    if settings.warm_start is None:
        return checked
    chosen = warm_start if warm_start is not None else read_warm_start(checked)
    return dataclasses.replace(
        checked, warm_start=chosen, warnings=(*checked.warnings, *chosen.notes)
    )


def small_validation_warning(settings: SearchSettings, facts: dict[str, Any]) -> str | None:
    """One line when the validation split is too small to rank strategies, without folds.

    With n validation examples one example moves accuracy by 1/n: at n = 14, 0.071, so
    strategies closer than that tie (17 of 27 did, at 1.0000, on a 178-row table). ``--folds``
    validates on the whole training data instead (:mod:`dals_tune.workloads.folds`)."""
    size = facts.get("val_size")
    if settings.folds is not None or not isinstance(size, int) or size >= SMALL_VALIDATION_SPLIT:
        return None
    if facts.get("metric") == ACCURACY.metric:
        noise = f"one example moves validation accuracy by 1/{size} = {1 / size:.3f}"
        why = f"{noise}, and strategies closer than that tie"
    else:
        why = "too few to tell close strategies apart"
    if takes_folds(settings.workload):
        fix = (
            f"consider --folds {SUGGESTED_FOLDS} (the mean over {SUGGESTED_FOLDS} folds of "
            "the training data)"
        )
    else:
        fix = (
            "consider a larger --eval-subset"
            if settings.eval_subset
            else "weigh it against the seed re-runs' ±"
        )
    return f"warning: the validation split has {size} examples; {why}; {fix}"


def _refine_source(settings: SearchSettings, strategy_ids: tuple[str, ...]) -> Any:
    """The norms ``--refine-from`` names, as ``refine`` registered them, when the study tunes
    a strategy that needs a source run (``refined``); read from the study's store, which must
    exist already."""
    if not any(strategies.get(sid).needs_source_run for sid in strategy_ids):
        if settings.refine_from is not None:
            raise ValueError("--refine-from is for the 'refined' strategy; add it to --strategies")
        return None
    if settings.refine_from is None:
        raise ValueError(
            "the 'refined' strategy tunes a schedule refined from a finished trial: run "
            "python -m dals_tune refine --run RUN_ID, then pass --refine-from RUN_ID"
        )
    from dals_tune import refine, tracking

    tracker = tracking.open_existing_store(settings.out, settings.tracking_uri)
    source = refine.registered_source(tracker, settings.refine_from)
    if source.workload != settings.workload:
        raise ValueError(
            f"run {source.run_id} trained on workload {source.workload!r}, this study is on "
            f"{settings.workload!r}; refine a trial of the same workload"
        )
    return source


def resolve_strategies(
    requested: tuple[str, ...] | list[str], with_refined: bool = False
) -> tuple[str, ...]:
    """``("all",)`` → every registered strategy (one that needs a source run, ``refined``, only
    ``with_refined``, when the study has a run to refine from); otherwise the ids, checked,
    deduplicated."""
    names = strategy_names(requested)
    if not names:
        raise ValueError("--strategies needs at least one strategy id (or 'all')")
    if names == ["all"]:
        # A strategy that needs a finished run (--refine-from) is not in "all" without one.
        records = strategies.REGISTRY.values()
        return tuple(s.id for s in records if with_refined or not s.needs_source_run)
    return tuple(dict.fromkeys(strategies.get(name).id for name in names))


def strategy_names(requested: tuple[str, ...] | list[str]) -> list[str]:
    """The ids of a ``--strategies`` value (items may hold comma lists), as written."""
    return [name.strip() for item in requested for name in str(item).split(",") if name.strip()]


def absolute_settings(settings: SearchSettings) -> SearchSettings:
    """Paths made absolute: Ray runs each trial in its own working directory, and a study must
    find its store and data again when resumed from elsewhere."""
    changes: dict[str, Any] = {"out": str(Path(settings.out).expanduser().absolute())}
    changes["data_dir"] = str(resolve_data_dir(settings.data_dir).absolute())
    if settings.space_file is not None:
        changes["space_file"] = str(Path(settings.space_file).expanduser().absolute())
    for prefix in ("csv:", "lm:"):  # workloads named by a path
        if settings.workload.startswith(prefix):
            path = Path(settings.workload.removeprefix(prefix)).expanduser().absolute()
            changes["workload"] = f"{prefix}{path}"
    return dataclasses.replace(settings, **changes)


def interrupted_study(out: Path) -> Path | None:
    """The newest study under ``out`` that has not finished, if any. A state file that cannot
    be read counts as unfinished, so that ``StudyState.load`` refuses it by name instead of an
    older study being resumed in its place."""
    states = sorted((out / "studies").glob(f"*/{STATE_FILE}"), key=lambda p: p.stat().st_mtime)
    for path in reversed(states):
        try:
            finished = json.loads(path.read_text()).get("phase") == "finished"
        except (OSError, ValueError, AttributeError):
            return path
        if not finished:
            return path
    return None
