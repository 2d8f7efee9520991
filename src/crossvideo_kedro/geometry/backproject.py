"""Back-projection of depth maps to camera-frame points with a pinhole model (OpenCV convention)."""

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

    Args:
        depth: (T, H, W) z-depth in metres.
        pixels: int (T, M) flat pixel indices (``v * W + u``) per frame.
        intrinsics: (3, 3) pinhole K.

    Returns:
        float32 (T, M, 3) camera-frame points.
    """
    width = depth.shape[2]
    fx, fy, cx, cy = (np.float32(intrinsics[i, j]) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
    z = np.take_along_axis(depth.reshape(depth.shape[0], -1), pixels, axis=1).astype(np.float32)  # (T, M)
    u, v = (pixels % width).astype(np.float32), (pixels // width).astype(np.float32)
    return np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1)
