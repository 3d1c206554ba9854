"""The strategy registry and factory (DESIGN §4): ids, errors, layer-wise LRs, checkpoints,
and every strategy training a small MLP."""

from __future__ import annotations

import io
import math
import shutil

import pytest
import torch
from torch import nn
from trial_probe import differences, load_checkpoint

import dals_tune
from dals_tune import strategies
from dals_tune.optim.grokfast import GrokfastFilter
from dals_tune.schedules import SlantedTriangular
from dals_tune.training import train
from dals_tune.workloads.user_module import reference

PAPER_GENERATIONS = {
    "fixed_sgd": 1,
    "cosine_sgd": 2,
    "sgdr": 2,
    "adam": 3,
    "adamw": 3,
    "adabound": 3,
    "lars": 4,
    "discriminative": 4,
    "radam": 5,
    "lion": 5,
    "lookahead_adamw": 5,
    "sam": 5,
    "grokfast": 5,
    "stlr_discriminative": 5,
    "sam_discriminative": 5,
    "dals": 5,
    "dals_fast": 5,
    "dals_acc": 5,
}
EXTRAS = {
    "stlr_discriminative_paper",
    "linear_decay_sgd",
    "linear_decay_adamw",
    "refined",
    "wsd",
    "onecycle",
    "llrd_adamw",
    "lamb",
    "prodigy",
    "dadapt_adam",
    "schedulefree_adamw",
    "muon",
    "soap",
    "shampoo",
    "ademamix",
    "mars",
    "adopt",
    "schedulefree_sgd",
    "schedulefree_radam",
    "prodigy_schedulefree",
    "cocob",
    "dog",
}
ALL_IDS = sorted(strategies.REGISTRY)
GRAD_NORMS = [1.0 / (1.0 + 0.1 * i) for i in range(50)]
TOTAL_STEPS, STEPS_PER_EPOCH = 20, 2


def mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2)
    )


def separable_batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(64, 8, generator=generator)
    direction = torch.randn(8, generator=generator)
    return inputs, (inputs @ direction > 0).long()


def build(strategy_id: str, model: nn.Module, **overrides):
    if strategy_id == "refined":
        overrides.setdefault("grad_norms", GRAD_NORMS)
    return strategies.build(
        strategy_id,
        model,
        total_steps=TOTAL_STEPS,
        steps_per_epoch=STEPS_PER_EPOCH,
        **overrides,
    )


def train_steps(strategy, model, optimizer, scheduler, batch, steps: int) -> None:
    inputs, labels = batch
    loss_fn = nn.CrossEntropyLoss()
    if strategy.has_train_eval_modes:
        optimizer.train()

    def recompute() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        return loss

    for _ in range(steps):
        loss = recompute()
        strategies.optimizer_step(strategy, optimizer, loss.item(), recompute)
        if scheduler is not None:
            scheduler.step()


def evaluation_loss(strategy, model, optimizer, batch) -> float:
    if strategy.has_train_eval_modes:
        optimizer.eval()
    with torch.no_grad():
        return nn.functional.cross_entropy(model(batch[0]), batch[1]).item()


# --- registry --------------------------------------------------------------------------------


def test_registry_has_the_paper_table_with_its_generations():
    paper = {s.id: s.generation for s in strategies.REGISTRY.values() if s.paper}
    assert paper == PAPER_GENERATIONS
    assert set(strategies.REGISTRY) == set(PAPER_GENERATIONS) | EXTRAS


def test_records_are_complete():
    for strategy in strategies.REGISTRY.values():
        assert 1 <= strategy.generation <= 5
        assert strategy.library in strategies.LIBRARY_LICENCES
        assert set(strategy.defaults) == {"scratch", "finetune"}
        assert strategy.description
    assert {s.id for s in strategies.REGISTRY.values() if s.needs_closure} == {
        "sam",
        "sam_discriminative",
    }
    assert [s.id for s in strategies.REGISTRY.values() if s.has_train_eval_modes] == [
        "schedulefree_adamw",
        "schedulefree_sgd",
        "schedulefree_radam",
        "prodigy_schedulefree",
    ]


def test_unknown_strategy_suggests_the_closest_id():
    with pytest.raises(ValueError) as error:
        strategies.get("dalls")
    assert str(error.value) == (
        "unknown strategy 'dalls'; did you mean 'dals'? see python -m dals_tune strategies"
    )
    with pytest.raises(ValueError, match="unknown strategy 'zzz'; see python -m dals_tune"):
        strategies.get("zzz")


