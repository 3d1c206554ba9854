"""A study: the settings, the pre-flight check, the plans, the runner; Ray under ``ray_tune``.

| module | job |
|---|---|
| ``settings`` | what defines a study (:class:`SearchSettings`), its bookkeeping |
| ``preflight`` | refuse a study that cannot run, before anything is written (:func:`check`) |
| ``plans`` | pure functions from a checked study to what Tune will run (:class:`TrialPlan`) |
| ``warm_start`` | ``--warm-start``: the nearest finished studies' best configurations |
| ``outcomes`` | a finished trial (:class:`TrialOutcome`), judged and chosen by the driver |
| ``runner`` | the three steps: search, seed re-runs, report (:func:`run_search`) |
| ``recording`` | the study's runs in the tracker |
| ``progress`` | the console lines |
| ``ray_tune/`` | everything that imports Ray |

Importing this package loads neither Ray nor MLflow; :func:`run_search` does.
"""

from dals_tune.study.settings import SearchSettings, StudyState

__all__ = ["NO_WINNER", "SearchSettings", "StudyResult", "StudyState", "run_search"]


def __getattr__(name: str):
    """The runner's names, imported on first use (it brings torch and the workloads)."""
    if name in ("run_search", "NO_WINNER", "StudyResult", "TuneRunTiming"):
        from dals_tune.study import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'dals_tune.study' has no attribute {name!r}")
