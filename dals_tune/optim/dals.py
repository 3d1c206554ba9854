"""DALS: Discriminative Adaptive Layer Scaling (DESIGN §3).

SGD with heavy-ball momentum plus a warmup-cosine schedule, a loss-driven phase detector,
a depth-aware Grokfast filter and a LARS-style trust ratio. Per step t of T, for each tensor θ
of layer l (depth d, L layers):

    ḡ ← α(phase)·ḡ + (1−α(phase))·g
    ĝ ← b_d·g + (1−b_d)·ḡ + λ·ḡ + wd·θ,            b_d = b_lo + (b_hi − b_lo)·d
    r ← clamp(γ·‖θ‖/‖ĝ‖, r_min, r_max)               (1 when a norm is 0)
    m ← μ·m + ĝ
    θ ← θ − η0·s(t)·δ^(L−1−l)·r·m

The class only wires the steps of :mod:`dals_tune.optim.transforms` together and owns the
state: per tensor the EMA ḡ and the momentum, globally the step counter and the phase
detector. All of it is in ``state_dict``, so a checkpointed run resumes exactly.

Note: the filtered update is computed in place in ``p.grad`` (as Grokfast's reference does),
which saves a full pass over memory; read gradients before ``step()``, not after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from dals_tune.layers import LayerMapping, depth_param_groups
from dals_tune.optim.transforms import (
    EXPLORE,
    PHASE_NAMES,
    PhaseState,
    add_weight_decay_,
    apply_update_,
    blend_,
    ema_filter_,
    filter_alpha,
    momentum_average_,
    phase_detector,
    raw_weight,
    trust_ratios,
)
from dals_tune.schedules import CosineRestarts, WarmupCosine
from dals_tune.strategies.bounds import refused_names


class DALS(torch.optim.Optimizer):
    """DALS optimizer. Pass a model (layers and depths from :mod:`dals_tune.layers`) or param
    groups that carry a ``depth`` key; call :meth:`observe_loss` with each minibatch loss
    before :meth:`step` so the phase detector can follow training."""

    def __init__(
        self,
        model_or_groups: nn.Module | Iterable[dict[str, Any]],
        lr: float = 0.03,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        warmup_frac: float = 0.05,
        total_steps: int | None = None,
        tau_hi: float = 0.01,
        tau_lo: float = 0.002,
        depth_decay: float = 1.0,
        alpha0: float = 0.6,
        grokfast_lambda: float = 0.0,
        blend_lo: float = 0.3,
        blend_hi: float = 0.7,
        trust_coefficient: float = 0.02,
        trust_min: float = 0.2,
        trust_max: float = 5.0,
        bypass_filter_in_explore: bool = False,
        restart_steps: int | None = None,
        restart_mult: float = 2.0,
        layer_mapping: LayerMapping | None = None,
    ) -> None:
        _check_hyperparameters(locals())
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            depth_decay=depth_decay,
            alpha0=alpha0,
            grokfast_lambda=grokfast_lambda,
            blend_lo=blend_lo,
            blend_hi=blend_hi,
            trust_coefficient=trust_coefficient,
            trust_min=trust_min,
            trust_max=trust_max,
            bypass_filter_in_explore=bypass_filter_in_explore,
        )
        if isinstance(model_or_groups, nn.Module):
            groups = depth_param_groups(model_or_groups, layer_mapping)
        else:
            groups = _groups_with_layer_positions(list(model_or_groups))
        super().__init__(groups, defaults)
        for group in self.param_groups:
            group.setdefault("base_lr", group["lr"])
        # The schedule and the phase boundaries are shared by all layers, so they are
        # optimizer-wide settings rather than group options.
        self.total_steps = int(total_steps)
        self.warmup_frac = warmup_frac
        self.restart_steps = restart_steps
        self.restart_mult = restart_mult
        self.tau_hi, self.tau_lo = tau_hi, tau_lo
        self.schedule: Callable[[int], float] = (
            WarmupCosine(self.total_steps, warmup_frac * self.total_steps)
            if restart_steps is None
            else CosineRestarts(restart_steps, restart_mult)
        )
        self.step_count = 0
        self.phase_state = PhaseState()
        self._last_trust: list[Tensor | None] = [None] * len(self.param_groups)
        self._set_scheduled_lrs()

    @property
    def phase(self) -> int:
        """0 explore, 1 exploit, 2 refine (see :func:`transforms.phase_detector`)."""
        return self.phase_state.phase

    @property
    def phase_name(self) -> str:
        return PHASE_NAMES[self.phase]

    def observe_loss(self, loss: float) -> None:
        """Feed the phase detector with the minibatch loss of the coming step."""
        self.phase_state = phase_detector(self.phase_state, loss, self.tau_hi, self.tau_lo)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        schedule_value = self.schedule(self.step_count)
        for indices in self._buckets():
            trust = self._update_bucket(indices, schedule_value)
            for index, ratios in zip(indices, trust):
                self._last_trust[index] = ratios
        self.step_count += 1
        self._set_scheduled_lrs()
        return loss

    def _buckets(self) -> list[list[int]]:
        """The indices of the groups that step together, in one foreach call per step for all
        of them rather than one per group: on a CPU, per-group Python and dispatch was a fifth
        of a step. Groups share a bucket when every setting that a call takes as one scalar is
        equal, and their tensors have one device and dtype; the blend weight and the LR go per
        tensor. A group with its own weight decay, say, steps alone, exactly as before."""
        buckets: dict[tuple, list[int]] = {}
        for index, group in enumerate(self.param_groups):
            key = tuple(group[name] for name in _SHARED_SETTINGS) + _placement(group)
            buckets.setdefault(key, []).append(index)
        return list(buckets.values())

    def _update_bucket(self, indices: list[int], schedule_value: float) -> list[Tensor | None]:
        """One DALS step of the groups in ``indices``; their trust ratios, group by group
        (None for a group without gradients)."""
        shared = self.param_groups[indices[0]]
        bucket = self._gather(indices, schedule_value)
        if not bucket.params:
            return [None] * len(indices)
        if not (shared["bypass_filter_in_explore"] and self.phase == EXPLORE):
            ema_filter_(bucket.averages, bucket.grads, filter_alpha(self.phase, shared["alpha0"]))
            blend_(bucket.grads, bucket.averages, bucket.raw_weights, shared["grokfast_lambda"])
        add_weight_decay_(bucket.grads, bucket.params, shared["weight_decay"])
        ratios = trust_ratios(
            bucket.params,
            bucket.grads,
            shared["trust_coefficient"],
            shared["trust_min"],
            shared["trust_max"],
        )
        momentum_average_(bucket.momenta, bucket.grads, shared["momentum"])
        apply_update_(bucket.params, bucket.momenta, ratios, bucket.step_sizes)
        return [
            group_ratios if group_ratios.numel() else None
            for group_ratios in ratios.split(bucket.counts)
        ]

    def _gather(self, indices: list[int], schedule_value: float) -> _Bucket:
        """The tensors of the groups in ``indices``, with a blend weight and a step size per
        tensor."""
        bucket = _Bucket()
        for index in indices:
            group = self.param_groups[index]
            params, grads, averages, momenta = self._group_tensors(group)
            raw = raw_weight(group["depth"], group["blend_lo"], group["blend_hi"])
            lr = group["base_lr"] * schedule_value * group["depth_decay"] ** group["layers_above"]
            bucket.params += params
            bucket.grads += grads
            bucket.averages += averages
            bucket.momenta += momenta
            bucket.raw_weights += [raw] * len(params)
            bucket.step_sizes += [lr / (1.0 - group["momentum"])] * len(params)
            bucket.counts.append(len(params))
        return bucket

    def _group_tensors(
        self, group: dict[str, Any]
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """A group's tensors that have a gradient, with their EMA and momentum buffers; the
        buffers are created on a tensor's first gradient."""
        params, grads, averages, momenta = [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("DALS does not support sparse gradients")
            state = self.state[p]
            if not state:
                state["ema"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["momentum_average"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            averages.append(state["ema"])
            momenta.append(state["momentum_average"])
        return params, grads, averages, momenta

    def _set_scheduled_lrs(self) -> None:
        """``group["lr"]`` shows the LR the next step uses, η0·s(t)·δ^(L−1−l), as torch
        schedulers do; the tunable η0 stays in ``group["base_lr"]``."""
        value = self.schedule(self.step_count)
        for group in self.param_groups:
            group["lr"] = group["base_lr"] * value * group["depth_decay"] ** group["layers_above"]

    def layer_stats(self) -> dict[str, dict[str, float]]:
        """Per layer: the scheduled LR of the next step, the mean trust ratio of the last
        step and their product, the effective LR. What a reviewer wants to see per epoch.
        The step keeps the ratios and the mean is taken here, off the step's hot path."""
        stats = {}
        for group, trust in zip(self.param_groups, self._last_trust):
            ratio = float(trust.mean()) if trust is not None else 1.0
            stats[group.get("layer_name", str(group["layer_index"]))] = {
                "lr": group["lr"],
                "trust_ratio": ratio,
                "effective_lr": group["lr"] * ratio,
            }
        return stats

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["dals"] = {
            "step_count": self.step_count,
            "loss_ema": self.phase_state.loss_ema,
            "phase": self.phase_state.phase,
        }
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop("dals", None)
        if extra is None:
            raise ValueError("not a DALS state_dict: the 'dals' entry (step, phase) is missing")
        super().load_state_dict(state_dict)
        self.step_count = int(extra["step_count"])
        self.phase_state = PhaseState(loss_ema=extra["loss_ema"], phase=int(extra["phase"]))
        self._set_scheduled_lrs()


# The group settings that a bucket's foreach calls take as one scalar.
_SHARED_SETTINGS = (
    "alpha0", "bypass_filter_in_explore", "grokfast_lambda", "weight_decay",
    "trust_coefficient", "trust_min", "trust_max", "momentum",
)  # fmt: skip


@dataclass
class _Bucket:
    """The tensors of a bucket's groups, one list each, in group order; ``counts`` is how
    many tensors each group gave, to split the trust ratios back by group."""

    params: list[Tensor] = field(default_factory=list)
    grads: list[Tensor] = field(default_factory=list)
    averages: list[Tensor] = field(default_factory=list)
    momenta: list[Tensor] = field(default_factory=list)
    raw_weights: list[float] = field(default_factory=list)
    step_sizes: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)


def _placement(group: dict[str, Any]) -> tuple:
    """Device and dtype of a group's first tensor: the norms of a bucket are stacked into one
    vector, and CPU float32/float64 take them by another route than other dtypes."""
    first = next(iter(group["params"]), None)
    return (None, None) if first is None else (first.device, first.dtype)


def _groups_with_layer_positions(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """User param groups need a depth; the depth-decay exponent L−1−l is derived from it
    when not given, with L the number of distinct depths."""
    if not groups or not all(isinstance(g, dict) for g in groups):
        raise ValueError(
            "DALS needs a model or param groups with a 'depth' key "
            "(see dals_tune.layers.depth_param_groups)"
        )
    missing = [i for i, g in enumerate(groups) if "depth" not in g]
    if missing:
        raise ValueError(
            f"DALS param groups {missing} have no 'depth' key; pass the model instead, or use "
            "dals_tune.layers.depth_param_groups(model)"
        )
    depths = sorted({float(g["depth"]) for g in groups})
    for index, group in enumerate(groups):
        if "layers_above" not in group:
            group["layers_above"] = len(depths) - 1 - depths.index(float(group["depth"]))
        group.setdefault("layer_index", len(depths) - 1 - group["layers_above"])
        group.setdefault("layer_name", f"group{index}")
    return groups


# Constructor arguments that are no hyperparameter of the bounds table.
_NOT_IN_BOUNDS = (
    "self", "__class__", "model_or_groups", "total_steps", "restart_steps", "layer_mapping",
)  # fmt: skip


def _check_hyperparameters(values: dict[str, Any]) -> None:
    """Refuse, in one line, what :mod:`dals_tune.strategies.bounds` refuses (DALS built
    from Python never passes :func:`dals_tune.strategies.build`'s check), and the run-length
    arguments that only the constructor takes."""
    total = values["total_steps"]
    if total is None or int(total) <= 0:
        raise ValueError("DALS needs total_steps > 0 (epochs × steps per epoch)")
    hyperparameters = {k: v for k, v in values.items() if k not in _NOT_IN_BOUNDS}
    bad = refused_names(hyperparameters)
    if values["restart_steps"] is not None and not values["restart_steps"] > 0:
        bad.append("restart_steps")
    if bad:
        shown = ", ".join(f"{name}={values[name]!r}" for name in bad)
        raise ValueError(f"invalid DALS hyperparameters: {shown} (see docs/strategies.md)")
