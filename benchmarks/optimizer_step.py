"""Time one optimizer step on the same ~23M parameters: DALS against torch AdamW and
SGD-momentum (both foreach), against a per-tensor loop of the DALS rules, and against the
floor: the memory traffic DALS cannot avoid, done in the fewest foreach passes.

    python benchmarks/optimizer_step.py [--threads 2] [--device cpu|cuda] [--repeats 15]

Parameters and gradients come from a BERT-style model built from a config (no download):
hidden 384, 6 blocks, vocabulary 30,522. Gradients are restored before every timed step so
that each optimizer sees the same input; only ``step()`` is inside the timer. Prints each
median step time and the ratios the issue sets targets for (DALS ≤ 0.6× AdamW, per-tensor
loop ≥ 2.5× DALS), DALS / floor, how far DALS is from what its bytes cost, and the Muon and
SOAP strategies against AdamW. A new contestant is one more ``(name, builder)`` entry in
``CONTESTANTS``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import BertConfig, BertForSequenceClassification

from dals_tune import DALS, strategies
from dals_tune.optim.reference import ReferenceDALS


def make_model(device: str) -> torch.nn.Module:
    config = BertConfig(
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=6,
        intermediate_size=1536,
        vocab_size=30522,
        num_labels=2,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).to(device)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    return model


class FloorStep:
    """The bytes a DALS step must move, in as few passes as foreach ops allow: read the
    gradients, read and write the parameters and both state buffers (the EMA ḡ and the
    momentum), 9 N of traffic in three passes where DALS makes seven. Not an optimizer."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.params = list(model.parameters())
        self.averages = [torch.zeros_like(p) for p in self.params]
        self.momenta = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        torch._foreach_lerp_(self.averages, [p.grad for p in self.params], 0.4)
        torch._foreach_lerp_(self.momenta, self.averages, 0.1)
        torch._foreach_add_(self.params, self.momenta, alpha=-1e-3)


STEPS = 1000  # the DALS schedule's length; the benchmark only runs its first steps

# (name, builder): a builder turns a model into something with ``step()``.
CONTESTANTS = [
    ("DALS (foreach)", lambda m: DALS(m, total_steps=STEPS)),
    ("torch AdamW (foreach)", lambda m: torch.optim.AdamW(m.parameters(), lr=1e-3, foreach=True)),
    (
        "torch SGD momentum (foreach)",
        lambda m: torch.optim.SGD(
            m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, foreach=True
        ),
    ),
    ("DALS per-tensor loop", lambda m: ReferenceDALS(m, total_steps=STEPS)),
    ("floor (DALS bytes, 3 passes)", FloorStep),
    # The matrix-aware strategies, as a study builds them (defaults, the registry's split).
    ("muon (strategy)", lambda m: strategies.build("muon", m, total_steps=STEPS)[0]),
    ("soap (strategy)", lambda m: strategies.build("soap", m, total_steps=STEPS)[0]),
]


class Contestant:
    """One optimizer on its own copy of the model, with gradients to restore before a step."""

    def __init__(self, name: str, build, device: str) -> None:
        self.name, self.device = name, device
        self.model = make_model(device)
        self.grads = [p.grad.clone() for p in self.model.parameters()]
        self.optimizer = build(self.model)
        self.times: list[float] = []
        self.steps = 0

    def timed_step(self, record: bool) -> None:
        for p, g in zip(self.model.parameters(), self.grads):
            p.grad.copy_(g)
        if hasattr(self.optimizer, "observe_loss"):
            self.optimizer.observe_loss(1.0 / (self.steps + 1))  # falling: explore, exploit
        self.steps += 1
        synchronize(self.device)
        start = time.perf_counter()
        self.optimizer.step()
        synchronize(self.device)
        if record:
            self.times.append(time.perf_counter() - start)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    count = sum(p.numel() for p in make_model("cpu").parameters())
    print(
        f"device {args.device}, {args.threads} threads, {count / 1e6:.1f}M parameters, "
        f"torch {torch.__version__}; median of {args.repeats} steps"
    )
    contestants = [Contestant(name, build, args.device) for name, build in CONTESTANTS]
    # Round-robin, so that whatever else the machine does hits every optimizer alike; the
    # first rounds allocate optimizer state and are not recorded.
    for round_index in range(args.repeats + 3):
        for contestant in contestants:
            contestant.timed_step(record=round_index >= 3)
    median = {}
    for contestant in contestants:
        median[contestant.name] = statistics.median(contestant.times)
        print(
            f"{contestant.name:<30} {median[contestant.name] * 1e3:9.2f} ms   "
            f"(min {min(contestant.times) * 1e3:.2f} ms)"
        )
    print_ratios(median)


def print_ratios(median: dict[str, float]) -> None:
    """The ratios the issue sets targets for, and how far DALS is from its floor."""
    dals = median["DALS (foreach)"]
    print(f"DALS / AdamW          = {dals / median['torch AdamW (foreach)']:.2f}x  (target <= 0.6)")
    print(f"DALS / SGD momentum   = {dals / median['torch SGD momentum (foreach)']:.2f}x")
    print(f"loop / DALS (speedup) = {median['DALS per-tensor loop'] / dals:.2f}x  (target >= 2.5)")
    print(f"DALS / floor          = {dals / median['floor (DALS bytes, 3 passes)']:.2f}x")
    adamw = median["torch AdamW (foreach)"]
    print(f"Muon / AdamW          = {median['muon (strategy)'] / adamw:.2f}x")
    print(f"SOAP / AdamW          = {median['soap (strategy)'] / adamw:.2f}x")


if __name__ == "__main__":
    main()
