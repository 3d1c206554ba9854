"""The registry of learning-rate strategies (DESIGN §4) and the one factory that builds them.

A strategy is a frozen :class:`Strategy` record: its id (the name the CLI uses), its
generation and family, the library that backs it, its default hyperparameters per regime
("scratch", "finetune") and a builder. :func:`build` turns an id, a model and a run length
into ``(optimizer, scheduler_or_None)``; every schedule is stepped once per optimizer step.
A training loop calls :func:`optimizer_step` after ``loss.backward()`` and, when the
scheduler is not None, ``scheduler.step()`` after it::

    strategy = strategies.get("stlr_discriminative")
    optimizer, scheduler = strategies.build(strategy.id, model, total_steps=T)
    for x, y in batches:

        def recompute():  # zero-grad, forward, backward; SAM calls it again inside step
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            return loss

        loss = recompute()
        strategies.optimizer_step(strategy, optimizer, loss.item(), recompute)
        if scheduler is not None:
            scheduler.step()

Two records need more of the loop: ``needs_closure`` (SAM: ``recompute`` is called once more
inside the step, at the perturbed weights) and ``has_train_eval_modes`` (schedule-free AdamW:
call ``optimizer.train()`` before training steps and ``optimizer.eval()`` before evaluating or
checkpointing, because it evaluates at a different point than it trains at).

One strategy's special case lives in its builder; the records at the bottom say which
builder each id uses with which defaults.
"""

from __future__ import annotations

import contextlib
import difflib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from dals_tune.layers import LayerMapping, depth_param_groups
from dals_tune.schedules import (
    SlantedTriangular,
    TabulatedSchedule,
    WarmupLinearDecay,
    refined_schedule,
)

REGIMES = ("scratch", "finetune")
LIBRARY_LICENCES = {
    "torch": "BSD-3-Clause",
    "pytorch-optimizer": "Apache-2.0",
    "schedulefree": "Apache-2.0",
    "prodigyopt": "MIT",
    "dadaptation": "MIT",
    "dals_tune": "Apache-2.0",
}


@dataclass(frozen=True)
class BuildContext:
    """What a builder needs besides the model and the hyperparameters."""

    total_steps: int
    steps_per_epoch: int
    regime: str = "scratch"
    layer_mapping: LayerMapping | None = None


Built = tuple[Optimizer, LRScheduler | None]
Builder = Callable[[nn.Module, dict[str, Any], BuildContext], Built]


@dataclass(frozen=True)
class Strategy:
    """One registered strategy. ``defaults[regime]`` lists every hyperparameter it takes."""

    id: str
    generation: int
    family: str
    library: str
    description: str
    defaults: dict[str, dict[str, Any]]
    builder: Builder = field(repr=False, compare=False)
    paper: bool = False
    needs_closure: bool = False
    has_train_eval_modes: bool = False

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        return tuple(self.defaults["scratch"])


REGISTRY: dict[str, Strategy] = {}


