"""Search spaces (DESIGN §5): one declared spec per strategy, defaults from the registry, the
Ray Tune param_space, the joint Optuna define-by-run, and user space files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from ray.tune.search import sample as ray_sample
from ray.tune.search.optuna import OptunaSearch

import search_spaces
from dals_tune import strategies
from dals_tune.strategies import ACCEPTED
from dals_tune.study.ray_tune import tune_param_space
from search_spaces import (
    LEARNING_RATES,
    NOTHING_TO_TUNE,
    SPECS,
    Parameter,
    default_config,
    describe_markdown,
    joint_default_params,
    joint_define_by_run,
    learning_rates_only,
    load_space_file,
    per_strategy_define_by_run,
    space_for,
)

REGIMES = ("scratch", "finetune")
DALS_KNOBS = {
    "lr",
    "momentum",
    "weight_decay",
    "warmup_frac",
    "tau_hi",
    "tau_lo",
    "depth_decay",
    "alpha0",
    "grokfast_lambda",
    "blend_lo",
    "blend_hi",
    "trust_coefficient",
}
JOINT = ["dals", "adamw", "sgdr"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def in_range(parameter: Parameter, value: object) -> bool:
    if parameter.distribution == "categorical":
        return value in parameter.choices
    tolerance = 1e-12 * max(1.0, abs(parameter.high))
    return parameter.low - tolerance <= value <= parameter.high + tolerance


# --- the declared spec ---------------------------------------------------------------------


@pytest.mark.parametrize("strategy_id", list(strategies.REGISTRY))
def test_every_strategy_has_a_space_of_hyperparameters_it_takes(strategy_id):
    strategy = strategies.get(strategy_id)
    assert strategy_id in SPECS
    names = [parameter.name for parameter in SPECS[strategy_id]]
    assert len(names) == len(set(names))
    assert set(names) <= set(strategy.hyperparameters)
    if not names:
        assert NOTHING_TO_TUNE[strategy_id]
    for regime in REGIMES:
        space = space_for(strategy_id, regime)
        assert space.names == tuple(names)
        assert bool(space.reason) == (not names)
        for parameter in space.parameters:
            assert in_range(parameter, space.defaults[parameter.name]), (regime, parameter)
            if parameter.name == "lr":
                assert parameter.log


def test_the_spec_names_exactly_the_registered_strategies():
    assert set(SPECS) == set(strategies.REGISTRY)


def corner(space: search_spaces.Space, end: str) -> dict[str, object]:
    """Every searched parameter at its low (or high) end; categoricals at their first/last."""
    point = {}
    for parameter in space.parameters:
        if parameter.distribution == "categorical":
            point[parameter.name] = parameter.choices[0 if end == "low" else -1]
        else:
            point[parameter.name] = getattr(parameter, end)
    return point


@pytest.mark.parametrize("strategy_id", sorted(set(strategies.REGISTRY) - {"refined"}))
def test_the_strategy_builds_at_every_corner_of_its_space(strategy_id):
    """The ranges only hold values the optimizers accept: build at both corners."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    for regime in REGIMES:
        space = space_for(strategy_id, regime)
        for end in ("low", "high"):
            config = corner(space, end)
            strategies.build(strategy_id, model, total_steps=20, regime=regime, **config)


def test_refined_builds_at_the_corners_of_its_space():
    model = torch.nn.Linear(3, 2)
    space = space_for("refined")
    for end in ("low", "high"):
        config = corner(space, end)
        strategies.build("refined", model, total_steps=20, grad_norms=[1.0, 2.0, 1.5], **config)


def test_only_hyperparameter_free_strategies_have_nothing_to_tune():
    assert set(NOTHING_TO_TUNE) == {"prodigy", "dadapt_adam", "cocob", "dog"}
    assert all(space_for(strategy_id).parameters == () for strategy_id in NOTHING_TO_TUNE)


@pytest.mark.parametrize("strategy_id", list(strategies.REGISTRY))
def test_every_numeric_hyperparameter_has_an_accepted_range_holding_its_default(strategy_id):
    for regime in REGIMES:
        for name, value in strategies.resolve_config(strategy_id, regime).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert name in ACCEPTED, name
                assert value in ACCEPTED[name], (name, value)


