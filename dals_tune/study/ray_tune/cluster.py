"""Where the trials run: a local Ray, or a running cluster joined with ``--address``."""

from __future__ import annotations

import logging
import socket
import threading
import warnings
from dataclasses import dataclass

import ray

from dals_tune import provenance

_NOISY_LOGGERS = ("ray", "ray.tune", "ray.train", "ray.air", "ray.data", "filelock")
# Every worker's environment. A reused worker runs each trial in a thread of its own, and
# glibc gives threads malloc arenas of their own (up to 8 per core) whose freed pages it
# keeps: a worker grew by about 0.4 GB a trial (TREC-6 with textcnn, 1.7 → 5 GB over 9
# trials, two workers killed by Ray's out-of-memory monitor at 10 GB each in a benchmark).
# Two arenas keep it flat (1.4-3.2 GB over the same trials). Its effect on speed was not
# measured side by side; the benchmark's trial times after it were in line with before.
WORKER_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}


@dataclass(frozen=True)
class Cluster:
    """What the driver is connected to."""

    address: str  # "local" or the address given
    cpus: float
    gpus: float
    nodes: int

    @property
    def hardware(self) -> str:
        """The cluster and the driver's machine in words (the study's ``dals.hardware`` tag)."""
        return provenance.hardware(self.address, self.nodes, self.cpus, self.gpus)


def connect(
    address: str | None = None, verbose: bool = False, py_modules: list[str] | None = None
) -> Cluster:
    """Start a local Ray (``address=None``) or join a running cluster (``"auto"`` or
    ``HOST:PORT``). An unreachable address raises ``ValueError`` within seconds, before
    anything is written; Ray's own logs reach the console only when ``verbose``.
    ``py_modules`` (a user's workload module or package) go to every worker through the
    job's runtime environment, on this machine and on every node of a cluster alike, with
    :data:`WORKER_ENVIRONMENT`."""
    if not verbose:
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", module="ray")
    if address not in (None, "", "local", "auto"):
        _check_reachable(address)
        _ask_gcs(address)
    if ray.is_initialized():
        ray.shutdown()
    try:
        ray.init(
            address=None if address in (None, "", "local") else address,
            include_dashboard=False,
            log_to_driver=verbose,
            logging_level=logging.INFO if verbose else logging.ERROR,
            configure_logging=True,
            runtime_env={
                "env_vars": WORKER_ENVIRONMENT,
                **({"py_modules": list(py_modules)} if py_modules else {}),
            },
        )
    except (ConnectionError, RuntimeError, ray.exceptions.RayError) as error:
        ray.shutdown()
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(
            f"cannot join the Ray cluster at {address!r} ({first_line}); start it with "
            "'ray start --head' or leave --address out for a local Ray"
        ) from None
    resources = ray.cluster_resources()
    return Cluster(
        address=address or "local",
        cpus=float(resources.get("CPU", 0)),
        gpus=float(resources.get("GPU", 0)),
        nodes=sum(1 for node in ray.nodes() if node.get("Alive")),
    )


def disconnect() -> None:
    if ray.is_initialized():
        ray.shutdown()


def _ask_gcs(address: str, seconds: float = 10.0) -> None:
    """Ask the cluster's GCS (the head's ``--port``) before ``ray.init``, which on a port where
    no GCS answers retries for minutes, and which Ray 2.60 lets fail after 20 s, without
    saying why, when the cluster wants a token. A GCS answers in milliseconds.

    ``ray start --head`` turns token authentication on by itself when ``~/.ray/auth_token``
    exists (Ray 2.60), but ``ray.init(address=HOST:PORT)`` sends a token only with
    ``RAY_AUTH_MODE=token``. So when the GCS wants a token and ``RAY_AUTH_MODE`` is unset, the
    one at hand (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``) is sent,
    as ``ray start --head`` would; a cluster without token authentication is joined without
    one (a driver in token mode cannot start actors there). No answer, or a refused token, is
    a ``ValueError``."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError
    except ImportError:  # a Ray without token authentication (< 2.52): leave it to ray.init
        return

    def answer() -> str:
        reply = ["nothing"]

        def ask() -> None:
            try:
                GcsClient(address=address)
                reply[0] = "ok"
            except AuthenticationError:
                reply[0] = "refused"
            except Exception:  # ray.init will say what is wrong, in one line
                reply[0] = "error"

        asking = threading.Thread(target=ask, daemon=True)  # GcsClient takes no timeout
        asking.start()
        asking.join(seconds)
        return reply[0]

    said = answer()
    if said == "refused" and maybe_enable_token_auth_if_token_available(warn_if_disabled=False):
        said = answer()
    if said == "nothing":
        raise ValueError(
            f"no Ray cluster answers at {address} within {seconds:g} s; give the head node's "
            "GCS port (ray start --head --port, 6379 by default), not the dashboard's"
        )
    if said == "refused":
        raise ValueError(
            f"the Ray cluster at {address} uses token authentication and refused this "
            "machine's token; set RAY_AUTH_TOKEN to the head node's (ray get-auth-token, run "
            "there), see docs/cluster.md"
        )


def _check_reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--address must be 'auto' or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as error:
        raise ValueError(
            f"cannot reach the Ray cluster at {address} ({error.strerror or error}); start it "
            "with 'ray start --head --port PORT' or leave --address out for a local Ray"
        ) from None
