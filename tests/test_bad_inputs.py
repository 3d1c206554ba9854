"""Bad input everywhere (docs/bad_inputs.md): every class of bad input the CLI and the library
were tried with ends as one line on stderr and exit code 2 (a ``ValueError`` from the
library), with no traceback, before Ray starts and before anything is written; the few that
are recovered from instead say what they did.

Cases already pinned elsewhere (an unknown strategy, ``--samples 0``, a missing dataset, a
bad space file, ``report``/``ui`` without a store...) are listed in the doc with their tests
and not repeated here.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import dataset_fixtures as fixtures
import pytest
import user_modules
from trial_probe import NextStep, NextStepProbe, differences
from unprivileged import give_to_unprivileged_user, ran_as, run_unprivileged

from dals_tune.cli import main
from dals_tune.study import SearchSettings, run_search
from dals_tune.training import CHECKPOINT_FILE, train
from dals_tune.workloads import build_workload

QUICK = {"workload": "synthetic", "subset": 100, "eval_subset": 50, "epochs": 1}
SMALL_STUDY = ["--samples", "1", "--max-epochs", "1", "--seeds", "0", "--subset", "100"]


@pytest.fixture(autouse=True)
def offline_and_no_ray(monkeypatch, tmp_path):
    """No network, the working folder a fresh one, and Ray never started: bad input must be
    refused before the study connects to Ray (which takes seconds and starts processes)."""
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "DALS_TUNE_OFFLINE"):
        monkeypatch.setenv(flag, "1")
    monkeypatch.chdir(tmp_path)
    from dals_tune.study import ray_tune

    def reached_ray(*args, **kwargs):
        pytest.fail("bad input reached Ray: it should have been refused before")

    monkeypatch.setattr(ray_tune, "connect", reached_ray)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """``main(argv)``'s exit code and stderr; argparse's usage errors exit via SystemExit."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def assert_refused(code: int, error: str, message: str) -> None:
    assert code == 2, error
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert message in error, error
    assert "Traceback" not in error


def snapshot(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


# ----- unknown ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["nonsense"], "argument COMMAND: invalid choice: 'nonsense'"),
        (
            ["train", "--workload", "synthetic", "--strategy", "dals", "--regime", "pretrain"],
            "argument --regime: invalid choice: 'pretrain'",
        ),
        (["search", "--scheduler", "hyperband"], "argument --scheduler: invalid choice"),
        (["search", "--searcher", "grid"], "argument --searcher: invalid choice"),
        (["search", "--mode", "both"], "argument --mode: invalid choice"),
        (["search", "--search", "everything"], "argument --search: invalid choice: 'everything'"),
        (["search", "--regime", "finetune"], "synthetic has no pretrained model"),
        (["train", "--workload", "synthetic", "--strategy", "dals", "--device", "tpu"], "'tpu'"),
        (["train", "--workload", "cifar10", "--strategy", "dals", "--model", "vgg"], "'vgg'"),
    ],
    ids=["command", "regime", "scheduler", "searcher", "mode", "search", "regime-for-workload",
         "device", "model"],
)  # fmt: skip
def test_unknown_ids(tmp_path, capsys, argv, message):
    assert_refused(*run_cli(argv, capsys), message)
    assert snapshot(tmp_path) == []


# ----- wrong types and ranges ----------------------------------------------------------------

