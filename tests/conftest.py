"""Fixtures that more than one test module uses."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from unprivileged import give_to_unprivileged_user


@pytest.fixture
def unprivileged_folder() -> Iterator[Path]:
    """A fresh folder the unprivileged user can enter and write to. Not under pytest's
    ``tmp_path``: that sits in a folder only its owner may enter."""
    folder = Path(tempfile.mkdtemp(prefix="dals_tune_unprivileged_")).resolve()
    try:
        give_to_unprivileged_user(folder, 0o755)
        for parent in folder.parents:
            if not parent.stat().st_mode & 0o001:
                pytest.fail(f"{parent} cannot be entered by others; set TMPDIR to another folder")
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:  # the tests leave read-only folders behind
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)
