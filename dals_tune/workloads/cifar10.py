"""CIFAR-10 from a local copy (or torchvision's download), decoded once, augmented on tensors.

Local copies are looked for under the data folder, in this order:

1. the official python batches: ``cifar-10-batches-py/`` (``data_batch_1..5``,
   ``test_batch``), directly in the data folder or in ``cifar10/``;
2. a class-per-folder image tree, ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``, in
   ``cifar10/CIFAR-10-images/``, ``CIFAR-10-images/`` or ``cifar10/``; class ids follow the
   sorted folder names, which for CIFAR-10's ten names is the official label order;
3. an archive of either (``cifar10/*.tar.xz``, ``*.tar.gz``, ``*.tar``), read as a stream,
   so the 60,000 files are never unpacked to disk.

With no local copy, torchvision downloads the python batches when the host is reachable
(never when ``DALS_TUNE_OFFLINE=1``). Whatever the source, the images are decoded once into
a uint8 tensor (N, 3, 32, 32) and cached (see :mod:`dals_tune.workloads.cache`), so a trial
starts in about a second and an epoch is never bottlenecked by PIL on a few CPU cores.

Augmentation (training only): random crop 32 with 4 pixels of zero padding and a random
horizontal flip, done for a whole batch at once with one gather on the device, then
normalization with the CIFAR-10 channel statistics. Its randomness comes from a generator
seeded by ``(seed, epoch)``.

Target: 75 % validation accuracy. The SmallConvNet with this augmentation reaches about
80 % on lossless CIFAR-10 within 30 epochs; the stored JPEG copy costs a point or two.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dals_tune.objective import Objective
from dals_tune.workloads.base import DatasetNotFoundError, DatasetUnreadableError, Split, Workload
from dals_tune.workloads.cache import cache_key, file_fingerprint, load_or_build
from dals_tune.workloads.config import WorkloadConfig, cache_dir
from dals_tune.workloads.models import SmallConvNet, resnet18
from dals_tune.workloads.splits import carve_splits

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
CROP_PADDING = 4
BATCH_SIZE = 128  # examples per training step unless --batch-size says otherwise
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
TREE_FOLDERS = ("cifar10/CIFAR-10-images", "CIFAR-10-images", "cifar10")
BATCH_FOLDERS = ("cifar-10-batches-py", "cifar10/cifar-10-batches-py")
ARCHIVE_PATTERNS = ("cifar10/*.tar.xz", "cifar10/*.tar.gz", "cifar10/*.tar", "*cifar*.tar.*")
MODELS = {"small_convnet": SmallConvNet, "resnet18": resnet18}
DOWNLOAD_HOST = ("www.cs.toronto.edu", 443)


def build_cifar10(config: WorkloadConfig) -> Workload:
    if config.regime_or("scratch") != "scratch":
        raise ValueError(
            "cifar10 trains from scratch only (no pretrained weights are downloaded); "
            "use regime 'scratch'"
        )
    model_name = config.model or "small_convnet"
    if model_name not in MODELS:
        raise ValueError(f"unknown cifar10 model {model_name!r}; choose one of {', '.join(MODELS)}")
    images, source = load_images(config.data_dir)
    train = Split(images["train_images"], images["train_labels"])
    test = Split(images["test_images"], images["test_labels"])
    carved = carve_splits(train, test, config.seed, config.subset, config.eval_subset)
    build_model = MODELS[model_name]
    return Workload(
        id="cifar10",
        regime="scratch",
        num_classes=len(CLASSES),
        objective=Objective(target=0.75),
        seed=config.seed,
        device=config.device,
        batch_size=config.batch_size or BATCH_SIZE,
        eval_batch_size=1000,
        train_split=carved.train,
        val_split=carved.val,
        test_split=carved.test,
        model_factory=lambda: build_model(num_classes=len(CLASSES)),
        make_batch=image_batch,
        augments=True,
        class_names=tuple(images["classes"]),
        details={**carved.details, "model": model_name, "source": source},
    )


def image_batch(split: Split, index: torch.Tensor, generator: torch.Generator | None):
    """Float, normalized images of ``index``; cropped and flipped when ``generator`` is given
    (training)."""
    images = split.inputs[index.to(split.inputs.device)]
    if generator is not None:
        images = random_crop_and_flip(images, generator)
    mean = torch.tensor(MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, 3, 1, 1)
    return (images.float().div_(255) - mean) / std


def random_crop_and_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """torchvision's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``, one random
    draw per image, as a single gather: a flip is the crop's column indices reversed."""
    count, channels, height, width = images.shape
    offsets = torch.randint(0, 2 * CROP_PADDING + 1, (count, 2), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    rows = offsets[:, :1] + torch.arange(height)
    columns = offsets[:, 1:] + torch.arange(width)
    columns = torch.where(flips[:, None], columns.flip(1), columns)
    device = images.device
    padded = F.pad(images, (CROP_PADDING,) * 4)
    return padded[
        torch.arange(count, device=device)[:, None, None, None],
        torch.arange(channels, device=device)[None, :, None, None],
        rows.to(device)[:, None, :, None],
        columns.to(device)[:, None, None, :],
    ]


def load_images(data_dir: Path) -> tuple[dict, str]:
    """The decoded tensors and a description of where they came from."""
    found = find_local_copy(data_dir)
    if found is None:
        found = download(data_dir)
    kind, path = found
    key = cache_key(dataset="cifar10", kind=kind, files=file_fingerprint(_fingerprinted(path)))
    tensors = load_or_build(cache_dir(data_dir) / f"cifar10-{key}.pt", lambda: decode(kind, path))
    return tensors, f"{kind}: {path}"


def decode(kind: str, path: Path) -> dict:
    """``DECODERS[kind](path)``, with a damaged copy (a truncated batch or archive, a file
    that is not an image) refused in one line that names it."""
    try:
        return DECODERS[kind](path)
    except (DatasetNotFoundError, DatasetUnreadableError):
        raise
    except Exception as error:
        raise DatasetUnreadableError(
            f"cifar10: cannot read the {kind} at {path} ({_reason(error)}); the copy looks "
            "damaged: replace it, or remove it to download a fresh one"
        ) from error


def _reason(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:160]}" if lines else type(error).__name__


