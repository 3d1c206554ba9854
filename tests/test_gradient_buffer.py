"""Gradients laid out in one flat buffer: same norms, same training, whatever the optimizer
does to ``p.grad``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dals_tune import training
from dals_tune.gradient_buffer import GradientBuffer
from dals_tune.training import train

QUICK = {"workload": "synthetic", "subset": 1000, "eval_subset": 300, "seed": 5, "epochs": 2}


class PlainGradients:
    """The textbook loop's gradients: set to None before each backward, norms per tensor."""

    def __init__(self, parameters: list[nn.Parameter]) -> None:
        self.parameters = parameters

    def zero_grad(self) -> None:
        for parameter in self.parameters:
            parameter.grad = None

    def norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        grads = [p.grad.reshape(-1) for p in self.parameters if p.grad is not None]
        flat = torch.cat(grads)
        return flat.abs().sum(), torch.linalg.vector_norm(flat)


def test_norms_are_those_of_the_whole_gradient_and_backward_writes_into_the_buffer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    frozen = nn.Linear(2, 2)  # never used: its gradient stays None
    parameters = [*model.parameters(), *frozen.parameters()]
    gradients = GradientBuffer(parameters)
    for step in range(3):
        gradients.zero_grad()
        model(torch.randn(4, 5)).pow(2).sum().backward()
        l1, l2 = gradients.norms()
        flat = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        assert torch.allclose(l1, flat.abs().sum()) and torch.allclose(l2, flat.norm())
        assert all(p.grad is None for p in frozen.parameters())
        if step:  # laid out: every gradient is a view of the one buffer
            assert all(p.grad.data_ptr() != 0 for p in model.parameters())
            (buffer,) = gradients.buffers
            start, end = buffer.data_ptr(), buffer.data_ptr() + buffer.numel() * 4
            assert all(start <= p.grad.data_ptr() < end for p in model.parameters())


def test_a_gradient_replaced_by_the_optimizer_is_attached_again():
    model = nn.Linear(3, 2)
    gradients = GradientBuffer(list(model.parameters()))
    gradients.zero_grad()
    model(torch.ones(1, 3)).sum().backward()
    gradients.norms()
    model.weight.grad = None  # as SAM's zero_grad(set_to_none=True) between its passes
    gradients.zero_grad()
    model(torch.ones(1, 3)).sum().backward()
    l1, _ = gradients.norms()
    assert model.weight.grad is not None and l1.item() == pytest.approx(3 * 2 + 2)


@pytest.mark.parametrize(
    "strategy", ["fixed_sgd", "dals", "grokfast", "sam", "schedulefree_adamw", "lookahead_adamw"]
)
def test_training_is_bit_for_bit_that_of_plain_gradients(monkeypatch, strategy):
    """0 + g = g: accumulating into a zeroed buffer changes no value any optimizer sees,
    including those that filter ``p.grad`` in place (DALS, Grokfast) or take two passes
    (SAM)."""
    config = {**QUICK, "strategy": strategy}
    buffered = train(config)
    monkeypatch.setattr(training, "GradientBuffer", PlainGradients)
    plain = train(config)
    for ours, theirs in zip(buffered.epochs, plain.epochs, strict=True):
        for key in ("train_loss", "val_loss", "val_acc", "test_acc"):
            assert ours[key] == theirs[key], (key, ours[key], theirs[key])
    assert buffered.grad_norms_l2 == pytest.approx(plain.grad_norms_l2, rel=1e-5)
    assert buffered.grad_norms_l1 == pytest.approx(plain.grad_norms_l1, rel=1e-5)
