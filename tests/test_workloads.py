"""Workloads (DESIGN §6) on tiny copies of every dataset in its real on-disk format.

For every workload: it builds, its splits have the right sizes and share no example, a
batch goes forward and backward, the same seed gives the same data order and weights, and
an epoch's order depends only on (seed, epoch). Then the details that are easy to get
wrong: the synthetic rules, stratification, TREC's latin-1 byte, RTE's unquoted quotes,
CIFAR's three layouts, the crop-and-flip gather, the text batch trimming, and one-line
errors for a missing dataset or a bad CSV column.
"""

from __future__ import annotations

import os
from pathlib import Path

import dataset_fixtures as fixtures
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dals_tune.layers import layers_of
from dals_tune.workloads import DatasetNotFoundError, ModelNotFoundError, build_workload, hub
from dals_tune.workloads.cifar10 import CROP_PADDING, random_crop_and_flip
from dals_tune.workloads.splits import stratified_sample
from dals_tune.workloads.synthetic import generate_gauss10, generate_synthetic
from dals_tune.workloads.text_sources import read_rte_file, read_trec_file


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may touch the network, whatever the machine can reach."""
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "DALS_TUNE_OFFLINE"):
        monkeypatch.setenv(flag, "1")


@pytest.fixture(autouse=True)
def tiny_default_tokenizer(monkeypatch, roots):
    """The default text model (whose tokenizer ``textcnn`` reads) is the tiny BERT, so no
    test depends on the installed MiniLM."""
    monkeypatch.setattr(hub, "bundled_model_path", lambda: roots["bert"])


@pytest.fixture(scope="session")
def roots(tmp_path_factory) -> dict[str, Path]:
    """One data folder per layout, plus the tiny BERT and the CSVs."""
    base = tmp_path_factory.mktemp("workload_data")
    roots = {name: base / name for name in ("text", "imdb_archive", "batches", "tree", "archive")}
    fixtures.write_trec(roots["text"])
    fixtures.write_rte(roots["text"])
    fixtures.write_imdb_tree(roots["text"] / "imdb")
    fixtures.write_imdb_archive(roots["imdb_archive"], base / "scratch_imdb")
    fixtures.write_cifar_batches(roots["batches"])
    fixtures.write_cifar_tree(roots["tree"] / "cifar10")
    fixtures.write_cifar_archive(roots["archive"], base / "scratch_cifar")
    roots["bert"] = fixtures.write_tiny_bert(base / "tiny_bert")
    roots["numeric_csv"] = fixtures.write_numeric_csv(base / "animals.csv")
    roots["text_csv"] = fixtures.write_text_csv(base / "reviews.csv")
    return roots


# case → (config, (train, val, test) sizes)
CASES = {
    "synthetic": ({"workload": "synthetic"}, (18000, 2000, 2000)),
    "synthetic_gauss10": ({"workload": "synthetic_gauss10"}, (7200, 800, 2000)),
    "cifar10_batches": ({"workload": "cifar10", "data_dir": "batches"}, (90, 10, 30)),
    "cifar10_tree": ({"workload": "cifar10", "data_dir": "tree"}, (54, 6, 20)),
    "cifar10_archive": ({"workload": "cifar10", "data_dir": "archive"}, (54, 6, 20)),
    "cifar10_resnet18": (
        {"workload": "cifar10", "data_dir": "batches", "model": "resnet18"},
        (90, 10, 30),
    ),
    "trec6": ({"workload": "trec6", "data_dir": "text", "model": "bert"}, (54, 6, 24)),
    "trec6_scratch": (
        {"workload": "trec6", "data_dir": "text", "model": "bert", "regime": "scratch"},
        (54, 6, 24),
    ),
    "trec6_textcnn": ({"workload": "trec6", "data_dir": "text", "model": "textcnn"}, (54, 6, 24)),
    "rte": ({"workload": "rte", "data_dir": "text", "model": "bert"}, (36, 4, 12)),
    "imdb_tree": ({"workload": "imdb", "data_dir": "text", "model": "bert"}, (22, 2, 12)),
    "imdb_archive": (
        {"workload": "imdb", "data_dir": "imdb_archive", "model": "bert"},
        (22, 2, 12),
    ),
    "csv_numeric": ({"workload": "numeric_csv"}, (216, 24, 60)),
    "csv_text": (
        {"workload": "text_csv", "model": "bert", "label_column": "sentiment"},
        (43, 5, 12),
    ),
}


def resolve(case: str, roots: dict[str, Path], **overrides) -> dict:
    """The case's config with fixture names replaced by their paths."""
    device = os.environ.get("DALS_TUNE_TEST_DEVICE", "cpu")  # "cuda" checks device placement
    config = {"seed": 7, "device": device, "batch_size": 16, **CASES[case][0], **overrides}
    if config["workload"] in roots:
        config["workload"] = f"csv:{roots[config['workload']]}"
    for key in ("data_dir", "model"):
        if config.get(key) in roots:
            config[key] = str(roots[config[key]])
    return config