def find_local_copy(data_dir: Path) -> tuple[str, Path] | None:
    for folder in BATCH_FOLDERS:
        if (data_dir / folder / "test_batch").is_file():
            return "python batches", data_dir / folder
    for folder in TREE_FOLDERS:
        if (data_dir / folder / "train").is_dir() and (data_dir / folder / "test").is_dir():
            return "image tree", data_dir / folder
    for pattern in ARCHIVE_PATTERNS:
        archives = sorted(data_dir.glob(pattern))
        if archives:
            return "archive", archives[0]
    return None


def download(data_dir: Path) -> tuple[str, Path]:
    if not _download_allowed():
        raise DatasetNotFoundError(
            f"cifar10: no local copy in {data_dir} (expected cifar-10-batches-py/, "
            "cifar10/CIFAR-10-images/{train,test}/<class>/*.jpg or cifar10/*.tar.xz) and the "
            "download host is unreachable; put a copy there or run online"
        )
    from torchvision.datasets import CIFAR10

    root = data_dir if os.access(data_dir.parent, os.W_OK) else cache_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    CIFAR10(str(root), train=True, download=True)
    return "python batches", root / "cifar-10-batches-py"


def decode_python_batches(folder: Path) -> dict:
    files = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    return _from_pickles(files, str(folder))


