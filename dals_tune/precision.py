"""Which precision a trial computes in, and whether a device multiplies bf16 natively.

``precision`` (``--precision``) is ``fp32``, ``bf16`` (autocast to bfloat16 for the matrix
products, the weights and the optimizer staying fp32) or ``auto``. The one place that
detects native bf16: a CUDA GPU that supports it (Ampere and later), a CPU with
AVX-512-BF16 or AMX; elsewhere bf16 is emulated, tens of times slower than fp32.

No torch at import time: the trial contract (:mod:`dals_tune.trial`) takes
:data:`PRECISIONS` from here and must stay light for ``--help``.
"""

from __future__ import annotations

from typing import Any

PRECISIONS = ("auto", "fp32", "bf16")
# The device types where bf16 autocast was measured faster than fp32, as accurate, on native
# hardware (docs/benchmarks.md, "Precision": an AVX-512-BF16 CPU, 0.39–0.95× the time of
# fp32); elsewhere auto keeps fp32. CUDA is left out until it is measured.
BF16_MEASURED_FASTER: tuple[str, ...] = ("cpu",)


def native_bf16(device: Any) -> bool:
    """Whether ``device`` (a ``torch.device``) computes bf16 matrix products natively."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(cpu, check, lambda: False)() for check in checks)
    return False


def resolve_precision(precision: str, device: Any) -> str:
    """``fp32`` or ``bf16``: ``auto`` is bf16 where the hardware has it natively and it was
    measured faster there (:data:`BF16_MEASURED_FASTER`), fp32 otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    faster = device.type in BF16_MEASURED_FASTER and native_bf16(device)
    return "bf16" if faster else "fp32"