def test_dals_family_exposes_exactly_the_design_knobs():
    assert set(space_for("dals").names) == DALS_KNOBS
    assert set(space_for("dals_fast").names) == DALS_KNOBS
    # DALS-Acc restarts its cosine without warmup, so it takes no warmup_frac.
    assert set(space_for("dals_acc").names) == DALS_KNOBS - {"warmup_frac"}
    dals = space_for("dals")
    assert dals.parameter("lr").log and dals.parameter("weight_decay").log
    assert dals.parameter("tau_hi").log and dals.parameter("tau_lo").log
    assert (dals.parameter("depth_decay").low, dals.parameter("depth_decay").high) == (0.5, 1.0)
    assert (dals.parameter("alpha0").low, dals.parameter("alpha0").high) == (0.3, 0.9)
    lam = dals.parameter("grokfast_lambda")
    assert (lam.low, lam.high) == (0.0, 2.0)
    trust = dals.parameter("trust_coefficient")
    assert (trust.low, trust.high, trust.log) == (0.002, 0.2, True)
    assert (dals.parameter("momentum").low, dals.parameter("momentum").high) == (0.8, 0.99)
    wd = dals.parameter("weight_decay")
    assert (wd.low, wd.high) == (1e-6, 1e-1)


@pytest.mark.parametrize("strategy_id", ["dals", "dals_fast", "dals_acc"])
def test_tau_lo_range_lies_below_tau_hi_range(strategy_id):
    space = space_for(strategy_id)
    assert space.parameter("tau_lo").high <= space.parameter("tau_hi").low


# --- defaults come from the registry --------------------------------------------------------


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("strategy_id", sorted(set(strategies.REGISTRY) - {"refined"}))
def test_defaults_are_the_registry_defaults(strategy_id, regime):
    registry = strategies.resolve_config(strategy_id, regime)
    space = space_for(strategy_id, regime)
    assert dict(space.defaults) == registry
    point = default_config(strategy_id, regime)
    assert point == {name: registry[name] for name in space.names}
    assert strategies.resolve_config(strategy_id, regime, **point) == registry


def test_refined_defaults_are_its_base_optimizers():
    assert strategies.resolve_config("refined")["lr"] is None
    assert default_config("refined", "scratch")["lr"] == pytest.approx(0.03)
    assert default_config("refined", "finetune")["lr"] < default_config("refined", "scratch")["lr"]


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize(
    "strategy_id", [sid for sid, spec in SPECS.items() if any(p.name == "lr" for p in spec)]
)
def test_lr_range_is_a_decade_either_side_of_the_regime_default(strategy_id, regime):
    space = space_for(strategy_id, regime)
    lr = space.parameter("lr")
    default = space.defaults["lr"]
    assert lr.log
    assert lr.low == pytest.approx(default / 10)
    assert lr.high == pytest.approx(default * 10)


@pytest.mark.parametrize("strategy_id", ["fixed_sgd", "cosine_sgd", "adamw", "lion", "wsd"])
def test_finetune_lr_range_is_lower_than_scratch(strategy_id):
    scratch = space_for(strategy_id, "scratch").parameter("lr")
    finetune = space_for(strategy_id, "finetune").parameter("lr")
    assert finetune.low < scratch.low and finetune.high < scratch.high


def test_unknown_strategy_and_regime_are_one_line_errors():
    with pytest.raises(ValueError, match="did you mean 'dals'"):
        space_for("dalls")
    with pytest.raises(ValueError, match="unknown regime 'pretrain'"):
        space_for("dals", "pretrain")


# --- Ray Tune ------------------------------------------------------------------------------


def test_tune_param_space_has_the_right_domains_and_bounds():
    space = space_for("dals")
    param_space = tune_param_space(space)
    assert set(param_space) == set(space.names)
    lr = param_space["lr"]
    assert isinstance(lr, ray_sample.Float)
    assert isinstance(lr.get_sampler(), ray_sample.Float._LogUniform)
    assert (lr.lower, lr.upper) == pytest.approx((0.003, 0.3))
    momentum = param_space["momentum"]
    assert isinstance(momentum.get_sampler(), ray_sample.Float._Uniform)
    assert (momentum.lower, momentum.upper) == (0.8, 0.99)
    for name in space.names:
        values = np.asarray(param_space[name].sample(size=500))
        parameter = space.parameter(name)
        assert values.min() >= parameter.low and values.max() <= parameter.high


