"""Users' workload modules, written into a folder as a user would keep them beside their
data: a regression on tensors (RMSE, minimised), a classifier on a ``Dataset``, and the
broken modules of docs/bad_inputs.md."""

from __future__ import annotations

import textwrap
from pathlib import Path

REGRESSION = """
import torch
from torch import nn

import dals_tune


def data(seed=0, size=480):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(size, 4, generator=generator)
    y = x @ torch.tensor([1.5, -2.0, 0.5, 1.0]) + 0.1 * torch.randn(size, generator=generator)
    return x, y


def build(settings):
    x, y = data()
    return dals_tune.workload(
        name="toy_regression",
        model=lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1)),
        train=(x[:320], y[:320]), val=(x[320:400], y[320:400]), test=(x[400:], y[400:]),
        loss="mse", metric="rmse", batch_size=32, target=0.5,
    )
"""

CLASSIFIER = '''
import torch
from torch import nn
from torch.utils.data import Dataset

import dals_tune


class Blobs(Dataset):
    """Three Gaussian blobs; each item a dict of inputs and a class index."""

    classes = ["a", "b", "c"]

    def __init__(self, size, seed):
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 3, (size,), generator=generator)
        centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
        self.points = centres[self.labels] + 0.7 * torch.randn(size, 2, generator=generator)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        point = self.points[index]
        noisy = point + 0.05 * torch.randn(2)  # an augmentation: draws from torch's RNG
        return {"features": noisy}, int(self.labels[index])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 16)
        self.out = nn.Linear(16, 3)

    def forward(self, features):
        return self.out(torch.relu(self.hidden(features)))


def build(settings):
    return dals_tune.workload(
        name="blobs",
        model=Net,
        train=Blobs(240, 1), val=Blobs(90, 2), test=Blobs(90, 3),
        batch_size=24, target=0.9,
    )
'''

BROKEN = {
    "raises": "def build(settings):\n    raise RuntimeError('no data here')\n",
    "returns_model": "from torch import nn\n\ndef build(settings):\n    return nn.Linear(2, 2)\n",
    "unknown_loss": REGRESSION.replace('loss="mse"', 'loss="huber"'),
    "unknown_metric": REGRESSION.replace('metric="rmse"', 'metric="r2"'),
    "bad_mode": REGRESSION.replace('metric="rmse",', 'metric="rmse", mode="down",'),
    "class_loss_on_reals": REGRESSION.replace('loss="mse", metric="rmse"', 'loss="cross_entropy"'),
    "empty_split": REGRESSION.replace("val=(x[320:400], y[320:400])", "val=(x[:0], y[:0])"),
    "wrong_outputs": REGRESSION.replace("nn.Linear(16, 1)", "nn.Linear(16, 3)"),
    "syntax_error": "def build(settings)\n    return None\n",
}


def write_module(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path