TRAIN = ["train", "--workload", "synthetic", "--strategy"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["search", "--samples", "abc"], "argument --samples: invalid int value: 'abc'"),
        (["search", "--seeds", "-1"], "--seeds must be 0 or more, got -1"),
        (["search", "--cpus-per-trial", "0"], "--cpus-per-trial must be > 0"),
        (["search", "--cpus-per-trial", "abc"], "invalid float value: 'abc'"),
        (["search", "--gpus-per-trial", "-1"], "--gpus-per-trial >= 0"),
        (["search", "--seed", "-1"], "argument --seed: expected a non-negative integer, got -1"),
        (["search", "--subset", "0"], "argument --subset: expected a positive integer, got 0"),
        ([*TRAIN, "dals", "--epochs", "-1"], "--epochs: expected a positive integer, got -1"),
        ([*TRAIN, "dals", "--epochs", "abc"], "--epochs: expected a positive integer, got 'abc'"),
        ([*TRAIN, "dals", "--eval-subset", "0"], "--eval-subset: expected a positive integer"),
        ([*TRAIN, "dals", "--batch-size", "0"], "--batch-size: expected a positive integer"),
        ([*TRAIN, "dals", "--set", "lr=-1"], "strategy 'dals': lr must be in (0, ∞), got -1"),
        ([*TRAIN, "dals", "--set", "lr=fast"], "lr must be a number, got 'fast'"),
        ([*TRAIN, "dals", "--set", "lr=-1e-4"], "lr must be in (0, ∞), got -0.0001"),
        ([*TRAIN, "dals", "--set", "lr=nan"], "lr must be a number, got 'nan'"),
        ([*TRAIN, "adamw", "--set", "lr=[1, 2]"], "lr must be a number, got [1, 2]"),
        ([*TRAIN, "schedulefree_adamw", "--set", "lr=-0.1"], "lr must be in (0, ∞)"),
        ([*TRAIN, "lion", "--set", "lr=-1"], "strategy 'lion': lr must be in (0, ∞)"),
        ([*TRAIN, "dals", "--set", "momentum=1.5"], "momentum must be in [0, 1), got 1.5"),
        ([*TRAIN, "adamw", "--set", "weight_decay=-1"], "weight_decay must be in [0, ∞)"),
        ([*TRAIN, "wsd", "--set", "cooldown=fast"], "cooldown must be one of"),
        ([*TRAIN, "dals_fast", "--set", "bypass_filter_in_explore=maybe"], "true or false"),
        ([*TRAIN, "muon", "--set", "cautious=maybe"], "cautious must be true or false"),
        ([*TRAIN, "shampoo", "--set", "precondition_frequency=0"], "an integer in [1, ∞), got 0"),
        ([*TRAIN, "cocob", "--set", "lr=0.1"], "strategy 'cocob' takes no hyperparameter 'lr'"),
        ([*TRAIN, "dals", "--set", "seed=x"], "seed must be a non-negative integer, got 'x'"),
        ([*TRAIN, "dals", "--set", "lr"], "--set expects KEY=VALUE, got 'lr'"),
        ([*TRAIN, "adamw", "--target", "high"], "argument --target: expected a finite number"),
        (["ui", "--port", "abc"], "argument --port: expected a positive integer, got 'abc'"),
        (["ui", "--port", "70000"], "expected a port number from 1 to 65535, got 70000"),
    ],
    ids=[
        "samples-abc", "seeds-negative", "cpus-zero", "cpus-abc", "gpus-negative",
        "search-seed-negative", "subset-zero", "epochs-negative", "epochs-abc",
        "eval-subset-zero", "batch-size-zero", "lr-negative", "lr-text",
        "lr-e-notation-negative", "lr-nan-word", "lr-list",
        "schedulefree-lr-negative", "lion-lr-negative", "momentum-above-1",
        "weight-decay-negative", "cooldown-unknown", "flag-not-boolean", "cautious-not-boolean",
        "precondition-frequency-zero", "cocob-has-no-lr", "set-seed-text",
        "set-without-value", "target-text", "port-abc", "port-too-large",
    ],
)  # fmt: skip
def test_wrong_types_and_ranges_on_the_command_line(tmp_path, capsys, argv, message):
    assert_refused(*run_cli(argv, capsys), message)
    assert snapshot(tmp_path) == []


