"""Appearance pass: per-pixel albedo (colour + procedural texture) and Lambert shading of a G-buffer.

Textures live in the part's own frame (they move with the object): the hit point ``z · ray`` is taken back into the
part frame with the inverse of its pose. ``stripes`` are horizontal bands along the part's up axis, ``checker`` a 3D
checkerboard; both have the pattern's ``period`` in metres.
"""

from __future__ import annotations

import numpy as np

from crossvideo_kedro.synth.render import GBuffer
from crossvideo_kedro.synth.scene import Appearance, Lighting
from crossvideo_kedro.synth.transforms import invert


def pattern_mask(points: np.ndarray, texture: str, period: float) -> np.ndarray:
    """Which points take the second colour.

    Args:
        points: (M, 3) points in the part frame, metres.
        texture: ``plain``, ``stripes`` or ``checker``.
        period: Full period of the pattern (one band of each colour), metres.

    Returns:
        bool (M,).
    """
    if texture == "plain":
        return np.zeros(len(points), dtype=bool)
    cells = np.floor(points / (period / 2.0)).astype(np.int64)  # (M, 3) half-period cells
    if texture == "stripes":
        return cells[:, 2] % 2 == 1
    if texture == "checker":
        return cells.sum(axis=1) % 2 == 1
    raise ValueError(f"unknown texture {texture!r}; expected plain, stripes or checker")


def albedo(gbuffer: GBuffer, appearances: list[Appearance], part_to_camera: np.ndarray,
           tint: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel base colour.

    Args:
        gbuffer: Geometry pass (T frames).
        appearances: The P parts' surfaces.
        part_to_camera: (T, P, 4, 4) part poses in the camera frame (for textures).
        tint: (3,) light colour factor folded into the colours (saves a pass over the image), or ``None``.

    Returns:
        float32 (T, H, W, 3) RGB in 0..255 (0 where nothing is hit).
    """
    tint = np.ones(3, np.float32) if tint is None else np.asarray(tint, dtype=np.float32)
    palette = np.stack([np.asarray(a.color, dtype=np.float32) * tint for a in appearances]
                       + [np.zeros(3, np.float32)])
    part = gbuffer.part
    out = palette[part]  # (T, H, W, 3); part −1 picks the last palette row (black)
    for index, appearance in enumerate(appearances):
        if appearance.texture == "plain":
            continue
        t, v, u = np.nonzero(part == index)  # (M,) each
        if len(t) == 0:
            continue
        camera_points = gbuffer.depth[t, v, u, None] * gbuffer.rays[v, u]  # (M, 3)
        to_part = invert(part_to_camera[:, index])[t]  # (M, 4, 4)
        points = np.einsum("mij,mj->mi", to_part[:, :3, :3], camera_points) + to_part[:, :3, 3]  # (M, 3)
        second = pattern_mask(points, appearance.texture, appearance.period)
        out[t[second], v[second], u[second]] = np.asarray(appearance.color2, dtype=np.float32) * tint
    return out


def shade(gbuffer: GBuffer, base: np.ndarray, lighting: Lighting, extrinsics: np.ndarray) -> np.ndarray:
    """Lambert shading with ambient light and per-frame flicker; background as a vertical gradient.

    Args:
        gbuffer: Geometry pass (T frames).
        base: float32 (T, H, W, 3) albedo in 0..255 times the light tint (see :func:`albedo`); shaded in place.
        lighting: The sequence's lights.
        extrinsics: (T, 4, 4) world → camera (to bring the light direction into the camera frame).

    Returns:
        float32 (T, H, W, 3) linear RGB in 0..255 (not clipped, no noise).
    """
    num_frames, height, width = gbuffer.depth.shape
    light = np.einsum("tij,j->ti", extrinsics[:, :3, :3], lighting.direction).astype(np.float32)  # (T, 3)
    normal = gbuffer.normal.reshape(num_frames, height * width, 3)
    lambert = np.maximum(normal @ light[:, :, None], 0.0).reshape(num_frames, height, width)  # (T, H, W)
    gain = lighting.ambient + lighting.intensity * lambert
    gain *= lighting.flicker.astype(np.float32)[:, None, None]
    color = base
    color *= gain[..., None]  # (T, H, W, 3)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]  # (H, 1)
    gradient = (1.0 - rows) * lighting.background[0] + rows * lighting.background[1]  # (H, 3)
    background = gradient.astype(np.float32)[None, :, None, :]  # (1, H, 1, 3)
    np.copyto(color, background, where=(gbuffer.part < 0)[..., None])
    return color
