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
    encoding as one matrix product (`FoldedBins`), but for a missing value, whose bins it
    takes back in the first layer.
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
    """`PiecewiseLinear` as one matrix product, for serving: the numerics times a
    [features, bins] matrix that holds each bin's scale in its feature's row and zeros
    elsewhere, then the shift and the clip. The arithmetic is the training encoding's (the
    zeros add nothing), but onnxruntime runs a product in one kernel where the gather of a
    column per bin copies one value at a time (the whole graph cost 1.25 against 1.88 s of
    CPU per million rows, side by side, 2,048-row calls, one core, issue 14's net).

    It reads the numerics with a missing value as 0, as the first layer does, so that one
    imputation serves both: a missing value's bins are then the bins of 0, not training's
    zeros, and `FoldedDelayProbability` takes their weight back through the
    missing value's indicator. An infinite input makes every bin of its row NaN (infinity
    times the matrix's zeros); it reaches the first layer unbinned too, so no graph ever gave
    it a meaningful probability, and the server and `sluice predict` refuse one.
    """

    def __init__(self, bins: PiecewiseLinear, features: int):
        super().__init__()
        select = torch.zeros(features, bins.width)
        select[bins.column, torch.arange(bins.width)] = bins.scale
        self.register_buffer("select", select)
        self.register_buffer("shift", bins.shift.clone())

    def forward(self, numeric: torch.Tensor) -> torch.Tensor:
        return (numeric @ self.select + self.shift).clamp(0.0, 1.0)


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
    """`DelayProbability` rearranged for serving: the same function in fewer kernels and
    fewer columns, because a served request is a row or a few, where each kernel's fixed
    cost is the price of a model call, and a batch is many, where the first layer's product
    and the columns copied in front of it are.

    The embeddings become one table, read by one gather (each column's codes offset to its
    block). A missing numeric is imputed once, with 0, for the first layer and the bins
    alike; its indicator's weights take back what that imputation adds: training's 0 after
    standardisation is the mean, not 0 (the standardisation folds into the first layer: its
    weights divided by the std, its bias shifted by the mean), and training's bins of a
    missing value are zeros, not the bins of 0 (`FoldedBins`). The first layer is two
    products into one sum, the bins' and the rest's, so that the bins are never copied into
    one wide input. The layers after the first are the trained net's own. The codes come
    from the vocabularies the export puts in front of it (`components.train.export`), so they
    are always in range and need no clamp.
    """

    def __init__(self, net: FlightDelayNet):
        super().__init__()
        tables = [embedding.weight.detach() for embedding in net.embeddings]
        sizes = torch.tensor([len(table) for table in tables])
        first: nn.Linear = net.mlp[0]
        weight, bias = first.weight.detach(), first.bias.detach()
        start = sum(table.shape[1] for table in tables)
        features = len(net.mean)
        scaled = weight[:, start : start + features] / net.std
        indicator = weight[:, start + features : start + 2 * features] + scaled * net.mean
        binned = weight[:, start + 2 * features :]
        self.bins = FoldedBins(net.bins, features) if net.bins.width else None
        """None without bins (`bins=0`), whose empty buffers the ONNX exporter cannot type."""
        if self.bins is not None:
            at_zero = binned * net.bins.shift.clamp(0.0, 1.0)  # each bin's weight × its value at 0
            of_feature = nn.functional.one_hot(net.bins.column, features).float()
            indicator = indicator - at_zero @ of_feature
            self.register_buffer("binned", binned.contiguous())
        self.register_buffer("table", torch.cat(tables))
        self.register_buffer("offsets", (torch.cumsum(sizes, 0) - sizes).unsqueeze(0))
        self.register_buffer("weight", torch.cat([weight[:, :start], scaled, indicator], 1))
        self.register_buffer("bias", bias - scaled @ net.mean)
        self.rest = net.mlp[1:]

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        missing = torch.isnan(numeric)
        imputed = torch.where(missing, torch.zeros((), dtype=numeric.dtype), numeric)
        indicators = missing.to(numeric.dtype)
        columns = [self.table[categorical + self.offsets].flatten(1), imputed, indicators]
        hidden = nn.functional.linear(torch.cat(columns, dim=1), self.weight, self.bias)
        if self.bins is not None:
            hidden = hidden + nn.functional.linear(self.bins(imputed), self.binned)
        return torch.sigmoid(self.rest(hidden).squeeze(-1))
