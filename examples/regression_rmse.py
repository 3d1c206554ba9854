"""A regression that minimises RMSE: the shortest own workload, on tensors.

    python examples/regression_rmse.py

The data is a noisy non-linear function of eight inputs (Friedman's first benchmark,
generated here so the example needs no download); put your own ``(inputs, targets)``
tensors in its place. The study ranks strategies by validation RMSE, lowest first.
"""

from __future__ import annotations

import torch
from torch import nn

import dals_tune


def friedman(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """y = 10 sin(π x₁x₂) + 20 (x₃ − ½)² + 10 x₄ + 5 x₅ + noise; x₆..x₈ are distractors."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(size, 8, generator=generator)
    y = (
        10 * torch.sin(torch.pi * x[:, 0] * x[:, 1])
        + 20 * (x[:, 2] - 0.5) ** 2
        + 10 * x[:, 3]
        + 5 * x[:, 4]
    )
    return x, y + torch.randn(size, generator=generator)


def build(settings):
    x, y = friedman(3000, seed=0)  # the data is fixed; the trial's seed drives the training
    return dals_tune.workload(
        name="friedman1",
        model=lambda: nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1)),
        train=(x[:2000], y[:2000]),
        val=(x[2000:2500], y[2000:2500]),
        test=(x[2500:], y[2500:]),
        loss="mse",
        metric="rmse",  # minimised: the leaderboard ranks ascending
        batch_size=64,
        target=1.5,
    )


if __name__ == "__main__":
    result = dals_tune.search(
        workload=build, strategies="adamw,cosine_sgd,dals", samples=3, max_epochs=8, seeds=2
    )
    print(f"winner: {result.winner}")
    print(result.leaderboard.to_string(index=False))
