"""Where the text datasets come from: local files in their original formats, or the hub.

Every source ends as the same thing, a ``{"train": Dataset, "test": Dataset}`` of Hugging
Face ``datasets.Dataset`` objects with a ``text`` column (and ``text_pair`` for sentence
pairs) and an integer ``label`` column in the task's class order, so the path from there on
(tokenize, split, batch) is one path.

Local copies (under the data folder) are preferred, and when they exist the network is
never touched:

- ``trec/train_5500.label`` and ``trec/TREC_10.label``: UIUC question classification, one
  ``COARSE:fine question`` per line, latin-1 (one byte of the training file is not UTF-8);
  the label is the part before ``:``.
- ``rte/train.tsv`` and ``rte/dev.tsv``: GLUE RTE, tab-separated with a header, no quoting
  (sentences contain literal ``"``). GLUE's test labels are hidden, so dev is the test split.
- ``imdb/aclImdb/{train,test}/{pos,neg}/*.txt`` or an archive of that tree
  (``imdb/aclImdb*.tar.xz`` / ``.tar.gz``), read as a stream. ``<br />`` breaks become spaces.

On the hub: ``CogComp/trec``, ``nyu-mll/glue`` (rte) and ``stanfordnlp/imdb``, with their
older short names as fallbacks.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dals_tune.workloads.base import DatasetNotFoundError, DatasetUnreadableError
from dals_tune.workloads.cache import file_fingerprint
from dals_tune.workloads.hub import hub_reachable

TREC_CLASSES = ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")
RTE_CLASSES = ("entailment", "not_entailment")
IMDB_CLASSES = ("neg", "pos")

Splits = dict[str, Any]  # {"train": datasets.Dataset, "test": datasets.Dataset}


@dataclass(frozen=True)
class Corpus:
    """A located dataset: ``load`` reads it (skipped when the token cache already has it),
    ``fingerprint`` changes whenever its content may have."""

    source: str
    fingerprint: Any
    load: Callable[[], Splits]


def find_corpus(task: str, data_dir: Path) -> Corpus:
    local = LOCAL_FINDERS[task](data_dir)
    if local is not None:
        return local
    if hub_reachable():
        return HUB_LOADERS[task]()
    raise DatasetNotFoundError(
        f"{task}: no local copy in {data_dir / LOCAL_FOLDERS[task]} ({EXPECTED[task]}) and the "
        f"Hugging Face hub is unreachable; put the files there or run online"
    )


def read_corpus(task: str, corpus: Corpus) -> Splits:
    """``corpus.load()``, with a damaged copy (a truncated archive, bytes that are not text)
    refused in one line that names it."""
    try:
        return corpus.load()
    except (DatasetNotFoundError, DatasetUnreadableError):
        raise
    except Exception as error:
        lines = str(error).strip().splitlines()
        reason = f"{type(error).__name__}: {lines[0][:160]}" if lines else type(error).__name__
        raise DatasetUnreadableError(
            f"{task}: cannot read {corpus.source} ({reason}); the copy looks damaged: replace it"
        ) from error


LOCAL_FOLDERS = {"trec6": "trec", "rte": "rte", "imdb": "imdb"}
EXPECTED = {
    "trec6": "expected train_5500.label and TREC_10.label, the UIUC files",
    "rte": "expected train.tsv and dev.tsv from GLUE's RTE",
    "imdb": "expected the aclImdb/ folder or aclImdb_labeled.tar.xz",
}


# --- TREC -------------------------------------------------------------------------------


def find_local_trec(data_dir: Path) -> Corpus | None:
    train, test = data_dir / "trec" / "train_5500.label", data_dir / "trec" / "TREC_10.label"
    if not (train.is_file() and test.is_file()):
        return None
    return Corpus(
        source=str(train.parent),
        fingerprint=file_fingerprint([train, test]),
        load=lambda: {"train": read_trec_file(train), "test": read_trec_file(test)},
    )


def read_trec_file(path: Path):
    texts, labels = [], []
    for number, line in enumerate(path.read_bytes().decode("latin-1").splitlines(), 1):
        if not line.strip():
            continue
        label, _, text = line.partition(" ")
        coarse = label.split(":", 1)[0]
        if coarse not in TREC_CLASSES:
            raise DatasetUnreadableError(
                f"{path}:{number}: expected 'COARSE:fine question' with COARSE one of "
                f"{', '.join(TREC_CLASSES)}, got {line[:40]!r}"
            )
        texts.append(text.strip())
        labels.append(TREC_CLASSES.index(coarse))
    if not texts:
        raise DatasetUnreadableError(
            f"{path} holds no questions; expected 'COARSE:fine question' lines, the UIUC file"
        )
    return _dataset({"text": texts, "label": labels})


def load_hub_trec() -> Corpus:
    dataset, name = _load_hub("trec6", [("CogComp/trec",), ("trec",)])

    def convert(split: Any) -> Any:
        names = split.features["coarse_label"].names
        return _dataset(
            {
                "text": list(split["text"]),
                "label": [TREC_CLASSES.index(names[i]) for i in split["coarse_label"]],
            }
        )

    return _hub_corpus(name, dataset, {"train": "train", "test": "test"}, convert)


# --- RTE --------------------------------------------------------------------------------


def find_local_rte(data_dir: Path) -> Corpus | None:
    train, dev = data_dir / "rte" / "train.tsv", data_dir / "rte" / "dev.tsv"
    if not (train.is_file() and dev.is_file()):
        return None
    return Corpus(
        source=str(train.parent),
        fingerprint=file_fingerprint([train, dev]),
        load=lambda: {"train": read_rte_file(train), "test": read_rte_file(dev)},
    )


def read_rte_file(path: Path):
    """Split on tabs, never on quotes: GLUE's TSVs are unquoted and contain ``"``."""
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].rstrip("\r").split("\t")
    missing = [c for c in ("sentence1", "sentence2", "label") if c not in header]
    if missing:
        raise DatasetUnreadableError(f"{path}: header lacks {', '.join(missing)}; it has {header}")
    first, second, label = (header.index(c) for c in ("sentence1", "sentence2", "label"))
    texts, pairs, labels = [], [], []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != len(header) or fields[label] not in RTE_CLASSES:
            raise DatasetUnreadableError(
                f"{path}:{number}: expected {len(header)} tab-separated fields ending in "
                f"{' or '.join(RTE_CLASSES)}, got {len(fields)} fields"
            )
        texts.append(fields[first])
        pairs.append(fields[second])
        labels.append(RTE_CLASSES.index(fields[label]))
    if not texts:
        raise DatasetUnreadableError(f"{path} holds no sentence pairs below its header")
    return _dataset({"text": texts, "text_pair": pairs, "label": labels})