def get(strategy_id: str) -> Strategy:
    """The record of ``strategy_id``; a ValueError suggests the closest id."""
    if strategy_id in REGISTRY:
        return REGISTRY[strategy_id]
    close = difflib.get_close_matches(str(strategy_id), list(REGISTRY), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    raise ValueError(f"unknown strategy {strategy_id!r}{hint} see python -m dals_tune strategies")


def resolve_config(strategy_id: str, regime: str = "scratch", **overrides: Any) -> dict[str, Any]:
    """The strategy's defaults for ``regime`` with ``overrides`` on top."""
    strategy = get(strategy_id)
    if regime not in strategy.defaults:
        raise ValueError(f"unknown regime {regime!r}; use one of {', '.join(REGIMES)}")
    config = dict(strategy.defaults[regime])
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ValueError(
            f"strategy {strategy.id!r} takes no hyperparameter {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(config)}"
        )
    config.update(overrides)
    return config


def build(
    strategy_id: str,
    model: nn.Module,
    total_steps: int,
    regime: str = "scratch",
    steps_per_epoch: int | None = None,
    layer_mapping: LayerMapping | None = None,
    **overrides: Any,
) -> Built:
    """(optimizer, scheduler or None) for ``model`` trained for ``total_steps`` optimizer
    steps. ``steps_per_epoch`` (None: the whole run is one epoch) sets epoch-based lengths
    such as SGDR's first cycle; ``layer_mapping`` is passed to :mod:`dals_tune.layers` by the
    layer-wise strategies."""
    strategy = get(strategy_id)
    config = resolve_config(strategy_id, regime, **overrides)
    if int(total_steps) != total_steps or total_steps <= 0:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps}")
    steps_per_epoch = int(total_steps) if steps_per_epoch is None else int(steps_per_epoch)
    if steps_per_epoch <= 0:
        raise ValueError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch}")
    context = BuildContext(int(total_steps), steps_per_epoch, regime, layer_mapping)
    return strategy.builder(model, config, context)


def optimizer_step(
    strategy: Strategy,
    optimizer: Optimizer,
    loss_value: float,
    recompute: Callable[[], Tensor],
) -> None:
    """One optimizer step, after ``loss.backward()``. Feeds DALS's phase detector, and gives
    SAM ``recompute`` (zero-grad, forward, backward, return the loss) for its second pass."""
    observe_loss = getattr(optimizer, "observe_loss", None)
    if observe_loss is not None:
        observe_loss(loss_value)
    if strategy.needs_closure:
        optimizer.step(recompute)
    else:
        optimizer.step()


# --- parameter groups ---------------------------------------------------------------------


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    return params


def layerwise_groups(
    model: nn.Module, top_lr: float, decay: float, mapping: LayerMapping | None = None
) -> list[dict[str, Any]]:
    """One group per layer with lr_l = top_lr · decay^(L−1−l): the output layer gets
    ``top_lr`` and each layer below ``decay`` times its upper neighbour's LR."""
    groups = depth_param_groups(model, mapping)
    for group in groups:
        group["lr"] = top_lr * decay ** group["layers_above"]
    return groups


def discriminative_groups(
    model: nn.Module, top_lr: float, divisor: float, mapping: LayerMapping | None = None
) -> list[dict[str, Any]]:
    """ULMFiT's discriminative fine-tuning split, lr_l = top_lr · divisor^−(L−1−l)
    (divisor 2.6: each layer gets the LR of the one above it ÷ 2.6)."""
    if divisor <= 0:
        raise ValueError(f"layer_divisor must be positive, got {divisor}")
    groups = depth_param_groups(model, mapping)
    for group in groups:
        group["lr"] = top_lr * divisor ** -group["layers_above"]
    return groups


# --- optimizers ---------------------------------------------------------------------------


def _sgd(params: Any, c: dict[str, Any]) -> Optimizer:
    return torch.optim.SGD(
        params, lr=c["lr"], momentum=c["momentum"], weight_decay=c["weight_decay"], foreach=True
    )


def _adamw(params: Any, c: dict[str, Any]) -> Optimizer:
    return torch.optim.AdamW(
        params,
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        eps=c.get("eps", 1e-8),
        weight_decay=c["weight_decay"],
        foreach=True,
    )


def _warmup_steps(c: dict[str, Any], context: BuildContext) -> float:
    return c["warmup_frac"] * context.total_steps


# --- builders: one per strategy or family -------------------------------------------------


