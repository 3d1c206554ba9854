"""Where a study's MLflow store is, whether it can be used, and the connection to it: opening
it, and writing to it under SQLite's write lock and MLflow's per-call limits.

Without ``--tracking-uri`` the store is SQLite at ``<out>/mlflow.db`` with artifacts under
``<out>/mlartifacts``. Every check here answers a bad ``--out`` or ``--tracking-uri`` with one
line saying what to fix, before anything is written (MLflow itself would retry an unreachable
server for minutes, or create files before failing).

Concurrency on SQLite: MLflow (3.x) opens every session with ``PRAGMA busy_timeout = 20000``
(a writer waits up to 20 s for the lock), which alone kept six processes logging 20 trials each
free of lock errors. SQLite can still answer "database is locked" at once when two deferred
transactions both try to upgrade to a write lock, so each write is also retried
(:func:`retry`: exponential backoff, 0.05 s doubling, ~13 s in all) when the error says the
database is locked. Open the store once (:func:`connect`) before starting worker processes, so
the schema is created by one process only; two processes opening a new store on one ``--out``
take turns on a file lock.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

# Before MLflow is imported: no usage telemetry (no network), no "View run at" URL prints. The
# UI server (``tracking_ui``) inherits them too.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # Tracker.document

import mlflow
from mlflow.entities import Metric, Param, RunTag

# Schema creation logs a few INFO lines per new store; keep the driver's output readable.
for _name in ("alembic", "mlflow.store.db.utils", "mlflow.store.tracking.sqlalchemy_store"):
    logging.getLogger(_name).setLevel(logging.WARNING)

STORE_FILE = "mlflow.db"
ARTIFACTS_FOLDER = "mlartifacts"
_LOCK_FILE = ".mlflow.lock"
_BATCH_METRICS = 1000  # MLflow's per-call limits for log_batch
_BATCH_PARAMS = 100
_BATCH_TAGS = 100
_T = TypeVar("_T")


def connect(
    out: Path | str, tracking_uri: str | None = None
) -> tuple[mlflow.MlflowClient, str, str | None]:
    """Open (and create if needed) the store a study writes to: ``(client, tracking URI,
    artifact root)``, the artifact root a file URI, or None where the store chooses.

    Without ``tracking_uri`` the store is SQLite at ``<out>/mlflow.db`` with artifacts under
    ``<out>/mlartifacts`` (absolute paths). A given URI is used as is. A folder that cannot be
    written, an unknown scheme or an unreachable server raises ``ValueError`` with one line
    saying what to fix, before anything is written to the store.
    """
    out = Path(out).expanduser().absolute()
    if tracking_uri is None:
        _check_writable_folder(out, "--out")
        uri = f"sqlite:///{out / STORE_FILE}"
        artifact_root: str | None = (out / ARTIFACTS_FOLDER).as_uri()
    else:
        uri = tracking_uri
        artifact_root = None
        check_uri(uri)
    # Opening a new SQLite store creates its schema; two studies starting at once on one --out
    # would both run MLflow's migrations and one would fail, so they take turns.
    lock = _file_lock(out / _LOCK_FILE) if tracking_uri is None else contextlib.nullcontext()
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
    return client, uri, artifact_root


def check_store(out: Path | str, tracking_uri: str | None = None) -> None:
    """What :func:`connect` checks, creating nothing: a study calls it before it starts
    Ray, so a bad ``--out`` or ``--tracking-uri`` is one line within a second and leaves no
    folder behind."""
    if tracking_uri is None:
        _check_writable_folder(Path(out).expanduser().absolute(), "--out", create=False)
    else:
        check_uri(tracking_uri, create=False)


def require_existing_store(out: Path | str, tracking_uri: str | None = None) -> None:
    """For a command that reads a store a study wrote: a SQLite store that does not exist is
    refused in one line, instead of an empty one being created."""
    if tracking_uri is None:
        path = Path(out).expanduser().absolute() / STORE_FILE
    elif urlparse(tracking_uri).scheme.split("+")[0] == "sqlite":
        path = Path(tracking_uri.removeprefix("sqlite:///").split("?")[0]).absolute()
    else:
        path = None
    if path is not None and not path.is_file():
        raise ValueError(
            f"no study store at {path}; run python -m dals_tune search --out {out} first "
            "(or pass --tracking-uri)"
        )


def check_uri(uri: str, create: bool = True) -> None:
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


def retry(call: Callable[[], _T], attempts: int = 8) -> _T:
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


def log_batch(
    client: mlflow.MlflowClient,
    run_id: str,
    metrics: Sequence[Metric] = (),
    params: Sequence[Param] = (),
    tags: Mapping[str, str] | None = None,
) -> None:
    """Log to one run in as many calls as MLflow's per-call limits need, each retried."""
    run_tags = [RunTag(key, value) for key, value in (tags or {}).items()]
    for start in range(0, len(params), _BATCH_PARAMS):
        chunk = list(params[start : start + _BATCH_PARAMS])
        retry(lambda chunk=chunk: client.log_batch(run_id, params=chunk))
    for start in range(0, len(run_tags), _BATCH_TAGS):
        chunk = run_tags[start : start + _BATCH_TAGS]
        retry(lambda chunk=chunk: client.log_batch(run_id, tags=chunk))
    for start in range(0, len(metrics), _BATCH_METRICS):
        chunk = list(metrics[start : start + _BATCH_METRICS])
        retry(lambda chunk=chunk: client.log_batch(run_id, metrics=chunk))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block."""
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