def load_hub_rte() -> Corpus:
    dataset, name = _load_hub("rte", [("nyu-mll/glue", "rte"), ("glue", "rte")])

    def convert(split: Any) -> Any:
        names = split.features["label"].names
        return _dataset(
            {
                "text": list(split["sentence1"]),
                "text_pair": list(split["sentence2"]),
                "label": [RTE_CLASSES.index(names[i]) for i in split["label"]],
            }
        )

    return _hub_corpus(name, dataset, {"train": "train", "test": "validation"}, convert)


# --- IMDb -------------------------------------------------------------------------------

IMDB_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/([^/]+\.txt)$")


def find_local_imdb(data_dir: Path) -> Corpus | None:
    tree = data_dir / "imdb" / "aclImdb"
    if (tree / "train").is_dir() and (tree / "test").is_dir():
        folders = [tree / split / label for split in ("train", "test") for label in IMDB_CLASSES]
        existing = [folder for folder in folders if folder.is_dir()]
        return Corpus(
            source=str(tree),
            fingerprint=file_fingerprint(existing),
            load=lambda: read_imdb_tree(tree),
        )
    archives = sorted((data_dir / "imdb").glob("aclImdb*.tar*"))
    if archives:
        return Corpus(
            source=str(archives[0]),
            fingerprint=file_fingerprint(archives[:1]),
            load=lambda: read_imdb_archive(archives[0]),
        )
    return None


def read_imdb_tree(tree: Path) -> Splits:
    reviews = [
        (f"{split}/{label}/{path.name}", path.read_text(encoding="utf-8"))
        for split in ("train", "test")
        for label in IMDB_CLASSES
        for path in sorted((tree / split / label).glob("*.txt"))
    ]
    return _imdb_splits(reviews, str(tree))


def read_imdb_archive(archive_path: Path) -> Splits:
    reviews = []
    with tarfile.open(archive_path, "r:*") as archive:
        for member in archive:
            match = IMDB_MEMBER.search(member.name)
            if member.isfile() and match:
                text = archive.extractfile(member).read().decode("utf-8")
                reviews.append(("/".join(match.groups()), text))
    return _imdb_splits(reviews, str(archive_path))


def _imdb_splits(reviews: list[tuple[str, str]], where: str) -> Splits:
    reviews.sort()
    splits = {}
    for split in ("train", "test"):
        chosen = [(name, text) for name, text in reviews if name.startswith(f"{split}/")]
        if not chosen:
            raise DatasetNotFoundError(f"imdb: {where} has no {split}/pos or {split}/neg reviews")
        splits[split] = _dataset(
            {
                "text": [clean_review(text) for _, text in chosen],
                "label": [IMDB_CLASSES.index(name.split("/")[1]) for name, _ in chosen],
            }
        )
    return splits


def clean_review(text: str) -> str:
    return text.replace("<br />", " ")


def load_hub_imdb() -> Corpus:
    dataset, name = _load_hub("imdb", [("stanfordnlp/imdb",), ("imdb",)])

    def convert(split: Any) -> Any:
        return _dataset(
            {"text": [clean_review(t) for t in split["text"]], "label": list(split["label"])}
        )

    return _hub_corpus(name, dataset, {"train": "train", "test": "test"}, convert)


# --- shared -----------------------------------------------------------------------------


def _dataset(columns: dict[str, list]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict(columns)


def _load_hub(task: str, candidates: list[tuple[str, ...]]) -> tuple[Any, str]:
    from datasets import load_dataset

    errors = []
    for arguments in candidates:
        try:
            return load_dataset(*arguments), "/".join(arguments)
        except Exception as error:  # try the next name; report them all if none loads
            errors.append(f"{'/'.join(arguments)}: {str(error).splitlines()[0][:120]}")
    raise DatasetNotFoundError(f"{task}: the hub is reachable but {'; '.join(errors)}")


def _hub_corpus(
    name: str, dataset: Any, splits: dict[str, str], convert: Callable[[Any], Any]
) -> Corpus:
    fingerprint = [name, *(getattr(dataset[s], "_fingerprint", s) for s in splits.values())]
    return Corpus(
        source=f"hub:{name}",
        fingerprint=fingerprint,
        load=lambda: {ours: convert(dataset[theirs]) for ours, theirs in splits.items()},
    )


LOCAL_FINDERS: dict[str, Callable[[Path], Corpus | None]] = {
    "trec6": find_local_trec,
    "rte": find_local_rte,
    "imdb": find_local_imdb,
}
HUB_LOADERS: dict[str, Callable[[], Corpus]] = {
    "trec6": load_hub_trec,
    "rte": load_hub_rte,
    "imdb": load_hub_imdb,
}
