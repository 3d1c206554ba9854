"""Where a study came from: the commit of the code and the command line that started it, so a
result in the store (and every table written from it) names how to produce it again."""

from __future__ import annotations

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
