"""Furthest point sampling and ball query with PointNet++ semantics, batched.

Two backends give the same indices, index for index:

- ``open3d``: ``open3d.ml.torch.ops`` (TBB-parallel CPU kernels shipped with ``open3d-cpu``); CPU tensors only.
- ``torch``: a vectorised pure-torch version (any device, used on CUDA and in tests).

``backend="auto"`` takes Open3D for CPU tensors when it imports, torch otherwise.

Semantics (those of Open3D's CPU kernels, themselves those of the PointNet++ CUDA kernels):

- FPS starts at index 0; each next pick is the point whose squared distance to the picked set is largest (first
  such index on ties). Squared distances are ``dx*dx + dy*dy + dz*dz`` in float32, summed in that order.
- Ball query keeps, for each centre, the first ``k`` point indices in index order with squared distance
  *strictly* below ``radius**2`` (radius rounded to float32 first, then squared in float32), pads the rest with
  the first index found, and returns all zeros for a centre with no point in its ball.

Both functions return int64 indices and never carry gradients.
"""

from __future__ import annotations

from typing import get_args

import torch

from crossvideo_kedro._open3d import ml_ops
from crossvideo_kedro.configs.model import NeighborBackend

NEIGHBOR_BACKENDS: tuple[str, ...] = get_args(NeighborBackend)

# "auto" FPS on CPU: Open3D's kernel pays a per-cloud cost, so for many small clouds and few picks the vectorised
# torch loop (one step per pick) wins (measured on 2 cores: 256 clouds x 256 points -> 64: Open3D 51 ms, torch 15 ms;
# 16 x 2048 -> 64: 6.5 vs 16 ms; ingest's 32 x 1024 -> 256: 28 vs 38 ms).
_FPS_TORCH_MAX_POINTS = 1024
_FPS_TORCH_MAX_PICKS = 128

# Largest number of (centre, point) pairs the torch ball query materialises at once (float32: 4 bytes each).
_BALL_QUERY_CHUNK = 1 << 24


def _resolve_backend(backend: str, *tensors: torch.Tensor) -> str:
    """Pick the concrete backend ("open3d" or "torch") for these tensors, or raise a clear error."""
    if backend not in NEIGHBOR_BACKENDS:
        raise ValueError(f"backend must be one of {NEIGHBOR_BACKENDS}, got {backend!r}")
    on_cpu = all(t.device.type == "cpu" for t in tensors)
    if backend == "auto":
        return "open3d" if on_cpu and ml_ops() is not None else "torch"
    if backend == "open3d":
        if ml_ops() is None:
            raise ValueError("backend='open3d' requested but open3d.ml.torch.ops does not import; use 'torch'")
        if not on_cpu:
            raise ValueError("backend='open3d' runs on CPU tensors only (open3d-cpu); use 'torch' or 'auto'")
    return backend


def _check_xyz(name: str, xyz: torch.Tensor) -> None:
    if xyz.dim() != 3 or xyz.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (B, N, 3), got {tuple(xyz.shape)}")


# ---------------------------------------------------------------------------------------------------------------
# Furthest point sampling
# ---------------------------------------------------------------------------------------------------------------


def _fps_torch(xyz: torch.Tensor, m: int) -> torch.Tensor:
    """Iterative FPS over ``m`` picks, vectorised over batch and points. (B, N, 3) float32 -> (B, m) int64."""
    B, N, _ = xyz.shape
    idx = torch.zeros(B, m, dtype=torch.long, device=xyz.device)  # (B, m), first pick is index 0
    min_d2 = torch.full((B, N), float("inf"), dtype=xyz.dtype, device=xyz.device)  # (B, N)
    last = torch.zeros(B, 1, dtype=torch.long, device=xyz.device)  # (B, 1)
    x, y, z = (v.contiguous() for v in xyz.unbind(-1))  # 3 x (B, N)
    for j in range(1, m):
        dx = x - x.gather(1, last)  # (B, N)
        dy = y - y.gather(1, last)
        dz = z - z.gather(1, last)
        min_d2 = torch.minimum(min_d2, dx * dx + dy * dy + dz * dz)  # (B, N), summed in the kernel's order
        last = min_d2.argmax(dim=1, keepdim=True)  # (B, 1), first index among equal maxima
        idx[:, j] = last[:, 0]
    return idx


