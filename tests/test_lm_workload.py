"""The ``lm`` workload end to end on a tiny fixture corpus: a byte-level GPT that learns,
reported in nats per token and minimised."""

from __future__ import annotations

import math

import dataset_fixtures as fixtures
import pytest

from dals_tune.cli import main
from dals_tune.training import train
from dals_tune.workloads import build_workload

SMALL = {"model": "gpt-2x64", "max_length": 32, "batch_size": 16}


@pytest.fixture
def corpus(tmp_path):
    """Forty short documents of repetitive English, blank-line separated."""
    lines = [
        f"the cat number {i} sat on the mat and the dog number {i % 7} ran to the park."
        for i in range(40)
    ]
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(line * 3 for line in lines))
    return path


def test_lm_learns_and_reports_its_loss_per_token(corpus):
    record = train({"workload": f"lm:{corpus}", "strategy": "adamw", "epochs": 3, "lr": 3e-3,
                    "seed": 0, **SMALL})  # fmt: skip
    final = record.final
    losses = [epoch["val_loss"] for epoch in record.epochs]
    assert losses[-1] < losses[0] < math.log(256)
    assert final["best_val_loss"] == min(losses)
    assert final["val_perplexity"] == pytest.approx(math.exp(final["val_loss"]))
    assert "test_loss_at_best_val" in final and "val_acc" not in final
    described = record.workload
    assert (described["metric"], described["metric_mode"]) == ("loss", "min")
    assert described["depth"] == 4  # embeddings, 2 blocks, final norm
    assert (
        described["train_documents"] + described["val_documents"] + described["test_documents"]
        == 40
    )


def test_lm_subsets_count_documents(corpus):
    workload = build_workload({"workload": f"lm:{corpus}", "seed": 1, "subset": 10,
                               "eval_subset": 2, **SMALL})  # fmt: skip
    details = workload.describe()
    assert (details["train_documents"], details["val_documents"], details["test_documents"]) == (
        10,
        2,
        2,
    )
    inputs, targets = workload.train_split.inputs, workload.train_split.labels
    assert inputs.shape[1] == 32 and (inputs[:, 1:] == targets[:, :-1]).all()


def test_lm_reads_imdbs_reviews_by_default(tmp_path):
    fixtures.write_imdb_archive(tmp_path / "data", tmp_path / "scratch")
    workload = build_workload({"workload": "lm", "data_dir": str(tmp_path / "data"), "seed": 0,
                               **SMALL, "max_length": 8})  # fmt: skip
    assert workload.describe()["dataset"] == "imdb-reviews"
    assert len(workload.train_split) > 0 and len(workload.test_split) > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--regime", "finetune"], "lm trains a language model from scratch"),
        (["--model", "gpt-9"], "unknown lm model 'gpt-9'; choose one of gpt-4x128, gpt-2x64"),
    ],
)
def test_lm_bad_input_is_one_line(corpus, capsys, argv, message):
    code = main(["train", "--workload", f"lm:{corpus}", "--strategy", "adamw", *argv])
    error = capsys.readouterr().err
    assert code == 2 and message in error and error.count("\n") == 1


def test_train_on_lm_ends_with_its_metric(corpus, capsys):
    code = main(["train", "--workload", f"lm:{corpus}", "--strategy", "wsd", "--epochs", "1",
                 "--model", "gpt-2x64", "--max-length", "32"])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("test_loss_at_best_val=")