def rows(inputs) -> list[bytes]:
    """One byte string per example, to compare examples across splits."""
    tensor = inputs["input_ids"] if isinstance(inputs, dict) else inputs
    return [row.numpy().tobytes() for row in tensor.cpu().reshape(len(tensor), -1)]


def same_inputs(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)
    return torch.equal(a.cpu(), b.cpu())


@pytest.mark.parametrize("case", list(CASES))
def test_workload_builds_splits_trains_and_reproduces(case, roots):
    config = resolve(case, roots)
    workload = build_workload(config)
    train, val, test = CASES[case][1]
    assert (len(workload.train_split), len(workload.val_split), len(workload.test_split)) == (
        train,
        val,
        test,
    )
    train_rows, val_rows, test_rows = (
        set(rows(workload.split(name).inputs)) for name in ("train", "val", "test")
    )
    assert len(train_rows) == train and len(val_rows) == val and len(test_rows) == test
    assert not (train_rows & val_rows or train_rows & test_rows or val_rows & test_rows)

    model = workload.model
    model.train()
    inputs, labels = next(workload.train_batches(0))
    logits = workload.forward(model, inputs)
    assert logits.shape == (len(labels), workload.num_classes)
    F.cross_entropy(logits, labels).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)

    seen = sum(len(labels) for _, labels in workload.train_batches(1))
    assert seen in (train, train - 1)
    assert workload.steps_per_epoch == len(list(workload.train_batches(1)))

    evaluation = workload.evaluate(model, "val")
    loss, accuracy = evaluation["loss"], evaluation["acc"]
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    assert model.training  # evaluate restores the mode

    again = build_workload(config)
    for epoch in (0, 3):
        for (a_inputs, a_labels), (b_inputs, b_labels) in zip(
            workload.train_batches(epoch), again.train_batches(epoch)
        ):
            assert same_inputs(a_inputs, b_inputs) and torch.equal(a_labels, b_labels)
    fresh, reloaded = again.model.state_dict(), workload.new_model().state_dict()
    assert all(torch.equal(fresh[k], reloaded[k]) for k in fresh)

    description = workload.describe()
    assert description["train_size"] == train and description["workload"] == workload.id
    assert {"model", "source", "subset", "val_size", "test_size"} <= description.keys()


@pytest.mark.parametrize("case", ["synthetic", "cifar10_batches", "trec6"])
def test_epoch_order_depends_on_seed_and_epoch_only(case, roots):
    workload = build_workload(resolve(case, roots))
    first = [labels for _, labels in workload.train_batches(2)]
    for _ in workload.train_batches(0):  # consuming other epochs changes nothing
        pass
    resumed = [labels for _, labels in workload.train_batches(2)]
    assert all(torch.equal(a, b) for a, b in zip(first, resumed))
    other_epoch = torch.cat([labels for _, labels in workload.train_batches(3)])
    assert not torch.equal(torch.cat(first), other_epoch)
    other_seed = build_workload(resolve(case, roots, seed=8))
    assert not same_inputs(next(other_seed.train_batches(2))[0], next(workload.train_batches(2))[0])


