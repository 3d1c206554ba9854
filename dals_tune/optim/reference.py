"""DALS written the obvious way: one tensor at a time, each rule of DESIGN §3 as it reads.

Not used for training. It is the yardstick: the tests check :class:`dals_tune.DALS` against
it step for step, and ``benchmarks/optimizer_step.py`` times the multi-tensor version
against it. It keeps the explicit momentum m ← μ·m + ĝ and leaves ``p.grad`` untouched.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from dals_tune.layers import depth_param_groups


class ReferenceDALS:
    def __init__(
        self,
        model: nn.Module,
        lr: float = 0.03,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        warmup_frac: float = 0.05,
        total_steps: int = 1,
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
    ) -> None:
        self.groups = depth_param_groups(model)
        self.h: dict[str, Any] = dict(locals())
        self.state: dict[nn.Parameter, dict[str, torch.Tensor]] = {}
        self.t = 0
        self.loss_ema: float | None = None
        self.phase = 0

    def observe_loss(self, loss: float) -> None:
        if self.loss_ema is None:
            self.loss_ema, self.phase = loss, 0
            return
        old = self.loss_ema
        self.loss_ema = 0.95 * old + 0.05 * loss
        delta = (old - self.loss_ema) / abs(old) if old != 0 else 0.0
        if delta > self.h["tau_hi"]:
            self.phase = 0
        elif delta > self.h["tau_lo"]:
            self.phase = 1
        else:
            self.phase = 2

    def schedule(self, t: int) -> float:
        h = self.h
        if h["restart_steps"] is not None:
            cycle, start = float(h["restart_steps"]), 0.0
            while t >= start + cycle:
                start, cycle = start + cycle, cycle * h["restart_mult"]
            return 0.5 * (1 + math.cos(math.pi * (t - start) / cycle))
        total = h["total_steps"]
        warmup = h["warmup_frac"] * total
        if t < warmup:
            return t / warmup
        t = min(t, total)
        return 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))

    @torch.no_grad()
    def step(self) -> None:
        h = self.h
        alpha0 = h["alpha0"]
        alpha = [max(0.3, alpha0 - 0.3), alpha0, min(0.9, alpha0 + 0.1)][self.phase]
        eta = h["lr"] * self.schedule(self.t)
        for group in self.groups:
            num_layers = group["layer_index"] + group["layers_above"] + 1
            depth = group["layer_index"] / (num_layers - 1) if num_layers > 1 else 0.5
            b = h["blend_lo"] + (h["blend_hi"] - h["blend_lo"]) * depth
            layer_lr = eta * h["depth_decay"] ** (num_layers - 1 - group["layer_index"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state.setdefault(
                    p, {"ema": torch.zeros_like(p), "momentum": torch.zeros_like(p)}
                )
                if h["bypass_filter_in_explore"] and self.phase == 0:
                    g_hat = g.clone()
                else:
                    ema = state["ema"]
                    ema.mul_(alpha).add_(g, alpha=1 - alpha)
                    g_hat = b * g + (1 - b) * ema + h["grokfast_lambda"] * ema
                g_hat = g_hat + h["weight_decay"] * p
                p_norm, g_norm = p.norm().item(), g_hat.norm().item()
                if p_norm == 0 or g_norm == 0:
                    r = 1.0
                else:
                    r = min(
                        max(h["trust_coefficient"] * p_norm / g_norm, h["trust_min"]),
                        h["trust_max"],
                    )
                m = state["momentum"]
                m.mul_(h["momentum"]).add_(g_hat)
                p.add_(m, alpha=-layer_lr * r)
        self.t += 1
