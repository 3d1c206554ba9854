"""The benchmark's named sizes (``benchmark --scale smoke|cpu|full``) and the rules they keep.

A :class:`Scale` gives every strategy of a study the same budget: the same trials, epochs,
seeds and data. Two rules make a budget one that ranks strategies rather than defaults:

- **Every regime searches every strategy's learning rate.** A scale's budget is each
  strategy's default configuration plus a log-uniform search of its learning rate(s) over
  the declared range: ``search="lr"`` (``search_spaces.learning_rates_only``) on the laptop
  scale, whose few trials would otherwise go mostly to other knobs, and the whole space at
  the full scale's 20 trials. A learning rate that is right for one pretrained encoder can
  be an order of magnitude off for another; a study of defaults ranks the defaults. The
  hyperparameter-free strategies have no learning rate to search and run their default
  configuration once, which the study's budget tag and leaderboard notes name.
- **Trials of at least a few hundred optimizer steps.** On the cpu and full scales, every
  trial of a built-in study takes at least :data:`MIN_TRIAL_STEPS` steps:

      steps per trial = steps per epoch × epochs,   steps per epoch = ⌈n / B⌉

  n being the training examples (the scale's subset) and B the workload's batch size (a
  last batch of one example is dropped, so ⌈n / B⌉ − 1 when n mod B = 1). A test checks it
  for every built-in classification study; lm, whose subset counts documents, is checked by
  the benchmark itself before it starts, from the workload it builds, and any study (a
  user's workload too) with shorter trials is named in one line. ``smoke`` is exempt: it
  only checks that every code path runs.

A from-scratch study's pilot for ``refined`` runs the study's epochs, and again with twice as
many, up to ``pilot_extensions`` times, while its gradient norms are still in their initial
rise (:mod:`dals_tune.grad_norm_transient`; :mod:`dals_tune.benchmark` runs it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dals_tune.study.settings import SearchSettings

MIN_TRIAL_STEPS = 200  # optimizer steps every trial of a non-smoke scale takes at least
PILOT_EXTENSIONS = 2  # a pilot still in its initial rise runs again with 2×, then 4× epochs
TRIAL_RULE_EXEMPT = 0  # min_trial_steps of a scale that only checks code paths


@dataclass(frozen=True)
class Scale:
    """A named benchmark size: the same for every strategy, so every strategy gets the same
    budget. ``samples`` (search trials per strategy) and ``max_epochs`` (epochs of a trial)
    map a regime to its value, or a ``"workload/regime"`` to its own; ``subset`` and
    ``eval_subset`` map a workload to its training / validation-and-test sizes and
    ``max_length`` a text workload to its tokens per example (a workload not named uses the
    whole split and the task's own length). ``search`` is what the trials sample
    (``SearchSettings.search``: ``"all"`` or ``"lr"``), ``min_trial_steps`` the optimizer
    steps a trial must take at least, and ``pilot_extensions`` how many times a refined
    pilot still in its initial rise is run again with twice the epochs."""

    name: str
    purpose: str
    samples: Mapping[str, int]
    seeds: int  # seed re-runs of each strategy's best configuration
    max_epochs: Mapping[str, int]
    subset: Mapping[str, int] = field(default_factory=dict)
    eval_subset: Mapping[str, int] = field(default_factory=dict)
    max_length: Mapping[str, int] = field(default_factory=dict)
    scheduler: str = "asha"
    search: str = "all"
    min_trial_steps: int = MIN_TRIAL_STEPS
    pilot_extensions: int = PILOT_EXTENSIONS

    def epochs(self, workload: str, regime: str) -> int:
        return self.max_epochs.get(f"{workload}/{regime}", self.max_epochs[regime])

    def settings(self, workload: str, regime: str, **common: object) -> SearchSettings:
        return SearchSettings(
            workload=workload,
            regime=regime,
            samples=self.samples.get(f"{workload}/{regime}", self.samples[regime]),
            seeds=self.seeds,
            max_epochs=self.epochs(workload, regime),
            scheduler=self.scheduler,
            search=self.search,
            subset=self.subset.get(workload),
            eval_subset=self.eval_subset.get(workload),
            max_length=self.max_length.get(workload),
            **common,  # type: ignore[arg-type]
        )

    def short_trials(self, key: str, steps_per_epoch: int, epochs: int) -> str | None:
        """One line naming a study (``key``) whose trials take fewer optimizer steps than
        this scale's rule, None when they take enough."""
        steps = steps_per_epoch * epochs
        if steps >= self.min_trial_steps:
            return None
        return (
            f"note: {key} trials take {steps} optimizer steps ({steps_per_epoch} per epoch × "
            f"{epochs} epochs), under the {self.min_trial_steps} of the {self.name} scale: "
            "its ranking says how strategies start, not how they train"
        )


ALL_WORKLOADS = ("synthetic", "cifar10", "trec6", "rte", "imdb", "lm")

SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        Scale(
            name="smoke",
            purpose="every code path in minutes (the test suite runs it on tiny fixtures): "
            "each strategy's default configuration only, trials of a few steps",
            samples={"scratch": 1, "finetune": 1},
            seeds=1,
            max_epochs={"scratch": 2, "finetune": 1},  # a pilot to refine needs 2+ steps
            subset=dict.fromkeys(ALL_WORKLOADS, 200),
            eval_subset=dict.fromkeys(ALL_WORKLOADS, 100),
            max_length={"lm": 16},
            scheduler="fifo",
            search="lr",
            min_trial_steps=TRIAL_RULE_EXEMPT,
            pilot_extensions=0,
        ),
        Scale(
            name="cpu",
            purpose="a laptop-scale answer on 2 CPU cores: each strategy's default and two "
            "learning rates searched log-uniformly in both regimes, every trial at least "
            f"{MIN_TRIAL_STEPS} optimizer steps; about two days of studies, estimated "
            "(docs/reports.md); lm counts documents",
            samples={"scratch": 3, "finetune": 3},
            seeds=2,
            max_epochs={"scratch": 5, "finetune": 2, "trec6/scratch": 2, "lm/scratch": 2},
            subset={
                "synthetic": 6000,
                "cifar10": 5000,
                "trec6": 3200,
                "rte": 1600,
                "imdb": 1600,
                "lm": 200,
            },
            eval_subset={
                "synthetic": 2000,
                "cifar10": 1000,
                "trec6": 200,
                "rte": 100,
                "imdb": 100,
                "lm": 30,
            },
            max_length={"trec6": 32, "imdb": 128, "lm": 64},
            search="lr",
        ),
        Scale(
            name="full",
            purpose="the paper's sizes, for a GPU cluster (--address): whole datasets, "
            "every strategy's whole space searched",
            samples={"scratch": 20, "finetune": 20},
            seeds=3,
            max_epochs={"scratch": 30, "finetune": 4},
        ),
    )
}
SEARCH_WORDS = {"all": "whole space", "lr": "learning rates"}


def describe_scales() -> str:
    """The scales as a Markdown table (for ``benchmark --help`` and the docs)."""
    lines = [
        "| scale | trials / strategy (scratch / finetune) | search | seeds "
        "| epochs (scratch / finetune) | training subset | steps / trial | purpose |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scale in SCALES.values():
        subset = ", ".join(f"{k} {v}" for k, v in scale.subset.items()) or "whole splits"
        epochs = f"{scale.max_epochs['scratch']} / {scale.max_epochs['finetune']}" + "".join(
            f"; {key} {value}" for key, value in scale.max_epochs.items() if "/" in key
        )
        samples = f"{scale.samples['scratch']} / {scale.samples['finetune']}"
        lengths = "".join(f"; {k} {v} tokens" for k, v in scale.max_length.items())
        steps = f"≥ {scale.min_trial_steps}" if scale.min_trial_steps else "any"
        lines.append(
            f"| {scale.name} | {samples} | {SEARCH_WORDS[scale.search]} | {scale.seeds} "
            f"| {epochs} | {subset}{lengths} | {steps} | {scale.purpose} |"
        )
    return "\n".join(lines)