@pytest.mark.parametrize(
    "config, message",
    [
        ({"strategy": "dals", "lr": -0.5}, "strategy 'dals': lr must be in (0, ∞), got -0.5"),
        ({"strategy": "adamw", "lr": "fast"}, "strategy 'adamw': lr must be a number"),
        ({"strategy": "adamw", "lr": None}, "lr must be a number, got None"),
        ({"strategy": "adamw", "lr": float("nan")}, "lr must be in (0, ∞), got nan"),
        ({"strategy": "adamw", "epochs": "abc"}, "epochs must be a positive integer, got 'abc'"),
        ({"strategy": "adamw", "epochs": 2.5}, "epochs must be a positive integer, got 2.5"),
        ({"strategy": "adamw", "seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"strategy": "adamw", "subset": "many"}, "subset must be a positive integer"),
        ({"strategy": "adamw", "folds": 1}, "folds must be an integer >= 2 (leave it out for"),
        ({"strategy": "adamw", "target": float("inf")}, "target must be a finite number, got inf"),
    ],
    ids=["lr-negative", "lr-text", "lr-none", "lr-nan", "epochs-text", "epochs-fraction",
         "seed-negative", "subset-text", "folds-one", "target-infinite"],
)  # fmt: skip
def test_wrong_types_and_ranges_in_a_trial_config(config, message):
    with pytest.raises(ValueError) as caught:
        train({**QUICK, **config})
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"samples": "3"}, "search setting samples must be an integer, got '3'"),
        ({"strategies": "dals"}, "strategies must be a tuple of strategy ids"),
        ({"cpus_per_trial": "one"}, "cpus_per_trial must be a number"),
        ({"mode": "both"}, "--mode must be one of per-strategy, joint"),
        ({"search": "everything"}, "--search must be one of all, lr, got 'everything'"),
    ],
    ids=["samples-text", "strategies-string", "cpus-text", "mode-unknown", "search-unknown"],
)
def test_wrong_types_and_ranges_in_search_settings(tmp_path, changes, message):
    out = tmp_path / "runs"
    with pytest.raises(ValueError) as caught:
        run_search(SearchSettings(out=str(out), **changes))
    assert message in str(caught.value)
    assert not out.exists()


def test_a_seed_that_is_no_number_is_refused_by_build_workload():
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got 'x'"):
        build_workload({"workload": "synthetic", "seed": "x"})


# ----- missing or corrupt dataset files ------------------------------------------------------


def damaged_cifar_batch(data_dir: Path) -> None:
    fixtures.write_cifar_batches(data_dir, per_batch=4, test_size=4)
    batch = data_dir / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])


def foreign_cifar_batch(data_dir: Path) -> None:
    fixtures.write_cifar_batches(data_dir, per_batch=4, test_size=4)
    (data_dir / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps({"x": 1}))


def garbage_cifar_archive(data_dir: Path) -> None:
    (data_dir / "cifar10").mkdir(parents=True)
    (data_dir / "cifar10" / "CIFAR-10-images.tar.xz").write_bytes(b"\xfd7zXZ\x00" + b"junk" * 50)


def truncated_cifar_archive(data_dir: Path) -> None:
    archive = fixtures.write_cifar_archive(data_dir, data_dir.parent / "scratch")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    shutil.rmtree(data_dir.parent / "scratch")


def cifar_tree_with_a_broken_image(data_dir: Path) -> None:
    tree = fixtures.write_cifar_tree(data_dir / "cifar10", per_class_train=2, per_class_test=1)
    (tree / "train" / "cat" / "0000.jpg").write_bytes(b"not a jpeg")


def rte_without_a_column(data_dir: Path) -> None:
    fixtures.write_rte(data_dir)
    (data_dir / "rte" / "train.tsv").write_text("index\tsentence1\tlabel\n0\tfoo\tentailment\n")


