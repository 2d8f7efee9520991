"""Feature propagation (PointNet++, Qi et al., NeurIPS 2017): anchor features back to every point of each frame."""

from __future__ import annotations

import torch
from torch import nn

from crossvideo_kedro.geometry.neighbors import knn
from crossvideo_kedro.models.heads import ChannelNorm
from crossvideo_kedro.models.point4d import linear_max_over_neighbors
from crossvideo_kedro.configs.model import DecoderConfig

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


def nearest_offsets(points: torch.Tensor, k: int) -> torch.Tensor:
    """Offsets from every point to its ``k`` nearest points of the same frame (itself first, offset 0).

    Shape:
        points: (B, T, N, 3). Returns (B, T, N, k, 3) (k is capped at N).
    """
    B, T, N, _ = points.shape
    flat = points.reshape(B * T, N, 3)
    idx = knn(flat, k)  # (B*T, N, k): Open3D's kd-tree on CPU, cdist + topk elsewhere
    rows = torch.arange(B * T, device=points.device)[:, None, None]
    return (flat[rows, idx] - flat[:, :, None]).reshape(B, T, N, -1, 3)


class LocalGeometry(nn.Module):
    """A point's own neighbourhood at full resolution (PointNet++ single-scale grouping): the offsets to its k
    nearest points, a shared MLP and a max over them. The anchors are too sparse (32 a frame) to show the shape of
    an object that holds a dozen of the frame's points; this branch does, from scratch, for every variant alike.

    Shape:
        points: (B, T, N, 3). Returns (B, T, N, dim).
    """

    def __init__(self, k: int, dim: int, norm: str) -> None:
        super().__init__()
        self.k = k
        self.fc1 = nn.Linear(3, dim // 2)
        self.fc2 = nn.Linear(dim // 2, dim, bias=False)
        self.norm = ChannelNorm(dim, norm)  # after the max (as P4Conv): a norm on 3-d offsets would drop their scale

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        offsets = nearest_offsets(points, self.k)  # (B, T, N, k, 3)
        h = torch.relu(self.fc1(offsets / _LOCAL_SCALE))  # (B, T, N, k, dim / 2)
        x = linear_max_over_neighbors(h, self.fc2.weight, _CHUNK_ROWS)  # (B, T, N, dim): P4Conv's fused kernel
        return torch.relu(self.norm(x))


_LOCAL_SCALE = 0.05  # metres: offsets between neighbours are centimetres; the MLP sees them at unit scale
_CHUNK_ROWS = 4096  # neighbour rows multiplied and max-reduced at a time (point.tube_chunk_rows' default)


class PointDecoder(nn.Module):
    """Interpolated anchor features ⊕ per-point xyz embedding (⊕ local geometry, ``local_k`` > 0) -> MLP ->
    per-point features.

    Shape:
        points: (B, T, N, 3); anchor_xyz: (B, T, A, 3); anchor_features: (B, T, A, in_dim). Returns (B, T, N, D).
    """

    def __init__(self, cfg: DecoderConfig, in_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.feature_dim = cfg.dim
        self.xyz_embed = nn.Sequential(nn.Linear(3, cfg.xyz_dim), nn.ReLU(inplace=True))
        self.local = LocalGeometry(cfg.local_k, cfg.local_dim, cfg.norm) if cfg.local_k > 0 else None
        local_dim = cfg.local_dim if self.local is not None else 0
        self.fc1 = nn.Linear(in_dim + cfg.xyz_dim + local_dim, cfg.hidden_dim, bias=False)
        self.norm = ChannelNorm(cfg.hidden_dim, cfg.norm)
        self.fc2 = nn.Linear(cfg.hidden_dim, cfg.dim)

    def forward(
        self, points: torch.Tensor, anchor_xyz: torch.Tensor, anchor_features: torch.Tensor
    ) -> torch.Tensor:
        x = interpolate_features(points, anchor_xyz, anchor_features, self.cfg.num_neighbors)  # (B, T, N, in_dim)
        parts = [x, self.xyz_embed(points)] + ([self.local(points)] if self.local is not None else [])
        x = torch.cat(parts, dim=-1)  # (B, T, N, in_dim + xyz_dim [+ local_dim])
        x = torch.relu(self.norm(self.fc1(x)))  # (B, T, N, hidden_dim)
        return self.fc2(x)  # (B, T, N, D)
