"""Samples per second of our trainer against a bare PyTorch loop on the same model and data.

    python benchmarks/trainer_throughput.py [--workloads synthetic,cifar10] [--data-dir D]
        [--epochs 2] [--subset N] [--threads 2]

Both sides train the same freshly built model on the same batches with the same optimizer
(SGD momentum, the `fixed_sgd` strategy); the bare loop is forward, loss, backward, step and
nothing else. Our trainer adds what a study needs: the loss check for divergence, per-step
gradient norms, per-layer LR logging, evaluation and checkpointing. Only the training part
of each epoch is timed on both sides (``epoch_seconds`` is measured that way). Each side
runs ``--epochs`` epochs, alternating epoch by epoch, and the medians are compared, which
keeps one-off stalls of a shared machine out of the ratio. Target: our
throughput ≥ 0.9× the bare loop's.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from dals_tune.training import seed_everything, train
from dals_tune.workloads import build_workload


class BareLoop:
    """The plainest possible loop over the same workload, model and optimizer settings."""

    def __init__(self, config: dict) -> None:
        seed_everything(config["seed"])
        self.workload = build_workload(config)
        self.model = self.workload.model
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, foreach=True
        )
        self.loss_fn = nn.CrossEntropyLoss()

    def epoch(self, epoch: int) -> float:
        """Train one epoch; samples per second."""
        self.model.train()
        samples, started = 0, time.perf_counter()
        for inputs, labels in self.workload.train_batches(epoch):
            self.optimizer.zero_grad(set_to_none=True)
            self.loss_fn(self.workload.forward(self.model, inputs), labels).backward()
            self.optimizer.step()
            samples += len(labels)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return samples / (time.perf_counter() - started)


def compare(config: dict, epochs: int) -> tuple[list[float], list[float]]:
    """Epochs alternate: after each epoch of our trainer, one of the bare loop, so that
    whatever else the machine does hits both alike. Returns (bare, ours) samples/s."""
    bare_loop, bare, ours = BareLoop(config), [], []

    def after_epoch(metrics: dict, _folder: object) -> None:
        ours.append(metrics["samples_per_second"])
        bare.append(bare_loop.epoch(len(ours) - 1))

    train({**config, "strategy": "fixed_sgd", "epochs": epochs}, report=after_epoch)
    return bare, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="synthetic,cifar10")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--subset",
        type=int,
        default=None,
        help="training examples per workload (default: the whole set)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, device {args.device}")
    print(f"{'workload':<12} {'bare loop':>14} {'dals_tune':>14} {'ratio':>7}  (target >= 0.9)")
    for workload in args.workloads.split(","):
        config = {"workload": workload, "seed": 0, "device": args.device, "eval_subset": 1000}
        if args.data_dir:
            config["data_dir"] = args.data_dir
        if args.subset:
            config["subset"] = args.subset
        bare_rates, our_rates = compare(config, args.epochs)
        bare, ours = statistics.median(bare_rates), statistics.median(our_rates)
        print(f"{workload:<12} {bare:>10.0f} /s {ours:>10.0f} /s {ours / bare:>6.2f}x")


if __name__ == "__main__":
    main()
