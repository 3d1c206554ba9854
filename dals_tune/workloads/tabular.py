"""``csv:PATH``: a user's own CSV, with numeric feature columns or one text column.

- Labels come from ``label_column`` (default ``label``); their distinct values, sorted, are
  the class ids (so ``"cat"``/``"dog"`` and ``3``/``7`` both become 0/1).
- A user's CSV has no official test split, so a stratified 20 % test split is held out
  first (seeded), then the usual 10 % validation split from the rest (or, with ``--folds
  K``, the rest is dealt into K folds; numeric tables only).
- Numeric features: every column but the label must be numeric. Missing values are filled
  with the training mean, and features are standardized with the training split's mean and
  standard deviation, so no statistic leaks from validation or test (with folds, each
  fold's training part gives its own). Model: MLP
  features → 256 → 256 → 256 → classes, trained from scratch.
- Text: with ``text_column`` set, or when the only feature column holds strings, the text
  goes through the text workloads' path (tokenizer, Hugging Face encoder, max length 128,
  fine-tuned by default; ``--model textcnn`` for the small TextCNN, from scratch).

Target: there is no published number for a user's data, so the target is halfway from the
majority-class rate to 100 %: ``majority + (1 - majority) / 2``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dals_tune.objective import Objective
from dals_tune.workloads.base import DatasetNotFoundError, DatasetUnreadableError, Split, Workload
from dals_tune.workloads.config import WorkloadConfig
from dals_tune.workloads.folds import no_folds
from dals_tune.workloads.hub import load_tokenizer
from dals_tune.workloads.models import mlp
from dals_tune.workloads.splits import carve_splits, holdout_test
from dals_tune.workloads.text import text_workload, token_split, tokenize_texts
from dals_tune.workloads.text_models import text_model

TEST_FRACTION = 0.2
HIDDEN_SIZES = (256, 256, 256)
TEXT_MAX_LENGTH, TEXT_BATCH_SIZE, NUMERIC_BATCH_SIZE = 128, 32, 64


def build_csv(config: WorkloadConfig) -> Workload:
    import pandas as pd

    path = Path(config.workload.removeprefix("csv:")).expanduser()
    if not path.is_file():
        raise DatasetNotFoundError(f"csv: no file at {path}; give csv:PATH with an existing CSV")
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError) as error:  # pandas' parser and empty-file errors among them
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DatasetUnreadableError(
            f"csv: cannot read {path} as a CSV table ({reason}); give a comma-separated file "
            "with a header row"
        ) from error
    columns = list(frame.columns)
    if config.label_column not in frame.columns:
        raise ValueError(
            f"csv: {path.name} has no label column {config.label_column!r}; its columns are "
            f"{', '.join(map(str, columns))}; set label_column to one of them"
        )
    if config.text_column is not None and config.text_column not in frame.columns:
        raise ValueError(
            f"csv: {path.name} has no text column {config.text_column!r}; its columns are "
            f"{', '.join(map(str, columns))}"
        )
    raw_labels = frame[config.label_column]
    if raw_labels.isna().any():
        raise ValueError(
            f"csv: label column {config.label_column!r} of {path.name} has empty cells; "
            "drop or fill those rows"
        )
    class_values = sorted(raw_labels.unique(), key=lambda v: (str(type(v)), v))
    if len(class_values) < 2:
        raise ValueError(
            f"csv: label column {config.label_column!r} holds a single class; "
            "classification needs at least two"
        )
    labels = torch.tensor(raw_labels.map({v: i for i, v in enumerate(class_values)}).to_numpy())
    features = frame.drop(columns=[config.label_column])
    text_column = config.text_column or _only_text_column(features)
    majority = float(np.bincount(labels.numpy()).max() / len(labels))
    common = {
        "class_names": tuple(str(v) for v in class_values),
        "target_accuracy": majority + (1 - majority) / 2,
        "source": str(path.resolve()),
    }
    if text_column is not None:
        if config.folds is not None:  # before a text model is loaded for nothing
            raise no_folds(f"{config.workload} (a text table)")
        return _text_csv(config, features[text_column], labels, **common)
    return _numeric_csv(config, features, labels, path, **common)


def _only_text_column(features) -> str | None:
    from pandas.api.types import is_numeric_dtype

    if len(features.columns) == 1 and not is_numeric_dtype(features.dtypes.iloc[0]):
        return str(features.columns[0])
    return None


def _numeric_csv(
    config: WorkloadConfig,
    features,
    labels: torch.Tensor,
    path: Path,
    class_names: tuple[str, ...],
    target_accuracy: float,
    source: str,
) -> Workload:
    if config.regime_or("scratch") != "scratch":
        raise ValueError(
            "csv with numeric features trains an MLP from scratch; use regime 'scratch' "
            "(or set text_column for a text model)"
        )
    from pandas.api.types import is_numeric_dtype

    non_numeric = [str(c) for c in features.columns if not is_numeric_dtype(features[c])]
    if non_numeric:
        raise ValueError(
            f"csv: {path.name} has non-numeric feature columns {', '.join(non_numeric)}; drop "
            "them, or set text_column if one of them is the text to classify"
        )
    if features.shape[1] == 0:
        raise ValueError(f"csv: {path.name} has no feature columns besides the label")
    whole = Split(torch.from_numpy(features.to_numpy(dtype=np.float32, copy=True)), labels)
    train, test = holdout_test(whole, TEST_FRACTION, config.seed)
    carved = carve_splits(
        train, test, config.seed, config.subset, config.eval_subset, config.folds, config.fold
    )
    mean, std = _statistics(carved.train.inputs)
    sizes = [features.shape[1], *HIDDEN_SIZES, len(class_names)]

    def standardized(split: Split) -> Split:
        values = torch.where(torch.isnan(split.inputs), mean, split.inputs)
        return Split((values - mean) / std, split.labels)

    return Workload(
        id=config.workload,
        regime="scratch",
        num_classes=len(class_names),
        objective=Objective(target=target_accuracy),
        seed=config.seed,
        device=config.device,
        batch_size=config.batch_size or NUMERIC_BATCH_SIZE,
        eval_batch_size=4096,
        train_split=standardized(carved.train),
        val_split=standardized(carved.val),
        test_split=standardized(carved.test),
        model_factory=lambda: mlp(sizes),
        class_names=class_names,
        details={
            **carved.details,
            "model": "mlp " + "→".join(str(s) for s in sizes),
            "source": source,
            "features": [str(c) for c in features.columns],
        },
    )


def _statistics(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and standard deviation over the training rows, ignoring missing
    values; a constant column keeps a scale of 1 instead of dividing by zero."""
    mean = values.nanmean(dim=0).nan_to_num(0.0)
    filled = torch.where(torch.isnan(values), mean, values)
    std = filled.std(dim=0, unbiased=False)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def _text_csv(
    config: WorkloadConfig,
    texts,
    labels: torch.Tensor,
    class_names: tuple[str, ...],
    target_accuracy: float,
    source: str,
) -> Workload:
    model = text_model(config.model, config.regime)
    tokenizer = load_tokenizer(model.source)
    max_length = config.max_length or TEXT_MAX_LENGTH
    tokens = tokenize_texts(texts.fillna("").astype(str).tolist(), None, tokenizer, max_length)
    whole = token_split({**tokens, "label": labels})
    train, test = holdout_test(whole, TEST_FRACTION, config.seed)
    return text_workload(
        workload_id=config.workload,
        class_names=class_names,
        train=train,
        test=test,
        model=model,
        tokenizer=tokenizer,
        config=config,
        max_length=max_length,
        batch_size=config.batch_size or TEXT_BATCH_SIZE,
        target_accuracy=target_accuracy,
        source=source,
    )
