"""``python -m dals_tune ui``: MLflow's own UI served on a study store, in the foreground.

The server is ``python -m mlflow server`` in a child process: one uvicorn worker, no job
runner, MLflow's security middleware on. This module checks the store and the port before
starting it, waits until it answers, prints direct links to the latest study (its parent
run, and the runs table showing only its runs), and stops it cleanly on Ctrl-C, SIGTERM or
SIGHUP. The server inherits the environment that importing ``tracking_store`` sets (no MLflow
telemetry).
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlparse

from dals_tune.tracking_store import ARTIFACTS_FOLDER, STORE_FILE, check_uri
from dals_tune.tracking_tags import PARENT_TAG

# Hosts MLflow's security middleware accepts by default (with private addresses); any other
# --host is added to its allowlist, so the printed address works.
_DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::")
# MLflow 3's UI chooses its views by this query parameter (else the browser's last choice,
# GenAI on a fresh profile), not by the experiment's kind tag: the links name the model
# training views, and the UI keeps the parameter as one navigates from them.
_MODEL_TRAINING_VIEW = {"workflowType": "machine_learning"}


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
    addresses, plus ``host``). Prints ``MLflow UI: http://HOST:PORT`` once the server answers,
    then the links of :func:`study_links`. Ctrl-C (or SIGTERM) stops the server and returns 0.

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
        base_url = f"http://{_url_host(host)}:{port}"
        links = study_links(base_url, out, tracking_uri)  # while the server starts
        if _wait_until_answering(server, host, port):
            print(f"MLflow UI: {base_url}  (Ctrl-C to stop)", flush=True)
            print("\n".join(links), flush=True)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _set_stop_handlers(previous)
        _stop_server(server)


def study_links(base_url: str, out: str | Path, tracking_uri: str | None = None) -> list[str]:
    """Lines with direct links to the store's latest study: its parent run's page (the
    winner, the leaderboard, the plots) and the experiment's runs table filtered to that
    study's trials and re-runs, both in MLflow's model training views. A store without a
    study, or one that cannot be read, gets one line saying so: the UI is served anyway."""
    from dals_tune import tracking

    try:
        studies = tracking.open_existing_store(out, tracking_uri).all_studies()
    except Exception as error:  # MLflow raises many kinds; the UI is still worth serving
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return [f"(no links to the latest study: {reason})"]
    if not studies:
        return ["(no study in this store yet: python -m dals_tune search writes one)"]
    study = studies[0]
    experiment, parent = study["experiment_id"], study["run_id"]
    view = urlencode(_MODEL_TRAINING_VIEW)
    # Filtered and sorted by anything but the start time, the UI lists the children as
    # rows of their own, not folded under the study's run; by name, grouped by strategy.
    only_its_runs = urlencode(
        {
            **_MODEL_TRAINING_VIEW,
            "searchFilter": f"tags.`{PARENT_TAG}` = '{parent}'",
            "orderByKey": "tags.`mlflow.runName`",
            "orderByAsc": "true",
        },
        quote_via=quote,
    )
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(study["start_time"] / 1000))
    return [
        f"latest study ({study['name']}, started {started}):",
        f"  its run:  {base_url}/#/experiments/{experiment}/runs/{parent}?{view}",
        f"  its runs: {base_url}/#/experiments/{experiment}/runs?{only_its_runs}",
    ]


def _ui_store_options(out: str | Path, tracking_uri: str | None) -> list[str]:
    """``mlflow server``'s store options; refuses a store that does not exist yet (the server
    would create an empty one)."""
    if tracking_uri is None:
        folder = Path(out).expanduser().absolute()
        store = folder / STORE_FILE
        if not store.is_file():
            raise ValueError(
                f"no study store at {store}; run python -m dals_tune search --out {out} first "
                "(or pass --tracking-uri)"
            )
        artifacts = (folder / ARTIFACTS_FOLDER).as_uri()
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
        check_uri(tracking_uri)
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