def rte_with_a_header_only(data_dir: Path) -> None:
    fixtures.write_rte(data_dir)
    (data_dir / "rte" / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n")


def empty_trec_file(data_dir: Path) -> None:
    fixtures.write_trec(data_dir)
    (data_dir / "trec" / "TREC_10.label").write_text("")


def garbage_imdb_archive(data_dir: Path) -> None:
    (data_dir / "imdb").mkdir(parents=True)
    (data_dir / "imdb" / "aclImdb_labeled.tar.xz").write_bytes(b"junk")


DATA_CASES = {
    "cifar10-batch-truncated": ("cifar10", damaged_cifar_batch, "data_batch_3 is not a CIFAR"),
    "cifar10-batch-of-something-else": ("cifar10", foreign_cifar_batch, "KeyError: b'data'"),
    "cifar10-archive-garbage": ("cifar10", garbage_cifar_archive, "cannot read the archive"),
    "cifar10-archive-truncated": ("cifar10", truncated_cifar_archive, "cannot read the archive"),
    "cifar10-image-broken": ("cifar10", cifar_tree_with_a_broken_image, "not a readable image"),
    "rte-column-missing": ("rte", rte_without_a_column, "header lacks sentence2"),
    "rte-rows-missing": ("rte", rte_with_a_header_only, "holds no sentence pairs"),
    "trec6-label-file-empty": ("trec6", empty_trec_file, "TREC_10.label holds no questions"),
    "imdb-archive-garbage": ("imdb", garbage_imdb_archive, "imdb: cannot read"),
}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return fixtures.write_tiny_bert(tmp_path_factory.mktemp("bert"))


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_a_corrupt_dataset_is_one_line_naming_the_file(tmp_path, capsys, tiny_bert, case):
    workload, damage, message = DATA_CASES[case]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    damage(data_dir)
    before = snapshot(tmp_path)
    argv = ["train", "--workload", workload, "--strategy", "adamw", "--data-dir", str(data_dir)]
    if workload != "cifar10":
        argv += ["--model", str(tiny_bert)]
    assert_refused(*run_cli(argv, capsys), message)
    assert snapshot(tmp_path) == before  # no cache entry, no empty .cache folder


CSV_CASES = {
    "no-label-column": ("a,b\n1,2\n3,4\n", "has no label column 'label'; its columns are a, b"),
    "one-class": ("a,label\n" + "".join(f"{i},x\n" for i in range(20)), "a single class"),
    "empty-file": ("", "cannot read"),
    "unclosed-quote": ('a,label\n"1,0\n2,1\n', "EOF inside string"),
    "ragged-rows": ("a,b,label\n1,2,0\n1,2,3,4,5\n", "Expected 3 fields in line 3, saw 5"),
    "text-among-numbers": (
        "a,b,label\n" + "".join(f"{i},w{i},{i % 2}\n" for i in range(20)),
        "non-numeric feature columns b",
    ),
    "too-few-rows": ("a,label\n1,0\n2,1\n", "too few examples to split"),
}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_a_bad_csv_is_one_line(tmp_path, capsys, case):
    content, message = CSV_CASES[case]
    table = tmp_path / "table.csv"
    table.write_text(content)
    argv = ["train", "--workload", f"csv:{table}", "--strategy", "adamw", "--epochs", "1"]
    assert_refused(*run_cli(argv, capsys), message)
    assert snapshot(tmp_path) == ["table.csv"]


def test_a_missing_text_model_is_one_line_and_caches_nothing(tmp_path, capsys):
    data_dir = tmp_path / "data"
    fixtures.write_trec(data_dir)
    before = snapshot(tmp_path)
    missing = tmp_path / "no_model"
    argv = ["train", "--workload", "trec6", "--strategy", "adamw", "--data-dir", str(data_dir),
            "--model", str(missing)]  # fmt: skip
    assert_refused(*run_cli(argv, capsys), f"cannot load text model '{missing}'")
    assert snapshot(tmp_path) == before  # no token cache for a model that is not there


def test_textcnn_refuses_to_fine_tune_and_caches_nothing(tmp_path, capsys):
    data_dir = tmp_path / "data"
    fixtures.write_trec(data_dir)
    before = snapshot(tmp_path)
    argv = ["train", "--workload", "trec6", "--strategy", "adamw", "--data-dir", str(data_dir),
            "--model", "textcnn", "--regime", "finetune"]  # fmt: skip
    assert_refused(*run_cli(argv, capsys), "textcnn has no pretrained weights to fine-tune")
    assert snapshot(tmp_path) == before


def test_a_csv_that_is_not_there_is_one_line(tmp_path, capsys):
    argv = ["train", "--workload", "csv:missing.csv", "--strategy", "adamw", "--epochs", "1"]
    assert_refused(*run_cli(argv, capsys), "csv: no file at missing.csv")
    assert snapshot(tmp_path) == []


# ----- k-fold selection ----------------------------------------------------------------------

SEARCH = ["search", "--out", "runs", "--strategies", "adamw"]
FOLDS_CASES = {
    "one-fold": (
        [*TRAIN, "adamw", "--folds", "1"],
        "argument --folds: expected an integer >= 2 (leave it out for one validation split), got 1",
    ),
    "zero-folds": ([*SEARCH, "--folds", "0"], "argument --folds: expected an integer >= 2"),
    "folds-text": (
        [*SEARCH, "--folds", "five"],
        "(leave it out for one validation split), got 'five'",
    ),
    "cifar10": (
        [*SEARCH, "--workload", "cifar10", "--data-dir", "nowhere", "--folds", "3"],
        "--folds is for workloads held as tensors (synthetic, synthetic_gauss10, csv: with "
        "numeric features, and your own workload with (inputs, targets) tensor splits); "
        "cifar10 keeps one validation split, so leave --folds out",
    ),
    "lm": (
        ["train", "--workload", "lm:missing.txt", "--strategy", "adamw", "--folds", "3"],
        "lm:missing.txt keeps one validation split",
    ),
    "text-csv": (
        [*SEARCH, "--workload", "csv:reviews.csv", "--label-column", "sentiment", "--folds", "3"],
        "reviews.csv (a text table) keeps one validation split",
    ),
    "dataset-splits": (
        [*SEARCH, "--workload", "blobs_task:build", "--folds", "3"],
        "blobs (its splits are Datasets) keeps one validation split",
    ),
    "more-folds-than-a-class": (
        [*SEARCH, "--workload", "csv:table.csv", "--folds", "50"],
        "--folds 50 needs at least 50 examples of every class in the training data, so that "
        "each fold validates on every class; class 2 has",
    ),
}


@pytest.mark.parametrize("case", list(FOLDS_CASES))
def test_folds_that_cannot_work_are_one_line(tmp_path, capsys, case):
    """Refused before the data are read where the workload id says so (no CIFAR-10 copy,
    no text file, no text model needed to hear it), and before anything is written."""
    fixtures.write_text_csv(tmp_path / "reviews.csv")
    fixtures.write_numeric_csv(tmp_path / "table.csv")
    user_modules.write_module(tmp_path, "blobs_task", user_modules.CLASSIFIER)
    argv, message = FOLDS_CASES[case]
    assert_refused(*run_cli(argv, capsys), message)
    assert not (tmp_path / "runs").exists()


def test_a_damaged_cache_entry_is_rebuilt_from_the_dataset(tmp_path):
    """Clean recovery: the decoded-tensor cache is only a copy, so a damaged entry is
    decoded again instead of refused."""
    fixtures.write_cifar_batches(tmp_path, per_batch=4, test_size=4)
    config = {"workload": "cifar10", "data_dir": str(tmp_path), "device": "cpu"}
    first = build_workload(config).train_split.labels
    (entry,) = (tmp_path / ".cache").glob("cifar10-*.pt")
    entry.write_bytes(b"damaged")
    assert build_workload(config).train_split.labels.tolist() == first.tolist()
    assert entry.stat().st_size > len(b"damaged")


# ----- a corrupt checkpoint ------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, NextStep]:
    """A real checkpoint folder of an adamw trial after its first epoch, and the state the
    uninterrupted trial's second epoch started from."""
    folder = tmp_path_factory.mktemp("checkpoint") / "epoch1"

    def keep_first(metrics: dict, reported: Path) -> None:
        if metrics["epoch"] == 1:
            shutil.copytree(reported, folder)
            probe.arm()

    with NextStepProbe(armed=False) as probe:
        train({**QUICK, "strategy": "adamw", "epochs": 2}, report=keep_first)
    return folder, probe.steps[0]


@pytest.fixture
def checkpoint(trained) -> Path:
    return trained[0]


def rewrite(checkpoint: Path, change) -> bytes:
    import torch

    state = torch.load(checkpoint / CHECKPOINT_FILE, map_location="cpu", weights_only=False)
    change(state)
    target = checkpoint.parent / "changed.pt"
    torch.save(state, target)
    return target.read_bytes()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda good, folder: b"garbage", "damaged, or not written by train()"),
        (lambda good, folder: good[: len(good) // 2], "(PytorchStreamReader failed"),
        (lambda good, folder: b"", "(Ran out of input)"),
        (lambda good, folder: rewrite(folder, lambda s: s.pop("rng")), "(it lacks rng)"),
        (
            lambda good, folder: rewrite(folder, lambda s: s.update(model={"w": 1})),
            "(Error(s) in loading state_dict",
        ),
        (None, "no trial checkpoint at"),
    ],
    ids=["garbage", "truncated", "empty", "incomplete", "another-model", "missing"],
)
def test_resuming_from_a_corrupt_checkpoint_is_one_line(tmp_path, checkpoint, damage, message):
    """An error, not a silent fresh start: under Ray Tune the trial ends as errored with this
    line and the study goes on."""
    folder = tmp_path / "resume"
    folder.mkdir()
    if damage is not None:
        good = (checkpoint / CHECKPOINT_FILE).read_bytes()
        (folder / CHECKPOINT_FILE).write_bytes(damage(good, checkpoint))
    with pytest.raises(ValueError) as caught:
        train({**QUICK, "strategy": "adamw", "epochs": 2}, resume_from=folder)
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert "cannot resume from" in text or damage is None


