"""``python -m dals_tune benchmark --scale smoke`` on fixtures of every dataset: every
workload and regime studied, every report file written, finished workloads skipped."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace

import dataset_fixtures as fixtures
import pytest

from dals_tune import benchmark, benchmark_scales, refine, reports, strategies, tracking
from dals_tune.cli import main
from dals_tune.study.preflight import check
from dals_tune.study.settings import STATE_FILE, StudyState
from dals_tune.workloads import cifar10, synthetic, text

pytestmark = pytest.mark.slow
STRATEGIES = "cosine_sgd,linear_decay_sgd,dals,refined"
SCRATCH = [workload for workload, regime in benchmark.WORKLOADS if regime == "scratch"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    """A data folder with tiny copies of CIFAR-10, TREC, RTE and IMDb, and a tiny BERT."""
    base = tmp_path_factory.mktemp("benchmark_data")
    data_dir = base / "data"
    fixtures.write_trec(data_dir)
    fixtures.write_rte(data_dir)
    fixtures.write_imdb_tree(data_dir / "imdb")
    fixtures.write_cifar_batches(data_dir)
    return data_dir, fixtures.write_tiny_bert(base / "tiny_bert")


def test_the_smoke_benchmark_studies_every_workload_and_writes_every_report(tmp_path, data, capsys):
    data_dir, model = data
    out = tmp_path / "runs"
    argv = [
        "benchmark", "--scale", "smoke", "--strategies", STRATEGIES,
        "--data-dir", str(data_dir), "--model", str(model), "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0

    studies = tracking.open_store(out).all_studies()
    studied = {(s["tags"]["workload"], s["tags"]["regime"]) for s in studies}
    assert studied == set(benchmark.WORKLOADS)
    assert {s["status"] for s in studies} == {"FINISHED"}
    report_dir = out / "reports"
    for name in (
        "winners.csv", "winners.md", "mean_rank.csv", "mean_rank.md", "ranks.csv", "ranks.md",
        "time_to_target.csv", "time_to_target.md", "performance_profile.csv",
        "performance_profile.png",
    ):  # fmt: skip
        assert (report_dir / name).stat().st_size > 0, name
    per_study = [path for path in report_dir.iterdir() if path.is_dir()]
    assert len(per_study) == len(studies)  # the pilots' too; the tables below skip them
    for folder in per_study:
        for name in ("leaderboard.csv", "leaderboard.md", "learning_curves.png"):
            assert (folder / name).exists(), (folder, name)
    rows = list(csv.DictReader((report_dir / "time_to_target.csv").open()))
    assert len(rows) == 3 * len(benchmark.WORKLOADS) + len(SCRATCH)  # refined: scratch only
    assert {row["strategy"] for row in rows} == set(STRATEGIES.split(","))
    winners = list(csv.DictReader((report_dir / "winners.csv").open()))
    assert len(winners) == len(benchmark.WORKLOADS)

    progress = json.loads((out / "benchmark" / "smoke.json").read_text())
    key_of = {  # parent run id → "workload/regime" or "workload/regime/pilot"
        json.loads((out / "studies" / study_id / "study.json").read_text())["parent_run_id"]: key
        for key, study_id in progress["finished"].items()
    }
    assert len(key_of) == len(studies) == len(benchmark.WORKLOADS) + len(SCRATCH)

    # Every strategy had the same budget: one trial per study, and one seed re-run of it
    # unless it diverged or errored. A from-scratch study has `refined` too, refined from its
    # pilot: one linear_decay_sgd trial at the default configuration, without re-runs.
    store = tracking.open_store(out)
    for study in studies:
        key = key_of[study["run_id"]]
        runs = store.trials_of(study["run_id"])
        trials = [run for run in runs if run["tags"]["kind"] == "trial"]
        # A pilot is tagged as one, and so never counted as its workload's study.
        assert study["tags"].get("dals.pilot_for") == (
            key.removesuffix("/pilot") if key.endswith("/pilot") else None
        )
        if key.endswith("/pilot"):
            assert [(run["tags"]["strategy"], run["tags"].get("default")) for run in runs] == [
                ("linear_decay_sgd", "1")
            ]
            assert runs[0]["run_id"] == progress["refine_from"][key.removesuffix("/pilot")]
            assert store.run(runs[0]["run_id"])["tags"][refine.REFINED_TAG] == "1"
            continue
        expected = STRATEGIES.split(",")
        if study["tags"]["regime"] == "scratch":
            refined = [run for run in trials if run["tags"]["strategy"] == "refined"]
            assert refined[0]["tags"]["refine_from"] == progress["refine_from"][key]
        else:
            expected.remove("refined")
        assert sorted(run["tags"]["strategy"] for run in trials) == sorted(expected)
        usable = {
            run["tags"]["strategy"]
            for run in trials
            if run["tags"]["status"] in ("completed", "pruned")
        }
        reruns = [run["tags"]["strategy"] for run in runs if run["tags"]["kind"] == "rerun"]
        assert sorted(reruns) == sorted(usable) and usable, study["tags"]["workload"]

    # Run again: every workload is skipped, nothing is studied (or piloted) twice.
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("skipped") == len(benchmark.WORKLOADS)
    assert len(tracking.open_store(out).all_studies()) == len(studies)


def test_a_pilot_whose_trial_errored_is_run_again_by_the_next_benchmark(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    scale = benchmark.SCALES["smoke"]
    studies = benchmark.plan(
        scale,
        out,
        strategies=("linear_decay_sgd", "refined"),
        workloads=(("synthetic", "scratch"),),
    )
    real_search = benchmark.run_search

    def search_whose_trials_error(settings, **options):
        result = real_search(settings, **options)
        tracker = tracking.open_existing_store(out)
        for run in tracker.trials_of(result.parent_run_id):
            tracker.annotate_run(run["run_id"], {"status": "errored"})
        return result

    monkeypatch.setattr(benchmark, "run_search", search_whose_trials_error)
    with pytest.raises(ValueError, match="pilot trial did not finish.*run the benchmark again"):
        benchmark.run_benchmark(scale, studies, echo=lambda line: None)
    progress = json.loads(benchmark.BenchmarkState.path(out, "smoke").read_text())
    assert "synthetic/scratch/pilot" not in progress["finished"]

    monkeypatch.setattr(benchmark, "run_search", real_search)
    result = benchmark.run_benchmark(scale, studies, echo=lambda line: None)
    assert set(result.studies) == {"synthetic/scratch/pilot", "synthetic/scratch"}
    # The errored pilot, its replacement and the main study, which refines the replacement.
    assert len(tracking.open_store(out).all_studies()) == 3
    progress = json.loads(benchmark.BenchmarkState.path(out, "smoke").read_text())
    pilot_trial = tracking.open_existing_store(out).run(
        progress["refine_from"]["synthetic/scratch"]
    )
    assert pilot_trial["tags"]["status"] != "errored"

    # --redo studies the finished workload again, from the same pilot; the new study counts.
    again = benchmark.run_benchmark(
        scale, studies, echo=lambda line: None, redo=("synthetic/scratch",)
    )
    assert again.skipped == []
    assert again.studies["synthetic/scratch"] != result.studies["synthetic/scratch"]
    assert again.studies["synthetic/scratch/pilot"] == result.studies["synthetic/scratch/pilot"]
    state = json.loads(benchmark.BenchmarkState.path(out, "smoke").read_text())
    assert state == {**progress, "finished": again.studies}
    folder = out / "studies" / again.studies["synthetic/scratch"]
    new_parent = StudyState.load(folder / STATE_FILE).parent_run_id
    latest = reports.latest_finished(tracking.open_store(out).all_studies())
    assert [study["run_id"] for study in latest] == [new_parent]


def test_a_missing_dataset_is_found_before_any_study_runs(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["benchmark", "--scale", "smoke", "--data-dir", str(tmp_path / "empty"),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "cifar10" in error
    assert not out.exists()


def test_an_unknown_redo_is_one_line_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["benchmark", "--scale", "smoke", "--redo", "mnist/scratch", "--out", str(out)]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert "--redo 'mnist/scratch' is none of" in error
    assert not out.exists()


def test_forgetting_finished_studies_keeps_their_pilots_and_saves(tmp_path):
    state = benchmark.BenchmarkState(
        scale="cpu",
        finished={
            "a/scratch/pilot": "p",
            "a/scratch": "s1",
            "b/finetune": "s2",
            "c/finetune": "s3",
        },
        refine_from={"a/scratch": "run"},
    )
    state.forget(tmp_path, ("a/scratch", "b/finetune", "d/scratch"))
    saved = benchmark.BenchmarkState.load(tmp_path, "cpu")
    assert saved.finished == {"a/scratch/pilot": "p", "c/finetune": "s3"}
    assert saved.refine_from == {"a/scratch": "run"}
    benchmark.BenchmarkState(scale="full").forget(tmp_path, ("a/scratch",))
    assert not benchmark.BenchmarkState.path(tmp_path, "full").exists()  # nothing to forget


def test_the_scales_are_documented():
    table = benchmark.describe_scales()
    for name in ("smoke", "cpu", "full"):
        assert f"| {name} |" in table
    assert benchmark.SCALES["full"].subset == {}  # the paper's sizes: whole splits
    doc = (Path(__file__).parents[1] / "docs" / "reports.md").read_text()
    assert table in doc  # the docs show the scales as they are


def batch_size(workload: str) -> int:
    """The workload's own batch size (the benchmark sets none)."""
    if workload in text.TASKS:
        return text.TASKS[workload].batch_size
    return {"synthetic": synthetic.BATCH_SIZE, "cifar10": cifar10.BATCH_SIZE}[workload]


