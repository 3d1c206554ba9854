"""``search --address`` on a real two-node Ray cluster, started on this machine with ``ray start``.

The head and a second node have one CPU each and a trial takes one CPU, so two trials running
at once run on different nodes. The seed re-runs (one per strategy, queued together) run two
at once; the search does too, with ``TUNE_MAX_PENDING_TRIALS_PG=2`` (with a searcher, Tune
otherwise asks for the next trial only once the last one has started, and these trials end
before a second node's worker has imported torch, so the head takes them all).

Each node has its own ``--temp-dir`` (so no ``/tmp/ray/ray_current_cluster`` points another
test's ``ray.init()`` at this cluster) and its own ports; the cluster has its own token. The
driver is given the token alone, not ``RAY_AUTH_MODE``, as a user who copied the token would
be. ``ray stop`` would stop every Ray on the machine, other tests' included, so the fixture
stops exactly what its ``ray start`` calls left behind: each runs in a session of its own, and
every process it starts (GCS, raylet, agents, trial workers) stays in that session.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import user_modules

from dals_tune import tracking

RAY = Path(sys.executable).with_name("ray")
START_TIMEOUT_S = 120
STOP_GRACE_S = 5  # then SIGKILL, as `ray stop` does after its grace period
# The ids and CPUs of the cluster's live nodes once both have joined, from a driver of its own
# (this test process never holds a Ray connection).
LIST_NODES = """
import json, sys, time, ray
ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False,
         logging_level="ERROR")
deadline = time.monotonic() + 60
while True:
    alive = [n for n in ray.nodes() if n["Alive"]]
    if len(alive) >= 2 or time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(json.dumps({n["NodeID"]: n["Resources"].get("CPU", 0) for n in alive}))