def test_cifar_augmentation_is_seeded_and_changes_per_epoch(roots):
    """Each epoch crops and flips every training image anew (not the same transform in a new
    order), and the same seed gives the same transforms."""
    workload = build_workload(resolve("cifar10_batches", roots))

    def images_of_epoch(built, epoch: int) -> list[bytes]:
        return [row for inputs, _ in built.train_batches(epoch) for row in rows(inputs)]

    epoch_two, epoch_three = images_of_epoch(workload, 2), images_of_epoch(workload, 3)
    assert epoch_two == images_of_epoch(workload, 2)
    assert epoch_two == images_of_epoch(build_workload(resolve("cifar10_batches", roots)), 2)
    everything = torch.arange(len(workload.train_split))
    plain = set(rows(workload.make_batch(workload.train_split, everything, None)))
    # A crop and flip leaves an image as it was once in 162 draws; a few may repeat by chance.
    few = len(epoch_two) // 10
    assert len(plain & set(epoch_two)) <= few, "the training images are augmented"
    assert len(set(epoch_two) & set(epoch_three)) <= few, "and differently in each epoch"
    evaluation = workload.make_batch(workload.val_split, torch.arange(4), None)
    assert evaluation.dtype == torch.float32 and evaluation.shape == (4, 3, 32, 32)


def test_crop_and_flip_match_a_per_image_reference():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    out = random_crop_and_flip(images, torch.Generator().manual_seed(3))
    draws = torch.Generator().manual_seed(3)
    offsets = torch.randint(0, 2 * CROP_PADDING + 1, (6, 2), generator=draws)
    flips = torch.rand(6, generator=draws) < 0.5
    padded = F.pad(images, (CROP_PADDING,) * 4)
    for i in range(6):
        top, left = offsets[i].tolist()
        expected = padded[i, :, top : top + 32, left : left + 32]
        if flips[i]:
            expected = expected.flip(-1)
        assert torch.equal(out[i], expected)


def test_synthetic_matches_design():
    train, test = generate_synthetic(seed=0)
    x, y = train.inputs.numpy(), train.labels.numpy()
    assert x.shape == (20000, 20) and test.inputs.shape == (2000, 20)
    linear, curved = slice(0, 10000), slice(10000, 20000)
    assert np.array_equal(y[linear], x[linear, :5].sum(1) > 0)
    assert np.array_equal(y[curved], x[curved, 0] * x[curved, 1] + x[curved, 2] * x[curved, 3] > 0)
    assert abs(x[linear].std() - 1.0) < 0.02 and abs(x[curved].std() - 0.5) < 0.01
    t = test.inputs.numpy()
    assert np.array_equal(test.labels.numpy(), t[:, :5].sum(1) > 0)
    again, _ = generate_synthetic(seed=0)
    assert torch.equal(again.inputs, train.inputs)
    assert not torch.equal(generate_synthetic(seed=1)[0].inputs, train.inputs)


def test_gauss10_matches_design():
    train, test = generate_gauss10(seed=0)
    x = torch.cat([train.inputs, test.inputs]).numpy()
    y = torch.cat([train.labels, test.labels]).numpy()
    assert len(train) == 8000 and len(test) == 2000 and x.shape[1] == 64
    assert np.array_equal(y, x[:, :10].argmax(1))
    assert abs(x[:, 10:].std() - 0.1) < 0.005
    assert set(np.unique(y)) == set(range(10)) and np.bincount(y).min() > 0.08 * len(y)
    assert abs(x[:, :10].max(1).mean() - 3.0) < 0.5  # the component's mean 3 stands out


def test_model_layers_group_for_depth_mapping(roots):
    depths = {
        "synthetic": 4,  # four Linear layers
        "cifar10_batches": 5,  # conv1-3, fc1, fc2
        "trec6": 4,  # embeddings, 2 blocks, head
    }
    for case, expected in depths.items():
        assert len(layers_of(build_workload(resolve(case, roots)).model)) == expected
    textcnn = layers_of(build_workload(resolve("trec6_textcnn", roots)).model)
    assert [(layer.name, layer.depth) for layer in textcnn] == [
        ("embedding", 0.0),
        ("convolutions", 0.5),  # the parallel convs are one layer: none is deeper
        ("classifier", 1.0),
    ]
    assert len(textcnn[1].parameters) == 6  # weight and bias of the widths 3, 4 and 5