def test_unknown_override_names_the_key_and_the_accepted_ones():
    with pytest.raises(ValueError, match="no hyperparameter 'momentm'; it takes: lr, momentum"):
        strategies.resolve_config("fixed_sgd", momentm=0.5)
    with pytest.raises(ValueError, match="unknown regime 'pretrain'"):
        strategies.resolve_config("fixed_sgd", regime="pretrain")


def test_resolve_config_regimes_and_overrides():
    assert strategies.resolve_config("fixed_sgd") == {
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 5e-4,
    }
    assert strategies.resolve_config("fixed_sgd", "finetune", momentum=0.8) == {
        "lr": 5e-4,
        "momentum": 0.8,
        "weight_decay": 0.01,
    }
    assert strategies.resolve_config("adamw", "finetune")["lr"] == 5e-5
    assert strategies.resolve_config("lion", "finetune")["lr"] == 1e-5
    assert strategies.resolve_config("cosine_sgd", "finetune")["lr"] == pytest.approx(0.03 / 20)
    dals = strategies.resolve_config("dals", "finetune")
    assert (dals["weight_decay"], dals["warmup_frac"], dals["lr"]) == (0.01, 0.10, 0.03)
    fast = strategies.resolve_config("dals_fast")
    assert (fast["lr"], fast["warmup_frac"], fast["momentum"]) == (0.05, 0.02, 0.85)
    assert fast["bypass_filter_in_explore"] is True
    acc = strategies.resolve_config("dals_acc")
    assert (acc["alpha0"], acc["weight_decay"], acc["restart_epochs"]) == (0.7, 5e-4, 10)


# --- layer-wise LRs --------------------------------------------------------------------------


def test_discriminative_split_divides_by_2_6_per_layer():
    optimizer, scheduler = strategies.build("discriminative", mlp(), total_steps=10)
    assert scheduler is None
    assert [g["layer_name"] for g in optimizer.param_groups] == ["0", "2", "4"]
    lrs = [g["lr"] for g in optimizer.param_groups]
    assert lrs == pytest.approx([0.05 / 2.6 / 2.6, 0.05 / 2.6, 0.05])


def test_stlr_multiplies_the_split_once():
    model = mlp()
    optimizer, scheduler = strategies.build("stlr_discriminative", model, total_steps=100)
    split = [0.05 / 2.6**2, 0.05 / 2.6, 0.05]
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([s / 32 for s in split])
    model(torch.zeros(1, 8)).sum().backward()
    for _ in range(10):  # cut = ⌊100·0.1⌋ = 10: the peak
        optimizer.step()
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(split)
    for _ in range(45):  # t = 55: p = 0.5
        optimizer.step()
        scheduler.step()
    multiplier = (1 + 0.5 * 31) / 32
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
        [s * multiplier for s in split]
    )
    assert multiplier == pytest.approx(SlantedTriangular(100)(55))


def lrs_after(optimizer, scheduler, steps: int) -> list[float]:
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    return [g["lr"] for g in optimizer.param_groups]


def test_stlr_paper_decays_twice_and_moves_once_per_epoch():
    """20 epochs of 3 steps: the STLR runs over E = 20 epochs, cut = ⌊20·0.1⌋ = 2, and its
    multiplier at epoch e is (1 + p·31)/32; each group's LR is 0.05·2.6^−2k for the k layers
    above it."""
    optimizer, scheduler = strategies.build(
        "stlr_discriminative_paper", mlp(), total_steps=60, steps_per_epoch=3
    )
    split = [0.05 / 2.6**4, 0.05 / 2.6**2, 0.05]  # k = 2, 1, 0, each decayed twice
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([s / 32 for s in split])
    # t = 2, the last step of epoch 0: unchanged
    assert lrs_after(optimizer, scheduler, 2) == pytest.approx([s / 32 for s in split])
    # t = 3, the first step of epoch 1: p = 1/2
    rise = (1 + 0.5 * 31) / 32
    assert lrs_after(optimizer, scheduler, 1) == pytest.approx([s * rise for s in split])
    assert lrs_after(optimizer, scheduler, 3) == pytest.approx(split)  # t = 6, epoch 2: peak
    # t = 57, the first step of the last epoch, 19: p = 1 − (19 − 2)/(2·9) = 1/18
    last = (1 + 31 / 18) / 32
    assert lrs_after(optimizer, scheduler, 51) == pytest.approx([s * last for s in split])
    assert lrs_after(optimizer, scheduler, 2) == pytest.approx([s * last for s in split])