# The whole training splits the cpu scale uses where it names no subset: synthetic's 18,000
# (20,000 points less the validation split) and TREC-6's 5,452 questions less a 500-question
# validation split.
WHOLE_TRAINING_SPLIT = {"synthetic": 18_000, "trec6": 4_952}


@pytest.mark.parametrize("scale", ["cpu", "gpu", "full"])
def test_every_regime_searches_every_strategys_learning_rate_with_equal_budgets(scale):
    """Each study gives all its strategies one budget (the settings are the study's, not a
    strategy's), with the default and at least one searched configuration each."""
    scale = benchmark.SCALES[scale]
    for settings in benchmark.plan(scale, "runs"):
        assert settings.samples >= 2 and settings.search in ("lr", "all")  # default + search
        assert settings.seeds >= 3


def test_every_trial_of_the_cpu_and_full_scales_takes_at_least_a_few_hundred_steps():
    """Steps per trial = ⌈subset / batch size⌉ × epochs ≥ 200 on the cpu scale. The full
    scale trains on whole splits, at least the cpu subsets, for at least the cpu epochs, so
    its trials are longer still. lm counts documents, not examples: the benchmark checks it
    from the workload it builds (next test)."""
    cpu, full = benchmark.SCALES["cpu"], benchmark.SCALES["full"]
    assert cpu.min_trial_steps == full.min_trial_steps == benchmark_scales.MIN_TRIAL_STEPS >= 200
    for settings in benchmark.plan(cpu, "runs"):
        workload, regime = settings.workload, settings.regime
        assert full.epochs(workload, regime) >= cpu.epochs(workload, regime) or (
            workload, regime) == ("synthetic", "scratch")  # cpu: the paper's 80 epochs  # fmt: skip
        if workload == "lm":
            continue
        examples = settings.subset or WHOLE_TRAINING_SPLIT[workload]
        steps = math.ceil(examples / batch_size(workload))
        assert steps * settings.max_epochs >= cpu.min_trial_steps, workload
    assert benchmark.SCALES["smoke"].min_trial_steps == 0  # it only checks code paths


