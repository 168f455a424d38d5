"""The tabular model: category embeddings, normalised numerics and their piecewise-linear
encodings into an MLP.

Normalisation, bin edges and imputation are buffers inside the module, so the exported graph
carries its own preprocessing and a server feeds raw values (NaN for missing).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn


class PiecewiseLinear(nn.Module):
    """Piecewise-linear encoding of numerics (Gorishniy et al., 2022, "On Embeddings for
    Numerical Features in Tabular Deep Learning"): for a feature with bin edges
    b_0 < … < b_T, bin t reads clamp((x − b_{t−1}) / (b_t − b_{t−1}), 0, 1), so the MLP's
    first layer sees a learned piecewise-linear function of each numeric, not one slope.
    A missing value encodes as zeros (its indicator is the net's own input).

    The bins of every feature lie side by side: `column` names each bin's feature. The
    division is folded into a scale and a shift; the exported graph computes the same
    encoding as one matrix product (`FoldedBins`).
    """

    def __init__(self, edges: list[list[float]]):
        super().__init__()
        column, scale, shift = [], [], []
        for feature, bounds in enumerate(edges):
            for low, high in pairwise(bounds):
                column.append(feature)
                scale.append(1.0 / (high - low))
                shift.append(-low / (high - low))
        self.register_buffer("column", torch.tensor(column, dtype=torch.int64))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.register_buffer("shift", torch.tensor(shift, dtype=torch.float32))

    @property
    def width(self) -> int:
        return len(self.column)

    def forward(self, numeric: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        """[rows, bins] from raw numerics [rows, K] and their NaN mask; a missing value
        becomes −inf, which clips to 0 in every bin."""
        low = torch.where(missing, float("-inf"), numeric)
        return (low[:, self.column] * self.scale + self.shift).clamp(0.0, 1.0)


class FoldedBins(nn.Module):
    """`PiecewiseLinear` as one matrix product, for serving: the raw numerics times a
    [features, bins] matrix that holds each bin's scale in its feature's row and zeros
    elsewhere, then the shift and the clip. The arithmetic is the training encoding's (the
    zeros add nothing: onnxruntime's answers for 50,000 flights were the gather graph's to the
    bit), but onnxruntime runs a product in one kernel where the gather of a column per bin
    copies one value at a time: the whole graph costs two thirds as much (1.25 against 1.88 s
    of CPU per million rows, side by side, 2,048-row calls, one core, issue 14's net).

    A missing value enters as float32's lowest finite value, which clips to zeros in every
    bin as training's −inf does: an infinity would make the matrix's zeros NaN. An infinite
    input still does (every bin of its row NaN); it also reaches the first layer unbinned,
    so no graph ever gave it a meaningful probability, and the server and `sluice predict`
    refuse one.
    """

    def __init__(self, bins: PiecewiseLinear, features: int):
        super().__init__()
        select = torch.zeros(features, bins.width)
        select[bins.column, torch.arange(bins.width)] = bins.scale
        self.register_buffer("select", select)
        self.register_buffer("shift", bins.shift.clone())

    def forward(self, numeric: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        low = torch.where(missing, torch.finfo(numeric.dtype).min, numeric)
        return (low @ self.select + self.shift).clamp(0.0, 1.0)


class FlightDelayNet(nn.Module):
    def __init__(
        self,
        vocab_sizes: list[int],
        means: list[float],
        stds: list[float],
        edges: list[list[float]],
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
        self.bins = PiecewiseLinear(edges)
        width = embedding_dim * len(vocab_sizes) + 2 * len(means) + self.bins.width
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
        parts = [*embedded, scaled, missing.to(numeric.dtype)]
        features = torch.cat([*parts, self.bins(numeric, missing)], dim=1)
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
    """`DelayProbability` rearranged for serving: the same function in 14 kernels instead of
    27 (after onnxruntime's graph optimisation), because a served request is a row or a few,
    where each kernel's fixed cost, not its arithmetic, is the price of a model call.

    The embeddings become one table, read by one gather (each column's codes offset to its
    block), and the standardisation folds into the first linear layer: its weights divided
    by the std, its bias shifted by the mean, and a missing value imputed with the mean,
    which standardises to the 0 that training imputed. The layers after the first are the
    trained net's own. The piecewise-linear bins stay a stage of their own in front of the
    first layer, reading the raw values (a missing one as zeros) as in training, as one
    matrix product (`FoldedBins`). Its codes come from the vocabularies the export puts in
    front of it (`components.train.export`), so they are always in range and need no clamp.
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
        self.bins = FoldedBins(net.bins, len(net.mean)) if net.bins.width else None
        """None without bins (`bins=0`), whose empty buffers the ONNX exporter cannot type."""
        self.rest = net.mlp[1:]

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        rows = categorical + self.offsets
        missing = torch.isnan(numeric)
        bins = [] if self.bins is None else [self.bins(numeric, missing)]
        features = torch.cat(
            [
                self.table[rows].flatten(1),
                torch.where(missing, self.mean, numeric),
                missing.to(numeric.dtype),
                *bins,
            ],
            dim=1,
        )
        hidden = nn.functional.linear(features, self.weight, self.bias)
        return torch.sigmoid(self.rest(hidden).squeeze(-1))
