"""Exactly N points per frame from a variable number of valid pixels, vectorised over frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from crossvideo_kedro.configs.ingest import SAMPLING_METHODS

SamplingMethod = Literal["fps", "random"]


def random_valid_indices(valid: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Pick ``m`` indices of valid entries per row, uniformly without replacement while enough exist.

    Rows with fewer than ``m`` valid entries repeat their valid indices cyclically (every valid point is kept).

    Shape:
        valid: bool (T, P) with at least one True per row. Returns int64 (T, m).
    """
    num_rows, num_cols = valid.shape
    scores = rng.random((num_rows, num_cols), dtype=np.float32)
    scores[~valid] = -1.0  # invalid entries sort last
    take = min(m, num_cols)
    if take < num_cols:
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take]  # (T, take), unordered
    else:
        top = np.argsort(-scores, axis=1, kind="stable")
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1), axis=1)
    count = np.minimum(valid.sum(axis=1), take)  # (T,) valid among the picks
    slot = np.arange(m)[None, :] % count[:, None]  # (T, m) cycles through the valid picks
    return np.take_along_axis(top, slot, axis=1)


def sample_fixed(
    points: np.ndarray | Callable[[np.ndarray], np.ndarray],
    valid: np.ndarray,
    num_points: int,
    method: SamplingMethod,
    rng: np.random.Generator,
    fps_pool: int = 4,
    plane: PlaneCap | None = None,
) -> np.ndarray:
    """Indices of exactly ``num_points`` valid points in every frame.

    ``random`` draws uniformly among valid points. ``fps`` first draws ``fps_pool · num_points`` valid candidates at
    random (bounding the cost on large depth maps), then runs farthest point sampling on them, batched over frames.
    With ``plane`` both methods draw from that candidate pool and give the dominant plane of each frame (the table
    of a tabletop scene, found by RANSAC) at most ``plane.share`` of the N points: the rest go to what is off the
    plane (hand, objects), so small objects keep their detail. A frame with too few off-plane candidates fills up
    with plane points (and the other way round); the picks are shuffled so no set comes first.

    Args:
        points: (T, P, 3) candidate xyz, or a function mapping candidate indices (T, M) to their xyz (T, M, 3) —
            so depth maps are back-projected only where FPS looks.
        valid: bool (T, P); every frame must have at least one valid point.
        num_points: N > 0.
        method: ``"fps"`` or ``"random"``.
        rng: NumPy generator (all randomness comes from it).
        fps_pool: Candidate pool size as a multiple of N for FPS (and for ``random`` with ``plane``).
        plane: cap on the dominant plane's share (None: no cap).

    Returns:
        int64 (T, N) indices into P.
    """
    if num_points <= 0:
        raise ValueError(f"num_points must be > 0, got {num_points}")
    if method not in SAMPLING_METHODS:
        raise ValueError(f"unknown sampling method {method!r}; expected one of {SAMPLING_METHODS}")
    if not valid.any(axis=1).all():
        raise ValueError("every frame needs at least one valid point")
    if method == "random" and plane is None:
        return random_valid_indices(valid, num_points, rng)
    pool = random_valid_indices(valid, max(num_points, fps_pool * num_points), rng)  # (T, M)
    candidates = points(pool) if callable(points) else np.take_along_axis(points, pool[..., None], axis=1)  # (T,M,3)
    if plane is None:
        return np.take_along_axis(pool, _fps(candidates, num_points), axis=1)  # (T, N)
    on_plane = dominant_plane(candidates, plane.threshold, plane.iterations, rng)  # (T, M)
    picked = _capped_picks(candidates, on_plane, num_points, plane.share, method, rng)  # (T, N) into M
    return np.take_along_axis(pool, picked, axis=1)  # (T, N)


@dataclass(frozen=True)
class PlaneCap:
    """How much of a frame the dominant plane may take (``ingest.plane_share`` / ``plane_threshold`` /
    ``plane_iterations``; their defaults live in ``IngestConfig`` only, ``preprocess.plane_cap()`` builds this).

    Attributes:
        share: at most this fraction of the N points lies on the plane, in [0, 1].
        threshold: metres; a candidate within this distance of the plane is on it (depth noise + table texture).
        iterations: RANSAC hypotheses per frame (3 random candidates each).
    """

    share: float
    threshold: float
    iterations: int


