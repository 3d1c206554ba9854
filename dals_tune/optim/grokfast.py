"""Grokfast's EMA gradient filter as an optimizer wrapper (Lee et al. 2024, "Grokfast:
Accelerated Grokking by Amplifying Slow Gradients").

Before each step of the wrapped optimizer, per tensor:

    ḡ ← α·ḡ + (1−α)·g        (ḡ starts at the first gradient, as in the reference code)
    g ← g + λ·ḡ

pytorch-optimizer's ``gradfilter_ema`` keeps ḡ in a dict outside the optimizer, so a
checkpoint would lose it; here ḡ lives in the wrapper's ``state`` and travels with
``state_dict``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from dals_tune.optim.transforms import ema_filter_

EMA_KEY = "grokfast_ema"


class GrokfastFilter(torch.optim.Optimizer):
    """Wrap ``base_optimizer`` so that each ``step`` first amplifies the slow gradient.

    The wrapper shares the base optimizer's ``param_groups`` (so LR schedulers and per-group
    LR logging see the real groups) and stores α and λ in each group as ``grokfast_alpha``
    and ``grokfast_lambda``. Note that ``p.grad`` holds the filtered gradient after ``step``.
    """

    def __init__(
        self, base_optimizer: torch.optim.Optimizer, alpha: float = 0.98, lamb: float = 1.0
    ) -> None:
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"Grokfast alpha must lie in [0, 1), got {alpha}")
        if lamb < 0.0:
            raise ValueError(f"Grokfast lambda must be non-negative, got {lamb}")
        self.base_optimizer = base_optimizer
        super().__init__(
            base_optimizer.param_groups, {"grokfast_alpha": alpha, "grokfast_lambda": lamb}
        )
        self.param_groups = base_optimizer.param_groups

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if "ema" not in self.state[p]:
                    self.state[p]["ema"] = p.grad.detach().clone()
            grads = [p.grad for p in params]
            ema = [self.state[p]["ema"] for p in params]
            ema_filter_(ema, grads, group["grokfast_alpha"])
            torch._foreach_add_(grads, ema, alpha=group["grokfast_lambda"])
        self.base_optimizer.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state dict plus ``grokfast_ema``: ḡ by parameter position."""
        state = self.base_optimizer.state_dict()
        state[EMA_KEY] = {
            index: self.state[p]["ema"]
            for index, p in enumerate(self._parameters_in_order())
            if "ema" in self.state[p]
        }
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        if EMA_KEY not in state_dict:
            raise ValueError(
                f"this state dict has no {EMA_KEY!r} entry; it was not saved by GrokfastFilter"
            )
        saved = state_dict.pop(EMA_KEY)
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups
        params = self._parameters_in_order()
        self.state = defaultdict(dict)
        for index, ema in saved.items():
            p = params[int(index)]
            self.state[p]["ema"] = ema.to(device=p.device, dtype=p.dtype).clone()

    def _parameters_in_order(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]