@torch.compiler.disable  # index computation (no gradients) and Open3D kernels: never traced by torch.compile
def furthest_point_sample(xyz: torch.Tensor, m: int, backend: NeighborBackend = "auto") -> torch.Tensor:
    """Pick ``m`` mutually far points per batch element, starting from index 0.

    Args:
        xyz: point coordinates.
        m: number of points to pick (may exceed N; then some picks repeat).
        backend: "auto" (torch for clouds of at most 1024 points and at most 128 picks, else Open3D on CPU),
            "open3d" or "torch";
            both give the same indices (tested), so the choice only changes speed.

    Returns:
        Indices into the N points, in pick order.

    Shape:
        xyz: (B, N, 3). Returns int64 (B, m).
    """
    _check_xyz("xyz", xyz)
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    if xyz.shape[1] < 1:
        raise ValueError("xyz must hold at least one point per batch element")
    auto_small = backend == "auto" and xyz.shape[1] <= _FPS_TORCH_MAX_POINTS and m <= _FPS_TORCH_MAX_PICKS
    backend = "torch" if auto_small else _resolve_backend(backend, xyz)
    xyz = xyz.detach().float().contiguous()
    if backend == "open3d":
        return _covered_picks_to_first(xyz, ml_ops().furthest_point_sampling(xyz, m).long())
    return _fps_torch(xyz, m)


def _lowest_copy(xyz: torch.Tensor) -> torch.Tensor:
    """For each point, the lowest index holding the same coordinates. (B, N, 3) -> (B, N) int64.

    A stable lexicographic sort (z, then y, then x) puts copies side by side in index order, so the first of each
    run of equal rows is the lowest copy; batched along dim 1, no Python loop over points.
    """
    B, N, _ = xyz.shape
    order = torch.arange(N, device=xyz.device).expand(B, N)  # (B, N)
    for c in (2, 1, 0):
        order = order.gather(1, xyz[..., c].gather(1, order).argsort(dim=1, stable=True))
    rows = xyz.gather(1, order[..., None].expand(B, N, 3))  # (B, N, 3) sorted rows
    starts = torch.ones(B, N, dtype=torch.bool, device=xyz.device)
    starts[:, 1:] = (rows[:, 1:] != rows[:, :-1]).any(-1)  # a run of equal rows begins
    run_start = torch.where(starts, torch.arange(N, device=xyz.device), 0).cummax(dim=1).values  # (B, N)
    return torch.empty_like(order).scatter_(1, order, order.gather(1, run_start))


