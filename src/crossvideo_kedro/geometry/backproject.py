"""Back-projection of depth maps to camera-frame points with a pinhole model (OpenCV convention).

Pixel ``(v, u)`` (row, column) has its centre at ``(u, v)``; see :mod:`crossvideo_kedro.geometry.camera`.
"""

from __future__ import annotations

import numpy as np


def valid_depth_mask(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Pixels with usable depth: finite, non-zero and inside ``[min_depth, max_depth]`` metres.

    Shape:
        depth: (T, H, W) float metres. Returns bool (T, H, W).
    """
    return np.isfinite(depth) & (depth > 0) & (depth >= min_depth) & (depth <= max_depth)


def backproject_pixels(depth: np.ndarray, pixels: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Back-project chosen pixels only (what ingest keeps), not whole depth maps.

    Uses the full inverse of K, so a skewed K is honoured: ``(x, y, z) = z · K⁻¹ (u, v, 1)``.

    Args:
        depth: (T, H, W) z-depth in metres.
        pixels: int (T, M) flat pixel indices (``v * W + u``) per frame.
        intrinsics: (3, 3) pinhole K (upper triangular, last row 0 0 1).

    Returns:
        float32 (T, M, 3) camera-frame points.
    """
    width = depth.shape[2]
    k_inv = np.linalg.inv(np.asarray(intrinsics, dtype=np.float64)).astype(np.float32)  # (3, 3)
    z = np.take_along_axis(depth.reshape(depth.shape[0], -1), pixels, axis=1).astype(np.float32)  # (T, M)
    u, v = (pixels % width).astype(np.float32), (pixels // width).astype(np.float32)
    x_over_z = k_inv[0, 0] * u + k_inv[0, 1] * v + k_inv[0, 2]  # K upper triangular: row 0 of K⁻¹ · (u, v, 1)
    y_over_z = k_inv[1, 1] * v + k_inv[1, 2]
    return np.stack([x_over_z * z, y_over_z * z, z], axis=-1)
