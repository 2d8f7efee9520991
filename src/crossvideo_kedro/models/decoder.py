"""Feature propagation (PointNet++, Qi et al., NeurIPS 2017): anchor features back to every point of each frame."""

from __future__ import annotations

import torch
from torch import nn

from crossvideo_kedro.models.heads import ChannelNorm
from crossvideo_kedro.models.presets import DecoderConfig

# Squared distance (m²) under which a point counts as sitting on an anchor and copies its feature exactly.
_COINCIDENT_D2 = 1e-12


def interpolate_features(
    points: torch.Tensor, anchor_xyz: torch.Tensor, anchor_features: torch.Tensor, num_neighbors: int = 3
) -> torch.Tensor:
    """Inverse-squared-distance weighted interpolation from the nearest anchors of the same frame.

    ``f(x) = Σ_i w_i f_i / Σ_i w_i`` with ``w_i = 1 / d(x, a_i)²`` over the ``num_neighbors`` nearest anchors
    ``a_i``; a point on an anchor (d² < 1e-12) takes that anchor's feature exactly. Weights carry no gradient.

    Shape:
        points: (B, T, N, 3); anchor_xyz: (B, T, A, 3); anchor_features: (B, T, A, D). Returns (B, T, N, D).
    """
    B, T, N, _ = points.shape
    A, D = anchor_features.shape[2], anchor_features.shape[3]
    k = min(num_neighbors, A)
    with torch.no_grad():
        d = torch.cdist(points.reshape(B * T, N, 3).float(), anchor_xyz.reshape(B * T, A, 3).float(),
                        compute_mode="donot_use_mm_for_euclid_dist")  # (B*T, N, A)
        d2, idx = (d * d).topk(k, dim=-1, largest=False)  # (B*T, N, k), nearest first
        w = 1.0 / d2.clamp_min(_COINCIDENT_D2)  # (B*T, N, k)
        on_anchor = d2[..., :1] < _COINCIDENT_D2  # (B*T, N, 1)
        first = torch.zeros_like(w)
        first[..., 0] = 1.0
        w = torch.where(on_anchor, first, w / w.sum(-1, keepdim=True))  # (B*T, N, k)
        # dense (N, A) weights per frame: a bmm never materialises (N, k, D) gathered features
        weights = torch.zeros_like(d).scatter_(-1, idx, w).to(anchor_features.dtype)  # (B*T, N, A)
    out = torch.bmm(weights, anchor_features.reshape(B * T, A, D))  # (B*T, N, D)
    return out.reshape(B, T, N, D)


class PointDecoder(nn.Module):
    """Interpolated anchor features ⊕ per-point xyz embedding -> MLP -> per-point features.

    Shape:
        points: (B, T, N, 3); anchor_xyz: (B, T, A, 3); anchor_features: (B, T, A, in_dim). Returns (B, T, N, D).
    """

    def __init__(self, cfg: DecoderConfig, in_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.feature_dim = cfg.dim
        self.xyz_embed = nn.Sequential(nn.Linear(3, cfg.xyz_dim), nn.ReLU(inplace=True))
        self.fc1 = nn.Linear(in_dim + cfg.xyz_dim, cfg.hidden_dim, bias=False)
        self.norm = ChannelNorm(cfg.hidden_dim, cfg.norm)
        self.fc2 = nn.Linear(cfg.hidden_dim, cfg.dim)

    def forward(
        self, points: torch.Tensor, anchor_xyz: torch.Tensor, anchor_features: torch.Tensor
    ) -> torch.Tensor:
        x = interpolate_features(points, anchor_xyz, anchor_features, self.cfg.num_neighbors)  # (B, T, N, in_dim)
        x = torch.cat([x, self.xyz_embed(points)], dim=-1)  # (B, T, N, in_dim + xyz_dim)
        x = torch.relu(self.norm(self.fc1(x)))  # (B, T, N, hidden_dim)
        return self.fc2(x)  # (B, T, N, D)
