"""The parts of the language-model workload: its corpus (reading a .txt file, a folder of
.txt files and the IMDb archive; the seeded split by document; byte windows) and its GPT
(output shape, tied head, and that it learns)."""

from __future__ import annotations

import math

import dataset_fixtures as fixtures
import pytest
import torch
import torch.nn.functional as F

from dals_tune.workloads import DatasetNotFoundError, DatasetUnreadableError
from dals_tune.workloads.corpus import (
    SEPARATOR,
    Documents,
    read_documents,
    split_documents,
    token_windows,
)
from dals_tune.workloads.gpt import GPT, GPTConfig


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No network, and the cache in a fresh folder."""
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "DALS_TUNE_OFFLINE"):
        monkeypatch.setenv(flag, "1")
    monkeypatch.setenv("DALS_TUNE_CACHE", str(tmp_path / "cache"))


def corpus(count: int) -> Documents:
    return Documents(source="fixture", train=tuple(f"document {i}" for i in range(count)))


# --- reading ----------------------------------------------------------------------------


def test_a_text_file_is_split_into_documents_at_blank_lines(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes(b"first line\nstill first\n\n\nsecond \xff\r\n \t\r\nthird\n\n")
    documents = read_documents(f"lm:{path}", tmp_path)
    assert documents.train == ("first line\nstill first", "second \ufffd", "third")
    assert documents.test is None and documents.source == str(path)


def test_a_folder_is_one_document_per_txt_file_in_sorted_path_order(tmp_path):
    folder = tmp_path / "texts"
    (folder / "b").mkdir(parents=True)
    (folder / "b" / "x.txt").write_text("in b\n\nstill one document")
    (folder / "a.txt").write_text("in a")
    (folder / "empty.txt").write_text("  \n")
    (folder / "notes.md").write_text("not a .txt file")
    documents = read_documents(f"lm:{folder}", tmp_path)
    assert documents.train == ("in a", "in b\n\nstill one document")


def test_the_default_corpus_is_imdb_reviews_read_once_then_cached(tmp_path, monkeypatch):
    fixtures.write_imdb_archive(tmp_path / "data", tmp_path / "scratch")
    documents = read_documents("lm", tmp_path / "data")
    assert len(documents.train) == 24 and len(documents.test) == 12
    assert documents.train[0].startswith(fixtures.IMDB_WORDS["neg"])
    assert all("<br />" not in text for text in documents.train + documents.test)
    assert list((tmp_path / "cache").glob("documents-imdb-*.pt"))

    def no_second_read(*args):
        raise AssertionError("the archive was read again")

    monkeypatch.setattr("dals_tune.workloads.corpus.read_corpus", no_second_read)
    assert read_documents("lm", tmp_path / "data") == documents


def test_reading_errors_are_one_line_and_say_what_to_do(tmp_path):
    cases = [
        (f"lm:{tmp_path / 'missing.txt'}", DatasetNotFoundError, "no file or folder"),
        ("lm", DatasetNotFoundError, "default corpus is IMDb"),
        ("lm:", ValueError, "unknown language-model source"),
    ]
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "a.md").write_text("text")
    cases.append((f"lm:{tmp_path / 'none'}", DatasetNotFoundError, "holds no .txt files"))
    (tmp_path / "blank.txt").write_text("\n \n\n")
    cases.append((f"lm:{tmp_path / 'blank.txt'}", DatasetUnreadableError, "holds no text"))
    (tmp_path / "utf16.txt").write_text("some text", encoding="utf-16")
    cases.append((f"lm:{tmp_path / 'utf16.txt'}", DatasetUnreadableError, "NUL bytes"))
    for source, error, message in cases:
        with pytest.raises(error, match=message) as caught:
            read_documents(source, tmp_path / "no_data")
        assert "\n" not in str(caught.value)


# --- splitting --------------------------------------------------------------------------


def test_the_split_is_by_document_seeded_and_disjoint():
    documents = corpus(100)
    first = split_documents(documents, seed=3)
    assert first == split_documents(documents, seed=3)
    assert first.train != split_documents(documents, seed=4).train
    assert (len(first.train), len(first.val), len(first.test)) == (80, 10, 10)
    parts = [set(first.train), set(first.val), set(first.test)]
    assert sum(map(len, parts)) == 100 and set.union(*parts) == set(documents.train)


def test_subset_and_eval_subset_count_documents_and_leave_validation_alone():
    documents = corpus(100)
    whole = split_documents(documents, seed=0)
    capped = split_documents(documents, seed=0, subset=7, eval_subset=4)
    assert (len(capped.train), len(capped.val), len(capped.test)) == (7, 4, 4)
    assert set(capped.train) <= set(whole.train) and set(capped.test) <= set(whole.test)
    assert split_documents(documents, seed=0, subset=7).val == whole.val
    assert capped.details["full_train_documents"] == 80
    assert split_documents(documents, seed=0, subset=1000).train == whole.train


def test_a_corpus_with_its_own_test_split_keeps_it():
    documents = Documents("fixture", tuple(f"train {i}" for i in range(20)), ("t0", "t1", "t2"))
    split = split_documents(documents, seed=0, eval_subset=2)
    assert (len(split.train), len(split.val)) == (18, 2)
    assert len(split.test) == 2 and set(split.test) <= {"t0", "t1", "t2"}
    assert split.details["test_fraction"] is None


def test_split_errors():
    with pytest.raises(ValueError, match="too few documents"):
        split_documents(corpus(2), seed=0)
    with pytest.raises(ValueError, match="subset must be a positive"):
        split_documents(corpus(10), seed=0, subset=0)
    with pytest.raises(ValueError, match="val_fraction must lie between"):
        split_documents(corpus(10), seed=0, val_fraction=1.5)


# --- windows ----------------------------------------------------------------------------


def test_windows_are_utf8_bytes_shifted_by_one_and_the_tail_is_dropped():
    inputs, targets = token_windows(["ab", "é"], context=2)
    stream = [*b"ab", SEPARATOR, *"é".encode()]  # 5 bytes: a b 0 0xC3 0xA9
    assert inputs.dtype == targets.dtype == torch.long
    assert inputs.tolist() == [stream[0:2]] and targets.tolist() == [stream[1:3]]
    inputs, targets = token_windows(["x" * 20], context=4)
    assert inputs.shape == targets.shape == (4, 4)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])


def test_a_split_too_small_for_one_window_is_named():
    with pytest.raises(ValueError, match="validation split holds 3 bytes"):
        token_windows(["abc"], context=8, split="validation")


# --- the GPT ----------------------------------------------------------------------------


def test_gpt_output_shape_and_tied_head():
    model = GPT(GPTConfig(context=16, width=32, blocks=2, heads=2))
    assert model(torch.randint(0, 256, (3, 16))).shape == (3, 16, 256)
    assert model.head.weight is model.token_embedding.weight
    assert sum(p is model.token_embedding.weight for p in model.parameters()) == 1
    with pytest.raises(ValueError, match="longer than the GPT's context"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_gpt_runs_under_bf16_autocast_on_cpu():
    model = GPT(GPTConfig(context=8, width=32, blocks=1, heads=2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(torch.randint(0, 256, (2, 8)))
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


def test_gpt_learns_a_repetitive_corpus():
    """60 steps take the loss from ln 256 (uniform) to below the text's byte entropy: the
    model predicts from the context, not from byte frequencies alone."""
    torch.manual_seed(0)
    text = "the cat sat on the mat. "
    inputs, targets = token_windows([text] * 40, context=32)
    model = GPT(GPTConfig(context=32, width=64, blocks=2, heads=4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = F.cross_entropy(model(inputs).reshape(-1, 256), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    frequencies = [text.count(byte) / len(text) for byte in set(text)]
    byte_entropy = -sum(f * math.log(f) for f in frequencies)  # 2.14 nats
    assert abs(losses[0] - math.log(256)) < 0.1
    assert losses[-1] < byte_entropy - 0.25 < 0.4 * math.log(256)