def test_tune_param_space_ints_include_the_upper_bound_and_categoricals_are_choices():
    sgdr = tune_param_space(space_for("sgdr"))
    cycles = sgdr["first_cycle_epochs"]
    assert isinstance(cycles, ray_sample.Integer)
    assert (cycles.lower, cycles.upper) == (1, 11)  # Ray's upper bound is exclusive
    assert set(cycles.sample(size=2000)) == set(range(1, 11))
    cooldown = tune_param_space(space_for("wsd"))["cooldown"]
    assert isinstance(cooldown, ray_sample.Categorical)
    assert cooldown.categories == ["1-sqrt", "linear", "cosine"]
    assert tune_param_space(space_for("prodigy")) == {}


def test_ray_optuna_searcher_reads_the_param_space_with_the_declared_bounds():
    space = space_for("sgdr", "finetune")
    distributions = OptunaSearch.convert_search_space(tune_param_space(space))
    assert distributions["first_cycle_epochs"] == optuna.distributions.IntDistribution(1, 10)
    lr = distributions["lr"]
    assert lr.log and (lr.low, lr.high) == (space.parameter("lr").low, space.parameter("lr").high)


# --- Optuna --------------------------------------------------------------------------------


def test_joint_define_by_run_with_a_fixed_trial_returns_the_default_point():
    params = joint_default_params("dals", "finetune")
    assert params["strategy"] == "dals" and params["dals.lr"] == 0.03
    assert params["dals.weight_decay"] == 0.01
    config = joint_define_by_run(JOINT, "finetune")(optuna.trial.FixedTrial(params))
    assert config == {"strategy": "dals", **default_config("dals", "finetune")}


def test_joint_study_suggests_only_the_chosen_strategys_parameters():
    define = joint_define_by_run(JOINT, "scratch")
    spaces = {sid: space_for(sid) for sid in JOINT}
    seen = []

    def objective(trial: optuna.Trial) -> float:
        config = define(trial)
        strategy_id = config.pop("strategy")
        seen.append(strategy_id)
        space = spaces[strategy_id]
        assert set(config) == set(space.names)
        assert set(trial.params) == {"strategy"} | {f"{strategy_id}.{n}" for n in space.names}
        for name, value in config.items():
            assert in_range(space.parameter(name), value), (strategy_id, name, value)
        if "tau_lo" in config:
            assert config["tau_lo"] <= config["tau_hi"]
        resolved = strategies.resolve_config(strategy_id, "scratch", **config)
        return math.log10(resolved["lr"]) + len(strategy_id)

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    for strategy_id in JOINT:
        study.enqueue_trial(joint_default_params(strategy_id, "scratch"))
    study.optimize(objective, n_trials=20)
    assert len(study.trials) == 20
    assert set(seen) == set(JOINT)
    assert seen[:3] == JOINT  # the portfolio of defaults comes first
    for trial, strategy_id in zip(study.trials[:3], JOINT):
        assert trial.params == joint_default_params(strategy_id, "scratch")


def test_per_strategy_define_by_run_uses_plain_names():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    define = per_strategy_define_by_run("lookahead_adamw", "finetune")
    configs = []
    study.optimize(lambda trial: configs.append(define(trial)) or 0.0, n_trials=10)
    space = space_for("lookahead_adamw", "finetune")
    for config in configs:
        assert set(config) == set(space.names)
        assert isinstance(config["lookahead_k"], int)
        assert all(in_range(space.parameter(n), v) for n, v in config.items())
        strategies.resolve_config("lookahead_adamw", "finetune", **config)


def test_joint_define_by_run_rejects_an_unknown_strategy():
    with pytest.raises(ValueError, match="did you mean 'adamw'"):
        joint_define_by_run(["dals", "adamww"])


# --- space files ---------------------------------------------------------------------------

