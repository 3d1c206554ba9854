"""The text of the ``lm`` workload: documents, their split, and byte-level token windows.

Tokens are UTF-8 bytes (a vocabulary of 256, no tokenizer to download or to version), so
any text trains the same model and a loss in nats per token is a loss per byte.

Sources:

- ``lm``: the review texts of the IMDb copy the ``imdb`` workload reads (the local
  ``aclImdb`` tree or archive, else the hub), through :mod:`dals_tune.workloads.text_sources`.
  Reading the 50,000 reviews out of the xz archive takes about 10 s, longer than a short
  trial, so the texts are cached as bytes (:mod:`dals_tune.workloads.cache`).
- ``lm:PATH``: a user's text. A file is split into documents at blank lines; a folder's
  ``.txt`` files (searched recursively, in sorted path order) are one document each. Files
  are read as UTF-8, an odd undecodable byte becoming U+FFFD; a file holding NUL bytes is
  refused, since that is binary data or UTF-16, not UTF-8 text.

The split is by document, never by window: a review whose first half trained the model
would make its second half an easy validation example.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dals_tune.workloads.base import DatasetNotFoundError, DatasetUnreadableError
from dals_tune.workloads.cache import cache_key, load_or_build
from dals_tune.workloads.config import cache_dir
from dals_tune.workloads.seeding import (
    EVAL_SUBSET_STREAM,
    SUBSET_STREAM,
    TEST_STREAM,
    VALIDATION_STREAM,
    seeded_rng,
)
from dals_tune.workloads.text_sources import find_corpus, read_corpus

LM_PREFIX = "lm:"
VOCAB_SIZE = 256
SEPARATOR = 0
"""The byte between two documents of a split. No text holds it (NUL files are refused), so
unlike a blank line it marks a document boundary and nothing else, as GPT-2's
``<|endoftext|>`` does."""
VAL_FRACTION = 0.1
TEST_FRACTION = 0.1
BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")


@dataclass(frozen=True)
class Documents:
    """A corpus as documents. ``test`` holds the source's own test documents when it has
    them (IMDb); for a user's text it is ``None`` and a test split is held out."""

    source: str
    train: tuple[str, ...]
    test: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DocumentSplits:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    details: dict


def read_documents(source: str, data_dir: Path) -> Documents:
    """The documents of ``source``: ``"lm"`` (IMDb's reviews, found under ``data_dir``) or
    ``"lm:PATH"`` (a text file or a folder of ``.txt`` files)."""
    if source == LM_PREFIX.rstrip(":"):
        return read_imdb_reviews(data_dir)
    if not source.startswith(LM_PREFIX) or not source.removeprefix(LM_PREFIX):
        raise ValueError(
            f"unknown language-model source {source!r}; use 'lm' for IMDb's reviews or "
            "lm:PATH for a .txt file or a folder of .txt files"
        )
    path = Path(source.removeprefix(LM_PREFIX)).expanduser()
    if path.is_dir():
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise DatasetNotFoundError(
                f"lm: {path} holds no .txt files (searched its subfolders too); put one "
                "document per .txt file there"
            )
        documents = [text.strip() for text in map(_read_text, files)]
    elif path.is_file():
        documents = [block.strip() for block in BLANK_LINES.split(_read_text(path))]
    else:
        raise DatasetNotFoundError(
            f"lm: no file or folder at {path}; give lm:PATH with a .txt file or a folder of "
            ".txt files"
        )
    documents = [document for document in documents if document]
    if not documents:
        raise DatasetUnreadableError(
            f"lm: {path} holds no text (only empty or blank files); give it some documents"
        )
    return Documents(source=str(path), train=tuple(documents))


def read_imdb_reviews(data_dir: Path) -> Documents:
    """IMDb's 25,000 train and 25,000 test reviews (labels dropped), decoded once and then
    read from the cache."""
    try:
        corpus = find_corpus("imdb", data_dir)
    except DatasetNotFoundError as error:
        raise DatasetNotFoundError(
            f"lm: the default corpus is IMDb's reviews, but {error}; or give lm:PATH with "
            "your own text"
        ) from None

    def decode() -> dict:
        splits = read_corpus("imdb", corpus)
        return {name: _pack(list(splits[name]["text"])) for name in ("train", "test")}

    key = cache_key(dataset="lm-imdb", source=corpus.fingerprint)
    packed = load_or_build(cache_dir(data_dir) / f"documents-imdb-{key}.pt", decode)
    return Documents(
        source=corpus.source, train=_unpack(packed["train"]), test=_unpack(packed["test"])
    )