def decode_image_tree(root: Path) -> dict:
    def files(split: str) -> Iterator[tuple[str, bytes]]:
        for path in sorted((root / split).glob("*/*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                yield f"{split}/{path.parent.name}/{path.name}", path.read_bytes()

    return _from_image_files(list(files("train")) + list(files("test")), str(root))


def decode_archive(path: Path) -> dict:
    """Either layout, inside a tar archive: python batches or a class-per-folder tree."""
    images: list[tuple[str, bytes]] = []
    pickles: dict[str, bytes] = {}
    pattern = re.compile(r"(?:^|/)(train|test)/([^/]+)/([^/]+)$")
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            if not member.isfile():
                continue
            name = member.name
            batch = Path(name).name
            if re.fullmatch(r"data_batch_[1-5]|test_batch", batch):
                pickles[batch] = archive.extractfile(member).read()
                continue
            match = pattern.search(name)
            if match and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                images.append(("/".join(match.groups()), archive.extractfile(member).read()))
    if pickles:
        return _from_pickles(pickles, str(path))
    if images:
        return _from_image_files(sorted(images), str(path))
    raise DatasetNotFoundError(
        f"cifar10: {path} holds neither cifar-10-batches-py nor train/<class>/ and "
        "test/<class>/ images"
    )


DECODERS = {
    "python batches": decode_python_batches,
    "image tree": decode_image_tree,
    "archive": decode_archive,
}


def _from_pickles(files: dict[str, bytes], where: str) -> dict:
    """The official format: each batch a pickled dict with b"data" (N × 3072 uint8, the
    channels one after another) and b"labels"."""
    names = [f"data_batch_{i}" for i in range(1, 6)]
    missing = [name for name in [*names, "test_batch"] if name not in files]
    if missing:
        raise DatasetNotFoundError(f"cifar10: the python batches lack {', '.join(missing)}")

    def unpickle(name: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            batch = pickle.loads(files[name], encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels = np.asarray(batch[b"labels"], dtype=np.int64).reshape(-1)
            if len(labels) != len(data):
                raise ValueError(f"{len(data)} images but {len(labels)} labels")
        except Exception as error:
            raise DatasetUnreadableError(
                f"cifar10: {where}/{name} is not a CIFAR-10 python batch ({_reason(error)}); "
                "the copy looks damaged: replace it"
            ) from error
        return data, labels

    def read(batch_names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batches = [unpickle(name) for name in batch_names]
        data = np.concatenate([data for data, _ in batches])
        labels = np.concatenate([labels for _, labels in batches])
        return torch.from_numpy(data.copy()), torch.from_numpy(labels)

    train_images, train_labels = read(names)
    test_images, test_labels = read(["test_batch"])
    return {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": test_images,
        "test_labels": test_labels,
        "classes": list(CLASSES),
    }


def _from_image_files(files: list[tuple[str, bytes]], where: str) -> dict:
    """``files``: (``split/class/name``, encoded bytes), sorted by name."""
    from PIL import Image, UnidentifiedImageError

    classes = sorted({name.split("/")[1] for name, _ in files if name.startswith("train/")})
    if not classes:
        raise DatasetNotFoundError(f"cifar10: no training images under {where}/train/<class>/")
    tensors: dict = {"classes": classes}
    for split in ("train", "test"):
        chosen = [(name, data) for name, data in files if name.startswith(f"{split}/")]
        unknown = sorted({n.split("/")[1] for n, _ in chosen} - set(classes))
        if unknown:
            raise DatasetNotFoundError(
                f"cifar10: {where}/{split} has classes {unknown} that train/ lacks"
            )
        pixels = np.empty((len(chosen), 32, 32, 3), dtype=np.uint8)
        for row, (name, data) in enumerate(chosen):
            try:
                with Image.open(io.BytesIO(data)) as image:
                    size = image.size
                    pixels[row] = np.asarray(image.convert("RGB")) if size == (32, 32) else 0
            except Exception as error:
                unknown = isinstance(error, UnidentifiedImageError)  # its text names no file
                reason = "no image format PIL knows" if unknown else _reason(error)
                raise DatasetUnreadableError(
                    f"cifar10: {where}/{name} is not a readable image ({reason}); "
                    "replace or remove it"
                ) from error
            if size != (32, 32):
                raise DatasetUnreadableError(f"cifar10: {where}/{name} is {size}, not 32×32")
        tensors[f"{split}_images"] = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
        tensors[f"{split}_labels"] = torch.tensor(
            [classes.index(name.split("/")[1]) for name, _ in chosen], dtype=torch.long
        )
    return tensors


def _fingerprinted(path: Path) -> list[Path]:
    """Files or folders whose size and modification time stand for the copy's content."""
    if path.is_file():
        return [path]
    if (path / "test_batch").is_file():
        return sorted(p for p in path.iterdir() if p.is_file())
    return sorted(p for split in ("train", "test") for p in (path / split).iterdir())


def _download_allowed() -> bool:
    if os.environ.get("DALS_TUNE_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    try:
        socket.create_connection(DOWNLOAD_HOST, timeout=3).close()
    except OSError:
        return False
    return True
