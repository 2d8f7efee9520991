"""Projection heads: features -> L2-normalised embeddings for the contrastive objectives (SimCLR / CrossPoint)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

from crossvideo_kedro.configs.model import Norm


class ChannelNorm(nn.Module):
    """BatchNorm or LayerNorm over the last dim of a (..., C) tensor (BatchNorm statistics over all leading dims)."""

    def __init__(self, channels: int, norm: Norm) -> None:
        super().__init__()
        if norm not in ("batch", "layer"):
            raise ValueError(f"norm must be 'batch' or 'layer', got {norm!r}")
        self.norm = nn.BatchNorm1d(channels) if norm == "batch" else nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.norm, nn.LayerNorm) or x.dim() == 2:
            return self.norm(x)
        return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)  # (..., C) -> (rows, C) -> (..., C)


class ProjectionHead(nn.Module):
    """Linear -> Norm -> ReLU -> Linear, then L2 normalisation: ``z = g(h) / ||g(h)||``.

    The embedding is normalised and returned in fp32 under any autocast: contrastive logits are cosines divided by
    a temperature (x10 for 0.1), so bf16's 3 significant digits on unit vectors would show in the loss.

    Shape:
        x: (B, D) or (B, T, D) (any leading dims). Returns (..., out_dim) with unit L2 norm along the last dim.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, norm: Literal["batch", "layer"] = "batch") -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim, bias=False)
        self.norm = ChannelNorm(hidden_dim, norm)
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with record_function("heads"):
            x = F.relu(self.norm(self.fc1(x)))  # (..., hidden_dim)
            return F.normalize(self.fc2(x).float(), dim=-1)  # (..., out_dim), fp32 even under bf16 autocast