def _fps(candidates: np.ndarray, m: int) -> np.ndarray:
    """int64 (T, m) FPS pick order into the M candidates (T, M, 3); picks repeat where M < m."""
    from crossvideo_kedro.geometry.neighbors import furthest_point_sample  # noqa: PLC0415 - loads Open3D only when used

    xyz = torch.from_numpy(np.ascontiguousarray(candidates, dtype=np.float32))
    return furthest_point_sample(xyz, m).numpy().astype(np.int64)


def dominant_plane(xyz: np.ndarray, threshold: float, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """RANSAC, vectorised over frames: the inliers of each frame's best-supported plane.

    Each of ``iterations`` hypotheses is the plane through 3 random points of the frame; the one with the most points
    within ``threshold`` wins (degenerate triples never do).

    Shape:
        xyz: (T, M, 3) metres. Returns bool (T, M).
    """
    T, M, _ = xyz.shape
    xyz = np.asarray(xyz, dtype=np.float32)
    triples = xyz[np.arange(T)[:, None, None], rng.integers(0, M, size=(T, iterations, 3))]  # (T, H, 3, 3)
    normal = np.cross(triples[:, :, 1] - triples[:, :, 0], triples[:, :, 2] - triples[:, :, 0])  # (T, H, 3)
    length = np.linalg.norm(normal, axis=-1, keepdims=True)  # (T, H, 1)
    normal = normal / np.maximum(length, 1e-12)
    offset = -(normal * triples[:, :, 0]).sum(-1)  # (T, H)
    dist = np.abs(np.einsum("thc,tmc->thm", normal, xyz) + offset[..., None])  # (T, H, M)
    support = (dist < threshold).sum(-1)  # (T, H)
    support[length[..., 0] < 1e-9] = -1  # collinear or repeated points define no plane
    best = support.argmax(axis=1)  # (T,)
    return dist[np.arange(T), best] < threshold  # (T, M)


def _capped_picks(candidates: np.ndarray, on_plane: np.ndarray, n: int, share: float, method: SamplingMethod,
                  rng: np.random.Generator) -> np.ndarray:
    """N picks per frame, at most ``share`` of them on the plane where the frame has enough other candidates.

    Shape:
        candidates: (T, M, 3); on_plane: bool (T, M). Returns int64 (T, N) indices into M.
    """
    T = len(candidates)
    on_count = on_plane.sum(axis=1)  # (T,)
    off_count = on_plane.shape[1] - on_count
    target_off = n - int(round(share * n))
    k_off = np.minimum(off_count, np.maximum(target_off, n - on_count))  # (T,) off-plane picks
    k_on = n - k_off  # (T,)
    parts = []
    for mask, k in ((~on_plane, k_off), (on_plane, k_on)):
        picks = np.zeros((T, max(int(k.max()), 1)), dtype=np.int64)
        if k.max() > 0:
            members = _members_first(mask)  # (T, M): the set's candidates first, cycled
            sub = np.take_along_axis(candidates, members[..., None], axis=1)  # (T, M, 3)
            order = _fps(sub, picks.shape[1]) if method == "fps" else \
                random_valid_indices(np.arange(mask.shape[1])[None] < mask.sum(1, keepdims=True), picks.shape[1], rng)
            picks = np.take_along_axis(members, order, axis=1)  # (T, k_max): a prefix is a valid sample
        parts.append(picks)
    slot = np.arange(n)[None, :]  # (1, N): slots < k_off take off-plane picks, the rest plane picks
    off = np.take_along_axis(parts[0], np.minimum(slot, parts[0].shape[1] - 1).repeat(T, 0), axis=1)
    on = np.take_along_axis(parts[1], np.clip(slot - k_off[:, None], 0, parts[1].shape[1] - 1), axis=1)
    merged = np.where(slot < k_off[:, None], off, on)  # (T, N)
    return np.take_along_axis(merged, rng.random((T, n)).argsort(axis=1), axis=1)


def _members_first(mask: np.ndarray) -> np.ndarray:
    """int64 (T, M): per row the indices where ``mask`` holds (ascending), repeated cyclically to length M.

    A row without members gives its first index everywhere (never read: it gets 0 picks)."""
    M = mask.shape[1]
    order = np.argsort(~mask, axis=1, kind="stable")  # members first
    count = np.maximum(mask.sum(axis=1), 1)  # (T,)
    return np.take_along_axis(order, np.arange(M)[None, :] % count[:, None], axis=1)
