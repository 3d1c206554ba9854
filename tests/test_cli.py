"""The command line: --help, the strategies listing, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dals_tune import strategies
from dals_tune.cli import main
from dals_tune.cli_commands import parse_assignments

# What a command loads only when it runs: --help must answer without them (seconds each).
HEAVY_MODULES = {"torch", "ray", "mlflow", "optuna", "pandas", "transformers", "matplotlib"}


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--help"], ["strategies", "train", "search", "report", "ui"]),
        (["search", "--help"], ["--strategies", "--scheduler", "--samples", "--out"]),
        (["train", "--help"], ["--workload", "--strategy", "--set"]),
    ],
    ids=["top", "search", "train"],
)
def test_help_runs_as_a_module_without_the_heavy_imports(argv, words):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dals_tune", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for word in words:
        assert word in result.stdout
    # -X importtime logs every module imported, one "import time: ... | name" line each.
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"argparse", "dals_tune"} <= imported  # the log was read
    assert not imported & HEAVY_MODULES, sorted(imported & HEAVY_MODULES)


def test_strategies_table_lists_every_id_with_generation_family_and_library(capsys):
    assert main(["strategies"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:4] == ["id", "gen", "family", "library"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(strategies.REGISTRY)
    assert rows["dals"][1:4] == ["5", "dals", "dals_tune"]
    assert rows["adabound"][1:4] == ["3", "adaptive", "pytorch-optimizer"]
    assert rows["muon"][1:4] == ["4", "orthogonalized", "pytorch-optimizer"]
    assert rows["prodigy_schedulefree"][3] == "prodigy-plus-schedule-free"


def test_strategies_json_has_ids_generations_families_and_defaults(capsys):
    assert main(["strategies", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == len(strategies.REGISTRY) == 40
    by_id = {record["id"]: record for record in records}
    assert (by_id["soap"]["library"], by_id["soap"]["licence"]) == (
        "pytorch-optimizer",
        "Apache-2.0",
    )
    assert (by_id["dog"]["library"], by_id["dog"]["licence"]) == ("dog-optimizer", "MIT")
    assert by_id["fixed_sgd"]["generation"] == 1
    assert by_id["dals"]["defaults"]["scratch"]["lr"] == 0.03
    assert by_id["dals"]["defaults"]["finetune"]["weight_decay"] == 0.01
    assert sum(record["paper"] for record in records) == 18
    for record in records:
        assert {"id", "generation", "family", "library", "licence", "defaults"} <= set(record)


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["nonsense"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_set_reads_a_learning_rate_in_e_notation_as_a_number():
    # PyYAML (YAML 1.1) alone reads "1e-4" as a string; the strategy then refused it.
    values = parse_assignments(["lr=1e-4", "momentum=0.9", "nesterov=true", "cooldown=linear"])
    assert values == {"lr": 1e-4, "momentum": 0.9, "nesterov": True, "cooldown": "linear"}
    assert parse_assignments(["lr=nan", "steps=3"]) == {"lr": "nan", "steps": 3}
