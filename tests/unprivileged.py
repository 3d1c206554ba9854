"""Run a few lines of Python as a user who cannot write where root can.

Root writes into a read-only folder anyway, and CI runs the suite as root, so a read-only
``--out`` is only refused for a user without that privilege. ``run_unprivileged`` starts a
Python that imports what the check needs while still root (the interpreter's standard
library may sit in root's home, which ``nobody`` cannot read), then drops to ``nobody`` for
good and runs the code. Run by anyone else, it runs the code as that user.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
UNPRIVILEGED_USER = "nobody"

_PROGRAM = """\
import importlib, os, pwd, sys
for name in {preload!r}:
    importlib.import_module(name)
{first}
if os.geteuid() == 0:
    user = pwd.getpwnam({user!r})
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
print(f"uid={{os.geteuid()}}", flush=True)
"""


def unprivileged_user() -> tuple[int, int]:
    """(uid, gid) the code will run as: ``nobody`` for root, else the current user."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        pytest.fail(f"these checks run as root need a {UNPRIVILEGED_USER!r} user to drop to")
    return user.pw_uid, user.pw_gid


def give_to_unprivileged_user(path: Path, mode: int) -> None:
    """Make ``path`` the unprivileged user's, with ``mode``."""
    if os.geteuid() == 0:
        os.chown(path, *unprivileged_user())
    path.chmod(mode)


def run_unprivileged(
    code: str, cwd: Path, preload: tuple[str, ...] = (), first: str = ""
) -> subprocess.CompletedProcess:
    """Run ``code`` as the unprivileged user after importing ``preload`` and running
    ``first`` (one line, e.g. a call that imports what a library loads lazily) as the
    current one. Its first line of stdout is ``uid=N``, the user it ran as."""
    program = _PROGRAM.format(preload=list(preload), first=first, user=UNPRIVILEGED_USER) + code
    home = cwd / "home"
    home.mkdir(exist_ok=True)
    give_to_unprivileged_user(home, 0o700)
    environment = {
        **os.environ,
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(REPOSITORY), str(TESTS)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "DALS_TUNE_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ran_as(result: subprocess.CompletedProcess) -> int:
    """The uid the code ran as (the first line it printed)."""
    first = result.stdout.splitlines()[0] if result.stdout else ""
    assert first.startswith("uid="), result.stdout + result.stderr
    return int(first.removeprefix("uid="))
