"""``dals_tune.search(...)``: the ``search`` command as a Python call.

The keyword arguments are the command's options (``max_epochs`` for ``--max-epochs``), with
the same defaults and the same checks, since both make one
:class:`~dals_tune.study.settings.SearchSettings`. ``workload`` may also be the user's build
function itself, one defined in the calling script included; the study is the one the
command runs (Ray Tune, MLflow, reports), and its result carries the winner, the
leaderboard as a pandas DataFrame, the study id and the MLflow parent run id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from dals_tune.study.settings import SearchSettings


def search(
    workload: str | Callable[..., Any] = "synthetic",
    strategies: str | Iterable[str] | None = None,
    *,
    resume: bool = False,
    verbose: bool = False,
    echo: Callable[[str], None] | None = print,
    **options: Any,
) -> Any:
    """Run (or ``resume``) a study; return its :class:`~dals_tune.study.StudyResult`.

    ``workload``: a workload id (``"trec6"``, ``"csv:PATH"``), ``"module:function"``, or the
    function. ``strategies``: ids, a comma list or ``"all"`` (default: the quick four).
    ``options``: ``samples``, ``max_epochs``, ``seeds``, ``out``, ``scheduler``, ``mode``,
    ``searcher``, ``regime``, ``subset``, ... as ``python -m dals_tune search --help`` lists
    them. ``echo``: where progress lines go (None: nowhere).
    """
    from dals_tune.study import run_search
    from dals_tune.workloads.user_module import reference

    known = {f.name for f in dataclasses.fields(SearchSettings)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"search() got unknown option(s) {', '.join(unknown)}; "
            f"options are {', '.join(sorted(known - {'workload', 'strategies'}))}"
        )
    if callable(workload):
        workload = reference(workload)
    if strategies is not None:
        items = [strategies] if isinstance(strategies, str) else list(strategies)
        options["strategies"] = tuple(items)
    settings = SearchSettings(workload=workload, **options)
    return run_search(settings, resume=resume, verbose=verbose, echo=echo or (lambda _: None))
