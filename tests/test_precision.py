"""--precision: fp32 and bf16 as asked, auto resolved from the hardware and what was measured
faster on it, and the resolved value in the trial's record."""

from __future__ import annotations

import pytest
import torch

from dals_tune import precision
from dals_tune.precision import native_bf16, resolve_precision
from dals_tune.training import train

CPU = torch.device("cpu")


@pytest.mark.parametrize("asked", ["fp32", "bf16"])
def test_an_explicit_precision_is_kept_whatever_the_hardware(asked, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: asked == "fp32")
    monkeypatch.setattr(precision, "BF16_MEASURED_FASTER", ("cpu",))
    assert resolve_precision(asked, CPU) == asked


@pytest.mark.parametrize(
    "native, measured_faster, expected",
    [
        (True, ("cpu",), "bf16"),
        (False, ("cpu",), "fp32"),  # emulated bf16 is tens of times slower
        (True, (), "fp32"),  # native, but not measured faster on this kind of device
        (True, ("cuda",), "fp32"),
    ],
)
def test_auto_is_bf16_only_where_native_and_measured_faster(
    native, measured_faster, expected, monkeypatch
):
    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    monkeypatch.setattr(precision, "BF16_MEASURED_FASTER", measured_faster)
    assert resolve_precision("auto", CPU) == expected


def test_native_bf16_on_a_cpu_reads_its_avx512_bf16_and_amx_flags(monkeypatch):
    for avx512_bf16, amx, expected in [
        (True, False, True),
        (False, True, True),
        (False, False, False),
    ]:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert native_bf16(CPU) is expected
    assert native_bf16(torch.device("meta")) is False


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp8'"):
        resolve_precision("fp8", CPU)


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_the_trial_record_carries_the_resolved_precision(native, expected, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    monkeypatch.setattr(precision, "BF16_MEASURED_FASTER", ("cpu",))
    config = {"workload": "synthetic", "subset": 200, "eval_subset": 100, "device": "cpu"}
    record = train({**config, "strategy": "adamw", "epochs": 1, "precision": "auto"})
    assert record.status == "completed"
    assert record.workload["precision"] == expected


@pytest.mark.parametrize(
    "asked, native, expected", [("auto", False, "fp32"), ("bf16", False, "bf16")]
)
def test_a_studys_params_carry_the_resolved_precision(
    asked, native, expected, monkeypatch, tmp_path
):
    from dals_tune.study import SearchSettings
    from dals_tune.study.preflight import check
    from dals_tune.study.recording import study_params

    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    settings = SearchSettings(
        workload="synthetic", strategies=("adamw",), samples=1, max_epochs=1, subset=100,
        precision=asked, device="cpu", out=str(tmp_path / "runs"),
    )  # fmt: skip
    assert study_params(check(settings))["precision"] == expected
