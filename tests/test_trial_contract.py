"""The trial contract: one list of workload options, offered alike by every command and
carried unchanged to the workload that is built."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from dals_tune import tracking
from dals_tune.cli import build_parser, main
from dals_tune.recommend import command as recommend_command
from dals_tune.study import SearchSettings
from dals_tune.study.ray_tune import trial_spec
from dals_tune.trial import TRIAL_KEYS, SettingError, TrialSpec, WorkloadSpec, option_fields

# A value for every workload option, none of them its default.
GIVEN = {
    "data_dir": "some/data",
    "subset": 5,
    "eval_subset": 3,
    "model": "some-encoder",
    "precision": "bf16",
    "batch_size": 4,
    "label_column": "y",
    "text_column": "t",
    "max_length": 7,
    "target": 0.5,
    "folds": 3,
}


def flags() -> list[str]:
    return ["--" + item.name.replace("_", "-") for item in option_fields()]


def as_arguments(values: dict) -> list[str]:
    pairs = (("--" + name.replace("_", "-"), str(value)) for name, value in values.items())
    return [part for pair in pairs for part in pair]


def command_flags(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {flag for action in sub.choices[command]._actions for flag in action.option_strings}


def test_every_workload_option_is_given_a_value_here():
    assert set(GIVEN) == {item.name for item in option_fields()}


@pytest.mark.parametrize("command", ["train", "search", "recommend"])
def test_train_search_and_recommend_offer_every_workload_option(command, capsys):
    assert set(flags()) <= command_flags(command)
    with pytest.raises(SystemExit):
        main([command, "--help"])
    shown = capsys.readouterr().out
    for flag in ("--max-length", "--precision", "--subset", "--model", "--data-dir"):
        assert flag in shown, (command, flag)


def test_benchmark_offers_the_options_its_scale_leaves_open():
    offered = command_flags("benchmark") & set(flags())
    assert offered == {"--data-dir", "--model"}


class Built(Exception):
    """Raised by the stand-in workload builder, carrying what it was asked to build."""


def capture_workload(monkeypatch, module) -> None:
    def build(spec, fold=0):
        raise Built(spec)

    monkeypatch.setattr(module, "build_workload", build)


def built_spec(argv: list[str]) -> WorkloadSpec:
    with pytest.raises(Built) as caught:
        main(argv)
    return caught.value.args[0]


def assert_reached(spec: WorkloadSpec, data_dir_is_absolute: bool = False) -> None:
    for name, value in GIVEN.items():
        if name == "data_dir" and data_dir_is_absolute:
            assert spec.data_dir == str(Path(value).absolute())
        else:
            assert getattr(spec, name) == value, name


def test_train_hands_every_option_to_the_workload(monkeypatch):
    from dals_tune import training

    capture_workload(monkeypatch, training)
    argv = ["train", "--workload", "synthetic", "--strategy", "adamw", *as_arguments(GIVEN)]
    spec = built_spec(argv)
    assert isinstance(spec, TrialSpec) and spec.strategy == "adamw"
    assert_reached(spec)


def test_search_hands_every_option_to_the_workload_and_to_each_trial(monkeypatch, tmp_path):
    from dals_tune.study import preflight

    capture_workload(monkeypatch, preflight)
    argv = ["search", "--out", str(tmp_path / "runs"), *as_arguments(GIVEN)]
    assert_reached(built_spec(argv), data_dir_is_absolute=True)
    config = SearchSettings(**GIVEN).trial("scratch").to_config()
    assert_reached(trial_spec(config))  # what Ray hands each trial, read back at its side


def test_recommend_hands_every_option_to_the_workload(monkeypatch, tmp_path):
    from dals_tune import workloads

    monkeypatch.setattr(tracking, "open_existing_store", lambda out, uri=None: None)
    monkeypatch.setattr(recommend_command, "finished_studies", lambda tracker: ([object()], []))
    capture_workload(monkeypatch, workloads)
    argv = ["recommend", "--workload", "synthetic", "--out", str(tmp_path), *as_arguments(GIVEN)]
    spec = built_spec(argv)
    assert spec.device == "cpu"  # recommend never needs a GPU to describe a task
    assert_reached(spec)


def test_a_trial_config_round_trips_through_the_contract():
    spec = TrialSpec(workload="synthetic", strategy="dals", epochs=3, hyperparameters={"lr": 0.1})
    config = spec.to_config()
    assert config["lr"] == 0.1 and "hyperparameters" not in config
    assert TrialSpec.from_config(config) == spec
    assert set(config) - {"lr"} <= set(TRIAL_KEYS)


def test_a_rerun_and_a_joint_trial_are_read_into_the_contract_at_the_ray_boundary():
    constants = TrialSpec(workload="synthetic", epochs=4).to_config()
    rerun = trial_spec({**constants, "run": {"strategy": "adamw", "lr": 0.01, "seed": 7}})
    assert (rerun.strategy, rerun.seed, dict(rerun.hyperparameters)) == ("adamw", 7, {"lr": 0.01})
    joint = trial_spec({**constants, "strategy": "dals", "lr": 0.2, "dals.lr": 0.2})
    assert joint.strategy == "dals" and dict(joint.hyperparameters) == {"lr": 0.2}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"subset": 0}, "subset must be a positive integer, got 0"),
        ({"precision": "fp8"}, "precision must be 'auto' or 'fp32' or 'bf16', got 'fp8'"),
        ({"regime": "pretrain"}, "regime must be 'scratch' or 'finetune', got 'pretrain'"),
        ({"epochs": 2.5}, "epochs must be a positive integer, got 2.5"),
    ],
)
def test_each_setting_is_checked_once_where_the_record_is_made(changes, message):
    with pytest.raises(SettingError, match=message.replace("(", r"\(")):
        TrialSpec(workload="synthetic", **changes)


def test_whole_numbers_from_a_searcher_or_a_file_are_kept_as_integers():
    spec = TrialSpec(workload="synthetic", epochs=3.0, subset="12", seed="2")
    assert (spec.epochs, spec.subset, spec.seed) == (3, 12, 2)
    assert isinstance(spec.epochs, int)