def test_subsets_are_stratified_and_seeded(roots):
    full = build_workload({"workload": "synthetic_gauss10", "seed": 1})
    small = build_workload(
        {"workload": "synthetic_gauss10", "seed": 1, "subset": 500, "eval_subset": 300}
    )
    assert (len(small.train_split), len(small.val_split), len(small.test_split)) == (500, 300, 300)
    for big, little in ((full.train_split, small.train_split), (full.test_split, small.test_split)):
        share = torch.bincount(big.labels, minlength=10) / len(big)
        assert (torch.bincount(little.labels, minlength=10) - share * len(little)).abs().max() <= 1
    assert set(rows(small.train_split.inputs)) <= set(rows(full.train_split.inputs))
    # the subset does not move the validation split
    assert set(rows(small.val_split.inputs)) <= set(rows(full.val_split.inputs))
    trec = build_workload(resolve("trec6", roots, subset=30, eval_subset=12))
    assert len(trec.train_split) == 30
    assert torch.bincount(trec.train_split.labels, minlength=6).tolist() == [5] * 6
    assert torch.bincount(trec.test_split.labels, minlength=6).tolist() == [2] * 6


def test_stratified_sample_keeps_shares_exactly():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    chosen = stratified_sample(labels, 10, np.random.default_rng(0))
    assert np.bincount(labels[chosen]).tolist() == [5, 3, 2]
    assert len(set(chosen)) == 10


def test_trec_is_read_as_latin1_with_coarse_labels(roots):
    dataset = read_trec_file(roots["text"] / "trec" / "train_5500.label")
    assert dataset[1]["text"] == "what is a sister\xf0city q399 ?"
    assert len(dataset) == 60 and sorted(set(dataset["label"])) == list(range(6))


def test_rte_keeps_literal_quotes(roots):
    dataset = read_rte_file(roots["text"] / "rte" / "train.tsv")
    assert dataset[0]["text"].startswith('the man said " hello "')
    assert dataset[0]["label"] == 0 and dataset[1]["label"] == 1 and len(dataset) == 40


def test_imdb_tree_and_archive_agree(roots):
    tree = build_workload(resolve("imdb_tree", roots))
    archive = build_workload(resolve("imdb_archive", roots))
    for name in ("train", "val", "test"):
        assert same_inputs(tree.split(name).inputs, archive.split(name).inputs)
        assert torch.equal(tree.split(name).labels, archive.split(name).labels)


def test_cifar_layouts_agree_and_pixels_survive(roots):
    tree = build_workload(resolve("cifar10_tree", roots))
    archive = build_workload(resolve("cifar10_archive", roots))
    for name in ("train", "val", "test"):
        assert same_inputs(tree.split(name).inputs, archive.split(name).inputs)
        assert torch.equal(tree.split(name).labels, archive.split(name).labels)
    assert tree.class_names == fixtures.CIFAR_CLASSES
    written = fixtures.write_cifar_batches(roots["batches"].parent / "copy")
    batches = build_workload(resolve("cifar10_batches", roots, eval_subset=None))
    pixels, labels = written["test"][0]
    test = batches.test_split
    assert same_inputs(test.inputs, torch.from_numpy(pixels).permute(0, 3, 1, 2))
    assert test.labels.tolist() == labels


def test_text_batches_are_trimmed_without_changing_logits(roots):
    workload = build_workload(resolve("trec6", roots))
    model = workload.model.eval()
    index = torch.arange(8)
    trimmed = workload.make_batch(workload.train_split, index, None)
    longest = int(workload.train_split.lengths[index].max())
    assert trimmed["input_ids"].shape == (8, longest)
    full = {k: v[index].long() for k, v in workload.train_split.inputs.items()}
    assert full["input_ids"].shape[1] == 64
    with torch.no_grad():
        assert torch.allclose(
            workload.forward(model, trimmed), workload.forward(model, full), atol=1e-5
        )


def test_max_length_cuts_the_text_and_reaches_the_trials(roots):
    from dals_tune.study.settings import SearchSettings

    short = build_workload(resolve("trec6", roots, max_length=8))
    assert short.train_split.inputs["input_ids"].shape[1] == 8
    assert int(short.train_split.lengths.max()) == 8  # the fixture has longer questions
    settings = SearchSettings(workload="trec6", max_length=8)
    assert settings.trial("finetune").to_config()["max_length"] == 8
    assert "max_length" not in SearchSettings(workload="trec6").trial("finetune").to_config()


