"""The benchmark's named sizes (``benchmark --scale smoke|cpu|gpu|full``) and the rules they
keep.

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

Within those rules a scale is sized to its machine. The cpu scale races the strategies
(``--mode race``: clearly beaten ones stop receiving trials), studies every strategy where a
trial takes seconds and a panel (:data:`FINETUNE_PANEL`, :data:`PRETRAINING_PANEL`) where a
transformer makes it take minutes, trains the small text model from scratch, and sets the
target a subset can reach where it is not the workload's own; its estimate is in
``docs/reports.md``. The gpu scale shares a GPU between trials (``gpus_per_trial``).

A from-scratch study's pilot for ``refined`` runs the study's epochs, and again with twice as
many, up to ``pilot_extensions`` times, while its gradient norms are still in their initial
rise (:mod:`dals_tune.grad_norm_transient`; :mod:`dals_tune.benchmark` runs it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dals_tune.study.settings import SearchSettings

MIN_TRIAL_STEPS = 200  # optimizer steps every trial of a non-smoke scale takes at least
PILOT_EXTENSIONS = 2  # a pilot still in its initial rise runs again with 2×, then 4× epochs
TRIAL_RULE_EXEMPT = 0  # min_trial_steps of a scale that only checks code paths
_REQUIRED = object()  # _for_study's marker: no default, the scale must name a value


@dataclass(frozen=True)
class Scale:
    """A named benchmark size: the same for every strategy of a study, so every strategy gets
    the same budget. ``samples`` (search trials per strategy), ``max_epochs`` (epochs of a
    trial), ``strategies`` (who is studied; ``("all",)`` when unnamed), ``models`` (a text
    workload's model when the command names none) and ``targets`` (the validation value that
    counts as reached at this scale's data sizes, when it is not the workload's own) map a
    regime, or a ``"workload/regime"`` for its own value, to it; ``subset`` and
    ``eval_subset`` map a workload to its training / validation-and-test sizes and
    ``max_length`` a text workload to its tokens per example (a workload not named uses the
    whole split and the task's own length). ``mode`` is the study mode (``race`` where it
    saves compute), ``gpus_per_trial`` and ``cpus_per_trial`` a trial's share of a machine
    (a fraction of a GPU runs several trials on one), ``search`` what the trials sample
    (``SearchSettings.search``: ``"all"`` or ``"lr"``), ``min_trial_steps`` the optimizer
    steps a trial must take at least, and ``pilot_extensions`` how many times a refined pilot
    still in its initial rise is run again with twice the epochs."""

    name: str
    purpose: str
    samples: Mapping[str, int]
    seeds: int  # seed re-runs of each strategy's best configuration
    max_epochs: Mapping[str, int]
    subset: Mapping[str, int] = field(default_factory=dict)
    eval_subset: Mapping[str, int] = field(default_factory=dict)
    max_length: Mapping[str, int] = field(default_factory=dict)
    strategies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)
    targets: Mapping[str, float] = field(default_factory=dict)
    mode: str = "per-strategy"
    gpus_per_trial: float = 0.0
    cpus_per_trial: float = 1.0
    scheduler: str = "asha"
    search: str = "all"
    min_trial_steps: int = MIN_TRIAL_STEPS
    pilot_extensions: int = PILOT_EXTENSIONS

    def epochs(self, workload: str, regime: str) -> int:
        return _for_study(self.max_epochs, workload, regime)

    def strategies_for(self, workload: str, regime: str) -> tuple[str, ...]:
        """The strategies this scale studies on ``workload`` in ``regime``."""
        return tuple(_for_study(self.strategies, workload, regime, ("all",)))

    def settings(
        self, workload: str, regime: str, model: str | None = None, **common: object
    ) -> SearchSettings:
        """The study of ``workload`` in ``regime`` at this scale; ``model`` (the command's
        ``--model``) wins over the scale's own choice of model."""
        return SearchSettings(
            workload=workload,
            regime=regime,
            samples=_for_study(self.samples, workload, regime),
            seeds=self.seeds,
            max_epochs=self.epochs(workload, regime),
            mode=self.mode,
            gpus_per_trial=self.gpus_per_trial,
            cpus_per_trial=self.cpus_per_trial,
            scheduler=self.scheduler,
            search=self.search,
            subset=_for_data(self.subset, workload, regime),
            eval_subset=_for_data(self.eval_subset, workload, regime),
            max_length=_for_data(self.max_length, workload, regime),
            model=model or _for_study(self.models, workload, regime, None),
            target=_for_study(self.targets, workload, regime, None),
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


def _for_study(
    values: Mapping[str, Any], workload: str, regime: str, default: Any = _REQUIRED
) -> Any:
    """A scale's value for one study: its ``"workload/regime"`` entry, else its regime's,
    else ``default`` (a KeyError when a value every study needs is missing)."""
    for key in (f"{workload}/{regime}", regime):
        if key in values:
            return values[key]
    if default is _REQUIRED:
        raise KeyError(f"no value for {workload}/{regime}")
    return default


# The strategies of a cpu-scale study whose trials take minutes (a transformer fine-tuned or
# pretrained on 2 cores: 3-5 minutes a trial on one core), where 40 strategies would not fit
# the scale's hours: the DALS paper's comparisons that its claims need (RAdam,
# STLR+Discriminative and the paper's version of it, DALS and DALS-Fast, layer-wise LR decay),
# SGD with a fixed and a cosine schedule as the baselines the paper starts from, and one
# member of each family of today's practice (AdamW, WSD, schedule-free, Prodigy).
FINETUNE_PANEL = (
    "fixed_sgd", "cosine_sgd", "adamw", "radam", "llrd_adamw", "stlr_discriminative",
    "stlr_discriminative_paper", "dals", "dals_fast", "wsd", "schedulefree_adamw", "prodigy",
)  # fmt: skip
# Pretraining studies schedules: the panel, the schedule literature's linear decays and
# refined, and the optimizers language-model pretraining uses today.
PRETRAINING_PANEL = (
    *FINETUNE_PANEL, "linear_decay_sgd", "linear_decay_adamw", "refined", "muon", "soap",
    "ademamix", "lion",
)  # fmt: skip


def _for_data(values: Mapping[str, int], workload: str, regime: str) -> int | None:
    """A scale's data size for one study: its ``"workload/regime"`` entry, else its
    workload's, else None (the whole split, the task's own length)."""
    return values.get(f"{workload}/{regime}", values.get(workload))


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
            purpose="a laptop-scale answer on 2 CPU cores in about 7 hours, in which every "
            "study learns: strategies raced (--mode race) from their defaults through a "
            "log-uniform learning-rate search (three trials a strategy), 3 seeds "
            "for the survivors, every trial at "
            f"least {MIN_TRIAL_STEPS} optimizer steps; synthetic at the paper's size and "
            "budget (80 epochs, batch 128); the transformer studies on the panel of "
            "strategies their claims need; lm counts documents",
            # A budget of three trials a strategy: in the race, its default and one proposal,
            # then two more for the top half (docs/results.md, *How the run went*).
            samples={"scratch": 3, "finetune": 3},
            seeds=3,
            max_epochs={
                "scratch": 6,
                "finetune": 2,
                "synthetic/scratch": 80,
                "trec6/scratch": 4,
                "lm/scratch": 2,
            },
            subset={
                "cifar10": 10000,
                "trec6/finetune": 3200,
                "rte": 1600,
                "imdb": 1600,
                "lm": 200,
            },
            eval_subset={
                "cifar10": 2000,
                "trec6": 500,
                "rte": 277,
                "imdb": 500,
                "lm": 30,
            },
            max_length={"trec6": 32, "rte": 128, "imdb": 96, "lm": 64},  # trec6: ≤ 32 words
            strategies={"finetune": FINETUNE_PANEL, "lm/scratch": PRETRAINING_PANEL},
            models={"trec6/scratch": "textcnn"},
            # What these subsets can reach (docs/reports.md, *The benchmark command*).
            targets={"cifar10/scratch": 0.50, "trec6/finetune": 0.85, "imdb/finetune": 0.78},
            mode="race",
            search="lr",
        ),
        Scale(
            name="gpu",
            purpose="one GPU (an H100/H200-class card): each workload's study in about 10 "
            "minutes, four trials sharing the GPU (--gpus-per-trial 0.25), whole datasets "
            "but IMDb's, strategies raced as on the cpu scale; not yet measured on a GPU",
            samples={"scratch": 3, "finetune": 3},
            seeds=3,
            max_epochs={"scratch": 20, "finetune": 3, "synthetic/scratch": 80},
            subset={"imdb": 10000, "lm": 2000},
            max_length={"lm": 128},
            strategies={"finetune": FINETUNE_PANEL, "lm/scratch": PRETRAINING_PANEL},
            mode="race",
            gpus_per_trial=0.25,
            cpus_per_trial=3.0,
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
        "| scale | mode | strategies | trials / strategy (scratch / finetune) | search | seeds "
        "| epochs (scratch / finetune) | training subset | models, targets | steps / trial "
        "| purpose |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scale in SCALES.values():
        subset = ", ".join(f"{k} {v}" for k, v in scale.subset.items()) or "whole splits"
        lengths = "".join(f"; {k} {v} tokens" for k, v in scale.max_length.items())
        choices = [f"{key}: {model}" for key, model in scale.models.items()]
        choices += [f"{key} target {target:g}" for key, target in scale.targets.items()]
        steps = f"≥ {scale.min_trial_steps}" if scale.min_trial_steps else "any"
        chosen = "; ".join(choices) or "the workloads' own"
        lines.append(
            f"| {scale.name} | {scale.mode} | {_strategy_words(scale)} "
            f"| {_by_regime(scale.samples)} | {SEARCH_WORDS[scale.search]} | {scale.seeds} "
            f"| {_by_regime(scale.max_epochs)} | {subset}{lengths} "
            f"| {chosen} | {steps} | {scale.purpose} |"
        )
    return "\n".join(lines)


def _by_regime(values: Mapping[str, int]) -> str:
    """``scratch / finetune``, then each study's own value (``; trec6/scratch 5``)."""
    own = "".join(f"; {key} {value}" for key, value in values.items() if "/" in key)
    return f"{values['scratch']} / {values['finetune']}{own}"


def _strategy_words(scale: Scale) -> str:
    if not scale.strategies:
        return "all"
    named = "; ".join(f"{key}: a panel of {len(ids)}" for key, ids in scale.strategies.items())
    return f"all; {named} (dals_tune/benchmark_scales.py)"
