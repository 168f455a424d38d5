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
        embedding_dim: int = 8,
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.1,
    ):
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
    """The exported form: probability of delay, not logits."""

    def __init__(self, net: FlightDelayNet):
        super().__init__()
        self.net = net

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(categorical, numeric))