NARROWING_YAML = """
dals:
  lr: {low: 0.01, high: 0.05}
  momentum: {high: 0.95}
  tau_hi: [0.005, 0.01, 0.02]
  grokfast_lambda: 0
  weight_decay: {low: 1e-5, high: 1e-3}
adamw:
  eps: {low: 1.0e-8, high: 1.0e-6, log: true}
sgdr:
  cycle_mult: 2
"""


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_space_file_narrows_replaces_and_fixes(tmp_path):
    spaces = load_space_file(write(tmp_path, NARROWING_YAML), JOINT, "scratch")
    assert list(spaces) == JOINT
    dals = spaces["dals"]
    lr = dals.parameter("lr")
    assert (lr.low, lr.high, lr.log) == (0.01, 0.05, True)  # log kept from the spec
    momentum = dals.parameter("momentum")
    assert (momentum.low, momentum.high) == (0.8, 0.95)  # one end narrowed
    assert dals.parameter("tau_hi").choices == (0.005, 0.01, 0.02)
    wd = dals.parameter("weight_decay")
    assert (wd.low, wd.high) == (1e-5, 1e-3)  # "1e-5" is text in YAML 1.1: read as a number
    assert "grokfast_lambda" not in dals.names and dals.fixed == {"grokfast_lambda": 0}
    assert dals.default_point()["grokfast_lambda"] == 0
    eps = spaces["adamw"].parameter("eps")
    assert (eps.low, eps.high, eps.log) == (1e-8, 1e-6, True)
    assert spaces["sgdr"].fixed == {"cycle_mult": 2} and "cycle_mult" not in spaces["sgdr"].names


def test_sampled_values_stay_inside_the_narrowed_ranges(tmp_path):
    spaces = load_space_file(write(tmp_path, NARROWING_YAML), JOINT, "scratch")
    define = joint_define_by_run(JOINT, "scratch", spaces=spaces)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    configs = []
    study.optimize(lambda trial: configs.append(define(trial)) or 0.0, n_trials=40)
    dals_configs = [c for c in configs if c["strategy"] == "dals"]
    assert dals_configs
    for config in dals_configs:
        assert 0.01 <= config["lr"] <= 0.05 and 0.8 <= config["momentum"] <= 0.95
        assert config["tau_hi"] in (0.005, 0.01, 0.02) and config["grokfast_lambda"] == 0
        strategies.resolve_config(
            "dals", "scratch", **{k: v for k, v in config.items() if k != "strategy"}
        )
    param_space = tune_param_space(spaces["dals"])
    assert param_space["grokfast_lambda"] == 0
    lrs = np.asarray(param_space["lr"].sample(size=1000))
    assert lrs.min() >= 0.01 and lrs.max() <= 0.05


def test_space_file_in_json(tmp_path):
    text = json.dumps({"adamw": {"lr": {"low": 1e-4, "high": 1e-3}, "beta2": [0.95, 0.999]}})
    spaces = load_space_file(write(tmp_path, text, "space.json"), ["adamw"], "finetune")
    assert (spaces["adamw"].parameter("lr").low, spaces["adamw"].parameter("lr").high) == (
        1e-4,
        1e-3,
    )
    assert spaces["adamw"].parameter("beta2").choices == (0.95, 0.999)


def test_space_file_entries_for_other_strategies_are_checked_but_not_returned(tmp_path):
    spaces = load_space_file(write(tmp_path, "lion: {lr: {high: 1e-3}}\n"), ["adam"])
    assert list(spaces) == ["adam"]
    with pytest.raises(ValueError, match=r"lion\.lr: low"):
        load_space_file(write(tmp_path, "lion: {lr: {low: 1e-2, high: 1e-3}}\n"), ["adam"])