def build_fixed_sgd(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    return _sgd(trainable_parameters(model), c), None


def build_cosine_sgd(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """η_t = η_min + (η0 − η_min)·½(1 + cos(π t/T)) (torch CosineAnnealingLR)."""
    optimizer = _sgd(trainable_parameters(model), c)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=context.total_steps, eta_min=c["eta_min"]
    )
    return optimizer, scheduler


def build_sgdr(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Warm restarts (torch CosineAnnealingWarmRestarts): first cycle ``first_cycle_epochs``
    epochs of steps, each next cycle ``cycle_mult`` times longer, floor ``eta_min``."""
    if int(c["cycle_mult"]) != c["cycle_mult"] or c["cycle_mult"] < 1:
        raise ValueError(f"sgdr's cycle_mult must be an integer ≥ 1, got {c['cycle_mult']}")
    optimizer = _sgd(trainable_parameters(model), c)
    first_cycle = max(1, round(c["first_cycle_epochs"] * context.steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=first_cycle, T_mult=int(c["cycle_mult"]), eta_min=c["eta_min"]
    )
    return optimizer, scheduler


def build_linear_decay(make: Callable[[Any, dict[str, Any]], Optimizer]) -> Builder:
    def builder(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
        optimizer = make(trainable_parameters(model), c)
        schedule = WarmupLinearDecay(context.total_steps, _warmup_steps(c, context))
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    return builder


def build_onecycle(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Smith's one-cycle policy (torch OneCycleLR): LR from lr/div_factor up to lr over
    pct_start of the run, then cosine down to lr/(div_factor·final_div_factor), with the
    momentum cycled the other way, from max_momentum down to base_momentum and back."""
    optimizer = _sgd(trainable_parameters(model), {**c, "momentum": c["max_momentum"]})
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=c["lr"],
        total_steps=context.total_steps,
        pct_start=c["pct_start"],
        div_factor=c["div_factor"],
        final_div_factor=c["final_div_factor"],
        base_momentum=c["base_momentum"],
        max_momentum=c["max_momentum"],
    )
    return optimizer, scheduler


def build_wsd(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Warmup–stable–decay over AdamW (pytorch-optimizer get_wsd_schedule): linear warmup
    over warmup_frac·T, constant, then the last decay_frac·T steps cool down to 0."""
    from pytorch_optimizer import get_wsd_schedule

    optimizer = _adamw(trainable_parameters(model), c)
    total = context.total_steps
    warmup = round(c["warmup_frac"] * total)
    decay = round(c["decay_frac"] * total)
    if warmup + decay > total:
        raise ValueError(
            f"wsd's warmup_frac + decay_frac must be at most 1, got "
            f"{c['warmup_frac']} + {c['decay_frac']}"
        )
    scheduler = get_wsd_schedule(
        optimizer,
        num_warmup_steps=warmup,
        num_stable_steps=total - warmup - decay,
        num_decay_steps=decay,
        cooldown_type=c["cooldown"],
    )
    return optimizer, scheduler


def build_refined(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """A previous run's gradient norms turned into a schedule (schedules.refined_schedule),
    times the peak LR, over SGD or AdamW. None in lr, weight_decay or grad_norm_kind means
    the base optimizer's default (SGD: ℓ2 norms; AdamW: ℓ1 norms)."""
    if c["grad_norms"] is None:
        raise ValueError(
            "the 'refined' strategy needs grad_norms: the per-step gradient norms of a "
            "previous run of the same workload (a trial's grad_norms_l2, or grad_norms_l1 "
            "with grad_norm_kind='l1'); pass them as grad_norms=[...]"
        )
    if c["base"] not in REFINED_BASES:
        raise ValueError(
            f"refined's base must be one of {sorted(REFINED_BASES)}, got {c['base']!r}"
        )
    make, base_defaults = REFINED_BASES[c["base"]]
    c = dict(c)
    for key, value in base_defaults[context.regime].items():
        if c[key] is None:
            c[key] = value
    optimizer = make(trainable_parameters(model), c)
    values = refined_schedule(c["grad_norms"], context.total_steps, c["grad_norm_kind"])
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, TabulatedSchedule(values))


def build_adam(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    optimizer = torch.optim.Adam(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        eps=c["eps"],
        weight_decay=c["weight_decay"],
        foreach=True,
    )
    return optimizer, None


def build_adamw(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    return _adamw(trainable_parameters(model), c), None


def build_radam(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    optimizer = torch.optim.RAdam(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        eps=c["eps"],
        weight_decay=c["weight_decay"],
        foreach=True,
    )
    return optimizer, None


def build_adabound(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import AdaBound

    optimizer = AdaBound(
        trainable_parameters(model),
        lr=c["lr"],
        final_lr=c["final_lr"],
        gamma=c["gamma"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
    )
    return optimizer, None


def build_lars(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import LARS

    optimizer = LARS(
        trainable_parameters(model),
        lr=c["lr"],
        momentum=c["momentum"],
        weight_decay=c["weight_decay"],
        trust_coefficient=c["trust_coefficient"],
    )
    return optimizer, None


def build_lamb(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import Lamb

    optimizer = Lamb(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
        eps=c["eps"],
    )
    return optimizer, None


def build_lion(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import Lion

    optimizer = Lion(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
    )
    return optimizer, None


def build_lookahead_adamw(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from pytorch_optimizer import Lookahead

    inner = _adamw(trainable_parameters(model), c)
    return Lookahead(inner, k=c["lookahead_k"], alpha=c["lookahead_alpha"]), None


def _sam(params: Any, c: dict[str, Any]) -> Optimizer:
    """Adaptive SAM (ASAM) over SGD: perturb by ε = ρ·θ²⊙g/‖θ⊙g‖, take the gradient there,
    step from the original weights."""
    from pytorch_optimizer import SAM

    return SAM(
        params,
        base_optimizer=torch.optim.SGD,
        rho=c["rho"],
        adaptive=True,
        lr=c["lr"],
        momentum=c["momentum"],
        weight_decay=c["weight_decay"],
    )


def build_sam(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    return _sam(trainable_parameters(model), c), None


def build_grokfast(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from dals_tune.optim.grokfast import GrokfastFilter

    base = _sgd(trainable_parameters(model), c)
    return GrokfastFilter(base, alpha=c["grokfast_alpha"], lamb=c["grokfast_lambda"]), None


def build_discriminative(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    groups = discriminative_groups(model, c["lr"], c["layer_divisor"], context.layer_mapping)
    return _sgd(groups, c), None


def build_stlr_discriminative(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """The discriminative split as each group's base LR, once, and the slanted triangular
    multiplier on top: lr_l(t) = lr·2.6^−(L−1−l)·s_STLR(t)."""
    groups = discriminative_groups(model, c["lr"], c["layer_divisor"], context.layer_mapping)
    optimizer = _sgd(groups, c)
    schedule = SlantedTriangular(context.total_steps, c["cut_frac"], c["ratio"])
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def build_sam_discriminative(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    groups = discriminative_groups(model, c["lr"], c["layer_divisor"], context.layer_mapping)
    return _sam(groups, c), None


def build_llrd_adamw(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """Layer-wise LR decay: lr_l = lr·decay^(L−1−l) over AdamW."""
    groups = layerwise_groups(model, c["lr"], c["layer_decay"], context.layer_mapping)
    return _adamw(groups, c), None


def _quiet() -> contextlib.AbstractContextManager:
    """Prodigy and D-Adaptation print a notice when built; it would break progress bars."""
    return contextlib.redirect_stdout(io.StringIO())


def build_prodigy(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from prodigyopt import Prodigy

    with _quiet():
        optimizer = Prodigy(
            trainable_parameters(model),
            lr=c["lr"],
            betas=(c["beta1"], c["beta2"]),
            weight_decay=c["weight_decay"],
            d_coef=c["d_coef"],
            safeguard_warmup=c["safeguard_warmup"],
        )
    return optimizer, None


def build_dadapt_adam(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from dadaptation import DAdaptAdam

    with _quiet():
        optimizer = DAdaptAdam(
            trainable_parameters(model),
            lr=c["lr"],
            betas=(c["beta1"], c["beta2"]),
            weight_decay=c["weight_decay"],
            decouple=True,
        )
    return optimizer, None


def build_schedulefree_adamw(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    from schedulefree import AdamWScheduleFree

    optimizer = AdamWScheduleFree(
        trainable_parameters(model),
        lr=c["lr"],
        betas=(c["beta1"], c["beta2"]),
        weight_decay=c["weight_decay"],
        warmup_steps=round(_warmup_steps(c, context)),
    )
    return optimizer, None


def build_dals(model: nn.Module, c: dict[str, Any], context: BuildContext) -> Built:
    """DALS and its variants; the schedule lives inside the optimizer, so no scheduler.
    ``restart_epochs`` (DALS-Acc) becomes ``restart_steps`` = restart_epochs·steps per epoch."""
    from dals_tune.optim import DALS

    c = dict(c)
    if "restart_epochs" in c:
        c["restart_steps"] = max(1, round(c.pop("restart_epochs") * context.steps_per_epoch))
    optimizer = DALS(
        model, total_steps=context.total_steps, layer_mapping=context.layer_mapping, **c
    )
    return optimizer, None


# --- defaults -----------------------------------------------------------------------------

FINETUNE_ADAM_LR = 5e-5
FINETUNE_SGD_DIVISOR = 20  # fixed_sgd: lr 0.01 from scratch, 5e-4 fine-tuning


def _regimes(scratch: dict[str, Any], **finetune: Any) -> dict[str, dict[str, Any]]:
    """Both regimes: the scratch defaults, and the same with the fine-tuning changes."""
    unknown = set(finetune) - set(scratch)
    if unknown:
        raise ValueError(f"fine-tuning defaults {sorted(unknown)} are not scratch defaults")
    return {"scratch": dict(scratch), "finetune": {**scratch, **finetune}}


def _sgd_defaults(lr: float, **extra: Any) -> dict[str, dict[str, Any]]:
    """SGD momentum 0.9, wd 5e-4; fine-tuning divides the LR by 20."""
    scratch = {"lr": lr, "momentum": 0.9, "weight_decay": 5e-4, **extra}
    return _regimes(scratch, lr=lr / FINETUNE_SGD_DIVISOR)


def _adam_defaults(
    lr: float = 3e-4,
    weight_decay: float = 0.0,
    finetune_lr: float = FINETUNE_ADAM_LR,
    **extra: Any,
) -> dict[str, dict[str, Any]]:
    """Adam-type betas (0.9, 0.999), eps 1e-8; fine-tuning LR 5e-5 unless given."""
    scratch = {"lr": lr, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": weight_decay}
    return _regimes({**scratch, **extra}, lr=finetune_lr)


def _dals_defaults(**changes: Any) -> dict[str, dict[str, Any]]:
    """DESIGN §3's defaults with a variant's changes; fine-tuning wd 0.01, warmup_frac 0.10."""
    scratch = {
        "lr": 0.03,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "warmup_frac": 0.05,
        "tau_hi": 0.01,
        "tau_lo": 0.002,
        "depth_decay": 1.0,
        "alpha0": 0.6,
        "grokfast_lambda": 0.0,
        "blend_lo": 0.3,
        "blend_hi": 0.7,
        "trust_coefficient": 0.02,
        "trust_min": 0.2,
        "trust_max": 5.0,
        "bypass_filter_in_explore": False,
        **changes,
    }
    if "restart_epochs" in scratch:  # DALS-Acc restarts without warmup
        del scratch["warmup_frac"]
        return _regimes(scratch, weight_decay=0.01)
    return _regimes(scratch, weight_decay=0.01, warmup_frac=0.10)


REFINED_BASES: dict[str, tuple[Callable[[Any, dict[str, Any]], Optimizer], dict]] = {
    "sgd": (
        _sgd,
        {
            "scratch": {"lr": 0.03, "weight_decay": 5e-4, "grad_norm_kind": "l2"},
            "finetune": {
                "lr": 0.03 / FINETUNE_SGD_DIVISOR,
                "weight_decay": 5e-4,
                "grad_norm_kind": "l2",
            },
        },
    ),
    "adamw": (
        _adamw,
        {
            "scratch": {"lr": 3e-4, "weight_decay": 0.01, "grad_norm_kind": "l1"},
            "finetune": {"lr": FINETUNE_ADAM_LR, "weight_decay": 0.01, "grad_norm_kind": "l1"},
        },
    ),
}

_REFINED_DEFAULTS = {
    "base": "sgd",
    "grad_norms": None,
    "grad_norm_kind": None,
    "lr": None,
    "weight_decay": None,
    "momentum": 0.9,
    "beta1": 0.9,
    "beta2": 0.999,
}


def _register(*records: Strategy) -> None:
    for record in records:
        if record.id in REGISTRY:
            raise ValueError(f"strategy {record.id!r} is registered twice")
        keys = [set(record.defaults.get(regime, ())) for regime in REGIMES]
        if set(record.defaults) != set(REGIMES) or keys[0] != keys[1]:
            raise ValueError(f"strategy {record.id!r} must give the same keys for {REGIMES}")
        REGISTRY[record.id] = record


_register(
    # --- the 18 strategies of the DALS paper's table (DESIGN §4) ----------------------------
    Strategy(
        id="fixed_sgd",
        generation=1,
        family="sgd",
        library="torch",
        description="SGD momentum 0.9, constant LR",
        defaults=_regimes(
            {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}, lr=5e-4, weight_decay=0.01
        ),
        builder=build_fixed_sgd,
        paper=True,
    ),
    Strategy(
        id="cosine_sgd",
        generation=2,
        family="sgd",
        library="torch",
        description="SGD momentum 0.9, cosine annealing to eta_min over the run",
        defaults=_sgd_defaults(0.03, eta_min=1e-5),
        builder=build_cosine_sgd,
        paper=True,
    ),
    Strategy(
        id="sgdr",
        generation=2,
        family="sgd",
        library="torch",
        description="SGD momentum 0.9, cosine warm restarts (first cycle 1 epoch, x2)",
        defaults=_sgd_defaults(0.05, eta_min=1e-5, first_cycle_epochs=1, cycle_mult=2),
        builder=build_sgdr,
        paper=True,
    ),
    Strategy(
        id="adam",
        generation=3,
        family="adaptive",
        library="torch",
        description="Adam",
        defaults=_adam_defaults(),
        builder=build_adam,
        paper=True,
    ),
    Strategy(
        id="adamw",
        generation=3,
        family="adaptive",
        library="torch",
        description="AdamW (decoupled weight decay)",
        defaults=_adam_defaults(weight_decay=0.01),
        builder=build_adamw,
        paper=True,
    ),
    Strategy(
        id="adabound",
        generation=3,
        family="adaptive",
        library="pytorch-optimizer",
        description="AdaBound: Adam whose per-parameter LR is clipped towards SGD's final_lr",
        defaults=_regimes(
            {
                "lr": 3e-4,
                "final_lr": 0.01,
                "gamma": 1e-3,
                "beta1": 0.9,
                "beta2": 0.999,
                "weight_decay": 0.0,
            },
            lr=FINETUNE_ADAM_LR,
            final_lr=0.01 / FINETUNE_SGD_DIVISOR,
        ),
        builder=build_adabound,
        paper=True,
    ),
    Strategy(
        id="lars",
        generation=4,
        family="layer-wise",
        library="pytorch-optimizer",
        description="LARS: SGD momentum with a per-tensor trust ratio",
        defaults=_sgd_defaults(0.03, trust_coefficient=0.02),
        builder=build_lars,
        paper=True,
    ),
    Strategy(
        id="discriminative",
        generation=4,
        family="layer-wise",
        library="dals_tune",
        description="SGD momentum 0.9, top layer lr, each lower layer /2.6 (ULMFiT)",
        defaults=_sgd_defaults(0.05, layer_divisor=2.6),
        builder=build_discriminative,
        paper=True,
    ),
    Strategy(
        id="radam",
        generation=5,
        family="adaptive",
        library="torch",
        description="RAdam: Adam with a rectified variance warmup",
        defaults=_adam_defaults(),
        builder=build_radam,
        paper=True,
    ),
    Strategy(
        id="lion",
        generation=5,
        family="adaptive",
        library="pytorch-optimizer",
        description="Lion: sign of an interpolated momentum, decoupled wd",
        defaults=_regimes({"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.01}, lr=1e-5),
        builder=build_lion,
        paper=True,
    ),
    Strategy(
        id="lookahead_adamw",
        generation=5,
        family="adaptive",
        library="pytorch-optimizer",
        description="Lookahead (k=5, alpha=0.5) over AdamW",
        defaults=_adam_defaults(weight_decay=0.01, lookahead_k=5, lookahead_alpha=0.5),
        builder=build_lookahead_adamw,
        paper=True,
    ),
    Strategy(
        id="sam",
        generation=5,
        family="sharpness-aware",
        library="pytorch-optimizer",
        description="adaptive SAM (rho 0.05) over SGD momentum 0.9; two passes per step",
        defaults=_sgd_defaults(0.03, rho=0.05),
        builder=build_sam,
        paper=True,
        needs_closure=True,
    ),
    Strategy(
        id="grokfast",
        generation=5,
        family="gradient-filter",
        library="dals_tune",
        description="SGD momentum 0.9 with Grokfast's EMA gradient filter (alpha 0.98, lambda 1)",
        defaults=_sgd_defaults(0.03, grokfast_alpha=0.98, grokfast_lambda=1.0),
        builder=build_grokfast,
        paper=True,
    ),
    Strategy(
        id="stlr_discriminative",
        generation=5,
        family="layer-wise",
        library="dals_tune",
        description="ULMFiT: discriminative split (/2.6 per layer) x slanted triangular LR",
        defaults=_sgd_defaults(0.05, layer_divisor=2.6, cut_frac=0.1, ratio=32.0),
        builder=build_stlr_discriminative,
        paper=True,
    ),
    Strategy(
        id="sam_discriminative",
        generation=5,
        family="sharpness-aware",
        library="pytorch-optimizer",
        description="adaptive SAM (rho 0.05) over the discriminative split (/2.6 per layer)",
        defaults=_sgd_defaults(0.05, rho=0.05, layer_divisor=2.6),
        builder=build_sam_discriminative,
        paper=True,
        needs_closure=True,
    ),
    Strategy(
        id="dals",
        generation=5,
        family="dals",
        library="dals_tune",
        description="DALS: warmup-cosine, phase-driven depth-aware Grokfast filter, trust ratio",
        defaults=_dals_defaults(),
        builder=build_dals,
        paper=True,
    ),
    Strategy(
        id="dals_fast",
        generation=5,
        family="dals",
        library="dals_tune",
        description="DALS-Fast: lr 0.05, 2 % warmup, momentum 0.85, no filter while exploring",
        defaults=_dals_defaults(
            lr=0.05, warmup_frac=0.02, momentum=0.85, bypass_filter_in_explore=True
        ),
        builder=build_dals,
        paper=True,
    ),
    Strategy(
        id="dals_acc",
        generation=5,
        family="dals",
        library="dals_tune",
        description="DALS-Acc: warm restarts (10 epochs, x2) instead of one cosine, alpha0 0.7",
        defaults=_dals_defaults(alpha0=0.7, restart_epochs=10, restart_mult=2.0),
        builder=build_dals,
        paper=True,
    ),
    # --- extras from the learning-rate-control literature ----------------------------------
    Strategy(
        id="linear_decay_sgd",
        generation=2,
        family="sgd",
        library="dals_tune",
        description="SGD momentum 0.9, warmup then linear decay to exactly 0",
        defaults=_sgd_defaults(0.03, warmup_frac=0.05),
        builder=build_linear_decay(_sgd),
    ),
    Strategy(
        id="linear_decay_adamw",
        generation=2,
        family="adaptive",
        library="dals_tune",
        description="AdamW, warmup then linear decay to exactly 0",
        defaults=_adam_defaults(weight_decay=0.01, warmup_frac=0.05),
        builder=build_linear_decay(_adamw),
    ),
    Strategy(
        id="refined",
        generation=2,
        family="sgd",
        library="dals_tune",
        description="schedule refined from a previous run's gradient norms (needs grad_norms)",
        defaults={regime: dict(_REFINED_DEFAULTS) for regime in REGIMES},
        builder=build_refined,
    ),
    Strategy(
        id="wsd",
        generation=2,
        family="adaptive",
        library="pytorch-optimizer",
        description="AdamW, warmup-stable-decay (5 % warmup, last 20 % 1-sqrt cooldown)",
        defaults=_adam_defaults(
            weight_decay=0.01, warmup_frac=0.05, decay_frac=0.2, cooldown="1-sqrt"
        ),
        builder=build_wsd,
    ),
    Strategy(
        id="onecycle",
        generation=2,
        family="sgd",
        library="torch",
        description="SGD, one-cycle LR (30 % up, cosine down) with inverse momentum cycling",
        defaults=_regimes(
            {
                "lr": 0.05,
                "base_momentum": 0.85,
                "max_momentum": 0.95,
                "weight_decay": 5e-4,
                "pct_start": 0.3,
                "div_factor": 25.0,
                "final_div_factor": 1e4,
            },
            lr=0.05 / FINETUNE_SGD_DIVISOR,
        ),
        builder=build_onecycle,
    ),
    Strategy(
        id="llrd_adamw",
        generation=4,
        family="layer-wise",
        library="dals_tune",
        description="AdamW with layer-wise LR decay: lr x 0.8^(layers above)",
        defaults=_adam_defaults(weight_decay=0.01, layer_decay=0.8),
        builder=build_llrd_adamw,
    ),
    Strategy(
        id="lamb",
        generation=4,
        family="layer-wise",
        library="pytorch-optimizer",
        description="LAMB: Adam update scaled by a per-tensor trust ratio",
        defaults=_adam_defaults(lr=1e-3, weight_decay=0.01, eps=1e-6),
        builder=build_lamb,
    ),
    Strategy(
        id="prodigy",
        generation=3,
        family="hyperparameter-free",
        library="prodigyopt",
        description="Prodigy: Adam with an estimated distance-to-solution step size (lr = 1)",
        defaults=_regimes(
            {
                "lr": 1.0,
                "beta1": 0.9,
                "beta2": 0.999,
                "weight_decay": 0.01,
                "d_coef": 1.0,
                "safeguard_warmup": False,
            }
        ),
        builder=build_prodigy,
    ),
    Strategy(
        id="dadapt_adam",
        generation=3,
        family="hyperparameter-free",
        library="dadaptation",
        description="D-Adaptation Adam: step size estimated on the fly (lr = 1), AdamW-style wd",
        defaults=_regimes({"lr": 1.0, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01}),
        builder=build_dadapt_adam,
    ),
    Strategy(
        id="schedulefree_adamw",
        generation=3,
        family="hyperparameter-free",
        library="schedulefree",
        description="schedule-free AdamW (needs optimizer.train()/eval() around evaluation)",
        defaults=_regimes(
            {
                "lr": 2.5e-3,
                "beta1": 0.9,
                "beta2": 0.999,
                "weight_decay": 0.01,
                "warmup_frac": 0.05,
            },
            lr=FINETUNE_ADAM_LR,
        ),
        builder=build_schedulefree_adamw,
        has_train_eval_modes=True,
    ),
)
