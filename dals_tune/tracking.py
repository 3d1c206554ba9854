"""The only module that talks to MLflow: it records finished studies and trials.

Layout (DESIGN.md §7): one experiment per workload; one parent run per study; one child run
per Ray Tune trial (or per seed re-run of a winner) with the trial's hyperparameters as params
and every numeric value of every epoch as a metric at ``step=epoch``. The parent carries the
winner as tags and the reports as artifacts.

Only the study driver writes, after trials finish, through :class:`Tracker`. Every call names
its run by id (``MlflowClient``, never MLflow's global active run), so one driver can log many
runs, and several processes can share one store.

Concurrency on SQLite: MLflow (3.x) opens every session with ``PRAGMA busy_timeout = 20000``
(a writer waits up to 20 s for the lock), which alone kept six processes logging 20 trials each
free of lock errors. SQLite can still answer "database is locked" at once when two deferred
transactions both try to upgrade to a write lock, so each write here is also retried with
exponential backoff (0.05 s doubling, ~13 s in all) when the error says the database is
locked. Open the store once (``open_store``) before starting worker
processes, so the schema is created by one process only.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

# Before MLflow is imported: no usage telemetry (no network), no "View run at" URL prints.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # Tracker.document

import mlflow
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

import dals_tune

# Schema creation logs a few INFO lines per new store; keep the driver's output readable.
for _name in ("alembic", "mlflow.store.db.utils", "mlflow.store.tracking.sqlalchemy_store"):
    logging.getLogger(_name).setLevel(logging.WARNING)

TRIAL_STATUSES = ("completed", "pruned", "errored", "diverged")
TRIAL_KINDS = ("trial", "rerun")
STUDY_TAGS = ("workload", "dataset", "regime", "model", "searcher", "scheduler", "budget", "seed")
PARENT_TAG = "mlflow.parentRunId"
# A child run is complete once this tag is set (the last write of log_trial); a child without
# it was cut off mid-logging and is replaced when the trial is logged again.
LOGGED_TAG = "dals.logged"
MAX_LIST_PARAM = 16  # longer lists (grad_norms, per-step histories) are data, not parameters
_BATCH_METRICS = 1000  # MLflow's per-call limits for log_batch
_BATCH_PARAMS = 100
_BATCH_TAGS = 100
_KEY_SAFE = re.compile(r"[^\w\-. /:]")
_T = TypeVar("_T")


def open_store(out: Path, tracking_uri: str | None = None) -> Tracker:
    """Open (and create if needed) the MLflow store a study writes to.

    Without ``tracking_uri`` the store is SQLite at ``<out>/mlflow.db`` with artifacts under
    ``<out>/mlartifacts`` (absolute paths). A given URI is used as is. A folder that cannot be
    written, an unknown scheme or an unreachable server raises ``ValueError`` with one line
    saying what to fix, before anything is written to the store.
    """
    out = Path(out).expanduser().absolute()
    if tracking_uri is None:
        _check_writable_folder(out, "--out")
        uri = f"sqlite:///{out / 'mlflow.db'}"
        artifact_root: str | None = (out / "mlartifacts").as_uri()
    else:
        uri = tracking_uri
        artifact_root = None
        _check_uri(uri)
    # Opening a new SQLite store creates its schema; two studies starting at once on one --out
    # would both run MLflow's migrations and one would fail, so they take turns.
    lock = _file_lock(out / ".mlflow.lock") if tracking_uri is None else contextlib.nullcontext()
    try:
        with lock, warnings.catch_warnings():  # MLflow's SQLAlchemy deprecations, not ours
            warnings.filterwarnings("ignore", message=".*noload.*")
            client = mlflow.MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
    except Exception as error:  # MLflow raises many kinds; all mean the same to the user
        raise ValueError(
            f"cannot open the MLflow store {uri!r} ({_first_line(error)}); "
            "pass a reachable --tracking-uri or leave it out for the SQLite store under --out"
        ) from None
    return Tracker(client=client, tracking_uri=uri, artifact_root=artifact_root)


def check_store(out: Path | str, tracking_uri: str | None = None) -> None:
    """What :func:`open_store` checks, creating nothing: a study calls it before it starts
    Ray, so a bad ``--out`` or ``--tracking-uri`` is one line within a second and leaves no
    folder behind."""
    if tracking_uri is None:
        _check_writable_folder(Path(out).expanduser().absolute(), "--out", create=False)
    else:
        _check_uri(tracking_uri, create=False)


def open_existing_store(out: Path | str, tracking_uri: str | None = None) -> Tracker:
    """:func:`open_store` for a command that reads a store a study wrote: a SQLite store that
    does not exist is refused in one line, instead of an empty one being created."""
    if tracking_uri is None:
        path = Path(out).expanduser().absolute() / "mlflow.db"
    elif urlparse(tracking_uri).scheme.split("+")[0] == "sqlite":
        path = Path(tracking_uri.removeprefix("sqlite:///").split("?")[0]).absolute()
    else:
        path = None
    if path is not None and not path.is_file():
        raise ValueError(
            f"no study store at {path}; run python -m dals_tune search --out {out} first "
            "(or pass --tracking-uri)"
        )
    return open_store(Path(out), tracking_uri)


@dataclass
class Tracker:
    """Writes and reads one MLflow store; every method takes explicit experiment/run ids."""

    client: mlflow.MlflowClient
    tracking_uri: str
    artifact_root: str | None = None  # file URI; None lets the store choose

    # ----- writing -------------------------------------------------------------------------

    def experiment_for(self, workload: str) -> str:
        """The id of the workload's experiment (named after the workload), created if new."""
        experiment = self.client.get_experiment_by_name(workload)
        if experiment is not None:
            return experiment.experiment_id
        location = f"{self.artifact_root}/{_safe_folder(workload)}" if self.artifact_root else None
        try:
            # The UI opens a classic-ML experiment on its runs table (not the GenAI views).
            kind = {"mlflow.experimentKind": "custom_model_development"}
            return _retry(lambda: self.client.create_experiment(workload, location, kind))
        except mlflow.exceptions.MlflowException:
            # Another process created it between the lookup and the create.
            experiment = self.client.get_experiment_by_name(workload)
            if experiment is None:
                raise
            return experiment.experiment_id

    def start_study(self, workload: str, tags: Mapping[str, Any], params: Mapping[str, Any]) -> str:
        """Create the study's parent run and return its id.

        ``tags`` should hold the study's identity (``STUDY_TAGS``: dataset, regime, model,
        searcher, scheduler, budget, seed); the workload, package version and git commit are
        added here. ``params`` are the study settings (strategies, trials, max epochs...).
        """
        experiment_id = self.experiment_for(workload)
        all_tags = {
            **{key: _tag_value(value) for key, value in tags.items()},
            "workload": workload,
            "kind": "study",
            "dals_tune.version": dals_tune.__version__,
            "git_commit": git_commit(),
        }
        run = _retry(
            lambda: self.client.create_run(
                experiment_id, tags=all_tags, run_name=f"study-{workload}"
            )
        )
        self._log_batch(run.info.run_id, params=_params(params))
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
        """
        if status not in TRIAL_STATUSES:
            raise ValueError(f"unknown trial status {status!r}; use one of {TRIAL_STATUSES}")
        if kind not in TRIAL_KINDS:
            raise ValueError(f"unknown run kind {kind!r}; use one of {TRIAL_KINDS}")
        key = f"{kind}:{trial_id}:{'' if seed is None else seed}"
        parent = self.client.get_run(parent_run_id)
        experiment_id = parent.info.experiment_id
        for run in self._search(
            [experiment_id],
            f"tags.`{PARENT_TAG}` = '{parent_run_id}' and tags.`dals.key` = '{_quote(key)}'",
        ):
            if run.data.tags.get(LOGGED_TAG) == "1":
                return run.info.run_id
            _retry(lambda run=run: self.client.delete_run(run.info.run_id))

        tags = {
            **{name: _tag_value(value) for name, value in (tags or {}).items()},
            PARENT_TAG: parent_run_id,
            "dals.key": key,
            "trial_id": str(trial_id),
            "strategy": strategy,
            "generation": str(generation),
            "status": status,
            "kind": kind,
            "workload": parent.data.tags.get("workload", ""),
        }
        if seed is not None:
            tags["seed"] = str(seed)
        if error is not None:
            tags["error"] = _tag_value(error)
        name = f"{strategy}-{trial_id}" + ("" if seed is None else f"-seed{seed}")
        run = _retry(lambda: self.client.create_run(experiment_id, tags=tags, run_name=name))
        run_id = run.info.run_id
        self._log_batch(run_id, metrics=_epoch_metrics(epochs), params=_params(params))
        for name, document in (documents or {}).items():
            self.client.log_dict(run_id, dict(document), name)
        final = RunStatus.to_string(RunStatus.FAILED if status == "errored" else RunStatus.FINISHED)
        _retry(lambda: self.client.set_terminated(run_id, final))
        # Last: a child with this tag is complete, status included (a kill before it leaves a
        # child that the next call deletes and writes again).
        _retry(lambda: self.client.set_tag(run_id, LOGGED_TAG, "1"))
        return run_id

    def finish_study(
        self,
        parent_run_id: str,
        winner: str,
        winner_val_acc: float,
        artifacts: Iterable[Path] = (),
        status: str = "FINISHED",
    ) -> None:
        """Tag the winner, attach the report files and end the study's parent run.

        ``status`` is an MLflow run status (FINISHED, FAILED or KILLED). Every artifact must
        exist; a missing one raises ``ValueError`` before anything is changed.
        """
        files = [Path(path) for path in artifacts]
        missing = [str(path) for path in files if not path.exists()]
        if missing:
            raise ValueError(f"cannot attach missing report files {missing}; write them first")
        if status not in ("FINISHED", "FAILED", "KILLED"):
            raise ValueError(f"unknown run status {status!r}; use FINISHED, FAILED or KILLED")
        tags = {"dals.winner": winner, "dals.winner_val_acc": repr(float(winner_val_acc))}
        self._log_batch(
            parent_run_id,
            tags=tags,
            metrics=[_metric("winner_val_acc", float(winner_val_acc), 0)],
        )
        for path in files:
            if path.is_dir():
                self.client.log_artifacts(parent_run_id, str(path), artifact_path=path.name)
            else:
                self.client.log_artifact(parent_run_id, str(path))
        _retry(lambda: self.client.set_terminated(parent_run_id, status))

    def mark_interrupted_runs(self, parent_run_id: str) -> int:
        """Set the study's parent and children still RUNNING (a killed driver) to KILLED.

        Returns how many runs were changed. Call it when resuming a study, before logging.
        """
        parent = self.client.get_run(parent_run_id)
        runs = [parent, *self._children(parent.info.experiment_id, parent_run_id)]
        changed = 0
        for run in runs:
            if run.info.status == "RUNNING":
                _retry(lambda run=run: self.client.set_terminated(run.info.run_id, "KILLED"))
                changed += 1
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
        runs = self._search([experiment.experiment_id], "tags.kind = 'study'")
        return [_as_record(run) for run in runs]

    def all_studies(self) -> list[dict[str, Any]]:
        """The parent runs of every experiment in the store, newest first."""
        experiments = self.client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
        ids = [experiment.experiment_id for experiment in experiments]
        if not ids:
            return []
        return [_as_record(run) for run in self._search(ids, "tags.kind = 'study'")]

    def trials_of(self, parent_run_id: str) -> list[dict[str, Any]]:
        """The study's child runs (trials and re-runs), oldest first, with final metrics."""
        parent = self.client.get_run(parent_run_id)
        runs = self._children(parent.info.experiment_id, parent_run_id)
        return [_as_record(run) for run in reversed(runs)]

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
        return _as_record(run)

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
        self._log_batch(run_id, tags={key: _tag_value(value) for key, value in tags.items()})

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

    def _log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        run_tags = [RunTag(key, value) for key, value in (tags or {}).items()]
        for start in range(0, len(params), _BATCH_PARAMS):
            chunk = list(params[start : start + _BATCH_PARAMS])
            _retry(lambda chunk=chunk: self.client.log_batch(run_id, params=chunk))
        for start in range(0, len(run_tags), _BATCH_TAGS):
            chunk = run_tags[start : start + _BATCH_TAGS]
            _retry(lambda chunk=chunk: self.client.log_batch(run_id, tags=chunk))
        for start in range(0, len(metrics), _BATCH_METRICS):
            chunk = list(metrics[start : start + _BATCH_METRICS])
            _retry(lambda chunk=chunk: self.client.log_batch(run_id, metrics=chunk))


