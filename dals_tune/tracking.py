"""Records finished studies and trials in the MLflow store, and reads them back: :class:`Tracker`.

Layout (DESIGN.md §7): one experiment per workload; one parent run per study; one child run
per Ray Tune trial (or per seed re-run of a winner) with the trial's hyperparameters as params
and every numeric value of every epoch as a metric at ``step=epoch``. The parent carries the
winner as tags and the reports as artifacts. The tag names are ``tracking_tags``'s.

Only the study driver writes, after trials finish, through :class:`Tracker`. Every call names
its run by id (``MlflowClient``, never MLflow's global active run), so one driver can log many
runs, and several processes can share one store. Every write is retried while SQLite says the
database is locked (``tracking_store``, which also opens and checks the store).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# First: importing tracking_store quiets MLflow (no telemetry, no URL prints) before it loads.
# check_store is re-exported: callers check a store through tracking, as they open one.
from dals_tune.tracking_store import check_store as check_store
from dals_tune.tracking_store import connect, log_batch, require_existing_store, retry

# isort: split
import mlflow
from mlflow.entities import RunStatus, ViewType

import dals_tune
from dals_tune.objective import Objective
from dals_tune.provenance import command_line, git_commit
from dals_tune.tracking_entities import (
    as_metric,
    as_params,
    as_record,
    child_key,
    description_value,
    epoch_metrics,
    milliseconds,
    quote,
    safe_folder,
    tag_value,
    trial_run_name,
)
from dals_tune.tracking_tags import (
    COMMAND_TAG,
    DESCRIPTION_TAG,
    ERROR_TAG,
    EXPERIMENT_KIND_TAG,
    GENERATION_TAG,
    GIT_COMMIT_TAG,
    KEY_TAG,
    KIND_TAG,
    LOGGED_TAG,
    MODEL_TRAINING_KIND,
    PARENT_TAG,
    PILOT_FOR_TAG,
    SEED_TAG,
    STATUS_TAG,
    STRATEGY_TAG,
    STUDY_KIND,
    TIED_WITH_TAG,
    TRIAL_ID_TAG,
    VERSION_TAG,
    WINNER_TAG,
    WORKLOAD_TAG,
)

_STUDY_FILTER = f"tags.{KIND_TAG} = '{STUDY_KIND}'"


def open_store(out: Path, tracking_uri: str | None = None) -> Tracker:
    """Open (and create if needed) the MLflow store a study writes to: SQLite under ``out``
    without ``tracking_uri``. A store that cannot be used is a one-line ``ValueError`` before
    anything is written to it (:func:`dals_tune.tracking_store.connect`)."""
    client, uri, artifact_root = connect(out, tracking_uri)
    return Tracker(client=client, tracking_uri=uri, artifact_root=artifact_root)


def open_existing_store(out: Path | str, tracking_uri: str | None = None) -> Tracker:
    """:func:`open_store` for a command that reads a store a study wrote: a SQLite store that
    does not exist is refused in one line, instead of an empty one being created."""
    require_existing_store(out, tracking_uri)
    return open_store(Path(out), tracking_uri)


@dataclass
class Tracker:
    """Writes and reads one MLflow store; every method takes explicit experiment/run ids."""

    client: mlflow.MlflowClient
    tracking_uri: str
    artifact_root: str | None = None  # file URI; None lets the store choose

    # ----- writing -------------------------------------------------------------------------

    def experiment_for(self, workload: str) -> str:
        """The id of the workload's experiment (named after the workload), created if new.

        The experiment is marked as model training (``EXPERIMENT_KIND_TAG``), so MLflow 3
        treats it as such rather than as a GenAI experiment; one an older version created
        without the mark gets it here, when a study starts in it. A kind already set (by the
        user, in the UI) is left as it is.
        """
        experiment = self.client.get_experiment_by_name(workload)
        if experiment is not None:
            if EXPERIMENT_KIND_TAG not in experiment.tags:
                experiment_id = experiment.experiment_id
                retry(
                    lambda: self.client.set_experiment_tag(
                        experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND
                    )
                )
            return experiment.experiment_id
        location = f"{self.artifact_root}/{safe_folder(workload)}" if self.artifact_root else None
        kind = {EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND}
        try:
            return retry(lambda: self.client.create_experiment(workload, location, kind))
        except mlflow.exceptions.MlflowException:
            # Another process created it between the lookup and the create.
            experiment = self.client.get_experiment_by_name(workload)
            if experiment is None:
                raise
            return experiment.experiment_id

    def start_study(self, workload: str, tags: Mapping[str, Any], params: Mapping[str, Any]) -> str:
        """Create the study's parent run and return its id.

        ``tags`` should hold the study's identity (``tracking_tags.STUDY_TAGS``: dataset,
        regime, model, searcher, scheduler, budget, seed); the workload, package version, git
        commit and the command line that started the study are added here. ``params`` are the
        study settings (strategies, trials, max epochs...).
        """
        experiment_id = self.experiment_for(workload)
        all_tags = {
            **{key: tag_value(value) for key, value in tags.items()},
            WORKLOAD_TAG: workload,
            KIND_TAG: STUDY_KIND,
            VERSION_TAG: dals_tune.__version__,
            GIT_COMMIT_TAG: git_commit(),
            COMMAND_TAG: command_line(),
        }
        run = retry(
            lambda: self.client.create_run(
                experiment_id, tags=all_tags, run_name=f"study-{workload}"
            )
        )
        log_batch(self.client, run.info.run_id, params=as_params(params))
        return run.info.run_id

    def log_trial(
        self,
        parent_run_id: str,
        trial_id: str,
        strategy: str,
        generation: int | str,
        status: str,
        params: Mapping[str, Any],
        epochs: Iterable[Mapping[str, Any]],
        error: str | None = None,
        *,
        kind: str = "trial",
        seed: int | None = None,
        tags: Mapping[str, Any] | None = None,
        documents: Mapping[str, Mapping[str, Any]] | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
    ) -> str:
        """Record one finished trial as a child run of the study; return the child's run id.

        Idempotent: a trial already logged under this parent (same ``trial_id``, ``kind`` and
        ``seed``) is returned as is, so a resumed study ends with one child per trial. A child
        left half-written by a killed driver is deleted and written again.

        ``epochs`` are the per-epoch dicts a trial reports; each numeric value (nested dicts
        flattened with ``/``) is logged at ``step = epoch["epoch"]`` (or the position, from 1).
        Strings, lists and ``None`` are skipped. ``status`` is one of ``TRIAL_STATUSES``;
        errored trials end FAILED with the message as tag ``error``, all others FINISHED.
        ``kind="rerun"`` with a ``seed`` records a seed re-run of a winning configuration.
        ``tags`` adds the driver's own tags (``default``: the strategy's default configuration;
        ``node_id``...); the identity tags above win over them. ``documents`` are JSON
        artifacts of the child, by file name: data too long for params or metrics, such as
        the per-step gradient norms (``grad_norms.json``).

        ``started_at``/``ended_at`` (seconds since the epoch) are when the trial really ran:
        the run's start and end, so its duration is the training's and not the moment it
        took to log it. With ``started_at``, epoch ``k``'s metrics are stamped at
        ``started_at + time_total_s`` of that epoch (else ``+ Σ epoch_seconds`` up to it),
        so MLflow's wall-time axis follows the trial's timeline. Without them the run starts
        and ends as it is logged.

        The run is named for people: ``adamw · trial 3`` (the number ending Ray's trial id)
        or, for a seed re-run, ``adamw · seed 3``.
        """
        key = child_key(status, kind, trial_id, seed)
        parent = self.client.get_run(parent_run_id)
        experiment_id = parent.info.experiment_id
        logged = self._logged_child(experiment_id, parent_run_id, key)
        if logged is not None:
            return logged
        identity = {
            PARENT_TAG: parent_run_id,
            KEY_TAG: key,
            TRIAL_ID_TAG: str(trial_id),
            STRATEGY_TAG: strategy,
            GENERATION_TAG: str(generation),
            STATUS_TAG: status,
            KIND_TAG: kind,
            WORKLOAD_TAG: parent.data.tags.get(WORKLOAD_TAG, ""),
            **({} if seed is None else {SEED_TAG: str(seed)}),
            **({} if error is None else {ERROR_TAG: tag_value(error)}),
        }
        tags = {**{name: tag_value(value) for name, value in (tags or {}).items()}, **identity}
        run = retry(
            lambda: self.client.create_run(
                experiment_id,
                start_time=milliseconds(started_at),
                tags=tags,
                run_name=trial_run_name(strategy, trial_id, seed),
            )
        )
        run_id = run.info.run_id
        metrics = epoch_metrics(epochs, started_at)
        log_batch(self.client, run_id, metrics=metrics, params=as_params(params))
        for name, document in (documents or {}).items():
            self.client.log_dict(run_id, dict(document), name)
        self._end_child(run_id, status, milliseconds(ended_at))
        return run_id

    def _end_child(self, run_id: str, status: str, end_ms: int | None) -> None:
        """End a child FAILED for an errored trial, FINISHED otherwise, then mark it logged:
        last, so a child with the tag is complete, status included (a kill before it leaves a
        child that the next ``log_trial`` deletes and writes again)."""
        final = RunStatus.to_string(RunStatus.FAILED if status == "errored" else RunStatus.FINISHED)
        retry(lambda: self.client.set_terminated(run_id, final, end_time=end_ms))
        retry(lambda: self.client.set_tag(run_id, LOGGED_TAG, "1"))

    def _logged_child(self, experiment_id: str, parent_run_id: str, key: str) -> str | None:
        """The id of the child already logged under ``key``; a half-written one (no
        ``LOGGED_TAG``: its driver was killed while logging it) is deleted."""
        for run in self._search(
            [experiment_id],
            f"tags.`{PARENT_TAG}` = '{parent_run_id}' and tags.`{KEY_TAG}` = '{quote(key)}'",
        ):
            if run.data.tags.get(LOGGED_TAG) == "1":
                return run.info.run_id
            retry(lambda run=run: self.client.delete_run(run.info.run_id))
        return None

    def finish_study(
        self,
        parent_run_id: str,
        winner: str,
        winner_value: float,
        artifacts: Iterable[Path] = (),
        status: str = "FINISHED",
        *,
        description: str = "",
        tied_with: str = "",
    ) -> None:
        """Tag the winner and its tie group (``TIED_WITH_TAG``: the strategies the runs cannot
        separate from it, comma-separated), attach the report files and end the study's parent
        run.

        ``winner_value`` is the winner's validation value in the study's metric (its
        :class:`~dals_tune.objective.Objective`, read from the parent's tags): tag
        ``Objective.winner_key`` (``dals.winner_val_acc`` for accuracy) and metric
        ``winner_val_<m>``.

        ``status`` is an MLflow run status (FINISHED, FAILED or KILLED). Every artifact must
        exist; a missing one raises ``ValueError`` before anything is changed. A file is
        attached at the top of the run's artifacts under its name, a folder as a folder of
        that name. ``description`` (Markdown: the winner, the leaderboard, the plots) becomes
        the run's description (``DESCRIPTION_TAG``), the first thing its page shows; one
        longer than MLflow keeps is cut at a line, saying so.
        """
        files = [Path(path) for path in artifacts]
        missing = [str(path) for path in files if not path.exists()]
        if missing:
            raise ValueError(f"cannot attach missing report files {missing}; write them first")
        if status not in ("FINISHED", "FAILED", "KILLED"):
            raise ValueError(f"unknown run status {status!r}; use FINISHED, FAILED or KILLED")
        objective = Objective.from_record(self.client.get_run(parent_run_id).data.tags)
        tags = {
            WINNER_TAG: winner,
            TIED_WITH_TAG: tied_with,
            objective.winner_key: repr(float(winner_value)),
        }
        if description:
            tags[DESCRIPTION_TAG] = description_value(description)
        log_batch(
            self.client,
            parent_run_id,
            tags=tags,
            metrics=[as_metric(objective.winner_metric, float(winner_value), 0)],
        )
        for path in files:
            if path.is_dir():
                self.client.log_artifacts(parent_run_id, str(path), artifact_path=path.name)
            else:
                self.client.log_artifact(parent_run_id, str(path))
        retry(lambda: self.client.set_terminated(parent_run_id, status))

    def mark_pilot(self, parent_run_id: str, piloted: str) -> None:
        """Tag a study as the pilot of ``piloted`` ("workload/regime"), which keeps it out of
        the cross-study tables: it ran one strategy to give another study its inputs."""
        retry(lambda: self.client.set_tag(parent_run_id, PILOT_FOR_TAG, piloted))

    def mark_interrupted_runs(self, parent_run_id: str) -> int:
        """Resume a study's record: its children still RUNNING (a killed driver's) become
        KILLED, and its parent RUNNING again, whatever an interruption left it as, since the
        study goes on (a report written before it ends must not call it killed).

        Returns how many children were changed. Call it when resuming a study, before logging.
        """
        parent = self.client.get_run(parent_run_id)
        changed = 0
        for run in self._children(parent.info.experiment_id, parent_run_id):
            if run.info.status == "RUNNING":
                retry(lambda run=run: self.client.set_terminated(run.info.run_id, "KILLED"))
                changed += 1
        if parent.info.status != "RUNNING":
            retry(lambda: self.client.update_run(parent_run_id, status="RUNNING"))
        return changed

    # ----- reading -------------------------------------------------------------------------

    def studies(self, experiment_or_workload: str) -> list[dict[str, Any]]:
        """The parent runs of an experiment (given by id or workload name), newest first."""
        experiment = self.client.get_experiment_by_name(experiment_or_workload)
        if experiment is None:
            try:
                experiment = self.client.get_experiment(experiment_or_workload)
            except mlflow.exceptions.MlflowException:
                return []
        runs = self._search([experiment.experiment_id], _STUDY_FILTER)
        return [as_record(run) for run in runs]

    def all_studies(self) -> list[dict[str, Any]]:
        """The parent runs of every experiment in the store, newest first."""
        experiments = self.client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
        ids = [experiment.experiment_id for experiment in experiments]
        if not ids:
            return []
        return [as_record(run) for run in self._search(ids, _STUDY_FILTER)]

    def trials_of(self, parent_run_id: str) -> list[dict[str, Any]]:
        """The study's child runs (trials and re-runs), oldest first, with final metrics."""
        parent = self.client.get_run(parent_run_id)
        runs = self._children(parent.info.experiment_id, parent_run_id)
        return [as_record(run) for run in reversed(runs)]

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """One metric of one run as ``(step, value)`` pairs in step order."""
        history = self.client.get_metric_history(run_id, key)
        return sorted((metric.step, metric.value) for metric in history)

    def run(self, run_id: str) -> dict[str, Any]:
        """One run as a record (like :meth:`trials_of`'s); an id the store does not hold (or
        a deleted run) is a one-line ``ValueError``."""
        try:
            run = self.client.get_run(run_id)
        except mlflow.exceptions.MlflowException:
            run = None
        if run is None or run.info.lifecycle_stage == "deleted":
            raise ValueError(
                f"no run {run_id!r} in the store {self.tracking_uri}; pass a trial's run id "
                "(python -m dals_tune ui shows them)"
            )
        return as_record(run)

    def document(self, run_id: str, name: str) -> Any:
        """A JSON artifact of a run (``log_trial``'s ``documents``), or None if it has none."""
        if name not in {item.path for item in self.client.list_artifacts(run_id)}:
            return None
        with tempfile.TemporaryDirectory() as folder:
            path = self.client.download_artifacts(run_id, name, folder)
            return json.loads(Path(path).read_text())

    def annotate_run(
        self, run_id: str, tags: Mapping[str, Any], artifacts: Iterable[Path] = ()
    ) -> None:
        """Attach files and tags to an existing (finished) run, e.g. a refined schedule to
        the trial it was computed from; the tags are set last, once the files are there."""
        for path in artifacts:
            self.client.log_artifact(run_id, str(path))
        log_batch(self.client, run_id, tags={key: tag_value(value) for key, value in tags.items()})

    # ----- internals -----------------------------------------------------------------------

    def _children(self, experiment_id: str, parent_run_id: str) -> list[Any]:
        return self._search([experiment_id], f"tags.`{PARENT_TAG}` = '{parent_run_id}'")

    def _search(self, experiment_ids: list[str], filter_string: str) -> list[Any]:
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                experiment_ids,
                filter_string,
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                order_by=["attributes.start_time DESC"],
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs
