"""``search --warm-start``: each strategy's default first, then its best configurations in the
nearest finished studies of the store (nearest first, inside the new space, each once), then
the sampler; every search trial records where its configuration came from.

The choice is pinned on hand-made records and a hand-made store; one short study on the
synthetic task (then its resume) checks the points reach Optuna and the trials' tags.
"""

from __future__ import annotations

import json
import math
import time

import optuna
import pytest

import search_spaces
from dals_tune import tracking
from dals_tune.cli import main
from dals_tune.objective import ACCURACY
from dals_tune.study import SearchSettings, warm_start
from dals_tune.study.outcomes import TrialOutcome
from dals_tune.study.plans import search_plans
from dals_tune.study.preflight import check
from dals_tune.study.warm_start import SourceStudy, WarmStart, WarmStartPoint, choose_points
from search_spaces import Parameter, Space

SPACES = {sid: search_spaces.space_for(sid, "scratch") for sid in ("adamw", "cosine_sgd")}
ADAMW_DEFAULT = {"lr": "0.0003", "beta1": "0.9", "beta2": "0.999", "weight_decay": "0.01"}
SYNTHETIC_MODEL = "mlp 20→256→256→256→2"
SMALL = ["--subset", "400", "--eval-subset", "200"]


def trial(run_id, strategy, best, params, status="completed", kind="trial"):
    """A child-run record as ``Tracker.trials_of`` gives it: params as text."""
    tags = {"kind": kind, "strategy": strategy, "status": status}
    metrics = {} if best is None else {"best_val_acc": best}
    return {"run_id": run_id, "tags": tags, "metrics": metrics, "params": params}


def source(name, distance, trials):
    return SourceStudy(name, f"{name}-parent", distance, ACCURACY, trials)


def adamw(lr, **others):
    return {**ADAMW_DEFAULT, "lr": str(lr), **others}


def cosine(lr):
    return {"lr": str(lr), "momentum": "0.9", "weight_decay": "0.0005"}


NEAR = source(
    "synthetic/scratch",
    0.0,
    [
        trial("a1", "adamw", 0.80, adamw(0.001)),
        trial("a2", "adamw", 0.85, adamw(0.002)),  # adamw's best completed trial
        trial("a3", "adamw", 0.90, adamw(0.0025), status="pruned"),  # completed ones first
        trial("a4", "adamw", 0.95, adamw(0.0026), status="diverged"),
        trial("a5", "adamw", 0.99, adamw(0.0027), kind="rerun"),  # a re-run is no search trial
        trial("c1", "cosine_sgd", 0.60, cosine(0.06), status="pruned"),
        trial("c2", "cosine_sgd", 0.70, cosine(0.05), status="pruned"),  # none completed
    ],
)
MIDDLE = source(
    "synthetic_gauss10/scratch",
    1.5,
    [
        trial("m1", "adamw", 0.9, adamw(5.0)),  # outside adamw's LR range: skipped
        trial("m2", "cosine_sgd", 0.9, cosine(0.05)),  # the same as the nearer study's
        trial("m3", "dals", 0.9, {"lr": "0.03"}),  # a strategy this study does not run
    ],
)
FAR = source(
    "trec6/finetune",
    108.0,
    [
        trial("f1", "adamw", 0.9, dict(ADAMW_DEFAULT)),  # the default, which runs first anyway
        trial("f2", "cosine_sgd", 0.9, cosine(0.1)),
    ],
)


def test_the_nearest_studies_best_configurations_follow_each_default_once_and_in_space():
    samples = {"adamw": 3, "cosine_sgd": 3}
    chosen = choose_points([NEAR, MIDDLE, FAR], ["adamw", "cosine_sgd"], SPACES, samples)
    assert [(p.strategy, p.run_id, p.params["lr"]) for p in chosen.points] == [
        ("adamw", "a2", 0.002),
        ("cosine_sgd", "c2", 0.05),
        ("cosine_sgd", "f2", 0.1),
    ]
    first = chosen.points[0]
    assert first.params == {"lr": 0.002, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01}
    assert (first.study, first.study_run_id, first.distance) == (
        "synthetic/scratch",
        "synthetic/scratch-parent",
        0.0,
    )
    summary, *notes = chosen.notes
    assert summary.startswith("warm start from the 3 nearest finished studies (synthetic/scratch")
    assert summary.endswith("adamw 1, cosine_sgd 2 configurations after the defaults")
    assert notes == [
        "warm start: skipped adamw's best configuration in synthetic_gauss10/scratch (run m1): "
        "lr 5.0 is outside the space (log-uniform [3e-05, 0.003])",
        "warm start: adamw's best configuration in trec6/finetune (run f1) is its default, "
        "which runs first anyway",
        "warm start: cosine_sgd's best configuration in synthetic_gauss10/scratch (run m2) is a "
        "nearer study's too; it runs once",
    ]
    assert all("\n" not in note for note in chosen.notes)


def test_the_default_and_the_nearest_points_fill_the_budget_first():
    chosen = choose_points([NEAR, MIDDLE, FAR], ["cosine_sgd"], SPACES, {"cosine_sgd": 2})
    assert [p.run_id for p in chosen.points] == ["c2"]  # the default holds the other trial
    assert chosen.notes[-1] == (
        "warm start: cosine_sgd's 2 trials hold 1 of its 2 warm-start configurations after the "
        "default; the farthest are left out (raise --samples to try them)"
    )
    assert choose_points([NEAR], ["cosine_sgd"], SPACES, {"cosine_sgd": 1}).points == ()


def test_a_recorded_configuration_is_read_into_the_new_space_or_refused_with_its_reason():
    space = Space(
        "x",
        "scratch",
        (
            Parameter("lr", "float", 1e-3, 1e-1, log=True),
            Parameter("steps", "int", 1, 10),
            Parameter("shape", "categorical", choices=("cosine", "linear")),
            Parameter("flag", "categorical", choices=(True, False)),
        ),
        defaults={"lr": 0.01, "steps": 5, "shape": "cosine", "flag": True, "eps": 1e-8},
        fixed={"eps": 1e-6},
    )
    read = warm_start.point_in_space
    recorded = {"lr": "0.02", "steps": "4", "shape": "linear", "flag": "False", "eps": "1e-08"}
    assert read(recorded, space) == (
        {"lr": 0.02, "steps": 4, "shape": "linear", "flag": False, "eps": 1e-6},  # fixed wins
        "",
    )
    # A parameter the source trial did not record takes the new space's default.
    assert read({"lr": "0.02"}, space)[0] == {
        "lr": 0.02, "steps": 5, "shape": "cosine", "flag": True, "eps": 1e-6,
    }  # fmt: skip
    assert read({"steps": "4.5"}, space) == (None, "steps '4.5' is not an integer")
    assert read({"steps": "11"}, space) == (None, "steps 11 is outside the space (int [1, 10])")
    assert read({"lr": "fast"}, space) == (None, "lr 'fast' is not a number")
    assert read({"lr": "nan"}, space) == (None, "lr 'nan' is not a number")
    assert read({"shape": "step"}, space) == (
        None,
        "shape 'step' is not one of 'cosine', 'linear'",
    )


def test_each_search_trial_says_where_its_configuration_came_from():
    point = WarmStartPoint("adamw", {"lr": 0.002, "beta1": 0.9}, "a2", "s", "p", 0.0)
    chosen = WarmStart((point,))

    def ran(strategy, **hyperparameters):
        return TrialOutcome("t", "trial", strategy, hyperparameters, 0)

    # From text and back, a value is the same setting: 0.002 read as 0.0020000000000000005.
    read_back = ran("adamw", lr=0.0020000000000000005, beta1=0.9)
    assert warm_start.source_tags(read_back, False, chosen) == {
        "source": "warm-start",
        "warm_start_from": "a2",
    }
    assert warm_start.source_tags(ran("adamw", lr=0.002, beta1=0.9), True, chosen) == {
        "source": "default"
    }
    assert warm_start.source_tags(ran("adamw", lr=0.0021, beta1=0.9), False, chosen) == {
        "source": "sampler"
    }
    assert warm_start.source_tags(ran("cosine_sgd", lr=0.002, beta1=0.9), False, chosen) == {
        "source": "sampler"
    }
    assert WarmStart.from_record(json.loads(json.dumps(chosen.as_record()))) == chosen
    with pytest.raises(ValueError, match="saved warm-start points are not what dals_tune wrote"):
        WarmStart.from_record({"points": [{"strategy": "adamw"}]})


# ----- a store built by hand -------------------------------------------------------------------


def log_finished_study(tracker, workload, regime, model, train_size, depth, trials):
    """A FINISHED study with search trials only (no re-runs: its leaderboard shows each
    strategy's best trial); ``trials`` are (strategy, status, params, best val acc)."""
    params = {"strategies": ",".join(dict.fromkeys(t[0] for t in trials)),
              "train_size": train_size, "depth": depth}  # fmt: skip
    tags = {"dataset": workload, "regime": regime, "model": model, "mode": "per-strategy"}
    parent = tracker.start_study(workload, tags, params)
    run_ids = []
    for index, (strategy, status, hyperparameters, best) in enumerate(trials):
        epochs = [{"epoch": 1, "val_acc": best, "best_val_acc": best, "epoch_seconds": 1.0}]
        run_ids.append(
            tracker.log_trial(parent, f"t{index}", strategy, 3, status, hyperparameters, epochs)
        )
    tracker.finish_study(parent, trials[0][0], trials[0][3])
    time.sleep(0.01)  # distinct start times
    return parent, run_ids


ADAMW_BEST = {"lr": 0.001, "beta1": 0.85, "beta2": 0.99, "weight_decay": 0.001}
COSINE_BEST = {"lr": 0.05, "momentum": 0.85, "weight_decay": 0.0001}


def build_store(out) -> dict:
    """Three finished studies at distances 0 (synthetic, 400 examples), 1 (10× the data) and
    over 100 (another regime and family) from ``synthetic --subset 400``, and a failed one."""
    tracker = tracking.open_store(out)
    far, _ = log_finished_study(tracker, "trec6", "finetune", "MiniLM", 400, 8, [
        ("adamw", "completed", {**ADAMW_BEST, "lr": 0.00002}, 0.9),
    ])  # fmt: skip
    wider, (wider_adamw, _) = log_finished_study(
        tracker, "synthetic_gauss10", "scratch", "mlp 64→128→10", 4000, 4, [
            ("adamw", "completed", {**ADAMW_BEST, "lr": 0.002}, 0.8),
            ("cosine_sgd", "completed", COSINE_BEST, 0.7),  # the nearest's too: runs once
        ])  # fmt: skip
    near, (adamw_run, _, cosine_run) = log_finished_study(
        tracker, "synthetic", "scratch", SYNTHETIC_MODEL, 400, 4, [
            ("adamw", "completed", ADAMW_BEST, 0.8),
            ("adamw", "pruned", {**ADAMW_BEST, "lr": 0.0001}, 0.9),
            ("cosine_sgd", "completed", COSINE_BEST, 0.7),
        ])  # fmt: skip
    failed = tracker.start_study("other", {"regime": "scratch", "model": SYNTHETIC_MODEL}, {})
    tracker.finish_study(failed, "none", 0.0, status="FAILED")
    return {"out": out, "near": near, "wider": wider, "far": far, "adamw_run": adamw_run,
            "cosine_run": cosine_run, "wider_adamw": wider_adamw}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    return build_store(tmp_path_factory.mktemp("store"))


def settings(out, **changes) -> SearchSettings:
    return SearchSettings(strategies=("adamw,cosine_sgd",), subset=400, eval_subset=200,
                          out=str(out), **changes)  # fmt: skip


def test_the_store_gives_the_k_nearest_finished_studies_points_and_the_plans_enqueue_them(store):
    checked = check(settings(store["out"], warm_start=2, samples=4))
    points = checked.warm_start.points
    assert [(p.strategy, p.run_id, p.study) for p in points] == [
        ("adamw", store["adamw_run"], "synthetic/scratch"),
        ("adamw", store["wider_adamw"], "synthetic_gauss10/scratch"),
        ("cosine_sgd", store["cosine_run"], "synthetic/scratch"),
    ]
    assert points[0].params == ADAMW_BEST and points[0].distance == 0.0
    assert points[1].distance == pytest.approx(1.0)  # log10(4000 / 400)
    assert checked.warnings[0].startswith("warm start from the 2 nearest finished studies")
    assert "synthetic_gauss10/scratch (run" in checked.warnings[1]  # cosine_sgd once

    (plan,) = search_plans(checked, "s", store["out"])
    first = {group.key: group.points_to_evaluate for group in plan.groups}
    assert first["adamw"] == [SPACES["adamw"].default_point(), ADAMW_BEST, points[1].params]
    assert first["cosine_sgd"] == [SPACES["cosine_sgd"].default_point(), COSINE_BEST]
    (joint,) = search_plans(check(settings(store["out"], warm_start=1, mode="joint")), "s",
                            store["out"])  # fmt: skip
    assert joint.points_to_evaluate[2:] == [
        {"strategy": "adamw", **{f"adamw.{name}": v for name, v in ADAMW_BEST.items()}},
        {"strategy": "cosine_sgd", **{f"cosine_sgd.{n}": v for n, v in COSINE_BEST.items()}},
    ]


def test_saved_points_are_used_as_they_are_and_no_store_means_a_cold_start(tmp_path):
    saved = WarmStart((WarmStartPoint("adamw", ADAMW_BEST, "r", "s", "p", 0.0),), ("saved",))
    checked = check(settings(tmp_path / "none", warm_start=3), saved)
    assert checked.warm_start == saved and checked.warnings == ("saved",)
    cold = check(settings(tmp_path / "none", warm_start=3))
    assert cold.warm_start.points == ()
    assert cold.warnings == ("warm start: there is no study store yet, so this study starts "
                             "cold (defaults, then the sampler)",)  # fmt: skip
    assert not (tmp_path / "none").exists()  # the store is only read, never created
    assert check(settings(tmp_path / "none")).warm_start == WarmStart()


def test_points_enqueued_by_an_earlier_searcher_are_not_enqueued_again(tmp_path):
    """A driver killed before Tune saved its state leaves the points WAITING in optuna.db; the
    resumed study's fresh searcher loads that study by name and must not double them."""
    from dals_tune.study.ray_tune.searchers import TruthfulOptunaSearch

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    points = [SPACES["adamw"].default_point(), ADAMW_BEST]

    def searcher():
        return TruthfulOptunaSearch(
            search_spaces.per_strategy_define_by_run("adamw", "scratch"),
            metric="val_acc",
            mode="max",
            points_to_evaluate=points,
            study_name="s-adamw",
            storage=optuna.storages.RDBStorage(storage),
        )

    def waiting():
        study = optuna.load_study(study_name="s-adamw", storage=storage)
        return [t.params or t.system_attrs["fixed_params"] for t in study.trials
                if t.state.name == "WAITING"]  # fmt: skip

    searcher()
    searcher()
    assert waiting() == points
    # One point asked (RUNNING) before the kill: a fresh Tuner knows nothing of that trial,
    # so the point is enqueued again; the one still waiting is not.
    assert searcher().suggest("trial-1") == points[0]
    searcher()
    assert sorted(map(json.dumps, waiting())) == sorted(map(json.dumps, points))


# ----- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--warm-start", "0"], "--warm-start must be a positive integer, got 0"),
        (["--warm-start", "abc"], "argument --warm-start: invalid int value: 'abc'"),
    ],
    ids=["zero", "text"],
)
def test_a_bad_warm_start_is_one_line_before_ray_and_writes_nothing(
    tmp_path, capsys, monkeypatch, arguments, message
):
    from dals_tune.study import ray_tune

    monkeypatch.setattr(ray_tune, "connect", lambda *a, **k: pytest.fail("reached Ray"))
    out = tmp_path / "runs"
    try:
        code = main(["search", "--out", str(out), *arguments])
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    error = capsys.readouterr().err
    assert code == 2 and message in error
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert not out.exists()
    with pytest.raises(ValueError, match="warm_start must be an integer or None, got True"):
        SearchSettings(warm_start=True)


