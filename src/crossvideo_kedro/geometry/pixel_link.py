"""Point → pixel link of pretraining views: where each point of a frame lands in that frame's (augmented) image.

Three vectorised steps (NumPy; the z-buffer is one torch ``scatter_reduce``):

    project (pinhole K of the stored frames, nearest point per pixel)  ->  follow the point view's dropout index
    ->  follow the image view's crop/flip (the ``theta`` of ``grid_sample``)

Pixel convention (docs/design.md): OpenCV, the centre of pixel (column u, row v) at integer (u, v), so a point is
in an H×W image iff −0.5 ≤ u < W − 0.5 and −0.5 ≤ v < H − 0.5.
Shape letters: T frames, N points, H×W image; ``...`` any leading dims (pairs, views, frames).
"""

from __future__ import annotations

import numpy as np
import torch


def project_frames(points: np.ndarray, intrinsics: np.ndarray,
                   image_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel of every point of every frame and whether it is seen there (in front, inside, nearest in its pixel).

    Occlusion is the nearest-point-per-pixel test: of the points of one frame that round to the same pixel, only
    the nearest (smallest z; ties all kept) is valid — the one the camera sees, since points come from that frame's
    depth map.

    Shape:
        points: (..., N, 3) camera-frame metres; intrinsics: (..., 3, 3) broadcastable to the points' frames.
        returns uv float32 (..., N, 2) pixels (u column, v row) and valid bool (..., N).
    """
    H, W = image_hw
    k = np.asarray(intrinsics, dtype=np.float32)[..., None, :, :]  # (..., 1, 3, 3) pinhole: last row 0 0 1
    x, y, z = (points[..., i].astype(np.float32, copy=False) for i in range(3))  # (..., N) each
    front = z > 0
    inv_z = 1.0 / np.where(front, z, 1.0)
    u = np.where(front, (k[..., 0, 0] * x + k[..., 0, 1] * y) * inv_z + k[..., 0, 2], 0.0)
    v = np.where(front, k[..., 1, 1] * y * inv_z + k[..., 1, 2], 0.0)
    uv = np.stack([u, v], axis=-1)  # (..., N, 2)
    valid = front & (u >= -0.5) & (u < W - 0.5) & (v >= -0.5) & (v < H - 0.5)
    return uv.astype(np.float32), valid & nearest_per_pixel(uv, z, valid, image_hw)


def nearest_per_pixel(uv: np.ndarray, depth: np.ndarray, valid: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """True for the points that are the nearest of their frame in the pixel they round to (z-buffer).

    Shape:
        uv: (..., N, 2) pixels; depth: (..., N); valid: (..., N) points considered. Returns bool (..., N).
    """
    H, W = image_hw
    frames = int(np.prod(valid.shape[:-1], dtype=np.int64))
    col = np.clip(np.floor(uv[..., 0] + 0.5), 0, W - 1).astype(np.int64)
    row = np.clip(np.floor(uv[..., 1] + 0.5), 0, H - 1).astype(np.int64)
    frame = np.arange(frames).reshape(valid.shape[:-1])[..., None]  # (..., 1)
    pixel = (frame * H + row) * W + col  # (..., N) global pixel id
    z = torch.from_numpy(np.where(valid, depth, np.inf).astype(np.float32).ravel())
    nearest = torch.full((frames * H * W,), float("inf")).scatter_reduce_(0, torch.from_numpy(pixel.ravel()), z, "amin")
    return (z <= nearest[torch.from_numpy(pixel.ravel())]).numpy().reshape(valid.shape)


def follow_index(uv: np.ndarray, valid: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The link after the point view's dropout: slot n now holds source point ``index[..., n]``.

    Shape:
        uv: (..., N, 2); valid: (..., N); index: int (..., N). Returns the gathered (..., N, 2) and (..., N).
    """
    return np.take_along_axis(uv, index[..., None], axis=-2), np.take_along_axis(valid, index, axis=-1)


def follow_crop(uv: np.ndarray, valid: np.ndarray, theta: np.ndarray,
                image_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The link after the image view's crop/flip: pixels of the augmented frame; points cropped away are invalid.

    ``theta`` is the affine map of ``affine_grid(align_corners=False)``: output normalised coordinates x_o map to
    input ones x_i = A x_o + c, with x = (2u + 1)/W − 1 (and y with v, H). So x_o = A⁻¹ (x_i − c).

    Shape:
        uv: (..., N, 2) pixels of the source frame; valid: (..., N); theta: (..., 2, 3) broadcastable to the frames.
        Returns uv float32 (..., N, 2) in the augmented frame and valid (..., N).
    """
    H, W = image_hw
    theta = np.asarray(theta, dtype=np.float64)
    inverse = np.linalg.inv(theta[..., :2]).astype(np.float32)[..., None, :, :]  # (..., 1, 2, 2)
    shift = theta[..., 2].astype(np.float32)[..., None, :]  # (..., 1, 2)
    x = (2 * uv[..., 0] + 1) / W - 1 - shift[..., 0]  # (..., N) normalised, minus the crop centre
    y = (2 * uv[..., 1] + 1) / H - 1 - shift[..., 1]
    x_out = inverse[..., 0, 0] * x + inverse[..., 0, 1] * y
    y_out = inverse[..., 1, 0] * x + inverse[..., 1, 1] * y
    out = np.stack([((x_out + 1) * W - 1) / 2, ((y_out + 1) * H - 1) / 2], axis=-1)  # (..., N, 2)
    inside = (out[..., 0] >= -0.5) & (out[..., 0] < W - 0.5) & (out[..., 1] >= -0.5) & (out[..., 1] < H - 0.5)
    return out.astype(np.float32), valid & inside
