"""The model of the ``lm`` workload: a small GPT-style decoder, shaped like nanoGPT.

Token and position embeddings, then pre-norm blocks ``x + attention(norm(x))`` and
``x + mlp(norm(x))`` (causal self-attention through ``scaled_dot_product_attention``, an MLP
4× wide with GELU), a final norm, and an output head that shares its weight with the token
embedding. The defaults (256 byte tokens, 128 wide, 4 blocks of 4 heads, 128 positions) make
about 0.8 M parameters: big enough that the layers differ in what they learn, small enough to
train an epoch on two CPU cores.

Its top-level children are laid out for the default depth mapping of
:mod:`dals_tune.layers` (rule 4): the two embeddings are layer 0, each block of the
``blocks`` stack is a layer, and the final norm is the last layer (the tied head owns no
parameter of its own).

Initialization follows GPT-2: weights normal with standard deviation 0.02, biases zero, and
the two projections that write into the residual stream (attention output, MLP output)
scaled by 1/√(2·blocks), so the residual's variance does not grow with depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

INIT_STD = 0.02


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 256
    context: int = 128
    width: int = 128
    blocks: int = 4
    heads: int = 4
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(
                f"GPT width {self.width} must be a multiple of heads {self.heads}; "
                "each head gets width / heads channels"
            )


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t sees positions ≤ t only."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.width, 3 * config.width)
        self.proj = nn.Linear(config.width, config.width)
        self.proj_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = (
            part.view(batch, length, self.heads, width // self.heads).transpose(1, 2)
            for part in self.qkv(x).split(width, dim=2)
        )
        attended = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        attended = attended.transpose(1, 2).reshape(batch, length, width)
        return self.proj_dropout(self.proj(attended))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.expand = nn.Linear(config.width, 4 * config.width)
        self.activation = nn.GELU()
        self.proj = nn.Linear(4 * config.width, config.width)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(self.activation(self.expand(x))))


class Block(nn.Module):
    """Pre-norm: each sublayer reads a normalized copy and adds to the residual stream."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.width)
        self.attention = CausalSelfAttention(config)
        self.mlp_norm = nn.LayerNorm(config.width)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    """``GPT(config)(tokens)``: token ids (batch, length ≤ context) → next-token logits
    (batch, length, vocab_size)."""

    def __init__(self, config: GPTConfig = GPTConfig()) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.width)
        self.position_embedding = nn.Embedding(config.context, config.width)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.blocks))
        self.final_norm = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, config.vocab_size, bias=False)
        # Weight sharing: reading a token and predicting it use the same vectors, which
        # saves vocab × width parameters and helps a small model (Press & Wolf, 2017).
        self.head.weight = self.token_embedding.weight
        self.apply(_init_weights)
        residual_std = INIT_STD / math.sqrt(2 * config.blocks)
        for block in self.blocks:
            nn.init.normal_(block.attention.proj.weight, std=residual_std)
            nn.init.normal_(block.mlp.proj.weight, std=residual_std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        if length > self.config.context:
            raise ValueError(
                f"a sequence of {length} tokens is longer than the GPT's context of "
                f"{self.config.context}; cut it or build the model with a longer context"
            )
        positions = torch.arange(length, device=tokens.device)
        x = self.dropout(self.token_embedding(tokens) + self.position_embedding(positions))
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x))


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=INIT_STD)
