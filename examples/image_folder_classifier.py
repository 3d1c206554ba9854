"""Which learning-rate strategy suits *my* image classifier? A folder of images, a small
ConvNet, and a study over four strategies.

The images are in torchvision's ``ImageFolder`` layout under ``--data-dir``::

    images/train/<class>/*.png    images/val/<class>/*.png    images/test/<class>/*.png

Run the study (local Ray, MLflow store under ./runs)::

    python examples/image_folder_classifier.py --data-dir path/to/data

or as the command line does, from this folder::

    python -m dals_tune search --workload image_folder_classifier:build --data-dir path/to/data
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torchvision import datasets, transforms

import dals_tune

SIZE = 32  # images are resized to SIZE × SIZE


class SmallConvNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = nn.Linear(32 * (SIZE // 4) ** 2, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).flatten(1))


def build(settings):
    """The workload: ``settings`` is the trial's (seed, device, data_dir, subset, ...)."""
    folder = settings.data_dir / "images"
    plain = transforms.Compose([transforms.Resize((SIZE, SIZE)), transforms.ToTensor()])
    augmented = transforms.Compose(
        [
            transforms.Resize((SIZE, SIZE)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomCrop(SIZE, padding=2),
            transforms.ToTensor(),
        ]
    )
    train = datasets.ImageFolder(folder / "train", transform=augmented)
    val = datasets.ImageFolder(folder / "val", transform=plain)
    test = datasets.ImageFolder(folder / "test", transform=plain)
    return dals_tune.workload(
        name="my_images",
        model=lambda: SmallConvNet(len(train.classes)),
        train=train,
        val=val,
        test=test,
        batch_size=32,
        target=0.8,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", default="runs")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--strategies", default="adamw,cosine_sgd,dals,schedulefree_adamw")
    args = parser.parse_args()
    result = dals_tune.search(
        workload=build,
        strategies=args.strategies,
        samples=args.samples,
        max_epochs=args.max_epochs,
        seeds=args.seeds,
        data_dir=args.data_dir,
        out=args.out,
    )
    print(result.leaderboard.to_string(index=False))
