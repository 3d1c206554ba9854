"""Decode or tokenize a dataset once, then load the tensors from disk.

Decoding 60,000 JPEGs or tokenizing 50,000 reviews takes longer than a short trial, and a
study runs many trials on the same data. Each cache entry is one ``.pt`` file named by a
hash of everything its content depends on (the source files' paths, sizes and modification
times, the tokenizer, the max length, the format version), so a changed source or setting
never reads a stale entry. Entries are written to a temporary file and renamed into place,
so trials starting in parallel never read a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1


def cache_key(**parts: Any) -> str:
    text = json.dumps({"version": FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def file_fingerprint(paths: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(absolute path, size, modification time) of each file or folder: cheap to compute,
    and it changes whenever a file is replaced."""
    fingerprint = []
    for path in paths:
        stat = path.stat()
        fingerprint.append((str(path.resolve()), stat.st_size, stat.st_mtime_ns))
    return fingerprint


def load_or_build(path: Path, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The tensors stored at ``path``, building and storing them on the first call."""
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a damaged entry is rebuilt, not fatal
            path.unlink(missing_ok=True)
    content = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(content, temporary)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide a shared cache from others
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return content
