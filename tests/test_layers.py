"""Depth mapping (DESIGN §2) on an MLP, a ConvNet, a torchvision ResNet, a BERT model and
GPT-style decoders (nanoGPT's layout and our own)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dals_tune.layers import depth_of, depth_param_groups, layers_of


def test_depth_formula():
    assert [depth_of(i, 5) for i in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert depth_of(0, 1) == 0.5


def test_mlp_layers_skip_activations():
    model = nn.Sequential(
        nn.Linear(4, 8), nn.ReLU(), nn.Dropout(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)
    )
    layers = layers_of(model)
    assert [layer.name for layer in layers] == ["0", "3", "5"]
    assert [layer.depth for layer in layers] == [0.0, 0.5, 1.0]
    assert [layer.layers_above for layer in layers] == [2, 1, 0]
    assert layers[1].parameter_names == ("3.weight", "3.bias")


class SmallConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4, 10)


class Wrapped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))


def test_convnet_groups_top_level_children_and_wrappers_are_looked_through():
    assert [layer.name for layer in layers_of(SmallConvNet())] == ["features", "classifier"]
    layers = layers_of(Wrapped())
    assert [layer.name for layer in layers] == ["net.0", "net.2"]
    assert [layer.depth for layer in layers] == [0.0, 1.0]


def test_own_parameters_come_first():
    model = SmallConvNet()
    model.scale = nn.Parameter(torch.ones(1))
    layers = layers_of(model)
    assert layers[0].name == "(own parameters)" and layers[0].parameter_names == ("scale",)
    assert [layer.name for layer in layers[1:]] == ["features", "classifier"]


def test_torchvision_resnet18():
    from torchvision.models import resnet18

    layers = layers_of(resnet18(num_classes=10))
    assert [layer.name for layer in layers] == [
        "conv1",
        "bn1",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "fc",
    ]
    assert layers[-1].depth == 1.0 and layers[0].depth == 0.0


def test_bert_from_config_block_by_block():
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=3,
    )
    model = BertForSequenceClassification(config)
    layers = layers_of(model)
    assert [layer.name for layer in layers] == [
        "embeddings",
        "bert.encoder.layer.0",
        "bert.encoder.layer.1",
        "bert.encoder.layer.2",
        "head",
    ]
    assert all(n.startswith("bert.embeddings.") for n in layers[0].parameter_names)
    head = set(layers[-1].parameter_names)
    assert {"classifier.weight", "bert.pooler.dense.weight"} <= head
    assert [layer.depth for layer in layers] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert sum(len(layer.parameters) for layer in layers) == len(list(model.parameters()))


class NanoGPTLike(nn.Module):
    """nanoGPT's layout: a ModuleDict of embeddings, a ModuleList of blocks and a final norm,
    and an output head tied to the token embedding."""

    def __init__(self, blocks: int = 3, tied: bool = True) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(16, 8),
                "wpe": nn.Embedding(4, 8),
                "drop": nn.Dropout(0.0),
                "h": nn.ModuleList(
                    nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8)) for _ in range(blocks)
                ),
                "ln_f": nn.LayerNorm(8),
            }
        )
        self.lm_head = nn.Linear(8, 16, bias=False)
        if tied:
            self.lm_head.weight = self.transformer.wte.weight


def test_a_stack_of_blocks_is_one_layer_per_block_between_embeddings_and_head():
    layers = layers_of(NanoGPTLike())
    assert [layer.name for layer in layers] == [
        "embeddings",
        "transformer.h.0",
        "transformer.h.1",
        "transformer.h.2",
        "transformer.ln_f",
    ]
    assert [layer.depth for layer in layers] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert layers[0].parameter_names == ("transformer.wte.weight", "transformer.wpe.weight")
    assert layers[2].parameter_names[0].startswith("transformer.h.1.")
    untied = layers_of(NanoGPTLike(blocks=2, tied=False))
    assert [layer.name for layer in untied] == [
        "embeddings",
        "transformer.h.0",
        "transformer.h.1",
        "head",
    ]
    assert untied[-1].parameter_names[-1] == "lm_head.weight"


def test_our_gpt_embeddings_first_then_each_block_then_the_final_norm():
    from dals_tune.workloads.gpt import GPT, GPTConfig

    model = GPT(GPTConfig(blocks=3, width=16, heads=2, context=8))
    layers = layers_of(model)
    assert [layer.name for layer in layers] == [
        "embeddings",
        "blocks.0",
        "blocks.1",
        "blocks.2",
        "final_norm",
    ]
    assert layers[0].parameter_names == ("token_embedding.weight", "position_embedding.weight")
    assert sum(len(layer.parameters) for layer in layers) == len(list(model.parameters()))


def test_user_mapping_by_prefixes_and_by_callable():
    model = SmallConvNet()
    layers = layers_of(model, ["classifier", "features.2", "features"])  # order is the user's
    assert [layer.name for layer in layers] == ["classifier", "features.2", "features"]
    assert layers[1].parameter_names == ("features.2.weight", "features.2.bias")
    with pytest.raises(ValueError, match="classifier.weight"):
        layers_of(model, ["features"])
    by_kind = layers_of(model, lambda name: 1 if "classifier" in name else 0)
    assert [len(layer.parameters) for layer in by_kind] == [4, 2]


def test_param_groups_leave_frozen_parameters_out_and_keep_depths():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2))
    for p in model[0].parameters():
        p.requires_grad_(False)
    groups = depth_param_groups(model, weight_decay=0.1)
    assert [g["layer_name"] for g in groups] == ["1", "2"]
    assert [g["depth"] for g in groups] == [0.5, 1.0]
    assert all(g["weight_decay"] == 0.1 for g in groups)