def git_commit() -> str:
    """The commit of the git checkout the package lives in, or "unknown" (e.g. a wheel)."""
    folder = Path(dals_tune.__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else "unknown"


# ----- helpers ------------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block."""
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_writable_folder(folder: Path, what: str, create: bool = True) -> None:
    """Prove ``folder`` writable by creating (and removing) a file in it; file permission bits
    alone mislead when running as root or on some network file systems. ``create=False``
    creates nothing: the nearest existing ancestor must be a folder that takes the file."""
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is a file")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".dals_write_check"):
            pass
    except OSError as error:
        raise ValueError(
            f"cannot write to {what} folder {folder} ({error.strerror or error}); "
            "choose a writable folder"
        ) from None


def _check_uri(uri: str, create: bool = True) -> None:
    """Reject URIs MLflow would fail on slowly (unreachable servers retry for minutes) or after
    creating files (a SQLite database in an unwritable folder). ``create=False`` creates no
    folder for a SQLite database either."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.split("+")[0]
    if scheme == "sqlite":
        path = uri.removeprefix("sqlite:///")
        if path and path != ":memory:" and not uri.startswith("sqlite:///:"):
            folder = Path(path.split("?")[0]).absolute().parent
            _check_writable_folder(folder, "tracking URI", create)
        return
    if scheme in ("http", "https"):
        port = parsed.port or (443 if scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname or "", port), timeout=3):
                pass
        except OSError as error:
            raise ValueError(
                f"cannot reach the MLflow server {uri} ({error}); "
                "start it (mlflow server) or pass another --tracking-uri"
            ) from None
        return
    known = ("postgresql", "mysql", "mssql", "file", "databricks")
    if scheme not in known:
        raise ValueError(
            f"unsupported tracking URI {uri!r}; use sqlite:///<path>, http(s)://<host>:<port> "
            "or a postgresql/mysql/mssql URL, or leave it out for the SQLite store under --out"
        )


def _retry(call: Callable[[], _T], attempts: int = 8) -> _T:
    """Run a store write, retrying with backoff while SQLite says the database is locked."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return call()
        except Exception as error:
            if "database is locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(delay * (1 + 0.5 * (uuid.uuid4().int % 100) / 100))
            delay *= 2
    raise AssertionError("unreachable")


def _params(params: Mapping[str, Any]) -> list[Param]:
    """Hyperparameters as MLflow params: strings, long lists skipped, long values cut."""
    out = []
    for key, value in _flatten(params).items():
        if isinstance(value, (list, tuple, set)) and len(value) > MAX_LIST_PARAM:
            continue
        if hasattr(value, "shape") and getattr(value, "size", 0) > MAX_LIST_PARAM:
            continue  # numpy arrays and tensors
        text = str(value)
        if len(text) > MAX_PARAM_VAL_LENGTH:
            text = text[: MAX_PARAM_VAL_LENGTH - 3] + "..."
        out.append(Param(_safe_key(key), text))
    return out


def _epoch_metrics(epochs: Iterable[Mapping[str, Any]]) -> list[Metric]:
    metrics = []
    now = int(time.time() * 1000)
    for position, epoch in enumerate(epochs, start=1):
        step = epoch.get("epoch", position)
        step = int(step) if isinstance(step, (int, float)) and math.isfinite(step) else position
        for key, value in _flatten(epoch).items():
            if key == "epoch" or isinstance(value, str) or value is None:
                continue
            try:
                number = float(value)  # ints, floats, bools, numpy and 0-d torch scalars
            except (TypeError, ValueError):
                continue
            metrics.append(_metric(_safe_key(key), number, step, now))
    return metrics


def _metric(key: str, value: float, step: int, timestamp: int | None = None) -> Metric:
    return Metric(key, value, timestamp or int(time.time() * 1000), step)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def _as_record(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "artifact_uri": run.info.artifact_uri,
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
    }


def _tag_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 5000 else text[:4997] + "..."


def _safe_key(key: str) -> str:
    return _KEY_SAFE.sub("_", str(key))


def _safe_folder(name: str) -> str:
    return re.sub(r"[^\w\-.]", "_", name)


def _quote(text: str) -> str:
    return text.replace("'", "\\'")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# ----- the MLflow UI ------------------------------------------------------------------------

# Hosts MLflow's security middleware accepts by default (with private addresses); any other
# --host is added to its allowlist, so the printed address works.
_DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::")


def serve_ui(
    out: str | Path,
    tracking_uri: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
) -> int:
    """Serve MLflow's own UI on a study store in the foreground; return the server's exit code.

    Runs ``python -m mlflow server`` on ``sqlite:///<out>/mlflow.db`` (artifacts read from
    ``<out>/mlartifacts``, where ``open_store`` puts them) or on ``tracking_uri``, with one
    uvicorn worker and without MLflow's job runner: one reader of a local store needs no more.
    MLflow's security middleware stays on (Host headers: localhost, loopback and private
    addresses, plus ``host``). Prints ``MLflow UI: http://HOST:PORT`` once the server answers.
    Ctrl-C (or SIGTERM) stops the server and returns 0.

    A missing store or a port in use raises ``ValueError`` before anything is started or
    created.
    """
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        *_ui_store_options(out, tracking_uri),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if host not in _DEFAULT_ALLOWED_HOSTS:
        named = _url_host(host)
        command += [
            "--allowed-hosts",
            f"localhost,localhost:*,127.0.0.1,127.0.0.1:*,{named},{named}:*",
        ]
    _check_port_free(host, port)
    environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # Its own session: Ctrl-C reaches only this process, which stops the server with one
    # SIGTERM. (Given the terminal's SIGINT as well, uvicorn would get it twice, once
    # forwarded by `mlflow server`, and force-quit with a traceback.)
    server = subprocess.Popen(command, env=environment, start_new_session=True)
    previous = _set_stop_handlers(dict.fromkeys(_STOP_SIGNALS, _interrupt))
    try:
        if _wait_until_answering(server, host, port):
            print(f"MLflow UI: http://{_url_host(host)}:{port}  (Ctrl-C to stop)", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _set_stop_handlers(previous)
        _stop_server(server)


def _ui_store_options(out: str | Path, tracking_uri: str | None) -> list[str]:
    """``mlflow server``'s store options; refuses a store that does not exist yet (the server
    would create an empty one)."""
    if tracking_uri is None:
        folder = Path(out).expanduser().absolute()
        store = folder / "mlflow.db"
        if not store.is_file():
            raise ValueError(
                f"no study store at {store}; run python -m dals_tune search --out {out} first "
                "(or pass --tracking-uri)"
            )
        artifacts = (folder / "mlartifacts").as_uri()
        return [
            "--backend-store-uri",
            f"sqlite:///{store}",
            "--default-artifact-root",
            artifacts,
            "--artifacts-destination",
            artifacts,
        ]
    scheme = urlparse(tracking_uri).scheme.split("+")[0]
    if scheme in ("http", "https"):
        raise ValueError(
            f"{tracking_uri} is an MLflow server already; open it in a browser instead"
        )
    if scheme == "sqlite":
        path = tracking_uri.removeprefix("sqlite:///").split("?")[0]
        if not path or path.startswith(":") or not Path(path).is_file():
            raise ValueError(
                f"no MLflow store at {tracking_uri}; check --tracking-uri or run "
                "python -m dals_tune search first"
            )
    else:
        _check_uri(tracking_uri)
    return ["--backend-store-uri", tracking_uri]


def _check_port_free(host: str, port: int) -> None:
    """Bind the port the way uvicorn will (SO_REUSEADDR), so a busy port is one line now
    instead of a server traceback later."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            pass
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ValueError(
                f"port {port} on {host} is already in use; stop what listens there or pass "
                "another --port"
            ) from None
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ValueError(
            f"cannot listen on {host}:{port} ({reason}); pass another --host or --port"
        ) from None


def _wait_until_answering(server: subprocess.Popen, host: str, port: int) -> bool:
    """Poll ``/health`` until the server answers (True) or exits (False)."""
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    while server.poll() is None:
        if health_status(probe_host, port) is not None:
            return True  # any HTTP answer means it is up
        time.sleep(0.2)
    return False


def health_status(host: str, port: int) -> int | None:
    """The HTTP status of ``GET /health`` on an MLflow server; None when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def _stop_server(server: subprocess.Popen) -> None:
    """SIGTERM, which ``mlflow server`` forwards to uvicorn for a clean shutdown; the server's
    whole process group is killed if that takes more than 10 s."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _set_stop_handlers(handlers: dict[int, Any]) -> dict[int, Any]:
    """Install signal handlers and return the ones replaced. A signal the caller ignores
    (``nohup`` ignores SIGHUP, a closed terminal) stays ignored; outside the main thread, where
    Python allows no signal handlers, nothing changes."""
    previous: dict[int, Any] = {}
    try:
        for number, new in handlers.items():
            if signal.getsignal(number) is signal.SIG_IGN and new is not signal.SIG_IGN:
                continue
            previous[number] = signal.signal(number, signal.SIG_DFL if new is None else new)
    except ValueError:
        pass
    return previous


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
