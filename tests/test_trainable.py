"""The Ray Tune trainable under a real (local) Tuner: per-epoch reports and checkpoints."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")
import torch  # noqa: E402
from ray import tune  # noqa: E402
from trial_probe import NextStepProbe, differences  # noqa: E402

from dals_tune.training import train  # noqa: E402
from trainables import classification_trainable  # noqa: E402

TIMING_KEYS = {"epoch_seconds", "samples_per_second"}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_tune_runs_the_trainable_and_its_checkpoint_resumes_the_identical_epoch(
    local_ray, tmp_path
):
    config = {
        "workload": "synthetic",
        "strategy": "dals",
        "epochs": 3,
        "seed": 1,
        "subset": 2000,
        "eval_subset": 500,
    }
    tuner = tune.Tuner(
        classification_trainable,
        param_space=config,
        run_config=tune.RunConfig(
            storage_path=str(tmp_path), name="trainable", stop={"training_iteration": 2}, verbose=0
        ),
    )
    result = tuner.fit()[0]
    assert result.error is None
    assert result.metrics["epoch"] == 2 and "val_acc" in result.metrics
    assert len(result.metrics_dataframe) == 2

    # Ray workers run torch on one thread (OMP_NUM_THREADS=1); float sums depend on the thread
    # count, so the comparison runs here on one thread too.
    def arm_after_epoch_two(metrics: dict, _folder) -> None:
        if metrics["epoch"] == 2:
            uninterrupted.arm()  # the state epoch 3 starts from

    reported = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with NextStepProbe(armed=False) as uninterrupted:
            full = train(config, report=arm_after_epoch_two)
        with result.checkpoint.as_directory() as folder, NextStepProbe() as after_restore:
            resumed = train(
                config,
                report=lambda metrics, _: reported.append(metrics["epoch"]),
                resume_from=folder,
            )
    finally:
        torch.set_num_threads(threads)
    # Tune's checkpoint is a real one: the trial goes on with epoch 3, from the state the
    # uninterrupted run has there, not afresh.
    assert reported == [3]
    (epoch3_start,) = uninterrupted.steps
    (first_step,) = after_restore.steps
    assert differences(first_step.optimizer, epoch3_start.optimizer) == []
    assert differences(first_step.rng, epoch3_start.rng) == []
    strip = lambda epoch: {k: v for k, v in epoch.items() if k not in TIMING_KEYS}  # noqa: E731
    assert [strip(e) for e in resumed.epochs] == [strip(e) for e in full.epochs]
