"""Optimizers we write ourselves: DALS and the gradient transforms it is built from."""

from dals_tune.optim.dals import DALS

__all__ = ["DALS"]
