"""bf16 autocast against fp32: training time and accuracy side by side, on the same trials.

    python benchmarks/precision.py --data-dir ../shared/data [--cases minilm,textcnn]
        [--seeds 0,1] [--threads 2] [--device auto]

Each case is one trial config (a workload, a model, a regime, a strategy, epochs), run at
``precision`` fp32 and bf16 for each seed, the two precisions alternating (fp32 seed 0,
bf16 seed 0, fp32 seed 1, ...) so that whatever else a shared machine does hits both alike.
Time is the training part of the epochs (``epoch_seconds``, summed), not the evaluation or
the model's loading. Printed per case: each precision's median training seconds, the
ratio bf16 / fp32 of the medians (below 1: bf16 faster), and the validation and test
metric at the last epoch (accuracy; the loss for ``lm``), mean ± spread over seeds, with
the largest |bf16 − fp32| difference of one seed's pair.

The cases:

- ``minilm``: the bundled MiniLM-L6 fine-tuned on TREC-6, an 800-example subset, 1 epoch
  (AdamW, its fine-tuning defaults);
- ``textcnn``: the small TextCNN from scratch on the whole TREC-6 training set, 3 epochs
  (AdamW, its scratch defaults);
- ``synthetic``: the 20-d MLP of the synthetic workload, 3 epochs (AdamW): small matrix
  products, where autocast's casts weigh most;
- ``lm``: the byte-level GPT (``gpt-4x128``) on 100 IMDb reviews, 1 epoch (AdamW); its
  metric is the loss in nats per byte.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import torch

from dals_tune.objective import Objective
from dals_tune.precision import native_bf16
from dals_tune.training import train
from dals_tune.workloads.config import resolve_device

CASES: dict[str, dict[str, Any]] = {
    "minilm": {
        "workload": "trec6",
        "regime": "finetune",
        "subset": 800,
        "eval_subset": 300,
        "strategy": "adamw",
        "epochs": 1,
    },
    "textcnn": {
        "workload": "trec6",
        "regime": "scratch",
        "model": "textcnn",
        "strategy": "adamw",
        "epochs": 3,
    },
    "synthetic": {"workload": "synthetic", "strategy": "adamw", "epochs": 3},
    "lm": {"workload": "lm", "subset": 100, "eval_subset": 20, "strategy": "adamw", "epochs": 1},
}
PRECISIONS = ("fp32", "bf16")


def run_case(config: dict[str, Any], seeds: list[int]) -> dict[str, list[dict[str, float]]]:
    """``precision → one {seconds, val, test} per seed`` (the last epoch's accuracy, or loss
    for ``lm``), precisions alternating."""
    results: dict[str, list[dict[str, float]]] = {precision: [] for precision in PRECISIONS}
    for seed in seeds:
        for precision in PRECISIONS:
            record = train({**config, "seed": seed, "precision": precision})
            objective = Objective.from_record(record.workload)
            results[precision].append(
                {
                    "seconds": sum(epoch["epoch_seconds"] for epoch in record.epochs),
                    "val": record.final[objective.val_key],
                    "test": record.final[objective.test_key],
                }
            )
    return results


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    half_range = (max(values) - min(values)) / 2
    return f"{mean:.3f} ± {half_range:.3f}"


def report(name: str, results: dict[str, list[dict[str, float]]]) -> None:
    fp32, bf16 = results["fp32"], results["bf16"]
    fp32_seconds = statistics.median(run["seconds"] for run in fp32)
    bf16_seconds = statistics.median(run["seconds"] for run in bf16)
    print(
        f"{name:<8} {fp32_seconds:>9.1f} s {bf16_seconds:>9.1f} s "
        f"{bf16_seconds / fp32_seconds:>6.2f}x"
    )
    for metric in ("val", "test"):
        gap = max(abs(a[metric] - b[metric]) for a, b in zip(fp32, bf16))
        print(
            f"  {metric:<8} fp32 {spread([run[metric] for run in fp32])}  "
            f"bf16 {spread([run[metric] for run in bf16])}  largest pair gap {gap:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cases", default="minilm,textcnn")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(
        f"torch {torch.__version__}, {args.threads} threads, device {device}, "
        f"native bf16: {native_bf16(device)}, seeds {seeds}"
    )
    print(f"{'case':<8} {'fp32':>11} {'bf16':>11} {'ratio':>7}  (bf16 / fp32 training time)")
    for name in args.cases.split(","):
        config = {**CASES[name], "device": str(device)}
        if args.data_dir:
            config["data_dir"] = args.data_dir
        report(name, run_case(config, seeds))


if __name__ == "__main__":
    main()