def test_stlr_paper_in_fewer_epochs_than_one_over_cut_frac():
    """3 epochs of 4 steps: ⌊3·0.1⌋ = 0 is taken as cut = 1, so epoch 0 is at 1/32, epoch 1
    at the peak and epoch 2 at p = 1 − 1/9; one epoch stays at 1/32."""
    optimizer, scheduler = strategies.build(
        "stlr_discriminative_paper", mlp(), total_steps=12, steps_per_epoch=4
    )
    top = [g["lr"] for g in optimizer.param_groups][-1]
    tops = [top] + [lrs_after(optimizer, scheduler, 1)[-1] for _ in range(11)]
    by_epoch = [0.05 / 32, 0.05, 0.05 * (1 + 8 / 9 * 31) / 32]
    assert tops == pytest.approx([lr for lr in by_epoch for _ in range(4)])
    optimizer, scheduler = strategies.build(
        "stlr_discriminative_paper", mlp(), total_steps=5, steps_per_epoch=5
    )
    assert lrs_after(optimizer, scheduler, 4)[-1] == pytest.approx(0.05 / 32)


def test_stlr_paper_differs_from_stlr_discriminative_by_the_second_decay():
    """In a one-epoch run both start at 1/ratio: the top group's LR is the same, each group
    below is 2.6 times lower per layer above it; the correct one then rises within the epoch
    while the paper code's waits for an epoch end that does not come."""
    correct, correct_schedule = strategies.build("stlr_discriminative", mlp(), total_steps=50)
    paper, paper_schedule = strategies.build("stlr_discriminative_paper", mlp(), total_steps=50)
    ratios = [p["lr"] / c["lr"] for p, c in zip(paper.param_groups, correct.param_groups)]
    assert ratios == pytest.approx([2.6**-2, 2.6**-1, 1.0])
    assert lrs_after(correct, correct_schedule, 5)[-1] == pytest.approx(0.05)  # cut = 5: peak
    assert lrs_after(paper, paper_schedule, 5)[-1] == pytest.approx(0.05 / 32)


def test_llrd_and_sam_discriminative_groups():
    optimizer, _ = strategies.build("llrd_adamw", mlp(), total_steps=10, layer_decay=0.5)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([7.5e-5, 1.5e-4, 3e-4])
    optimizer, _ = strategies.build("sam_discriminative", mlp(), total_steps=10)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
        [0.05 / 2.6**2, 0.05 / 2.6, 0.05]
    )
    assert all(g["adaptive"] and g["rho"] == 0.05 for g in optimizer.param_groups)
    assert optimizer.base_optimizer.param_groups is optimizer.param_groups


def test_epoch_based_lengths():
    _, sgdr = strategies.build("sgdr", mlp(), total_steps=100, steps_per_epoch=7)
    assert (sgdr.T_0, sgdr.T_mult, sgdr.eta_min) == (7, 2, 1e-5)
    _, whole_run = strategies.build("sgdr", mlp(), total_steps=100)
    assert whole_run.T_0 == 100
    dals_acc, scheduler = strategies.build("dals_acc", mlp(), total_steps=100, steps_per_epoch=7)
    assert scheduler is None
    assert (dals_acc.restart_steps, dals_acc.restart_mult) == (70, 2.0)


def test_refined_needs_grad_norms_and_uses_the_base_defaults():
    with pytest.raises(ValueError, match="needs grad_norms"):
        strategies.build("refined", mlp(), total_steps=10)
    norms = [1.0] * 20
    optimizer, scheduler = strategies.build("refined", mlp(), total_steps=11, grad_norms=norms)
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.03)  # peak of a linear decay
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.03 * 0.5)  # 1 − 5/10
    adamw, _ = strategies.build(
        "refined", mlp(), total_steps=11, regime="finetune", grad_norms=norms, base="adamw"
    )
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["lr"] == pytest.approx(5e-5)


def test_refined_is_the_one_strategy_that_takes_inputs_from_a_source_run(tmp_path):
    takers = [s.id for s in strategies.REGISTRY.values() if s.needs_source_run]
    assert takers == [strategies.REFINED]
    norms_file = tmp_path / "refine_from.json"
    norms_file.write_text('{"run_id": "r", "grad_norms": [1.0, null, 2.0]}')
    refined = strategies.get(strategies.REFINED)
    supplied = strategies.supply_inputs(refined, {"lr": 0.1}, str(norms_file))
    assert supplied["lr"] == 0.1 and supplied["grad_norms"][::2] == [1.0, 2.0]
    assert math.isnan(supplied["grad_norms"][1])
    given = {"grad_norms": [3.0, 4.0]}
    assert strategies.supply_inputs(refined, given, str(norms_file)) == given
    assert strategies.supply_inputs(refined, {}, None) == {}  # the builder says what is missing
    adamw = strategies.get("adamw")
    assert strategies.supply_inputs(adamw, {"lr": 0.1}, str(norms_file)) == {"lr": 0.1}


def test_concrete_config_fills_the_defaults_that_follow_from_another_setting():
    assert strategies.resolve_config("refined")["lr"] is None
    assert strategies.concrete_config("refined")["lr"] == pytest.approx(0.03)
    adamw = strategies.concrete_config("refined", "finetune", base="adamw")
    assert (adamw["lr"], adamw["grad_norm_kind"]) == (5e-5, "l1")
    assert strategies.concrete_config("adamw") == strategies.resolve_config("adamw")
    assert set(strategies.REFINED_BASES) == set(strategies.ACCEPTED_CHOICES["base"])


@pytest.mark.parametrize(
    "strategy_id, overrides, message",
    [
        ("sgdr", {"cycle_mult": 1.5}, "cycle_mult must be an integer in [1, ∞), got 1.5"),
        ("wsd", {"warmup_frac": 0.5, "decay_frac": 0.6}, "must be at most 1, got 0.5 + 0.6"),
        ("dals", {"tau_lo": 0.05}, "tau_lo must not exceed tau_hi, got tau_lo=0.05 and tau_hi"),
        ("refined", {"base": "lion", "grad_norms": [1.0, 2.0]}, "base must be one of 'sgd'"),
        ("adamw", {"lr": -1.0}, "lr must be in (0, ∞), got -1.0"),
    ],
    ids=["sgdr-cycle-mult", "wsd-fractions", "dals-taus", "refined-base", "adamw-lr"],
)
def test_build_checks_the_config_against_the_bounds_table(strategy_id, overrides, message):
    with pytest.raises(ValueError) as caught:
        strategies.build(strategy_id, mlp(), total_steps=10, **overrides)
    assert str(caught.value).startswith(f"strategy {strategy_id!r}: ")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_wsd_rounding_never_overruns_the_run():
    # 0.3·5 and 0.7·5 both round up (1.5 → 2, 3.5 → 4): the cooldown takes what is left.
    optimizer, scheduler = strategies.build(
        "wsd", mlp(), total_steps=5, warmup_frac=0.3, decay_frac=0.7
    )
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_grokfast_filter_amplifies_the_slow_gradient():
    parameter = nn.Parameter(torch.zeros(2))
    optimizer = GrokfastFilter(torch.optim.SGD([parameter], lr=1.0), alpha=0.5, lamb=2.0)
    parameter.grad = torch.tensor([1.0, -2.0])
    optimizer.step()  # ḡ = g (first gradient); g ← g + 2ḡ = 3g
    assert parameter.tolist() == [-3.0, 6.0]
    parameter.grad = torch.tensor([3.0, 0.0])
    optimizer.step()  # ḡ = 0.5·(1, −2) + 0.5·(3, 0) = (2, −1); g = (3, 0) + 2·(2, −1)
    assert parameter.tolist() == [-3.0 - 7.0, 6.0 + 2.0]


def test_optimizer_step_feeds_dals_and_passes_the_closure_to_sam():
    model = mlp()
    batch = separable_batch()
    for strategy_id in ("dals", "sam"):
        strategy = strategies.get(strategy_id)
        optimizer, _ = strategies.build(strategy_id, model, total_steps=10)
        calls = []

        def recompute(optimizer=optimizer, calls=calls) -> torch.Tensor:
            calls.append(1)
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(batch[0]), batch[1])
            loss.backward()
            return loss

        recompute()
        strategies.optimizer_step(strategy, optimizer, 0.7, recompute)
        assert len(calls) == (2 if strategy.needs_closure else 1)
        if strategy_id == "dals":
            assert optimizer.phase_state.loss_ema == 0.7


# --- every strategy --------------------------------------------------------------------------

# D-Adaptation starts from a tiny step-size estimate d0 and grows it geometrically; without
# warmup the estimate overshoots within the first 20 full-batch steps of this MLP, so its loss
# after 20 steps is no measure of it (see the test of its own below).
SLOW_STARTERS = {"dadapt_adam"}


@pytest.mark.parametrize("strategy_id", [s for s in ALL_IDS if s not in SLOW_STARTERS])
def test_every_strategy_lowers_the_loss_of_a_small_mlp(strategy_id):
    strategy = strategies.get(strategy_id)
    torch.manual_seed(0)
    model = mlp()
    batch = separable_batch()
    optimizer, scheduler = build(strategy_id, model)
    if len(optimizer.param_groups) > 1:  # per-layer groups carry a name to log their LR by
        assert all("layer_name" in g for g in optimizer.param_groups)
    initial = evaluation_loss(strategy, model, optimizer, batch)
    train_steps(strategy, model, optimizer, scheduler, batch, steps=20)
    final = evaluation_loss(strategy, model, optimizer, batch)
    assert math.isfinite(final) and final < initial


def test_d_adaptation_grows_its_step_size_and_lowers_the_loss_given_more_steps():
    """What holds for D-Adaptation where 20 steps are too few: the loss stays finite, d grows
    by orders of magnitude from d0, and 20 steps more bring the loss below its start."""
    strategy = strategies.get("dadapt_adam")
    torch.manual_seed(0)
    model = mlp()
    batch = separable_batch()
    optimizer, scheduler = build("dadapt_adam", model)
    d0 = optimizer.param_groups[0]["d"]
    initial = evaluation_loss(strategy, model, optimizer, batch)
    train_steps(strategy, model, optimizer, scheduler, batch, steps=20)
    assert math.isfinite(evaluation_loss(strategy, model, optimizer, batch))
    assert optimizer.param_groups[0]["d"] > 1e4 * d0  # the estimate grew from its tiny start
    train_steps(strategy, model, optimizer, scheduler, batch, steps=20)
    final = evaluation_loss(strategy, model, optimizer, batch)
    assert math.isfinite(final) and final < initial


def save(*states) -> list:
    """Through bytes and back, loaded as the trainer loads its own checkpoints: Shampoo's state
    holds pytorch-optimizer's preconditioner objects, which only a full unpickling restores."""
    buffer = io.BytesIO()
    torch.save(list(states), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("strategy_id", ALL_IDS)
def test_state_dict_round_trip(strategy_id):
    """4 steps, checkpoint, restore into a fresh build, one more step on both: same weights.
    (4, so that the step after the restore is Lookahead's k = 5th, its slow-weight sync.)"""
    strategy = strategies.get(strategy_id)
    batch = separable_batch()
    torch.manual_seed(0)
    model = mlp()
    optimizer, scheduler = build(strategy_id, model)
    train_steps(strategy, model, optimizer, scheduler, batch, steps=4)
    if strategy.has_train_eval_modes:  # checkpoint the way a trainer does: in eval mode
        optimizer.eval()
    model_state, optimizer_state, scheduler_state = save(
        model.state_dict(),
        optimizer.state_dict(),
        scheduler.state_dict() if scheduler is not None else None,
    )

    torch.manual_seed(1)
    restored_model = mlp()
    restored_optimizer, restored_scheduler = build(strategy_id, restored_model)
    restored_model.load_state_dict(model_state)
    restored_optimizer.load_state_dict(optimizer_state)
    if restored_scheduler is not None:
        restored_scheduler.load_state_dict(scheduler_state)

    train_steps(strategy, model, optimizer, scheduler, batch, steps=1)
    train_steps(strategy, restored_model, restored_optimizer, restored_scheduler, batch, steps=1)
    for original, restored in zip(model.parameters(), restored_model.parameters()):
        assert torch.equal(original, restored)
    assert [g.get("lr") for g in optimizer.param_groups] == [
        g.get("lr") for g in restored_optimizer.param_groups
    ]


def separable_task(config):
    """A workload small enough to train every strategy through the trainer in a second: the
    MLP above on 256 separable points, 8 steps an epoch."""
    inputs, labels = separable_batch(seed=2)
    inputs, labels = inputs.repeat(4, 1), labels.repeat(4)
    return dals_tune.workload(
        name="separable",
        model=mlp,
        train=(inputs[:256], labels[:256]),
        val=(inputs[:64], labels[:64]),
        test=(inputs[:64], labels[:64]),
        batch_size=32,
    )


@pytest.mark.parametrize("strategy_id", ALL_IDS)
def test_a_resumed_trial_ends_its_next_epoch_as_the_uninterrupted_one(strategy_id, tmp_path):
    """Through the trainer, for every strategy: resumed from its epoch-2 checkpoint, a trial
    ends epoch 3 with the uninterrupted run's checkpoint (weights, optimizer and schedule
    state, RNG), whatever the loop does for it (closures, train/eval modes, no LR at all)."""
    config = {"workload": reference(separable_task), "strategy": strategy_id, "epochs": 3}
    if strategy_id == "refined":
        config["grad_norms"] = GRAD_NORMS

    def keep(prefix):
        def report(metrics, folder):
            shutil.copytree(folder, tmp_path / f"{prefix}{metrics['epoch']}")

        return report

    train(config, report=keep("epoch"))
    resumed = train(config, report=keep("resumed"), resume_from=tmp_path / "epoch2")
    assert resumed.status == "completed"
    assert not (tmp_path / "resumed2").exists(), "only the epochs after the checkpoint run"
    uninterrupted = load_checkpoint(tmp_path / "epoch3")
    assert differences(load_checkpoint(tmp_path / "resumed3"), uninterrupted) == []


# --- what the new strategies promise beyond the common tests -------------------------------


def test_muon_orthogonalizes_only_the_hidden_matrices():
    """The split comes from the depth mapping: the first and last layers and every vector go
    to AdamW, only the middle layer's weight matrix to Muon."""
    from dals_tune.strategies.preconditioned import muon_groups

    model = mlp()
    hidden, rest = muon_groups(model)
    assert [p is model[2].weight for p in hidden] == [True]
    expected_rest = {model[0].weight, model[0].bias, model[2].bias, model[4].weight, model[4].bias}
    assert set(rest) == expected_rest and len(rest) == len(expected_rest)
    optimizer, _ = build("muon", model)
    assert [g["use_muon"] for g in optimizer.param_groups] == [True, False]
    assert all("layer_name" in g for g in optimizer.param_groups)


def test_muons_update_has_adamws_rms_so_adamws_lr_carries_over():
    """With the AdamW-matched scaling, the orthogonalized update of a matrix has an RMS of
    about 0.2·lr, the RMS of a typical AdamW update, whatever the matrix's shape (here for a
    full-rank gradient; Newton–Schulz leaves the singular values near, not at, 1)."""
    for shape in ((16, 64), (64, 16), (48, 48)):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, shape[0]), nn.Linear(*shape), nn.Linear(shape[1], 2))
        for parameter in model.parameters():
            parameter.grad = torch.randn_like(parameter)
        hidden = model[1].weight
        optimizer, _ = build("muon", model, lr=1e-3, weight_decay=0.0)
        before = hidden.detach().clone()
        optimizer.step()
        rms = (hidden.detach() - before).square().mean().sqrt().item()
        assert 0.15e-3 < rms < 0.25e-3, (shape, rms)


CAUTIOUS = sorted(s for s in ALL_IDS if "cautious" in strategies.get(s).hyperparameters)


def test_cautious_is_offered_where_the_library_has_it():
    assert CAUTIOUS == ["ademamix", "adopt", "lion", "mars", "muon", "prodigy_schedulefree"]


@pytest.mark.parametrize("strategy_id", CAUTIOUS)
def test_the_cautious_knob_reaches_the_optimizer(strategy_id):
    """Masked updates train to different weights than plain ones from the same start."""
    strategy = strategies.get(strategy_id)
    batch = separable_batch()
    weights = []
    for cautious in (False, True):
        torch.manual_seed(0)
        model = mlp()
        optimizer, scheduler = build(strategy_id, model, cautious=cautious)
        train_steps(strategy, model, optimizer, scheduler, batch, steps=5)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.equal(weights[0], weights[1])


def test_muon_orthogonalizes_as_the_library_does_in_the_dtype_this_device_runs_fast():
    """Where bf16 is emulated (this CPU, most laptops) the iteration runs in fp32; its result
    is the library's bf16 one up to bf16's rounding."""
    from pytorch_optimizer import Muon
    from pytorch_optimizer.optimizer.utils.matrix import get_newton_schulz_weights

    from dals_tune.strategies.preconditioned import muon_class, newton_schulz_dtype

    group = {"ns_steps": 5, "ns_coeffs": get_newton_schulz_weights("original")}
    updates = [torch.randn(48, 16, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    ours = muon_class()._orthogonalize(group, [u.clone() for u in updates])
    library = Muon._orthogonalize(group, [u.clone() for u in updates])
    for mine, theirs in zip(ours, library):
        assert mine.dtype == newton_schulz_dtype(torch.device("cpu"))  # our iteration ran
        assert mine.shape == theirs.shape
        assert torch.allclose(mine.float(), theirs.float(), atol=0.02, rtol=0.05)
