"""Gradients as views into one flat buffer, so the per-step gradient norms are cheap.

The trainer records ‖g‖₁ = Σ|g| and ‖g‖₂ = (Σ g²)^½ of the whole gradient at every optimizer
step. Over a list of gradient tensors that takes a multi-tensor kernel per norm, and on a CPU
torch's ℓ1 norm kernel is not vectorized: on the synthetic MLP's 8 tensors the two cost
about a tenth of a 1 ms step. Over one contiguous tensor each norm is a single vectorized
reduction (ℓ1 as ``abs().sum()``), about a quarter of that cost.

So :class:`GradientBuffer` lays the gradients out as views into one flat tensor per
(device, dtype). Autograd accumulates into an existing ``.grad`` in place, so once the
views are attached and zeroed, ``backward()`` writes every gradient straight into the
buffer. The values an optimizer sees are bit for bit those it would see after
``zero_grad(set_to_none=True)`` (0 + g = g), so training is unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class GradientBuffer:
    """The gradients of ``parameters`` (the trainable ones) as views into one contiguous
    buffer per (device, dtype).

    Call :meth:`zero_grad` where a loop would call ``optimizer.zero_grad(set_to_none=True)``
    and :meth:`norms` after ``backward()``. Until the first call to :meth:`norms` nothing is
    laid out and :meth:`zero_grad` sets gradients to None; that first call copies the
    gradients into the buffer and attaches the views. Parameters that had no gradient then
    stay outside the buffer and keep being set to None, because an optimizer skips a
    parameter whose ``.grad`` is None but would decay or step one whose gradient is zero.

    Optimizers may write into ``p.grad`` in place (DALS and Grokfast do), or replace it or
    set it to None (SAM zeroes gradients with ``set_to_none`` between its two passes):
    :meth:`zero_grad` attaches the views again to any parameter whose ``.grad`` is no longer
    its view, before the next ``backward()``.

    Limitation: the layout is taken from one step, so a parameter that receives a gradient
    in some steps and none in others (data-dependent control flow) gets a zero gradient
    instead of None in the latter. None of the workloads' models do that.
    """

    def __init__(self, parameters: list[nn.Parameter]) -> None:
        self.parameters = parameters
        self.buffers: list[torch.Tensor] = []
        self.views: list[tuple[nn.Parameter, torch.Tensor]] = []
        self.outside: list[nn.Parameter] = []
        self.laid_out = False

    def zero_grad(self) -> None:
        """Zero every gradient before a backward pass: the buffer in place, the rest to None."""
        if not self.laid_out:
            for parameter in self.parameters:
                parameter.grad = None
            return
        for parameter, view in self.views:
            if parameter.grad is not view:
                parameter.grad = view
        for parameter in self.outside:
            parameter.grad = None
        for buffer in self.buffers:
            buffer.zero_()

    def norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(‖g‖₁, ‖g‖₂) of the whole current gradient, as 0-d tensors left on the device:
        reading them on the host would make a GPU wait. Gradients of parameters outside the
        buffer are left out, as ``None`` gradients always were."""
        if not self.laid_out:
            self._lay_out()
        if len(self.buffers) == 1:
            return _buffer_norms(self.buffers[0])
        if not self.buffers:
            device = self.parameters[0].device if self.parameters else torch.device("cpu")
            zero = torch.zeros((), device=device)
            return zero, zero
        device = self.buffers[0].device
        l1, l2 = zip(*(_buffer_norms(buffer) for buffer in self.buffers))
        l1 = torch.stack([value.to(device, torch.float32) for value in l1]).sum()
        l2 = torch.stack([value.to(device, torch.float32) for value in l2])
        return l1, torch.linalg.vector_norm(l2)

    def _lay_out(self) -> None:
        """Copy the current gradients into one flat buffer per (device, dtype) and make each
        parameter's ``.grad`` a view into it."""
        groups: dict[tuple[torch.device, torch.dtype], list[nn.Parameter]] = {}
        for parameter in self.parameters:
            if parameter.grad is None:
                self.outside.append(parameter)
            elif parameter.grad.is_sparse:
                raise RuntimeError(
                    "the trainer does not support sparse gradients; build the model's "
                    "embeddings with sparse=False"
                )
            else:
                groups.setdefault((parameter.device, parameter.dtype), []).append(parameter)
        for members in groups.values():
            buffer = torch.cat([parameter.grad.reshape(-1) for parameter in members])
            offset = 0
            for parameter in members:
                view = buffer[offset : offset + parameter.numel()].view(parameter.shape)
                parameter.grad = view
                self.views.append((parameter, view))
                offset += parameter.numel()
            self.buffers.append(buffer)
        self.laid_out = True


def _buffer_norms(buffer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ℓ1 as ``abs().sum()``: one vectorized pass and a sum, where torch's ℓ1 norm kernel
    is a scalar loop on the CPU (about three times slower measured). Half-precision
    gradients are summed in float32."""
    if buffer.dtype in (torch.float16, torch.bfloat16):
        return buffer.abs().sum(dtype=torch.float32), torch.linalg.vector_norm(
            buffer, dtype=torch.float32
        )
    return buffer.abs().sum(), torch.linalg.vector_norm(buffer)