def test_resuming_from_the_good_checkpoint_still_works(trained):
    checkpoint, epoch2_start = trained
    reported = []
    with NextStepProbe() as probe:
        record = train(
            {**QUICK, "strategy": "adamw", "epochs": 2},
            report=lambda metrics, _: reported.append(metrics["epoch"]),
            resume_from=checkpoint,
        )
    assert reported == [2], "only the epoch after the checkpoint runs"
    assert differences(probe.steps[0].optimizer, epoch2_start.optimizer) == []
    assert [epoch["epoch"] for epoch in record.epochs] == [1, 2]


# ----- an unwritable --out, an unreachable tracking URI --------------------------------------


def test_an_out_under_a_regular_file_is_refused_before_ray(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep")
    for out in (blocker, blocker / "runs"):
        argv = ["search", "--out", str(out), *SMALL_STUDY]
        assert_refused(*run_cli(argv, capsys), f"cannot write to --out folder {out}")
        assert blocker.read_text() == "keep" and snapshot(tmp_path) == ["a_file"]


REFUSED_BEFORE_RAY = """
from dals_tune.cli import main
from dals_tune.study import ray_tune

def reached_ray(*args, **kwargs):
    raise SystemExit("bad input reached Ray: it should have been refused before")

ray_tune.connect = reached_ray
sys.exit(main({argv!r}))
"""


def test_a_read_only_out_is_refused_before_ray(unprivileged_folder):
    """As a user who may not write there: root (as CI runs) writes anyway."""
    parent = unprivileged_folder / "read_only"
    parent.mkdir()
    give_to_unprivileged_user(parent, 0o500)
    out = parent / "runs"
    argv = ["search", "--out", str(out), *SMALL_STUDY]
    result = run_unprivileged(
        REFUSED_BEFORE_RAY.format(argv=argv),
        cwd=unprivileged_folder,
        preload=(
            "dals_tune.cli",
            "dals_tune.study.runner",
            "dals_tune.tracking",
            "dals_tune.study.ray_tune",
        ),
    )
    assert ran_as(result) != 0
    message = f"cannot write to --out folder {out} (Permission denied)"
    assert_refused(result.returncode, result.stderr, message)
    assert list(parent.iterdir()) == []


@pytest.mark.parametrize(
    "command, uri, message",
    [
        ("search", "http://127.0.0.1:1", "cannot reach the MLflow server http://127.0.0.1:1"),
        ("search", "nosuchscheme://somewhere", "unsupported tracking URI 'nosuchscheme://"),
        ("search", "sqlite:///{tmp}/a_file/sub/mlflow.db", "cannot write to tracking URI folder"),
        ("report", "http://127.0.0.1:1", "cannot reach the MLflow server"),
        ("report", "nosuchscheme://somewhere", "unsupported tracking URI"),
        ("ui", "nosuchscheme://somewhere", "unsupported tracking URI"),
    ],
    ids=["search-http", "search-scheme", "search-sqlite", "report-http", "report-scheme",
         "ui-scheme"],
)  # fmt: skip
def test_an_unusable_tracking_uri_is_refused_before_ray(tmp_path, capsys, command, uri, message):
    (tmp_path / "a_file").write_text("")
    out = tmp_path / "runs"
    argv = [command, "--out", str(out), "--tracking-uri", uri.format(tmp=tmp_path)]
    if command == "search":
        argv += SMALL_STUDY
    assert_refused(*run_cli(argv, capsys), message)
    assert snapshot(tmp_path) == ["a_file"]


@pytest.fixture
def no_server(monkeypatch):
    """``ui`` must refuse before it starts MLflow's server (which would not return)."""
    from dals_tune import tracking_ui

    def started_a_server(*args, **kwargs):
        pytest.fail("the ui command started a server: it should have refused before")

    monkeypatch.setattr(tracking_ui.subprocess, "Popen", started_a_server)


def test_ui_on_a_sqlite_uri_with_no_database_is_one_line(tmp_path, capsys, no_server):
    uri = f"sqlite:///{tmp_path / 'missing.db'}"
    argv = ["ui", "--out", str(tmp_path / "runs"), "--tracking-uri", uri]
    assert_refused(*run_cli(argv, capsys), f"no MLflow store at {uri}")
    assert snapshot(tmp_path) == []  # neither the database nor --out


def test_ui_on_a_busy_port_is_one_line_and_leaves_the_store_alone(tmp_path, capsys, no_server):
    import socket

    from dals_tune.tracking import open_store

    out = tmp_path / "runs"
    open_store(out)
    before = {path: path.stat().st_mtime_ns for path in out.rglob("*")}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = ["ui", "--out", str(out), "--port", str(port)]
        assert_refused(*run_cli(argv, capsys), f"port {port} on 127.0.0.1 is already in use")
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*")} == before


# ----- --resume without a study to resume ----------------------------------------------------


@pytest.mark.parametrize(
    "state, message",
    [
        (None, "no interrupted study under"),
        ('{"phase": "search", "settings": {', "cannot resume from"),
        ('{"phase": "search", "study_id": "s", "settings": {}}', "KeyError('strategies')"),
        ("[1, 2]", "it holds a JSON list, not an object"),
        (
            json.dumps({"study_id": "s", "settings": {"strategies": ["dals"], "samples": "3"}}),
            "search setting samples must be an integer, got '3'",
        ),
    ],
    ids=["no-study", "truncated", "no-strategies", "not-an-object", "wrong-type"],
)
def test_resume_without_a_readable_study_is_one_line(tmp_path, capsys, state, message):
    out = tmp_path / "runs"
    (out / "studies" / "s").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    if state is not None:
        (out / "studies" / "s" / "study.json").write_text(state)
    before = snapshot(tmp_path)
    assert_refused(*run_cli(["search", "--out", str(out), "--resume"], capsys), message)
    assert snapshot(tmp_path) == before


# ----- clean recoveries ----------------------------------------------------------------------


def test_subsets_larger_than_the_data_use_all_of_it_and_say_so(capsys):
    argv = [*TRAIN, "adamw", "--epochs", "1", "--subset", "100", "--eval-subset", "999999"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "subset used: 100 of 18000 training examples, validation 2000, test 2000" in (
        captured.out
    )
