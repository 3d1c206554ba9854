"""Samples per second of our trainer against a bare PyTorch loop on the same model and data,
and of a user's ``Dataset``-backed workload against the tensor path on the same data.

    python benchmarks/trainer_throughput.py [--workloads synthetic,cifar10,lm] [--data-dir D]
        [--epochs 2] [--subset N] [--threads 2] [--loader-workload synthetic]

Both sides train the same freshly built model on the same batches with the same optimizer
(SGD momentum, the `fixed_sgd` strategy); the bare loop is forward, loss, backward, step and
nothing else. Our trainer adds what a study needs: the loss check for divergence, per-step
gradient norms, per-layer LR logging, evaluation and checkpointing. Only the training part
of each epoch is timed on both sides (``epoch_seconds`` is measured that way). Each side
runs ``--epochs`` epochs, alternating epoch by epoch, and the medians are compared, which
keeps one-off stalls of a shared machine out of the ratio. Target: our
throughput ≥ 0.9× the bare loop's.

The loader comparison trains the same split twice through ``dals_tune.workload``: as
``(inputs, targets)`` tensor pairs (whole tensors, index slicing) and as a ``TensorDataset``
(a ``DataLoader`` over the same seeded batches), epochs alternating, our trainer on both. It
prices the general path a user's ``Dataset`` takes; a map-style dataset that decodes files
per item costs more than this, in its own ``__getitem__``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import TensorDataset

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
        self.loss_fn = self.workload.loss  # the workload's own (per token for a language model)

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


def loader_against_tensors(config: dict, epochs: int) -> tuple[list[float], list[float]]:
    """(tensor pairs, Dataset) samples/s of our trainer on the same training split."""
    import threading

    import dals_tune
    from dals_tune.workloads.user_module import register

    base = build_workload({**config, "device": "cpu"})
    splits = {name: base.split(name) for name in ("train", "val", "test")}

    def as_tensors(_settings: object) -> object:
        pairs = {name: (split.inputs, split.labels) for name, split in splits.items()}
        return dals_tune.workload(name="tensors", model=base.model_factory, **pairs,
                                  batch_size=base.batch_size)  # fmt: skip

    def as_dataset(_settings: object) -> object:
        sets = {n: TensorDataset(s.inputs, s.labels) for n, s in splits.items()}
        return dals_tune.workload(name="dataset", model=base.model_factory, **sets,
                                  batch_size=base.batch_size)  # fmt: skip

    register("benchmark:tensors", as_tensors)
    register("benchmark:dataset", as_dataset)
    rates: dict[str, list[float]] = {"benchmark:tensors": [], "benchmark:dataset": []}
    # One epoch of each in turn: a trial per path, stepped alternately from two threads.
    turns = {name: threading.Semaphore(0) for name in rates}
    order = list(rates)

    def run(name: str) -> None:
        def after_epoch(metrics: dict, _folder: object) -> None:
            rates[name].append(metrics["samples_per_second"])
            other = order[1 - order.index(name)]
            turns[other].release()
            if len(rates[name]) < epochs:
                turns[name].acquire()

        turns[name].acquire()
        trial = {**config, "workload": name, "strategy": "fixed_sgd", "epochs": epochs}
        trial.pop("eval_subset", None)
        train(trial, report=after_epoch)
        turns[order[1 - order.index(name)]].release()

    threads = [threading.Thread(target=run, args=(name,)) for name in order]
    for thread in threads:
        thread.start()
    turns[order[0]].release()
    for thread in threads:
        thread.join()
    return rates["benchmark:tensors"], rates["benchmark:dataset"]


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
    parser.add_argument(
        "--loader-workload", default="synthetic", help="the data of the loader comparison"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, device {args.device}")
    print(f"{'workload':<12} {'bare loop':>14} {'dals_tune':>14} {'ratio':>7}  (target >= 0.9)")
    for workload in args.workloads.split(","):
        # fp32 on both sides: the bare loop has no autocast (--precision auto may pick bf16).
        config = {"workload": workload, "seed": 0, "device": args.device, "eval_subset": 1000,
                  "precision": "fp32"}  # fmt: skip
        if args.data_dir:
            config["data_dir"] = args.data_dir
        if args.subset:
            config["subset"] = args.subset
        bare_rates, our_rates = compare(config, args.epochs)
        bare, ours = statistics.median(bare_rates), statistics.median(our_rates)
        print(f"{workload:<12} {bare:>10.0f} /s {ours:>10.0f} /s {ours / bare:>6.2f}x")
    if args.loader_workload:
        config = {"workload": args.loader_workload, "seed": 0, "device": args.device,
                  "precision": "fp32"}  # fmt: skip
        if args.subset:
            config["subset"] = args.subset
        tensors, dataset = loader_against_tensors(config, args.epochs)
        tensor_rate, dataset_rate = statistics.median(tensors), statistics.median(dataset)
        print(f"\n{'data path':<12} {'tensor pairs':>14} {'Dataset':>14} {'ratio':>7}")
        print(
            f"{args.loader_workload:<12} {tensor_rate:>10.0f} /s {dataset_rate:>10.0f} /s "
            f"{dataset_rate / tensor_rate:>6.2f}x"
        )


if __name__ == "__main__":
    main()