BAD_FILES = [
    ("dalls:\n  lr: 0.1\n", "space.yaml", r"unknown strategy 'dalls'; did you mean 'dals'\?"),
    (
        "dals:\n  lrr: 0.1\n",
        "space.yaml",
        r"dals\.lrr: dals takes no hyperparameter 'lrr' \(did you mean 'lr'\?\)",
    ),
    ("dals:\n  lr: {low: 0.1, high: 0.01}\n", "space.yaml", r"dals\.lr: low 0\.1 ≥ high 0\.01"),
    ("dals:\n  lr: {low: 0, high: 0.1, log: true}\n", "space.yaml", r"log scale needs low > 0"),
    ("dals:\n  momentum: {high: 1.0}\n", "space.yaml", r"momentum must be in \[0, 1\), got 1"),
    ("dals:\n  momentum: 1.2\n", "space.yaml", r"dals\.momentum: momentum must be in \[0, 1\)"),
    ("dals:\n  tau_lo: {low: 0.001, high: 0.02}\n", "space.yaml", r"tau_lo must not exceed"),
    ("wsd:\n  cooldown: {low: 1, high: 2}\n", "space.yaml", r"cooldown is categorical"),
    ("wsd:\n  cooldown: [cosine, spiral]\n", "space.yaml", r"cooldown must be one of"),
    ("sgdr:\n  first_cycle_epochs: {low: 1.5}\n", "space.yaml", r"needs integer bounds"),
    ("adamw:\n  eps: {low: 1.0e-8}\n", "space.yaml", r"not searched by default; give both"),
    ("dals:\n  lr: {lo: 0.01}\n", "space.yaml", r"a range takes low, high, log, got 'lo'"),
    ("dals:\n  lr: []\n", "space.yaml", r"an empty list of choices"),
    ("refined:\n  grad_norms: [1.0, 2.0]\n", "space.yaml", r"previous run's"),
    ("dals: 0.1\n", "space.yaml", r"dals: expected a mapping"),
    ("- dals\n", "space.yaml", r"expected a mapping of strategy id"),
    ("", "space.yaml", r"is empty"),
    ("dals: {lr: [0.01, 0.1\n", "space.yaml", r"is not valid YAML: expected ',' or ']'.*line 2"),
    ('{"dals": {"lr": }}', "space.json", r"is not valid JSON"),
]


@pytest.mark.parametrize(("text", "name", "message"), BAD_FILES)
def test_bad_space_files_give_a_one_line_error(tmp_path, text, name, message):
    path = write(tmp_path, text, name)
    with pytest.raises(ValueError, match=message) as error:
        load_space_file(path, ["dals", "adamw"], "scratch")
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)


def test_missing_space_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ValueError, match="does not exist") as error:
        load_space_file(path, ["dals"])
    assert "\n" not in str(error.value) and str(path) in str(error.value)


# --- a learning-rate-only search ----------------------------------------------------------


@pytest.mark.parametrize("regime", REGIMES)
def test_a_learning_rate_search_keeps_the_declared_lr_ranges_and_fixes_the_rest(regime):
    for strategy_id in strategies.REGISTRY:
        full = space_for(strategy_id, regime)
        narrowed = learning_rates_only(full)
        kept = [name for name in full.names if name in LEARNING_RATES]
        assert narrowed.names == tuple(kept), strategy_id
        for name in kept:  # the same log-uniform range as the whole space's
            assert narrowed.parameter(name) == full.parameter(name)
            assert narrowed.parameter(name).log
        assert narrowed.default_point() == full.default_point()  # the default run is the same
        assert set(narrowed.fixed) == set(full.names) - set(kept)
        if full.parameters and not kept:  # no learning rate: only the default, and why
            assert strategies.get(strategy_id).family == "hyperparameter-free"
            assert "no learning rate to search" in narrowed.reason
    assert learning_rates_only(space_for("adabound", regime)).names == ("lr", "final_lr")


def test_a_learning_rate_search_keeps_what_a_space_file_narrowed_or_fixed(tmp_path):
    spaces = load_space_file(write(tmp_path, NARROWING_YAML), JOINT, "scratch")
    dals = learning_rates_only(spaces["dals"])
    assert dals.names == ("lr",) and (dals.parameter("lr").low, dals.parameter("lr").high) == (
        0.01, 0.05,
    )  # fmt: skip
    assert dals.fixed["grokfast_lambda"] == 0  # the file's value, not the default
    assert dals.fixed["momentum"] == space_for("dals").defaults["momentum"]
    assert "eps" in learning_rates_only(spaces["adamw"]).fixed  # the file's added knob: default


# --- the doc -------------------------------------------------------------------------------


def test_docs_table_is_generated_from_the_spec():
    doc = (Path(__file__).parents[1] / "docs" / "search_spaces.md").read_text()
    assert describe_markdown() in doc
    assert search_spaces.describe_markdown is describe_markdown
