"""The claims table: each verdict from hand-built leaderboards whose ties are computed by hand."""

import math

from dals_tune.reports.claims import (
    CANNOT_TELL,
    FAILS,
    HOLDS,
    claim_rows,
    epochs_to_accuracy,
)
from dals_tune.reports.claims_files import write_claims
from dals_tune.reports.cross_study import StudyResult
from dals_tune.reports.leaderboard import LeaderboardRow
from dals_tune.reports.study_runs import ChildRun

COMMAND = "python -m dals_tune benchmark --scale cpu"


def row(
    strategy: str,
    mean: float,
    std: float = 0.01,
    runs: int = 3,
    rank: int = 0,
    default: float | None = None,
) -> LeaderboardRow:
    return LeaderboardRow(
        rank=rank,
        strategy=strategy,
        generation="5",
        val_mean=mean,
        val_std=std,
        test_mean=mean + 0.02,
        test_std=std,
        seeds=runs,
        trials=3,
        epochs_spent=9,
        best_trial_val=mean,
        default_val=default,
        tuned_beats_default=None if default is None else mean > default,
        epochs_to_target=None,
        seconds_to_target=None,
        failed=False,
        note="",
        runs=runs,
    )


def study(
    workload: str,
    regime: str,
    rows: list[LeaderboardRow],
    first: int = 1,
    runs: tuple[ChildRun, ...] = (),
) -> StudyResult:
    """A study whose leaderboard is ``rows`` best first, its first ``first`` sharing rank 1."""
    ranked = [
        LeaderboardRow(**{**vars(item), "rank": 1 if index < first else index + 1})
        for index, item in enumerate(rows)
    ]
    parent = {
        "tags": {"workload": workload, "regime": regime, "dals.command": COMMAND},
        "params": {"val_size": "2000"},
    }
    return StudyResult(parent, ranked, runs)


def rerun(strategy: str, seed: int, tests: list[float]) -> ChildRun:
    return ChildRun(
        run_id=f"{strategy}-{seed}",
        strategy=strategy,
        generation="5",
        kind="rerun",
        status="completed",
        trial_id="t",
        seed=seed,
        is_default=False,
        error=None,
        best_val=max(tests),
        test_at_best_val=max(tests),
        val_history=tuple(enumerate(tests, 1)),
        epoch_seconds=(),
        test_history=tuple(enumerate(tests, 1)),
    )


def verdicts(results, claim: str) -> list[tuple[str, str]]:
    return [(item.study, item.verdict) for item in claim_rows(results) if item.claim == claim]


def test_dals_is_best_only_when_it_holds_the_first_place_alone():
    alone = study("synthetic", "scratch", [row("dals", 0.95), row("adamw", 0.90)])
    shared = study("synthetic", "scratch", [row("dals", 0.95), row("adamw", 0.949)], first=2)
    behind = study("synthetic", "scratch", [row("adamw", 0.95), row("dals", 0.90)])
    claim = "DALS is the best strategy on synthetic"
    assert verdicts([alone], claim) == [("synthetic/scratch", HOLDS)]
    assert verdicts([shared], claim) == [("synthetic/scratch", CANNOT_TELL)]
    assert verdicts([behind], claim) == [("synthetic/scratch", FAILS)]
    assert verdicts([], claim) == [("synthetic/scratch", CANNOT_TELL)]


def test_epochs_to_90_is_the_median_first_epoch_of_the_test_history():
    runs = (
        rerun("dals_fast", 0, [0.85, 0.91, 0.93]),  # epoch 2
        rerun("dals_fast", 1, [0.80, 0.88, 0.92]),  # epoch 3
        rerun("dals_fast", 2, [0.92, 0.93, 0.94]),  # epoch 1
        rerun("adamw", 0, [0.5, 0.6, 0.7]),
        rerun("adamw", 1, [0.5, 0.6, 0.95]),
    )
    result = study("synthetic", "scratch", [row("dals_fast", 0.9), row("adamw", 0.8)], runs=runs)
    assert epochs_to_accuracy(result) == [("dals_fast", 2.0, 3), ("adamw", None, 2)]
    claim = "DALS-Fast reaches 90% in 3 epochs"
    assert verdicts([result], claim) == [("synthetic/scratch", HOLDS)]
    slow = study(
        "synthetic",
        "scratch",
        [row("dals_fast", 0.9)],
        runs=(*runs[3:4], rerun("dals_fast", 0, [0.5, 0.6, 0.7, 0.95])),
    )
    assert verdicts([slow], claim) == [("synthetic/scratch", FAILS)]


def test_stlr_fails_catastrophically_only_far_below_radam_and_not_tied():
    # Welch by hand: 0.90 ± 0.01 vs 0.40 ± 0.01, n = 3 each: t = 61, p ≈ 0; gap 0.50 ≥ 0.20.
    far = study(
        "trec6",
        "finetune",
        [
            row("radam", 0.90),
            row("stlr_discriminative", 0.40),
            row("stlr_discriminative_paper", 0.30),
        ],
    )
    # 0.90 vs 0.85: not tied (t ≈ 6.1, ν = 4, p ≈ 0.004) but only 0.05 below: not catastrophic.
    near = study(
        "trec6",
        "finetune",
        [
            row("radam", 0.90),
            row("stlr_discriminative", 0.85),
            row("stlr_discriminative_paper", 0.50),
        ],
    )
    correct = "STLR+Discriminative fails catastrophically"
    paper = (
        "STLR+Discriminative (the paper's code: double decay, per-epoch steps) "
        "fails catastrophically"
    )
    assert verdicts([far], correct) == [("trec6/finetune", HOLDS)]
    assert verdicts([near], correct) == [("trec6/finetune", FAILS)]
    assert verdicts([near], paper) == [("trec6/finetune", HOLDS)]
    assert verdicts([], correct) == [("trec6/finetune", CANNOT_TELL)]


def test_a_single_strategy_in_every_first_place_refutes_no_single_winner():
    claim = "No single strategy wins across regimes"
    one = study("synthetic", "scratch", [row("adamw", 0.9), row("dals", 0.89)], first=2)
    two = study("trec6", "finetune", [row("adamw", 0.9), row("radam", 0.8)])
    three = study("cifar10", "scratch", [row("dals", 0.6), row("adamw", 0.5)])
    assert verdicts([one, two], claim) == [("all studies", FAILS)]
    assert verdicts([one, two, three], claim) == [("all studies", HOLDS)]
    assert verdicts([one], claim) == [("all studies", CANNOT_TELL)]


def test_linear_decay_against_cosine_on_each_from_scratch_study():
    claim = "Linear decay beats cosine"
    beats = study("cifar10", "scratch", [row("linear_decay_sgd", 0.70), row("cosine_sgd", 0.60)])
    # Single runs on 2000 validation examples: δ = 1.96·√(2·0.7·0.3/2000) = 0.0284 ≥ 0.02.
    tied = study(
        "synthetic",
        "scratch",
        [row("linear_decay_sgd", 0.70, math.nan, 1), row("cosine_sgd", 0.68, math.nan, 1)],
    )
    loses = study("trec6", "scratch", [row("cosine_sgd", 0.70), row("linear_decay_sgd", 0.60)])
    finetune = study("rte", "finetune", [row("cosine_sgd", 0.70), row("linear_decay_sgd", 0.60)])
    assert verdicts([beats, tied, loses, finetune], claim) == [
        ("cifar10/scratch", HOLDS),
        ("synthetic/scratch", CANNOT_TELL),
        ("trec6/scratch", FAILS),
    ]
    assert verdicts([beats], "Refined beats both") == [("cifar10/scratch", CANNOT_TELL)]


def test_a_language_model_pretraining_study_is_asked_the_schedule_claims_in_its_loss():
    lm = study("lm", "scratch", [row("refined", 2.50), row("cosine_sgd", 2.80),
                                 row("linear_decay_sgd", 3.00)])  # fmt: skip
    lm.parent["tags"].update({"metric": "loss", "metric_mode": "min"})
    # Lower is better: linear decay's 3.00 is the worst, refined's 2.50 the best.
    assert verdicts([lm], "Linear decay beats cosine") == [("lm/scratch", FAILS)]
    assert verdicts([lm], "Refined beats both") == [("lm/scratch", HOLDS)]
    assert not any(r.study == "lm/scratch" and "STLR" in r.claim for r in claim_rows([lm]))
    # One run each of a loss: no noise floor to judge a gap by, so no verdict.
    single = study("lm", "scratch", [row("cosine_sgd", 2.80, math.nan, 1),
                                     row("linear_decay_sgd", 3.00, math.nan, 1)])  # fmt: skip
    single.parent["tags"].update({"metric": "loss", "metric_mode": "min"})
    assert verdicts([single], "Linear decay beats cosine") == [("lm/scratch", CANNOT_TELL)]


def test_tuning_matters_when_the_best_default_is_outside_the_tuned_first_place():
    claim = "Tuning changes the answer: the best default is not the tuned winner"
    changed = study(
        "rte", "finetune", [row("adamw", 0.70, default=0.50), row("lion", 0.60, default=0.55)]
    )
    same = study(
        "rte", "finetune", [row("adamw", 0.70, default=0.60), row("lion", 0.60, default=0.55)]
    )
    assert verdicts([changed], claim) == [("rte/finetune", HOLDS)]
    assert verdicts([same], claim) == [("rte/finetune", FAILS)]
    ours = next(item.ours for item in claim_rows([same]) if item.claim == claim)
    assert "τ = 1.00 over 2" in ours and "tuning beat the default for 2 of 2" in ours


def test_the_claims_files_name_each_studys_command(tmp_path):
    result = study(
        "synthetic",
        "scratch",
        [row("dals", 0.95), row("adamw", 0.90)],
        runs=(rerun("dals", 0, [0.95]),),
    )
    files = write_claims(tmp_path, [result])
    assert {path.name for path in files} == {
        "claims.csv",
        "claims.md",
        "epochs_to_90.csv",
        "epochs_to_90.md",
    }
    text = (tmp_path / "claims.md").read_text()
    assert f"`{COMMAND}`" in text and "| DALS is the best strategy on synthetic |" in text
    assert "| dals | 1 | 1 |" in (tmp_path / "epochs_to_90.md").read_text()


def test_every_claim_row_has_one_of_the_three_verdicts():
    results = [
        study("synthetic", "scratch", [row("dals", 0.95), row("adamw", 0.90)]),
        study("trec6", "finetune", [row("radam", 0.9), row("adamw", 0.88)]),
    ]
    assert all(item.verdict in {HOLDS, FAILS, CANNOT_TELL} for item in claim_rows(results))
