"""The steps DALS is made of, each a small function over the tensors of parameter groups.

Read top to bottom, they are one DALS update (DESIGN §3):

    phase_detector  → filter_alpha → ema_filter_ → blend_ → add_weight_decay_
                    → trust_ratios → momentum_average_ → apply_update_

Tensor steps work on lists with ``torch._foreach_*`` arithmetic, so a group of many tensors
costs a handful of multi-tensor kernels rather than a Python loop of small ops. The lists may
span several groups (layers): what differs per layer, the blend weight and the step size,
comes as one value per tensor. Steps that end in ``_`` change their first argument in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

EXPLORE, EXPLOIT, REFINE = 0, 1, 2
PHASE_NAMES = ("explore", "exploit", "refine")
LOSS_EMA_DECAY = 0.95


@dataclass(frozen=True)
class PhaseState:
    """The phase detector's state: loss EMA E (None before the first loss) and the phase."""

    loss_ema: float | None = None
    phase: int = EXPLORE


def phase_detector(state: PhaseState, loss: float, tau_hi: float, tau_lo: float) -> PhaseState:
    """One training phase for the whole model, driven by the minibatch loss.

    E ← 0.95·E + 0.05·loss (the first loss initializes E and keeps phase 0);
    Δ = (E_old − E_new)/|E_old|; phase 0 (explore) if Δ > τ_hi, 1 (exploit) if
    τ_lo < Δ ≤ τ_hi, 2 (refine) otherwise. A zero E_old counts as no improvement.
    """
    if state.loss_ema is None:
        return PhaseState(loss_ema=float(loss), phase=EXPLORE)
    old = state.loss_ema
    new = LOSS_EMA_DECAY * old + (1.0 - LOSS_EMA_DECAY) * float(loss)
    improvement = (old - new) / abs(old) if old != 0 else 0.0
    if improvement > tau_hi:
        phase = EXPLORE
    elif improvement > tau_lo:
        phase = EXPLOIT
    else:
        phase = REFINE
    return PhaseState(loss_ema=new, phase=phase)


def filter_alpha(phase: int, alpha0: float) -> float:
    """The EMA decay by phase: explore max(0.3, α0−0.3), exploit α0, refine min(0.9, α0+0.1).

    Exploring forgets the gradient history faster; refining averages over more steps."""
    if phase == EXPLORE:
        return max(0.3, alpha0 - 0.3)
    if phase == EXPLOIT:
        return alpha0
    return min(0.9, alpha0 + 0.1)


def raw_weight(depth: float, blend_lo: float, blend_hi: float) -> float:
    """b_d = b_lo + (b_hi − b_lo)·d: layers near the output keep more of the raw gradient."""
    return blend_lo + (blend_hi - blend_lo) * depth


def ema_filter_(ema_buffers: list[Tensor], grads: list[Tensor], alpha: float) -> None:
    """Grokfast's slow-gradient EMA, in place: ḡ ← α·ḡ + (1−α)·g."""
    torch._foreach_lerp_(ema_buffers, grads, 1.0 - alpha)


def blend_(
    grads: list[Tensor], ema_buffers: list[Tensor], raw_weights: list[float], amplify: float
) -> None:
    """Filtered gradient, written over ``grads``: ĝ = b·g + (1−b)·ḡ + λ·ḡ, with b per tensor.

    b·g + (1−b)·ḡ is one lerp; λ > 0 adds Grokfast's "amplify the slow gradient" term."""
    torch._foreach_lerp_(grads, ema_buffers, [1.0 - raw for raw in raw_weights])
    if amplify != 0.0:
        torch._foreach_add_(grads, ema_buffers, alpha=amplify)


def add_weight_decay_(updates: list[Tensor], params: list[Tensor], weight_decay: float) -> None:
    """Coupled L2 weight decay: ĝ ← ĝ + wd·θ."""
    if weight_decay != 0.0:
        torch._foreach_add_(updates, params, alpha=weight_decay)


def trust_ratios(
    params: list[Tensor],
    updates: list[Tensor],
    coefficient: float,
    minimum: float,
    maximum: float,
) -> Tensor:
    """LARS-style trust ratio per tensor: r = clamp(γ·‖θ‖/‖ĝ‖, r_min, r_max), 1 when either
    norm is 0. Returned as one vector, so no value leaves the device."""
    norms = tensor_norms(params + updates)
    param_norms, update_norms = norms[: len(params)], norms[len(params) :]
    ratio = (coefficient * param_norms / update_norms).clamp_(minimum, maximum)
    return torch.where((param_norms > 0) & (update_norms > 0), ratio, 1.0)


_BLAS_DOT_DTYPES = (torch.float32, torch.float64)


def tensor_norms(tensors: list[Tensor]) -> Tensor:
    """‖x‖ of every tensor, as one vector on their device.

    On a GPU ``_foreach_norm`` is one multi-tensor kernel. On a CPU it is a loop of
    ``linalg_vector_norm``, which is bound by arithmetic rather than memory: reading one tensor,
    it takes 3/4 of the time of a lerp that reads two and writes one. √(x·x) with BLAS's dot
    reads at memory speed, in about 0.6 of the norm's time, and rounds no worse."""
    if not all(t.device.type == "cpu" and t.dtype in _BLAS_DOT_DTYPES for t in tensors):
        return torch.stack(torch._foreach_norm(tensors))
    flat = [t.reshape(-1) for t in tensors]
    return torch.stack([torch.dot(x, x) for x in flat]).sqrt_()


def momentum_average_(averages: list[Tensor], updates: list[Tensor], momentum: float) -> None:
    """Heavy-ball momentum kept as its (1−μ)-scaled form: v ← μ·v + (1−μ)·ĝ.

    With m ← μ·m + ĝ and m₀ = v₀ = 0, m = v/(1−μ) at every step, so the update θ − η·r·m is
    θ − η·r/(1−μ)·v: the same rule, one lerp instead of a multiply and an add."""
    torch._foreach_lerp_(averages, updates, 1.0 - momentum)


def apply_update_(
    params: list[Tensor], averages: list[Tensor], ratios: Tensor, step_sizes: list[float]
) -> None:
    """θ ← θ − step_size·r·v, with one ratio and one step size per tensor
    (step_size = η_t·δ^(L−1−l)/(1−μ), so it differs from layer to layer)."""
    torch._foreach_addcmul_(params, averages, list(ratios.unbind()), [-step for step in step_sizes])
