"""The tabular model: category embeddings and normalised numerics into an MLP.

Normalisation and imputation are buffers inside the module, so the exported graph carries
its own preprocessing and a server feeds raw values (NaN for missing).
"""

from __future__ import annotations

import torch
from torch import nn


class FlightDelayNet(nn.Module):
    def __init__(
        self,
        vocab_sizes: list[int],
        means: list[float],
        stds: list[float],
        embedding_dim: int,
        hidden: tuple[int, ...],
        dropout: float,
    ):
        """The shape comes from `TrainParams`, which holds its defaults."""
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(size + 1, embedding_dim)
            for size in vocab_sizes  # +1: unseen bucket
        )
        self.register_buffer("mean", torch.tensor(means, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(stds, dtype=torch.float32).clamp_min(1e-6))
        width = embedding_dim * len(vocab_sizes) + 2 * len(means)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        """Logits [rows] from int64 categories [rows, C] and raw float32 numerics [rows, K]."""
        missing = torch.isnan(numeric)
        scaled = torch.where(missing, torch.zeros_like(numeric), (numeric - self.mean) / self.std)
        embedded = [
            embedding(categorical[:, i].clamp(0, embedding.num_embeddings - 1))
            for i, embedding in enumerate(self.embeddings)
        ]
        features = torch.cat([*embedded, scaled, missing.to(numeric.dtype)], dim=1)
        return self.mlp(features).squeeze(-1)


class DelayProbability(nn.Module):
    """Probability of delay, not logits: what evaluation scores, and what the exported
    `FoldedDelayProbability` is held to."""

    def __init__(self, net: FlightDelayNet):
        super().__init__()
        self.net = net

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(categorical, numeric))


class FoldedDelayProbability(nn.Module):
    """`DelayProbability` rearranged for serving: the same function in 13 kernels instead of
    22 (after onnxruntime's graph optimisation), because a served request is a row or a few,
    where each kernel's fixed cost, not its arithmetic, is the price of a model call.

    The embeddings become one table, read by one gather (each column's codes offset to its
    block), and the standardisation folds into the first linear layer: its weights divided
    by the std, its bias shifted by the mean, and a missing value imputed with the mean,
    which standardises to the 0 that training imputed. The layers after the first are the
    trained net's own. Its codes come from the vocabularies the export puts in front of it
    (`components.train.export`), so they are always in range and need no clamp.
    """

    def __init__(self, net: FlightDelayNet):
        super().__init__()
        tables = [embedding.weight.detach() for embedding in net.embeddings]
        sizes = torch.tensor([len(table) for table in tables])
        first: nn.Linear = net.mlp[0]
        weight, bias = first.weight.detach(), first.bias.detach()
        start = sum(table.shape[1] for table in tables)
        end = start + len(net.mean)
        scaled = weight[:, start:end] / net.std
        self.register_buffer("table", torch.cat(tables))
        self.register_buffer("offsets", (torch.cumsum(sizes, 0) - sizes).unsqueeze(0))
        self.register_buffer("mean", net.mean.clone())
        self.register_buffer("weight", torch.cat([weight[:, :start], scaled, weight[:, end:]], 1))
        self.register_buffer("bias", bias - scaled @ net.mean)
        self.rest = net.mlp[1:]

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        rows = categorical + self.offsets
        missing = torch.isnan(numeric)
        features = torch.cat(
            [
                self.table[rows].flatten(1),
                torch.where(missing, self.mean, numeric),
                missing.to(numeric.dtype),
            ],
            dim=1,
        )
        hidden = nn.functional.linear(features, self.weight, self.bias)
        return torch.sigmoid(self.rest(hidden).squeeze(-1))
