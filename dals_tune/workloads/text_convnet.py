"""A small text classifier trained from scratch: Kim's (2014) TextCNN over WordPiece tokens.

For from-scratch studies on CPUs, where even a six-block encoder takes minutes an epoch.
It reads the same batches as the encoders (``input_ids``, ``attention_mask`` and, for BERT
tokenizers, ``token_type_ids`` as keywords), so the text workloads' token cache serves both.

    e_t = E[x_t] · m_t                                  (embedding, padding zeroed)
    c_{k,t} = ReLU(W_k * e_{t-k+1 … t} + b_k)           (a 1-D conv of width k, per filter)
    h_k = max over windows t holding a real token of c_{k,t}
    logits = V · dropout([h_3; h_4; h_5]) + c

Each conv is padded by k − 1 on both sides, so a sequence shorter than the widest filter
still has windows, and the max runs only over windows that hold at least one token (the
mask, max-pooled with the filter's width): a batch cut to a longer example gives the same
logits. ``token_type_ids`` are read but not used: the ``[SEP]`` token already marks where a
pair's second text starts.

Three weight-bearing children in input-to-output order, so :mod:`dals_tune.layers` groups
them as embedding (depth 0) → convolutions (0.5) → classifier (1): the parallel convs are
one layer, since none of them sits deeper than another.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

EMBEDDING_DIM = 128
FILTERS = 100  # per width
WIDTHS = (3, 4, 5)
DROPOUT = 0.5
# Near Kim's U(-0.25, 0.25) (std 0.14). On TREC-6, 3 AdamW epochs: std 0.1 → validation
# 0.728; torch's N(0, 1) and std 0.5 → 0.716 (docs/workloads.md).
EMBEDDING_STD = 0.1
TEXTCNN_DESCRIPTION = (
    f"textcnn: {EMBEDDING_DIM}-d embeddings, {len(WIDTHS)}×{FILTERS} filters of widths "
    + "/".join(map(str, WIDTHS))
)


class TextCNN(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        padding_index: int = 0,
        embedding_dim: int = EMBEDDING_DIM,
        filters: int = FILTERS,
        widths: Sequence[int] = WIDTHS,
        dropout: float = DROPOUT,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_index)
        nn.init.normal_(self.embedding.weight, std=EMBEDDING_STD)
        with torch.no_grad():
            self.embedding.weight[padding_index].zero_()
        self.convolutions = ParallelConvolutions(embedding_dim, filters, widths)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(filters * len(widths), num_classes)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        embedded = self.embedding(input_ids) * mask.unsqueeze(-1).to(self.embedding.weight.dtype)
        features = self.convolutions(embedded.transpose(1, 2), mask)
        return self.classifier(self.dropout(features))


class ParallelConvolutions(nn.Module):
    """Convs of several widths side by side, each max-pooled over the windows that hold a
    token; their pooled features concatenated, ``(batch, filters · len(widths))``."""

    def __init__(self, channels: int, filters: int, widths: Sequence[int]) -> None:
        super().__init__()
        if not widths:
            raise ValueError("a TextCNN needs at least one filter width")
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, filters, width, padding=width - 1) for width in widths
        )

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``embedded`` is ``(batch, channels, length)``, ``mask`` ``(batch, length)``."""
        pooled = []
        for conv in self.convs:
            activations = F.relu(conv(embedded))
            windows = window_mask(mask, conv.kernel_size[0])
            pooled.append(activations.masked_fill(~windows.unsqueeze(1), -torch.inf).amax(-1))
        return torch.cat(pooled, dim=1)


def window_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Which of the ``length + width − 1`` windows of a conv padded by ``width − 1`` hold at
    least one real token: the mask, zero-padded and max-pooled with the conv's width."""
    padded = F.pad(mask.unsqueeze(1).float(), (width - 1, width - 1))
    return F.max_pool1d(padded, width, stride=1).squeeze(1) > 0