"""


@dataclass
class LocalCluster:
    address: str  # 127.0.0.1:PORT, what --address is given
    environment: dict[str, str]  # a driver's: this environment plus the cluster's token
    temp_dir: Path
    sessions: list[int] = field(default_factory=list)  # one per `ray start`
    node_cpus: dict[str, float] = field(default_factory=dict)  # node id -> CPUs

    @property
    def node_environment(self) -> dict[str, str]:
        # `ray start --address` (and a plain ray.init) send the token only when told to.
        return {**self.environment, "RAY_AUTH_MODE": "token"}


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[LocalCluster]:
    # Short: Ray's socket paths under the temp dir must stay within the 107-byte limit.
    temp_dir = Path(tempfile.mkdtemp(prefix="dals-ray-", dir="/tmp"))
    unset = {"RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"}
    environment = {key: value for key, value in os.environ.items() if key not in unset}
    environment.update(RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_USAGE_STATS_ENABLED="0")
    head_port = free_port()
    cluster = LocalCluster(f"127.0.0.1:{head_port}", environment, temp_dir)
    common = ["--num-cpus", "1", "--num-gpus", "0", "--object-store-memory", str(100 * 2**20)]
    try:
        start_node(
            cluster,
            "head",
            ["--head", "--port", str(head_port), "--include-dashboard", "false",
             "--dashboard-port", str(free_port()), *common],
        )  # fmt: skip
        start_node(cluster, "worker", ["--address", cluster.address, *common])
        cluster.node_cpus = list_nodes(cluster)
        yield cluster
    finally:
        stop_sessions(cluster.sessions)
        left = cluster_processes(cluster)
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left running after the test: {left}"


@pytest.mark.slow
def test_a_port_where_no_ray_cluster_answers_is_one_line_and_exit_2(tmp_path):
    """Before ``connect`` asked the GCS first, ``ray.init`` retried here for minutes."""
    out = tmp_path / "runs"
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, says nothing
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        driver = search(address, dict(os.environ), out=out)
        seconds = time.monotonic() - started
    assert driver.returncode == 2, driver.stdout + driver.stderr
    assert f"error: no Ray cluster answers at {address}" in driver.stderr
    assert seconds < 60 and not out.exists()


@pytest.mark.slow
def test_search_on_a_two_node_cluster_runs_trials_on_both_nodes(two_node_cluster, tmp_path):
    cluster = two_node_cluster
    assert sorted(cluster.node_cpus.values()) == [1.0, 1.0], cluster.node_cpus
    out = tmp_path / "runs"
    # A user's own workload, a package in the folder the study runs from and on no path:
    # the workers of both nodes get it through the job's runtime environment.
    package = tmp_path / "cluster_tasks"
    user_modules.write_module(package, "__init__", "")
    source = user_modules.REGRESSION.replace("size=480", "size=4800")
    for small, large in (
        ("[:320]", "[:4000]"),
        ("[320:400]", "[4000:4400]"),
        ("[400:]", "[4400:]"),
    ):
        source = source.replace(small, large)
    user_modules.write_module(package, "regression", source)
    driver = search(
        cluster.address,
        {**cluster.environment, "TUNE_MAX_PENDING_TRIALS_PG": "2", "PYTHONPATH": ""},
        "--workload", "cluster_tasks.regression:build", "--strategies", "cosine_sgd,adamw",
        "--samples", "3", "--max-epochs", "2", "--seeds", "1", out=out,
    )  # fmt: skip
    printed = driver.stdout + driver.stderr
    assert driver.returncode == 0, printed[-4000:]
    assert f"Ray: {cluster.address}, 2 CPUs" in printed

    tracker = tracking.open_store(out)
    (study,) = tracker.all_studies()
    assert study["status"] == "FINISHED"
    runs = tracker.trials_of(study["run_id"])
    assert sorted(run["tags"]["kind"] for run in runs) == ["rerun"] * 2 + ["trial"] * 6
    node_of = {run["name"]: run["tags"].get("node_id", "") for run in runs}
    assert all(node_of.values()), node_of
    assert set(node_of.values()) == set(cluster.node_cpus), node_of
    assert all(run["tags"]["status"] in ("completed", "pruned") for run in runs)
    assert all("best_val_rmse" in run["metrics"] for run in runs)


@pytest.mark.slow
def test_a_refused_token_is_one_line_and_exit_2(two_node_cluster, tmp_path):
    out = tmp_path / "runs"
    wrong = {**two_node_cluster.environment, "RAY_AUTH_TOKEN": "0" * 64}
    driver = search(two_node_cluster.address, wrong, out=out)
    assert driver.returncode == 2, driver.stdout + driver.stderr
    (error,) = [line for line in driver.stderr.splitlines() if line.startswith("error: ")]
    assert "uses token authentication and refused this machine's token" in error
    assert not out.exists()


def search(
    address: str, environment: dict[str, str], *arguments: str, out: Path
) -> CompletedProcess:
    """``python -m dals_tune search --address ADDRESS ... --out OUT`` as a user runs it, from
    the folder of ``out``."""
    command = ["search", "--address", address, *arguments, "--out", str(out)]
    return subprocess.run(
        [sys.executable, "-m", "dals_tune", *command],
        env=environment,
        cwd=out.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# ----- starting and stopping the cluster ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_node(cluster: LocalCluster, name: str, arguments: list[str]) -> None:
    """``ray start`` in a session of its own, recorded before anything can fail, so that the
    fixture stops whatever it left running."""
    command = [
        str(RAY), "start", *arguments, "--temp-dir", str(cluster.temp_dir / name),
        "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats",
    ]  # fmt: skip
    starter = subprocess.Popen(
        command,
        env=cluster.node_environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    cluster.sessions.append(starter.pid)
    try:
        printed, _ = starter.communicate(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        starter.kill()
        printed, _ = starter.communicate()
    if starter.returncode != 0:
        raise RuntimeError(f"ray start ({name}) failed:\n{printed[-3000:]}")


def list_nodes(cluster: LocalCluster) -> dict[str, float]:
    listed = subprocess.run(
        [sys.executable, "-c", LIST_NODES, cluster.address],
        env=cluster.node_environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(listed.stdout.strip().splitlines()[-1])


def stop_sessions(sessions: list[int]) -> None:
    """SIGTERM every process of the sessions, then SIGKILL what is left after a grace period
    (the GCS and the raylets take longer than that to exit on their own)."""
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_in(sessions):
            with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                os.kill(pid, signal_number)
        deadline = time.monotonic() + STOP_GRACE_S
        while processes_in(sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not processes_in(sessions):
            return


def processes_in(sessions: list[int]) -> list[int]:
    """Live (not zombie) processes whose session is one of ``sessions``; never this one's."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        pid, state, session = int(stat.parent.name), fields[0], int(fields[3])
        if session in sessions and state != "Z" and pid != os.getpid():
            found.append(pid)
    return found


def cluster_processes(cluster: LocalCluster) -> list[str]:
    """What still runs of the cluster: processes of its sessions, or any other process whose
    command line names its temp dir."""
    found = [str(pid) for pid in processes_in(cluster.sessions)]
    marker = str(cluster.temp_dir).encode()
    for command_line in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = command_line.read_bytes()
        except OSError:
            continue
        if marker in text and int(command_line.parent.name) != os.getpid():
            found.append(f"{command_line.parent.name}: {text[:200]!r}")
    return found


def test_every_worker_starts_with_the_worker_environment():
    """The malloc setting that keeps a reused worker's memory flat reaches the workers (of a
    local Ray here; a cluster's job gets the same runtime environment)."""
    import ray

    from dals_tune.study.ray_tune import cluster

    cluster.connect()
    try:

        @ray.remote(num_cpus=1)
        def environment() -> dict:
            return {key: os.environ.get(key) for key in cluster.WORKER_ENVIRONMENT}

        assert ray.get(environment.remote()) == cluster.WORKER_ENVIRONMENT
    finally:
        ray.shutdown()