def test_text_regimes_load_or_reinitialize_the_encoder(roots):
    from transformers import AutoModel

    pretrained = AutoModel.from_pretrained(roots["bert"]).embeddings.word_embeddings.weight
    finetune = build_workload(resolve("trec6", roots)).model
    scratch = build_workload(resolve("trec6_scratch", roots)).model
    assert same_inputs(finetune.bert.embeddings.word_embeddings.weight, pretrained)
    assert not same_inputs(scratch.bert.embeddings.word_embeddings.weight, pretrained)
    assert build_workload(resolve("trec6_scratch", roots)).regime == "scratch"


def test_textcnn_trains_from_scratch_on_the_encoders_token_cache(roots, monkeypatch):
    """``--model textcnn`` reads the default tokenizer's cached tokens (the same batches as
    the encoder's), defaults to the scratch regime and its loss falls."""
    from dals_tune.training import train
    from dals_tune.workloads import text_sources
    from dals_tune.workloads.text_convnet import TextCNN

    encoder = build_workload(resolve("trec6", roots))  # model "bert": the default's folder

    def unreadable(path):
        raise AssertionError("the encoder's cached tokens should have been used")

    monkeypatch.setattr(text_sources, "read_trec_file", unreadable)
    workload = build_workload(resolve("trec6_textcnn", roots))
    assert isinstance(workload.model, TextCNN) and workload.regime == "scratch"
    assert (workload.objective.target, encoder.objective.target) == (0.70, 0.90)  # own target
    assert same_inputs(workload.train_split.inputs, encoder.train_split.inputs)
    assert workload.describe()["model"].startswith("textcnn: 128-d embeddings")
    record = train(resolve("trec6_textcnn", roots, strategy="adamw", epochs=4, lr=3e-3))
    losses = [epoch["train_loss"] for epoch in record.epochs]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.7 * losses[0], losses


def test_textcnn_logits_ignore_padding_and_short_texts_have_windows(roots):
    workload = build_workload(resolve("trec6_textcnn", roots))
    model = workload.model.eval()
    index = torch.arange(8)
    trimmed = workload.make_batch(workload.train_split, index, None)
    full = {k: v[index].long() for k, v in workload.train_split.inputs.items()}
    assert trimmed["input_ids"].shape[1] < full["input_ids"].shape[1]
    with torch.no_grad():
        assert torch.allclose(model(**trimmed), model(**full), atol=1e-5)
        two_tokens = {k: v[:, :2] for k, v in trimmed.items()}  # shorter than width 5
        assert torch.isfinite(model(**two_tokens)).all()


def test_textcnn_refuses_to_fine_tune_before_loading_anything(roots, monkeypatch):
    from dals_tune.workloads import text_models

    def no_tokenizer(model):
        raise AssertionError("the regime should have been refused first")

    monkeypatch.setattr(text_models, "resolve_model", no_tokenizer)
    with pytest.raises(ValueError) as error:
        build_workload(resolve("trec6_textcnn", roots, regime="finetune"))
    assert str(error.value) == (
        "textcnn has no pretrained weights to fine-tune; use regime 'scratch', or a pretrained "
        "encoder (leave --model out for the default)"
    )