def _covered_picks_to_first(xyz: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Make Open3D's pick order the torch backend's where the two may break ties differently.

    Among equally far points torch's argmax takes the lowest index; Open3D's TBB-parallel reduction takes whichever
    thread wins (seen on a CI machine: ``[0, 2, 3, 1, 4, 2, 0, ...]`` against ``[0, 2, 3, 1, 4, 0, 0, ...]``). Two
    such ties are common: copies of one point (a pick becomes the lowest index holding its coordinates) and the
    picks made once every point coincides with a pick (m > N, or duplicates): all distances are 0 from the first
    repeated point on (FPS distances never increase), and torch then picks index 0 every time.

    Shape:
        xyz: (B, N, 3) float32; idx: (B, m) int64 pick order. Returns (B, m) int64.
    """
    B, N, _ = xyz.shape
    m = idx.shape[1]
    canon = _lowest_copy(xyz).gather(1, idx)  # (B, m)
    pos = torch.arange(m, device=xyz.device).expand(B, m)  # (B, m) pick position
    first = torch.full((B, N), m, dtype=torch.long, device=xyz.device).scatter_reduce(1, canon, pos, reduce="amin")
    repeat = first.gather(1, canon) < pos  # (B, m) the point was picked before: distance 0
    return canon.masked_fill(repeat.cumsum(1) > 0, 0)


# ---------------------------------------------------------------------------------------------------------------
# Ball query
# ---------------------------------------------------------------------------------------------------------------


def _first_k_inside(inside: torch.Tensor, k: int) -> torch.Tensor:
    """First ``k`` True positions of each row in index order, padded PointNet++-style. (..., N) bool -> (..., k).

    The j-th True position is the first index where the running count of Trues reaches j, found by a binary
    search in the (non-decreasing) running count; a missing one comes back as N and is replaced by the first.
    """
    N = inside.shape[-1]
    count = inside.cumsum(-1, dtype=torch.int32)  # (..., N), non-decreasing
    target = torch.arange(1, k + 1, dtype=torch.int32, device=inside.device).expand(*inside.shape[:-1], k)
    idx = torch.searchsorted(count, target.contiguous())  # (..., k) int64, N where fewer than j are inside
    first = idx[..., :1].masked_fill(idx[..., :1] == N, 0)  # (..., 1), 0 for an empty ball
    return torch.where(idx == N, first, idx)


def _ball_query_torch(xyz: torch.Tensor, centers: torch.Tensor, radius: float, k: int) -> torch.Tensor:
    """Pure-torch ball query on float32 tensors, chunked over centres to bound memory."""
    B, N, _ = xyz.shape
    M = centers.shape[1]
    r = torch.tensor(radius, dtype=torch.float32)
    r2 = (r * r).item()  # float32 radius squared in float32, as the Open3D kernel does
    chunk = max(1, _BALL_QUERY_CHUNK // max(1, B * N))
    parts = []
    x, y, z = (v[:, None, :] for v in xyz.unbind(-1))  # 3 x (B, 1, N)
    for start in range(0, M, chunk):
        cx, cy, cz = (v[:, :, None] for v in centers[:, start : start + chunk].unbind(-1))  # 3 x (B, m, 1)
        dx, dy, dz = x - cx, y - cy, z - cz  # 3 x (B, m, N), never a (B, m, N, 3) tensor
        d2 = dx * dx + dy * dy + dz * dz  # (B, m, N), summed in the kernel's order
        parts.append(_first_k_inside(d2 < r2, k))  # (B, m, k)
    return torch.cat(parts, dim=1)  # (B, M, k)


@torch.compiler.disable  # see furthest_point_sample
def ball_query(
    xyz: torch.Tensor,
    centers: torch.Tensor,
    radius: float,
    k: int,
    backend: NeighborBackend = "auto",
) -> torch.Tensor:
    """Indices of up to ``k`` points within ``radius`` (strictly) of each centre, PointNet++ semantics.

    Args:
        xyz: points to search.
        centers: query centres (one set per batch element, searched among that element's points).
        radius: ball radius, same units as the coordinates.
        k: neighbours per centre; missing ones repeat the first found index, empty balls give zeros.
        backend: "auto" (Open3D on CPU when available, else torch), "open3d" or "torch".

    Shape:
        xyz: (B, N, 3); centers: (B, M, 3). Returns int64 (B, M, k).
    """
    _check_xyz("xyz", xyz)
    _check_xyz("centers", centers)
    if xyz.shape[0] != centers.shape[0]:
        raise ValueError(f"xyz and centers must share the batch size, got {xyz.shape[0]} and {centers.shape[0]}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    backend = _resolve_backend(backend, xyz, centers)
    xyz = xyz.detach().float().contiguous()
    centers = centers.detach().float().contiguous()
    if backend == "open3d":
        return ml_ops().ball_query(xyz, centers, float(radius), k).long()
    return _ball_query_torch(xyz, centers, float(radius), k)


# ---------------------------------------------------------------------------------------------------------------
# k nearest neighbours within each cloud
# ---------------------------------------------------------------------------------------------------------------


@torch.compiler.disable  # see furthest_point_sample
def knn(xyz: torch.Tensor, k: int, backend: NeighborBackend = "auto") -> torch.Tensor:
    """Indices of the ``k`` nearest points of every point within its own cloud, nearest first (the point itself,
    at distance 0, is among them). Squared Euclidean distance in float32; the order among exactly equal distances
    is the backend's (Open3D's kd-tree search, or ``topk``), so compare neighbour *sets* at ties.

    Shape:
        xyz: (B, N, 3). Returns int64 (B, N, min(k, N)).
    """
    _check_xyz("xyz", xyz)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    B, N, _ = xyz.shape
    k = min(k, N)
    backend = _resolve_backend(backend, xyz)
    xyz = xyz.detach().float().contiguous()
    if backend == "open3d":
        flat = xyz.reshape(B * N, 3)
        splits = torch.arange(0, B * N + 1, N, dtype=torch.int64)
        found = ml_ops().knn_search(flat, flat, k, splits, splits, metric="L2", ignore_query_point=False,
                                    return_distances=False).neighbors_index  # (B*N*k,) global indices
        return (found.long().reshape(B, N, k) - (torch.arange(B) * N)[:, None, None])
    d = torch.cdist(xyz, xyz, compute_mode="donot_use_mm_for_euclid_dist")  # (B, N, N)
    return d.topk(k, dim=-1, largest=False).indices  # (B, N, k)
