"""Where a study came from: the commit of the code and the command line that started it, so a
result in the store (and every table written from it) names how to produce it again."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import dals_tune

PACKAGE_ENTRY = Path(dals_tune.__file__).resolve().parent / "__main__.py"


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


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as one would type it again: ``python -m dals_tune ...``
    for the package's own command line, ``python SCRIPT ...`` for a user's script that calls
    the API (an interactive session gives ``python``)."""
    argv = list(sys.argv if argv is None else argv)
    if not argv or not argv[0]:
        return "python"
    if Path(argv[0]).resolve() == PACKAGE_ENTRY:
        return shlex.join(["python", "-m", "dals_tune", *argv[1:]])
    return shlex.join(["python", *argv])


def hardware(address: str, nodes: int, cpus: float, gpus: float) -> str:
    """Where a study ran, in words: the Ray cluster's resources (what the trials share) and the
    processor of the machine that ran the driver, which is the trials' own on a local Ray."""
    node_words = f"{nodes} node{'s' if nodes != 1 else ''}"
    ray_words = f"Ray {address}: {node_words}, {cpus:g} CPUs, {gpus:g} GPUs"
    return f"{ray_words}; driver: {processor_name()}, {os.cpu_count()} cores{_gpu_words()}"


def processor_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


def _gpu_words() -> str:
    """``, GPU: NVIDIA H200`` where the driver sees CUDA devices (counted by name)."""
    import torch

    if not torch.cuda.is_available():
        return ""
    names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    counted = sorted({name: names.count(name) for name in names}.items())
    return ", GPU: " + ", ".join(f"{count} × {name}" for name, count in counted)