def test_the_cpu_scale_races_panels_where_trials_take_minutes_and_keeps_its_claims():
    """The cpu scale's studies: every strategy where trials are cheap, the panel on the
    transformer studies; the strategies the claims table compares are in every panel that
    needs them, the paper's synthetic budget, the small text model from scratch."""
    studies = {f"{s.workload}/{s.regime}": s for s in benchmark.plan(benchmark.SCALES["cpu"], "r")}
    assert all(settings.mode == "race" for settings in studies.values())
    assert studies["synthetic/scratch"].strategies == ("all",)
    assert (studies["synthetic/scratch"].max_epochs, studies["synthetic/scratch"].subset) == (
        80, None)  # the paper's budget on the whole 18,000-example training split  # fmt: skip
    assert studies["trec6/scratch"].model == "textcnn"
    for key in ("trec6/finetune", "rte/finetune", "imdb/finetune"):
        assert {"radam", "stlr_discriminative", "stlr_discriminative_paper", "dals",
                "dals_fast"} <= set(studies[key].strategies)  # fmt: skip
    assert {"linear_decay_sgd", "cosine_sgd", "refined"} <= set(studies["lm/scratch"].strategies)
    for panel in (benchmark_scales.FINETUNE_PANEL, benchmark_scales.PRETRAINING_PANEL):
        assert set(panel) <= set(strategies.REGISTRY) | {strategies.REFINED}
    assert studies["cifar10/scratch"].target == 0.50  # a 10,000-image subset's level


