"""Text classification workloads: TREC-6, RTE and IMDb with a Hugging Face encoder.

The text is tokenized once, padded to the task's max length and cached as small integer
tensors (token ids as int32, masks as int8), then held whole on the device like any other
tensor dataset. Each batch is cut to the length of its longest example before it reaches
the model, so short questions do not pay for 64 positions of padding; since padding is
masked, this changes no result.

Regimes: ``finetune`` (the default) loads the pretrained encoder with a fresh
classification head; ``scratch`` builds the same architecture from its config, randomly
initialized. Targets (validation accuracy) are set below what DistilBERT- and
MiniLM-class encoders are reported to reach, so a sound strategy gets there in a few
epochs; from scratch, small labelled sets allow much less:

==========  ==========  =========  ==========  =====
task        max length  batch      finetune    scratch
==========  ==========  =========  ==========  =====
trec6       64          32         0.90        0.75
rte         128         16         0.58        0.53
imdb        256         16         0.85        0.75
==========  ==========  =========  ==========  =====
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dals_tune.objective import Objective
from dals_tune.workloads.base import Split, Workload
from dals_tune.workloads.cache import cache_key, load_or_build
from dals_tune.workloads.config import WorkloadConfig, cache_dir
from dals_tune.workloads.hub import (
    load_classifier,
    load_tokenizer,
    model_description,
    resolve_model,
)
from dals_tune.workloads.splits import carve_splits
from dals_tune.workloads.text_sources import (
    IMDB_CLASSES,
    RTE_CLASSES,
    TREC_CLASSES,
    find_corpus,
    read_corpus,
)

TOKENIZE_CHUNK = 2048
NARROW_TYPES = {"input_ids": torch.int32}  # masks and token types fit in int8


@dataclass(frozen=True)
class TextTask:
    id: str
    class_names: tuple[str, ...]
    max_length: int
    batch_size: int
    targets: dict[str, float]  # regime → target validation accuracy


TASKS = {
    "trec6": TextTask("trec6", TREC_CLASSES, 64, 32, {"finetune": 0.90, "scratch": 0.75}),
    "rte": TextTask("rte", RTE_CLASSES, 128, 16, {"finetune": 0.58, "scratch": 0.53}),
    "imdb": TextTask("imdb", IMDB_CLASSES, 256, 16, {"finetune": 0.85, "scratch": 0.75}),
}


def build_trec6(config: WorkloadConfig) -> Workload:
    return build_text_task(TASKS["trec6"], config)


def build_rte(config: WorkloadConfig) -> Workload:
    return build_text_task(TASKS["rte"], config)


def build_imdb(config: WorkloadConfig) -> Workload:
    return build_text_task(TASKS["imdb"], config)


def build_text_task(task: TextTask, config: WorkloadConfig) -> Workload:
    regime = config.regime_or("finetune")
    corpus = find_corpus(task.id, config.data_dir)  # first: a missing dataset names the task
    model = resolve_model(config.model)
    tokenizer = load_tokenizer(model)
    max_length = config.max_length or task.max_length
    key = cache_key(
        dataset=task.id,
        source=corpus.fingerprint,
        tokenizer=tokenizer_identity(tokenizer, model),
        max_length=max_length,
    )

    def tokenize_corpus() -> dict:
        splits = read_corpus(task.id, corpus)
        return {name: tokenize_dataset(splits[name], tokenizer, max_length) for name in splits}

    tokens = load_or_build(
        cache_dir(config.data_dir) / f"tokens-{task.id}-{key}.pt", tokenize_corpus
    )
    return text_workload(
        workload_id=task.id,
        class_names=task.class_names,
        train=token_split(tokens["train"]),
        test=token_split(tokens["test"]),
        regime=regime,
        model=model,
        config=config,
        max_length=max_length,
        batch_size=config.batch_size or task.batch_size,
        target_accuracy=task.targets[regime],
        source=corpus.source,
    )


def text_workload(
    *,
    workload_id: str,
    class_names: tuple[str, ...],
    train: Split,
    test: Split,
    regime: str,
    model: str,
    config: WorkloadConfig,
    max_length: int,
    batch_size: int,
    target_accuracy: float,
    source: str,
) -> Workload:
    """The part every text workload shares once its text is tokenized (the CSV text path
    comes in here too)."""
    carved = carve_splits(train, test, config.seed, config.subset, config.eval_subset)
    num_classes = len(class_names)
    return Workload(
        id=workload_id,
        regime=regime,
        num_classes=num_classes,
        objective=Objective(target=target_accuracy),
        seed=config.seed,
        device=config.device,
        batch_size=batch_size,
        eval_batch_size=4 * batch_size,
        train_split=carved.train,
        val_split=carved.val,
        test_split=carved.test,
        model_factory=lambda: load_classifier(model, num_classes, regime),
        make_batch=text_batch,
        class_names=class_names,
        details={
            **carved.details,
            "model": model_description(model),
            "max_length": max_length,
            "source": source,
        },
    )


def text_batch(split: Split, index: torch.Tensor, generator: torch.Generator | None):
    """Token tensors of ``index``, cut to the batch's longest example, as the int64 the
    embedding layers expect."""
    length = int(split.lengths[index].max())
    rows = index.to(split.labels.device)
    return {name: tensor[rows, :length].long() for name, tensor in split.inputs.items()}


def tokenize_dataset(dataset, tokenizer, max_length: int) -> dict[str, torch.Tensor]:
    """A ``datasets.Dataset`` with ``text`` (and ``text_pair``) and ``label`` columns →
    padded token tensors plus ``label``."""
    texts = list(dataset["text"])
    pairs = list(dataset["text_pair"]) if "text_pair" in dataset.column_names else None
    return {**tokenize_texts(texts, pairs, tokenizer, max_length), "label": _labels(dataset)}


def tokenize_texts(
    texts: list[str], pairs: list[str] | None, tokenizer, max_length: int
) -> dict[str, torch.Tensor]:
    names = [
        n
        for n in tokenizer.model_input_names
        if n in {"input_ids", "attention_mask", "token_type_ids"}
    ]
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        stop = start + TOKENIZE_CHUNK
        encoded = tokenizer(
            texts[start:stop],
            pairs[start:stop] if pairs is not None else None,
            padding="max_length",
            truncation=True,
            max_length=max_length,
            return_tensors="np",
        )
        for name in names:
            chunks[name].append(encoded[name])
    return {
        name: torch.from_numpy(np.concatenate(parts)).to(NARROW_TYPES.get(name, torch.int8))
        for name, parts in chunks.items()
    }


def token_split(tokens: dict[str, torch.Tensor]) -> Split:
    inputs = {name: value for name, value in tokens.items() if name != "label"}
    return Split(
        inputs=inputs,
        labels=tokens["label"],
        lengths=inputs["attention_mask"].sum(dim=1, dtype=torch.long).clamp(min=1),
    )


def tokenizer_identity(tokenizer, model: str) -> list:
    """What decides the token ids: the tokenizer class, its source and its vocabulary."""
    return [type(tokenizer).__name__, model, len(tokenizer), tokenizer.model_input_names]


def _labels(dataset) -> torch.Tensor:
    return torch.tensor(list(dataset["label"]), dtype=torch.long)