def test_train_command_with_textcnn(roots, capsys):
    from dals_tune.cli import main

    argv = ["train", "--workload", "trec6", "--model", "textcnn", "--strategy", "dals",
            "--epochs", "2", "--data-dir", str(roots["text"]), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    assert "test_acc_at_best_val=" in capsys.readouterr().out


def test_token_cache_is_reused(roots, monkeypatch):
    build_workload(resolve("rte", roots))
    assert list((roots["text"] / ".cache").glob("tokens-rte-*.pt"))
    from dals_tune.workloads import text_sources

    def unreadable(path):
        raise AssertionError("the cached tokens should have been used")

    monkeypatch.setattr(text_sources, "read_rte_file", unreadable)
    build_workload(resolve("rte", roots))


@pytest.mark.parametrize(
    "workload, expected",
    [
        ("trec6", "train_5500.label"),
        ("rte", "dev.tsv"),
        ("imdb", "aclImdb"),
        ("cifar10", "cifar-10-batches-py"),
    ],
)
def test_missing_dataset_says_what_to_put_where(workload, expected, tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        build_workload({"workload": workload, "data_dir": str(tmp_path)})
    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert expected in message and str(tmp_path) in message


def test_model_resolution_offline(monkeypatch, roots):
    assert hub.resolve_model(str(roots["bert"])) == str(roots["bert"])
    monkeypatch.setattr(hub, "bundled_model_path", lambda: None)
    with pytest.raises(ModelNotFoundError, match="nlp-offline"):
        hub.resolve_model(None)
    monkeypatch.setattr(hub, "bundled_model_path", lambda: Path("/bundled/minilm"))
    assert hub.resolve_model(None) == "/bundled/minilm"
    with pytest.raises(ModelNotFoundError) as error:
        build_workload(resolve("trec6", roots, model=str(roots["bert"].parent / "no_model")))
    assert len(str(error.value).splitlines()) == 1


def test_csv_errors_name_the_column_and_the_file(roots, tmp_path):
    with pytest.raises(ValueError) as error:
        build_workload(resolve("csv_numeric", roots, label_column="species"))
    message = str(error.value)
    assert "'species'" in message and "height, weight, speed, label" in message
    assert len(message.splitlines()) == 1
    with pytest.raises(DatasetNotFoundError, match="no file"):
        build_workload({"workload": f"csv:{tmp_path / 'missing.csv'}"})


def test_csv_numeric_features_are_standardized_with_train_statistics(roots):
    workload = build_workload(resolve("csv_numeric", roots))
    features = workload.train_split.inputs.cpu()
    assert torch.allclose(features.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(features.std(0, unbiased=False), torch.ones(3), atol=1e-4)
    assert torch.isfinite(workload.test_split.inputs).all()  # the gap was filled
    assert workload.class_names == ("bird", "cat", "dog")
    assert 0.5 < workload.objective.target < 1.0


def test_a_target_replaces_the_workloads_own_and_keeps_its_direction():
    own = build_workload({"workload": "synthetic", "subset": 200, "eval_subset": 100})
    chosen = build_workload({"workload": "synthetic", "subset": 200, "eval_subset": 100,
                             "target": "0.7"})  # fmt: skip
    assert own.objective.target == 0.85
    assert (chosen.objective.target, chosen.objective.mode) == (0.7, own.objective.mode)
    assert chosen.describe()["target"] == 0.7  # what a study's tags and reports read


@pytest.mark.parametrize(
    "config, message",
    [
        ({"workload": "synthetic", "regime": "finetune"}, "scratch"),
        ({"workload": "cifar10", "regime": "finetune"}, "scratch"),
        ({"workload": "synthetc"}, "did you mean 'synthetic'"),
        ({"workload": "synthetic", "subset": 0}, "subset"),
        ({"workload": "synthetic", "device": "tpu"}, "device"),
    ],
)
def test_bad_config_is_one_clear_line(config, message):
    with pytest.raises(ValueError, match=message) as error:
        build_workload(config)
    assert len(str(error.value).splitlines()) == 1


@pytest.mark.parametrize("case", list(CASES))
def test_each_workload_trains_two_epochs_end_to_end(case, roots):
    """The whole trial path (training.train) on every workload and on-disk layout."""
    from dals_tune.training import train

    config = resolve(case, roots, strategy="dals", epochs=2)
    if case.startswith("synthetic"):
        config |= {"subset": 1000, "eval_subset": 200}
    reports = []
    record = train(config, report=lambda metrics, folder: reports.append(metrics))
    assert record.status == "completed"
    assert [m["epoch"] for m in reports] == [1, 2]
    for metrics in reports:
        assert np.isfinite(metrics["train_loss"]) and np.isfinite(metrics["val_loss"])
        assert 0.0 <= metrics["val_acc"] <= 1.0 and 0.0 <= metrics["test_acc"] <= 1.0
        assert metrics["samples_per_second"] > 0