def test_a_command_line_model_and_strategies_win_over_the_scales_own():
    cpu = benchmark.SCALES["cpu"]
    (settings,) = benchmark.plan(cpu, "runs", strategies=("adamw,radam",), model="my-model",
                                 workloads=(("trec6", "scratch"),))  # fmt: skip
    assert (settings.strategies, settings.model) == (("adamw", "radam"), "my-model")


def test_the_gpu_scale_shares_each_gpu_between_trials():
    for settings in benchmark.plan(benchmark.SCALES["gpu"], "runs"):
        assert 0 < settings.gpus_per_trial < 1 and settings.mode == "race"


def test_a_study_with_trials_too_short_for_its_scale_is_named_in_one_line():
    cpu = benchmark.SCALES["cpu"]
    assert cpu.short_trials("lm/scratch", 137, 2) is None
    assert cpu.short_trials("lm/scratch", 57, 2) == (
        "note: lm/scratch trials take 114 optimizer steps (57 per epoch × 2 epochs), under the "
        "200 of the cpu scale: its ranking says how strategies start, not how they train"
    )
    assert benchmark.SCALES["smoke"].short_trials("lm/scratch", 1, 1) is None


def pilot_norms(settings) -> dict[str, list]:
    """Per-step norms of a pilot trial, 10 steps an epoch: on synthetic they rise for 30
    steps, then fall (a 4-epoch pilot is past its rise, a 2-epoch one is not); on
    synthetic_gauss10 they rise to the end however long the pilot runs."""
    steps = 10 * settings.max_epochs
    falls = settings.workload == "synthetic"
    l2 = [1 + t / 10 if t < 30 or not falls else 4 - (t - 30) / 5 for t in range(steps)]
    return {"l1": l2, "l2": l2, "epoch_ends": list(range(10, steps + 1, 10))}


