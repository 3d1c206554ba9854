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
        for index, group in enumerate(self.param_groups):
            self._last_trust[index] = self._update_group(group, schedule_value)
        self.step_count += 1
        self._set_scheduled_lrs()
        return loss

    def _update_group(self, group: dict[str, Any], schedule_value: float) -> Tensor | None:
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
        if not params:
            return None
        if not (group["bypass_filter_in_explore"] and self.phase == EXPLORE):
            ema_filter_(averages, grads, filter_alpha(self.phase, group["alpha0"]))
            raw = raw_weight(group["depth"], group["blend_lo"], group["blend_hi"])
            blend_(grads, averages, raw, group["grokfast_lambda"])
        add_weight_decay_(grads, params, group["weight_decay"])
        ratios = trust_ratios(
            params, grads, group["trust_coefficient"], group["trust_min"], group["trust_max"]
        )
        momentum_average_(momenta, grads, group["momentum"])
        lr = group["base_lr"] * schedule_value * group["depth_decay"] ** group["layers_above"]
        apply_update_(params, momenta, ratios, lr / (1.0 - group["momentum"]))
        return ratios

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
