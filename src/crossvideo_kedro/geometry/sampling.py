"""Exactly N points per frame from a variable number of valid pixels, vectorised over frames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

SamplingMethod = Literal["fps", "random"]
SAMPLING_METHODS: tuple[str, ...] = ("fps", "random")


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
) -> np.ndarray:
    """Indices of exactly ``num_points`` valid points in every frame.

    ``random`` draws uniformly among valid points. ``fps`` first draws ``fps_pool · num_points`` valid candidates at
    random (bounding the cost on large depth maps), then runs farthest point sampling on them, batched over frames.

    Args:
        points: (T, P, 3) candidate xyz, or a function mapping candidate indices (T, M) to their xyz (T, M, 3) —
            so depth maps are back-projected only where FPS looks.
        valid: bool (T, P); every frame must have at least one valid point.
        num_points: N > 0.
        method: ``"fps"`` or ``"random"``.
        rng: NumPy generator (all randomness comes from it).
        fps_pool: Candidate pool size as a multiple of N for FPS.

    Returns:
        int64 (T, N) indices into P.
    """
    if num_points <= 0:
        raise ValueError(f"num_points must be > 0, got {num_points}")
    if method not in SAMPLING_METHODS:
        raise ValueError(f"unknown sampling method {method!r}; expected one of {SAMPLING_METHODS}")
    if not valid.any(axis=1).all():
        raise ValueError("every frame needs at least one valid point")
    if method == "random":
        return random_valid_indices(valid, num_points, rng)
    pool = random_valid_indices(valid, max(num_points, fps_pool * num_points), rng)  # (T, M)
    candidates = points(pool) if callable(points) else np.take_along_axis(points, pool[..., None], axis=1)  # (T,M,3)
    from crossvideo_kedro.models.neighbors import furthest_point_sample  # noqa: PLC0415 - torch-side op

    picked = furthest_point_sample(torch.from_numpy(np.ascontiguousarray(candidates, dtype=np.float32)), num_points)
    return np.take_along_axis(pool, picked.numpy().astype(np.int64), axis=1)  # (T, N)