def test_a_pilot_still_in_its_initial_rise_runs_again_with_twice_the_epochs(tmp_path, monkeypatch):
    """The pilot loop alone: each study is written into the store by hand (a pilot's trial
    with the norms above), as ``run_search`` would leave it, so no trial trains."""
    out = tmp_path / "runs"
    ran: list = []

    def run_search_by_hand(settings, resume=False, verbose=False, echo=print):
        tracker = tracking.open_store(settings.out)
        parent = tracker.start_study(settings.workload, {"regime": settings.regime}, {})
        if settings.strategies == (benchmark.REFINE_PILOT,):
            epochs = [{"epoch": e, "val_acc": 0.5} for e in range(1, settings.max_epochs + 1)]
            documents = {refine.GRAD_NORMS_DOCUMENT: pilot_norms(settings)}
            tracker.log_trial(parent, "t", benchmark.REFINE_PILOT, 2, "completed",
                              {"lr": 0.03}, epochs, documents=documents)  # fmt: skip
        study_id = f"study{len(ran)}"
        ran.append(settings)
        (folder := Path(settings.out) / "studies" / study_id).mkdir(parents=True)
        StudyState(study_id, settings, parent, phase="finished").save(folder)
        return SimpleNamespace(study_id=study_id, parent_run_id=parent)

    monkeypatch.setattr(benchmark, "run_search", run_search_by_hand)
    monkeypatch.setattr(reports, "write_reports", lambda out: [])
    scale = dataclasses.replace(benchmark.SCALES["smoke"], pilot_extensions=1)
    workloads = (("synthetic", "scratch"), ("synthetic_gauss10", "scratch"))
    studies = benchmark.plan(scale, out, ("linear_decay_sgd", "refined"), workloads=workloads)
    printed: list[str] = []
    result = benchmark.run_benchmark(scale, studies, echo=printed.append)

    pilots = [(s.workload, s.max_epochs) for s in ran if s.strategies == ("linear_decay_sgd",)]
    assert pilots == [(workload, epochs) for workload, _ in workloads for epochs in (2, 4)]
    refine_from = json.loads(benchmark.BenchmarkState.path(out, "smoke").read_text())["refine_from"]
    tracker = tracking.open_existing_store(out)
    for key, past in (("synthetic/scratch", "1"), ("synthetic_gauss10/scratch", "0")):
        pilot = StudyState.load(out / "studies" / result.studies[f"{key}/pilot"] / STATE_FILE)
        assert pilot.settings.max_epochs == 4  # the study refines from the longest pilot
        (trial,) = tracker.trials_of(pilot.parent_run_id)
        assert refine_from[key] == trial["run_id"]
        assert tracker.run(trial["run_id"])["tags"]["dals.refined_past_transient"] == past
    # Every pilot, the shorter ones too, is tagged with the study it pilots.
    tagged = [study["tags"].get("dals.pilot_for") for study in tracker.all_studies()]
    assert sorted(filter(None, tagged)) == sorted(f"{w}/{r}" for w, r in workloads for _ in "12")
    main_studies = [s for s in ran if "refined" in s.strategies]
    assert [s.refine_from for s in main_studies] == list(refine_from.values())
    again = [line for line in printed if "piloting again" in line]
    assert [line.split(":")[0] for line in again] == [
        "synthetic/scratch",
        "synthetic_gauss10/scratch",
    ]
    assert again[0].endswith("not for the run's second half; piloting again for 4 epochs")
    notes = [line for line in printed if line.startswith("note: trial")]
    assert len(notes) == 1 and "still in its initial rise" in notes[0]  # gauss10's, at the cap


def test_workloads_parse_as_workload_and_regime():
    assert benchmark.parse_workloads("all") == benchmark.WORKLOADS
    assert benchmark.parse_workloads("lm/scratch, my_task:build/finetune,lm/scratch") == (
        ("lm", "scratch"),
        ("my_task:build", "finetune"),
    )
    assert benchmark.parse_workloads("lm:/data/text/scratch") == (("lm:/data/text", "scratch"),)
    for bad in ("lm", "lm/pretrain", "/scratch", ","):
        with pytest.raises(ValueError, match="WORKLOAD/REGIME"):
            benchmark.parse_workloads(bad)


def test_a_benchmark_plans_a_users_own_workload(tmp_path, monkeypatch):
    """``benchmark --workloads module:function/REGIME`` plans the benchmark's study of a
    user's module (imported from the current folder) at the scale's budget; the study itself
    is the one ``search`` runs (test_user_workload.py runs it end to end)."""
    import user_modules

    monkeypatch.chdir(tmp_path)
    user_modules.write_module(tmp_path, "bench_regression", user_modules.REGRESSION)
    workloads = benchmark.parse_workloads("bench_regression:build/scratch")
    (settings,) = benchmark.plan(benchmark.SCALES["smoke"], tmp_path / "runs",
                                 strategies=("adamw",), workloads=workloads)  # fmt: skip
    assert (settings.workload, settings.regime, settings.samples) == (
        "bench_regression:build", "scratch", 1,
    )  # fmt: skip
    assert check(settings).objective.metric == "rmse"