def test_a_damaged_saved_warm_start_is_refused_on_resume_in_one_line(tmp_path, capsys, monkeypatch):
    from dals_tune.study import StudyState, ray_tune

    monkeypatch.setattr(ray_tune, "connect", lambda *a, **k: pytest.fail("reached Ray"))
    out = tmp_path / "runs"
    folder = out / "studies" / "s"
    folder.mkdir(parents=True)
    state = StudyState("s", settings(out, warm_start=1), warm_start={"points": [{"lr": 1}]})
    state.save(folder)
    assert main(["search", "--resume", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: cannot resume: the study's saved warm-start points are not")
    assert error.count("\n") == 1
    assert sorted(p.name for p in out.rglob("*")) == ["s", "studies", "study.json"]


# ----- a study, and its resume ------------------------------------------------------------------


@pytest.mark.slow
def test_a_warm_started_study_tags_each_trial_with_its_source_and_resumes_as_it_began(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "runs"
    store = build_store(out)
    args = ["search", "--strategies", "adamw,cosine_sgd", "--samples", "3", "--max-epochs", "2",
            "--seeds", "0", *SMALL, "--warm-start", "1", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "warm start from the 1 nearest finished study (synthetic/scratch at distance 0)" in (
        printed
    )
    tracker = tracking.open_store(out)
    (study,) = [s for s in tracker.all_studies() if s["params"].get("warm_start")]
    assert study["status"] == "FINISHED" and study["params"]["warm_start"] == "1"
    trials = tracker.trials_of(study["run_id"])

    def sources(runs):
        return sorted((r["tags"]["strategy"], r["tags"]["source"],
                       r["tags"].get("warm_start_from", ""), r["tags"].get("default", ""))
                      for r in runs)  # fmt: skip

    assert sources(trials) == [
        ("adamw", "default", "", "1"),
        ("adamw", "sampler", "", ""),
        ("adamw", "warm-start", store["adamw_run"], ""),
        ("cosine_sgd", "default", "", "1"),
        ("cosine_sgd", "sampler", "", ""),
        ("cosine_sgd", "warm-start", store["cosine_run"], ""),
    ]
    for run in trials:
        if run["tags"]["source"] == "warm-start":
            best = ADAMW_BEST if run["tags"]["strategy"] == "adamw" else COSINE_BEST
            assert {name: float(run["params"][name]) for name in best} == best
    (folder,) = (out / "studies").iterdir()
    state = json.loads((folder / "study.json").read_text())
    assert [p["run_id"] for p in state["warm_start"]["points"]] == [
        store["adamw_run"], store["cosine_run"],
    ]  # fmt: skip

    # Resumed in its search phase (Tune restores the finished run): the points saved with the
    # study are used, the store is not read again, and nothing is enqueued or run twice.
    state["phase"] = "search"
    (folder / "study.json").write_text(json.dumps(state))
    monkeypatch.setattr(
        "dals_tune.study.preflight.read_warm_start", lambda *_: pytest.fail("store read again")
    )

    def results():
        return {path: path.read_text() for path in out.rglob("result.json")}

    before = results()
    assert main(["search", "--resume", "--out", str(out)]) == 0
    again = tracker.trials_of(study["run_id"])
    assert sorted(r["run_id"] for r in again) == sorted(r["run_id"] for r in trials)
    assert sources(again) == sources(trials)
    assert len(before) == 6 and results() == before  # no trial ran again
    storage = f"sqlite:///{out / 'optuna.db'}"
    for name in optuna.get_all_study_names(storage):
        told = optuna.load_study(study_name=name, storage=storage).trials
        assert len(told) == 3 and all(t.state.name != "WAITING" for t in told), name
    assert all(math.isfinite(r["metrics"]["best_val_acc"]) for r in again)