def split_documents(
    documents: Documents,
    seed: int,
    val_fraction: float = VAL_FRACTION,
    test_fraction: float = TEST_FRACTION,
    subset: int | None = None,
    eval_subset: int | None = None,
) -> DocumentSplits:
    """A seeded split by document, with the streams and meaning of
    :func:`dals_tune.workloads.splits.carve_splits`: ``subset`` caps the training documents,
    ``eval_subset`` the validation and the test documents each, and changing either leaves
    the validation split as it was.

    A user's text is split ``test_fraction`` test, ``val_fraction`` validation (both of the
    whole corpus, at least one document each), the rest training. IMDb keeps its official
    split, as the ``imdb`` workload does: validation is ``val_fraction`` of the train
    reviews and the test reviews are the test split (``test_fraction`` is not used). Pooling
    the two would buy nothing, 25,000 reviews being far more than a CPU epoch can read, and
    it would put reviews the classification workloads test on into training.
    """
    for name, value in (("subset", subset), ("eval_subset", eval_subset)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be a positive number of documents, got {value}")
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < fraction < 1:
            raise ValueError(f"{name} must lie between 0 and 1, got {fraction}")
    pool = np.arange(len(documents.train))
    if documents.test is None:
        pool, test = _hold_out(pool, test_fraction * len(pool), seeded_rng(seed, TEST_STREAM))
        test_documents = [documents.train[i] for i in test]
    else:
        test_documents = list(documents.test)
    train, val = _hold_out(
        pool, val_fraction * len(documents.train), seeded_rng(seed, VALIDATION_STREAM)
    )
    full_train = len(train)
    if subset is not None:
        train = train[_sample(len(train), subset, seeded_rng(seed, SUBSET_STREAM))]
    if eval_subset is not None:
        val = val[_sample(len(val), eval_subset, seeded_rng(seed, EVAL_SUBSET_STREAM, 0))]
        chosen = _sample(len(test_documents), eval_subset, seeded_rng(seed, EVAL_SUBSET_STREAM, 1))
        test_documents = [test_documents[i] for i in chosen]
    sizes = {"training": len(train), "validation": len(val), "test": len(test_documents)}
    if min(sizes.values()) == 0:
        counts = ", ".join(f"{name} {size}" for name, size in sizes.items())
        raise ValueError(
            f"lm: too few documents to split ({counts}); every split needs at least one, so "
            f"give {documents.source} more documents (blank lines separate them in one file)"
        )
    return DocumentSplits(
        train=tuple(documents.train[i] for i in train),
        val=tuple(documents.train[i] for i in val),
        test=tuple(test_documents),
        details={
            "source": documents.source,
            "full_train_documents": full_train,
            "subset": subset,
            "eval_subset": eval_subset,
            "validation_fraction": val_fraction,
            "test_fraction": None if documents.test is not None else test_fraction,
        },
    )


def token_windows(
    documents: Sequence[str], context: int, split: str = "corpus"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)``, both (N, context) int64: the split's documents as UTF-8 bytes
    joined by :data:`SEPARATOR`, cut into N non-overlapping windows of context + 1 bytes,
    targets being the inputs shifted by one. The ragged tail is dropped."""
    if context < 1:
        raise ValueError(f"the context must be at least one token, got {context}")
    encoded = bytes([SEPARATOR]).join(document.encode("utf-8") for document in documents)
    window = context + 1
    count = len(encoded) // window
    if count == 0:
        raise ValueError(
            f"lm: the {split} split holds {len(encoded):,} bytes, fewer than one window of "
            f"{window} (context {context} + 1); give it more documents or use a shorter context"
        )
    tokens = torch.frombuffer(bytearray(encoded[: count * window]), dtype=torch.uint8)
    tokens = tokens.long().view(count, window)
    return tokens[:, :-1], tokens[:, 1:]


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DatasetUnreadableError(
            f"lm: cannot read {path} ({error.strerror or error}); check its permissions"
        ) from None
    if b"\x00" in raw:
        raise DatasetUnreadableError(
            f"lm: {path} is not UTF-8 text (it holds NUL bytes: binary data or UTF-16?); "
            "save it as UTF-8"
        )
    return raw.decode("utf-8", errors="replace").replace("\r\n", "\n")


def _hold_out(
    pool: np.ndarray, size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held_out)`` of ``pool``, at least one held out; both sorted."""
    held = pool[_sample(len(pool), max(1, round(size)), rng)]
    return np.setdiff1d(pool, held, assume_unique=True), held


def _sample(count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``size`` of ``count`` items drawn without replacement (all of
    them when ``size >= count``), so a split keeps its source order."""
    if size >= count:
        return np.arange(count)
    return np.sort(rng.choice(count, size=size, replace=False))


def _pack(texts: list[str]) -> dict[str, torch.Tensor]:
    """Texts as one byte tensor and their lengths: loads in a fraction of the time a pickled
    list of 25,000 strings takes."""
    encoded = [text.encode("utf-8") for text in texts]
    return {
        "bytes": torch.frombuffer(bytearray(b"".join(encoded)), dtype=torch.uint8),
        "lengths": torch.tensor([len(item) for item in encoded], dtype=torch.long),
    }


def _unpack(packed: dict[str, torch.Tensor]) -> tuple[str, ...]:
    data = packed["bytes"].numpy().tobytes()
    ends = np.cumsum(packed["lengths"].numpy())
    starts = ends - packed["lengths"].numpy()
    return tuple(data[start:end].decode("utf-8") for start, end in zip(starts, ends))
