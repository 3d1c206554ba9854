"""Ray Tune trainables: one config in, per-epoch reports out."""

from trainables.classification import classification_trainable

__all__ = ["classification_trainable"]
