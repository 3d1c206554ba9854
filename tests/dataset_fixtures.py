"""Tiny copies of every dataset in its real on-disk format, and a tiny BERT.

Each writer mirrors the format of the real files described in ``data/README.md`` (the UIUC
TREC files with their one latin-1 byte, GLUE's unquoted RTE TSVs with literal quotes, the
aclImdb tree and its tar.xz, CIFAR-10's pickled python batches and its class-per-folder JPEG
tree and tar.xz), small enough that the whole workload suite runs in seconds, and with no
download: the text model is a 2-layer BERT with a WordPiece vocabulary of the fixture words.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np

TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
TREC_WORDS = {
    "ABBR": "what does the abbreviation stand for",
    "DESC": "how did the river develop and leave",
    "ENTY": "what animal has the longest tail",
    "HUM": "who was the first president of the city",
    "LOC": "where is the highest mountain in the country",
    "NUM": "how many people live in the city",
}
IMDB_WORDS = {
    "pos": "a wonderful film with great acting , i loved it",
    "neg": "a terrible film with awful acting , i hated it",
}
RTE_WORDS = ('the man said " hello " to the city', "a man greeted the city", "nobody spoke")
CIFAR_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
UNIQUE_TOKENS = 400  # "q0" ... "q399" make every fixture example distinct


def write_trec(data_dir: Path, per_class_train: int = 10, per_class_test: int = 4) -> None:
    """``COARSE:fine text`` lines, latin-1, with the 0xF0 byte of the real training file."""
    folder = data_dir / "trec"
    folder.mkdir(parents=True, exist_ok=True)
    counter = 0
    for name, per_class in (
        ("train_5500.label", per_class_train),
        ("TREC_10.label", per_class_test),
    ):
        lines = []
        for _ in range(per_class):
            for label in TREC_CLASSES:
                lines.append(f"{label}:other {TREC_WORDS[label]} q{counter} ?".encode())
                counter += 1
        if name == "train_5500.label":
            lines[1] = b"DESC:def what is a sister\xf0city q399 ?"
        (folder / name).write_bytes(b"\n".join(lines) + b"\n")


def write_rte(data_dir: Path, train_rows: int = 40, dev_rows: int = 12) -> None:
    """GLUE's layout: a header, tab-separated, no quoting, literal ``"`` in sentences."""
    folder = data_dir / "rte"
    folder.mkdir(parents=True, exist_ok=True)
    counter = 0
    for name, rows in (("train.tsv", train_rows), ("dev.tsv", dev_rows)):
        lines = ["index\tsentence1\tsentence2\tlabel"]
        for index in range(rows):
            entails = index % 2 == 0
            second = RTE_WORDS[1] if entails else RTE_WORDS[2]
            label = "entailment" if entails else "not_entailment"
            lines.append(f"{index}\t{RTE_WORDS[0]} q{counter}\t{second}\t{label}")
            counter += 1
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_imdb_tree(root: Path, per_class_train: int = 12, per_class_test: int = 6) -> Path:
    """``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``, UTF-8, no newline, ``<br />``."""
    counter = 0
    for split, per_class in (("train", per_class_train), ("test", per_class_test)):
        for label in ("pos", "neg"):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                rating = 9 if label == "pos" else 2
                text = f"{IMDB_WORDS[label]} q{counter}<br /><br />{IMDB_WORDS[label]}"
                (folder / f"{index}_{rating}.txt").write_text(text, encoding="utf-8")
                counter += 1
    (root / "aclImdb" / "README").write_text("Large Movie Review Dataset v1.0\n")
    return root / "aclImdb"


def write_tar_xz(tree: Path, archive: Path, arcname: str) -> Path:
    """Pack ``tree`` as ``archive`` (xz), its top folder named ``arcname``."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(tree, arcname=arcname)
    return archive


def write_imdb_archive(data_dir: Path, scratch: Path) -> Path:
    tree = write_imdb_tree(scratch)
    return write_tar_xz(tree, data_dir / "imdb" / "aclImdb_labeled.tar.xz", "aclImdb")


def cifar_pixels(count: int, seed: int) -> np.ndarray:
    """Random 32×32 RGB images, (count, 32, 32, 3) uint8."""
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def write_cifar_batches(data_dir: Path, per_batch: int = 20, test_size: int = 30) -> dict:
    """The official ``cifar-10-batches-py`` layout: pickled dicts with bytes keys, data
    (N × 3072, channel planes one after another) and labels. Returns the pixels written."""
    folder = data_dir / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    written = {"train": [], "test": []}
    names = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    for number, name in enumerate(names):
        size = test_size if name == "test_batch" else per_batch
        pixels = cifar_pixels(size, seed=number)
        labels = [(number + i) % 10 for i in range(size)]
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": pixels.transpose(0, 3, 1, 2).reshape(size, -1),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(size)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written["test" if name == "test_batch" else "train"].append((pixels, labels))
    (folder / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": [c.encode() for c in CIFAR_CLASSES]}, protocol=2)
    )
    return written


def write_cifar_tree(root: Path, per_class_train: int = 6, per_class_test: int = 2) -> Path:
    """``CIFAR-10-images/{train,test}/<class>/NNNN.jpg`` (JPEG quality 75, like the copy)."""
    from PIL import Image

    tree = root / "CIFAR-10-images"
    for split, per_class in (("train", per_class_train), ("test", per_class_test)):
        for class_id, name in enumerate(CIFAR_CLASSES):
            folder = tree / split / name
            folder.mkdir(parents=True, exist_ok=True)
            pixels = cifar_pixels(per_class, seed=100 * class_id + (split == "test"))
            for index, image in enumerate(pixels):
                Image.fromarray(image).save(folder / f"{index:04d}.jpg", quality=75)
    return tree


def write_cifar_archive(data_dir: Path, scratch: Path) -> Path:
    tree = write_cifar_tree(scratch)
    return write_tar_xz(tree, data_dir / "cifar10" / "CIFAR-10-images.tar.xz", "CIFAR-10-images")


def write_numeric_csv(path: Path, rows: int = 300) -> Path:
    """Three numeric features (one with a gap) and string labels cat/dog/bird."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -3.0]
    labels = np.array(["bird", "cat", "dog"])[(x[:, 0] > 0).astype(int) + (x[:, 0] > 1)]
    lines = ["height,weight,speed,label"]
    for index, (row, label) in enumerate(zip(x, labels)):
        speed = "" if index == 5 else f"{row[2]:.5f}"
        lines.append(f"{row[0]:.5f},{row[1]:.5f},{speed},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_text_csv(path: Path, rows: int = 60) -> Path:
    lines = ["review,sentiment"]
    for index in range(rows):
        label = "pos" if index % 2 else "neg"
        lines.append(f'"{IMDB_WORDS[label]} q{index}",{label}')
    path.write_text("\n".join(lines) + "\n")
    return path


def write_tiny_bert(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT and a WordPiece tokenizer over the fixture words, saved the
    way a pretrained model folder is."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = {
        w for text in [*TREC_WORDS.values(), *IMDB_WORDS.values(), *RTE_WORDS] for w in text.split()
    }
    words |= {"other", "def", "is", "a", "sister", "?", '"', ",", "<", ">", "br", "/"}
    vocab = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
        *sorted(words), *(f"q{i}" for i in range(UNIQUE_TOKENS)),
    ]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"))
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder
