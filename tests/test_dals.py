"""DALS against hand-computed numbers and against the per-tensor reference (DESIGN §3)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from dals_tune import DALS
from dals_tune.layers import depth_param_groups
from dals_tune.optim.reference import ReferenceDALS
from dals_tune.optim.transforms import (
    EXPLOIT,
    EXPLORE,
    REFINE,
    PhaseState,
    filter_alpha,
    phase_detector,
    tensor_norms,
    trust_ratios,
)

DALS_FAST = dict(lr=0.05, warmup_frac=0.02, momentum=0.85, bypass_filter_in_explore=True)
DALS_ACC = dict(restart_steps=3, restart_mult=2.0, weight_decay=5e-4, alpha0=0.7)


def two_layer_model() -> nn.Sequential:
    """Layer 0: w0 = [[1, 2]]; layer 1: w1 = [[3]]. No biases, so every number is visible."""
    model = nn.Sequential(nn.Linear(2, 1, bias=False), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 2.0]]))
        model[1].weight.copy_(torch.tensor([[3.0]]))
    return model


def set_grads(model: nn.Module, *grads: list) -> None:
    for p, g in zip(model.parameters(), grads):
        p.grad = torch.tensor(g, dtype=p.dtype).reshape(p.shape)


# --- phase detector -----------------------------------------------------------------------


def test_phase_detector_walks_through_the_three_phases_by_hand():
    state = phase_detector(PhaseState(), 1.0, 0.01, 0.002)
    assert state == PhaseState(loss_ema=1.0, phase=EXPLORE)  # first loss initializes E
    state = phase_detector(state, 0.5, 0.01, 0.002)  # E = .975, Δ = .025 > τ_hi
    assert state.loss_ema == pytest.approx(0.975) and state.phase == EXPLORE
    state = phase_detector(state, 0.85, 0.01, 0.002)  # E = .96875, Δ = .00641
    assert state.loss_ema == pytest.approx(0.96875) and state.phase == EXPLOIT
    state = phase_detector(state, 0.97, 0.01, 0.002)  # E = .9688125, Δ < 0
    assert state.loss_ema == pytest.approx(0.9688125) and state.phase == REFINE


def test_phase_boundaries_are_inclusive_as_written():
    # Δ exactly τ_hi is exploit, Δ exactly τ_lo is refine.
    ema = 1.0
    loss_for = lambda delta: (ema * (1 - delta) - 0.95 * ema) / 0.05  # noqa: E731
    assert phase_detector(PhaseState(ema, 0), loss_for(0.0100001), 0.01, 0.002).phase == EXPLORE
    assert phase_detector(PhaseState(ema, 0), loss_for(0.0099999), 0.01, 0.002).phase == EXPLOIT
    assert phase_detector(PhaseState(ema, 0), loss_for(0.0019999), 0.01, 0.002).phase == REFINE


def test_filter_alpha_by_phase():
    assert filter_alpha(EXPLORE, 0.6) == pytest.approx(0.3)
    assert filter_alpha(EXPLORE, 0.5) == pytest.approx(0.3)  # floor
    assert filter_alpha(EXPLORE, 0.7) == pytest.approx(0.4)
    assert filter_alpha(EXPLOIT, 0.6) == 0.6
    assert filter_alpha(REFINE, 0.6) == pytest.approx(0.7)
    assert filter_alpha(REFINE, 0.85) == pytest.approx(0.9)  # ceiling


# --- trust ratio --------------------------------------------------------------------------


def test_trust_ratio_clamps_and_handles_zero_norms():
    params = [torch.tensor([3.0, 4.0]), torch.tensor([3.0, 4.0]), torch.zeros(2), torch.ones(2)]
    updates = [torch.tensor([0.1, 0.0]), torch.tensor([100.0, 0.0]), torch.ones(2), torch.zeros(2)]
    ratios = trust_ratios(params, updates, coefficient=0.02, minimum=0.2, maximum=5.0)
    # 0.02·5/0.1 = 1.0 (inside); 0.02·5/100 = 0.001 → 0.2; zero ‖θ‖ → 1; zero ‖ĝ‖ → 1.
    assert ratios.tolist() == pytest.approx([1.0, 0.2, 1.0, 1.0])
    big = trust_ratios([torch.tensor([300.0, 400.0])], [torch.tensor([0.1, 0.0])], 0.02, 0.2, 5.0)
    assert big.tolist() == pytest.approx([5.0])  # 0.02·500/0.1 = 100 → 5


def test_tensor_norms_by_hand_on_every_path():
    """CPU float32/float64 take √(x·x); other dtypes take torch's foreach norm. A transposed
    (non-contiguous) tensor and an empty one must not trip the dot product."""
    transposed = torch.tensor([[3.0, 0.0], [4.0, 0.0]]).t()
    blas = [
        torch.tensor([3.0, 4.0]),
        transposed,
        torch.zeros(3),
        torch.ones(4, dtype=torch.float64),
    ]
    assert tensor_norms(blas).tolist() == pytest.approx([5.0, 5.0, 0.0, 2.0])
    assert tensor_norms([blas[0], torch.empty(0)]).tolist() == [5.0, 0.0]
    half = [torch.tensor([3.0, 4.0], dtype=torch.bfloat16)]
    assert tensor_norms(half).tolist() == [5.0]


# --- one step by hand ---------------------------------------------------------------------


def test_one_dals_step_by_hand_in_explore_phase():
    """No loss seen yet, so phase 0: α = max(0.3, 0.6 − 0.3) = 0.3. warmup_frac 0, so
    s(0) = ½(1 + cos 0) = 1 and η = η0 = 0.03.

    Layer 1 (d = 1, b = 0.7), θ = 3, g = 2:
      ḡ = 0.7·2 = 1.4;  ĝ = 0.7·2 + 0.3·1.4 + 5e-4·3 = 1.8215
      r = clamp(0.02·3/1.8215 = 0.03294, 0.2, 5) = 0.2;  m = 1.8215
      θ = 3 − 0.03·0.2·1.8215 = 2.989071
    Layer 0 (d = 0, b = 0.3), θ = [1, 2], g = [0.001, 0.002]:
      ḡ = 0.7·g;  ĝ = 0.3·g + 0.7·0.7·g + 5e-4·θ = 0.79·g + 5e-4·θ = [0.00129, 0.00258]
      r = clamp(0.02·√5 / (√5·0.00129) = 15.5, 0.2, 5) = 5
      θ = θ − 0.03·5·ĝ = [0.9998065, 1.999613]
    """
    model = two_layer_model()
    optimizer = DALS(model, lr=0.03, warmup_frac=0.0, total_steps=10)
    set_grads(model, [[0.001, 0.002]], [[2.0]])
    optimizer.step()
    assert model[1].weight.item() == pytest.approx(2.989071, abs=5e-7)
    assert model[0].weight.flatten().tolist() == pytest.approx([0.9998065, 1.999613], abs=5e-7)
    stats = optimizer.layer_stats()
    assert stats["0"]["trust_ratio"] == pytest.approx(5.0)
    assert stats["1"]["trust_ratio"] == pytest.approx(0.2)


def test_depth_decay_scales_lower_layers_and_lambda_amplifies_the_slow_gradient():
    """δ = 0.5 halves layer 0's step (L − 1 − l = 1). λ = 1 adds ḡ: layer 1 with g = 2,
    phase 0: ĝ = 0.7·2 + 0.3·1.4 + 1·1.4 = 3.22 (wd 0); r = clamp(0.02·3/3.22) = 0.2."""
    model = two_layer_model()
    optimizer = DALS(
        model,
        lr=0.03,
        warmup_frac=0.0,
        total_steps=10,
        depth_decay=0.5,
        grokfast_lambda=1.0,
        weight_decay=0.0,
    )
    set_grads(model, [[0.001, 0.002]], [[2.0]])
    optimizer.step()
    assert model[1].weight.item() == pytest.approx(3 - 0.03 * 0.2 * 3.22, abs=5e-7)
    # layer 0: ĝ = (0.3 + 0.7·0.7 + 0.7)·g = 1.49·g; r = 0.02/(1.49·0.001)... clamped to 5
    g_hat = [1.49 * 0.001, 1.49 * 0.002]
    expected = [1 - 0.03 * 0.5 * 5 * g_hat[0], 2 - 0.03 * 0.5 * 5 * g_hat[1]]
    assert model[0].weight.flatten().tolist() == pytest.approx(expected, abs=5e-7)


def test_warmup_schedule_makes_the_first_step_a_no_op_and_sets_group_lr():
    model = two_layer_model()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = DALS(model, lr=0.03, warmup_frac=0.1, total_steps=100)  # W = 10
    assert [g["lr"] for g in optimizer.param_groups] == [0.0, 0.0]  # s(0) = 0/W
    set_grads(model, [[1.0, 1.0]], [[1.0]])
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.003)  # s(1) = 1/10


# --- against the reference, every phase and variant -----------------------------------------

LOSSES = [1.0, 0.5, 0.85, 0.97, 0.96, 0.4, 0.9, 0.9]  # explore, explore, exploit, refine, ...


@pytest.mark.parametrize(
    "variant",
    [
        dict(),
        DALS_FAST,
        DALS_ACC,
        dict(depth_decay=0.7, grokfast_lambda=0.5, blend_lo=0.1, blend_hi=0.9),
        dict(momentum=0.0, weight_decay=0.0, trust_coefficient=0.5),
    ],
    ids=["dals", "dals_fast", "dals_acc", "knobs", "no_momentum"],
)
def test_dals_matches_the_per_tensor_reference_over_phases(variant):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    twin = copy.deepcopy(model)
    settings = dict(total_steps=len(LOSSES), warmup_frac=0.2) | variant
    optimizer, reference = DALS(model, **settings), ReferenceDALS(twin, **settings)
    phases = []
    for step, loss in enumerate(LOSSES):
        torch.manual_seed(100 + step)
        grads = [torch.randn_like(p) * (0.1 if step % 2 else 10.0) for p in model.parameters()]
        for net in (model, twin):
            for p, g in zip(net.parameters(), grads):
                p.grad = g.clone()
        optimizer.observe_loss(loss)
        reference.observe_loss(loss)
        phases.append(optimizer.phase)
        assert optimizer.phase == reference.phase
        optimizer.step()
        reference.step()
        for a, b in zip(model.parameters(), twin.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert set(phases) == {EXPLORE, EXPLOIT, REFINE}


def test_groups_with_their_own_settings_each_match_the_reference_run_with_them():
    """Groups with equal settings step together and a group with its own weight decay,
    momentum, α0, λ or trust coefficient steps apart. Each group must follow the per-tensor
    reference run with that group's settings: the reference's layers are independent of each
    other, given the same gradients and losses."""
    torch.manual_seed(0)
    model = nn.Sequential(*(nn.Linear(4, 4) for _ in range(4)))
    overrides = [
        dict(weight_decay=0.0, momentum=0.5),
        dict(),
        dict(),
        dict(alpha0=0.8, grokfast_lambda=0.5, trust_coefficient=0.5),
    ]
    groups = [group | extra for group, extra in zip(depth_param_groups(model), overrides)]
    settings = dict(total_steps=len(LOSSES), warmup_frac=0.2, depth_decay=0.7)
    optimizer = DALS(groups, **settings)
    assert len(optimizer._buckets()) == 3  # the two groups left alone share one
    twins = [copy.deepcopy(model) for _ in overrides]
    references = [ReferenceDALS(twin, **settings | extra) for twin, extra in zip(twins, overrides)]
    for step, loss in enumerate(LOSSES):
        torch.manual_seed(100 + step)
        grads = [torch.randn_like(p) * (0.1 if step % 2 else 10.0) for p in model.parameters()]
        for net in (model, *twins):
            for p, g in zip(net.parameters(), grads):
                p.grad = g.clone()
        for stepper in (optimizer, *references):
            stepper.observe_loss(loss)
            stepper.step()
        for index, twin in enumerate(twins):
            for a, b in zip(model[index].parameters(), twin[index].parameters()):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_dals_acc_restarts_its_cosine():
    optimizer = DALS(two_layer_model(), lr=1.0, total_steps=100, restart_steps=4, restart_mult=2)
    values = []
    for _ in range(13):
        values.append(optimizer.param_groups[1]["lr"])
        optimizer.step()  # no grads: only the clock moves
    assert values[0] == 1.0 and values[4] == 1.0 and values[12] == 1.0  # cycles 4, 8
    assert values[2] == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 4)))
    assert values[8] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))


# --- state ----------------------------------------------------------------------------------


def test_state_dict_round_trip_gives_the_same_next_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = DALS(model, total_steps=20, **DALS_FAST)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    loss_fn = nn.CrossEntropyLoss()

    def train_step(net, opt):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.observe_loss(loss.item())
        opt.step()

    for _ in range(4):
        train_step(model, optimizer)
    saved = copy.deepcopy(optimizer.state_dict())
    clone = copy.deepcopy(model)
    restored = DALS(clone, total_steps=20, **DALS_FAST)
    restored.load_state_dict(saved)
    assert restored.step_count == 4 and restored.phase_state == optimizer.phase_state
    train_step(model, optimizer)
    train_step(clone, restored)
    for a, b in zip(model.parameters(), clone.parameters()):
        assert torch.equal(a, b)


def test_param_groups_with_depth_keys_are_accepted_and_groups_without_are_refused():
    model = two_layer_model()
    groups = [
        {"params": [model[0].weight], "depth": 0.0},
        {"params": [model[1].weight], "depth": 1.0},
    ]
    optimizer = DALS(groups, total_steps=5, depth_decay=0.5, warmup_frac=0.0)
    assert [g["layers_above"] for g in optimizer.param_groups] == [1, 0]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.015)
    with pytest.raises(ValueError, match="depth"):
        DALS([{"params": [model[0].weight]}], total_steps=5)
    with pytest.raises(ValueError, match="total_steps"):
        DALS(model)
    with pytest.raises(ValueError, match="momentum=1.5"):
        DALS(model, total_steps=5, momentum=1.5)
    with pytest.raises(ValueError, match=r"tau_hi=0.01, tau_lo=0.05 \(see docs"):
        DALS(model, total_steps=5, tau_lo=0.05)  # the bounds table's tau_lo ≤ tau_hi


def test_dals_trains_a_small_classifier():
    torch.manual_seed(0)
    x = torch.randn(256, 10)
    y = (x[:, :3].sum(dim=1) > 0).long()
    model = nn.Sequential(
        nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2)
    )
    optimizer = DALS(model, lr=0.05, total_steps=200)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.observe_loss(loss.item())
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
