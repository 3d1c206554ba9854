"""Which model a text workload trains, and which tokenizer feeds it: the one place that
knows the built-in small text models by name.

``--model`` (``WorkloadSpec.model``) for a text workload is one of

- a built-in name of :data:`BUILT_IN` (``textcnn``): a small model trained from scratch,
  reading the default tokenizer's ids (the one :func:`dals_tune.workloads.hub.resolve_model`
  picks with no model given: the bundled MiniLM's WordPiece offline), so its token cache and
  batches are the encoder's;
- anything else: a Hugging Face hub id or local folder, the encoder and its own tokenizer.

A built-in name wins over a local folder of the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from dals_tune.workloads.hub import load_classifier, model_description, resolve_model
from dals_tune.workloads.text_convnet import TEXTCNN_DESCRIPTION, TextCNN

Classifier = Callable[[str, Any, int, str], nn.Module]  # (source, tokenizer, labels, regime)


@dataclass(frozen=True)
class TextModel:
    """A text workload's model: ``source`` is where the tokenizer (and an encoder's weights)
    load from, ``regime`` the one it trains in, ``description`` what the run records say."""

    name: str
    source: str
    regime: str
    build: Classifier
    description: str

    def factory(self, tokenizer: Any, num_labels: int) -> Callable[[], nn.Module]:
        """A callable giving a fresh classifier (the workload seeds each call)."""
        return lambda: self.build(self.source, tokenizer, num_labels, self.regime)


@dataclass(frozen=True)
class BuiltInTextModel:
    regimes: tuple[str, ...]  # those it can train in, its default first
    build: Classifier
    description: str


def _textcnn(source: str, tokenizer: Any, num_labels: int, regime: str) -> nn.Module:
    return TextCNN(len(tokenizer), num_labels, padding_index=tokenizer.pad_token_id or 0)


def _encoder(source: str, tokenizer: Any, num_labels: int, regime: str) -> nn.Module:
    return load_classifier(source, num_labels, regime)


BUILT_IN = {
    "textcnn": BuiltInTextModel(("scratch",), _textcnn, TEXTCNN_DESCRIPTION),
}
ENCODER_REGIMES = ("finetune", "scratch")


def text_model(model: str | None, regime: str | None) -> TextModel:
    """The model ``--model`` names for a text workload (None: the default encoder), in
    ``regime`` (None: the model's default). A regime the model cannot train in is refused
    before anything is loaded."""
    if model in BUILT_IN:
        built_in = BUILT_IN[model]
        chosen = _regime(model, built_in.regimes, regime)
        source = resolve_model(None)
        description = f"{built_in.description} (tokenizer: {model_description(source)})"
        return TextModel(model, source, chosen, built_in.build, description)
    source = resolve_model(model)
    chosen = _regime(source, ENCODER_REGIMES, regime)
    return TextModel(source, source, chosen, _encoder, model_description(source))


def _regime(name: str, regimes: tuple[str, ...], asked: str | None) -> str:
    regime = asked if asked is not None else regimes[0]
    if regime not in regimes:
        raise ValueError(
            f"{name} has no pretrained weights to fine-tune; use regime 'scratch', or a "
            "pretrained encoder (leave --model out for the default)"
        )
    return regime
