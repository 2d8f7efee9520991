"""Sensor model: what an RGB-D camera makes of the clean render.

Depth: Gaussian noise with std ``a + b·z²`` (structured-light/ToF-like growth with range), holes where nothing is
hit, outside ``[min_depth, max_depth]``, at random pixels (a per-sequence rate) and — with probability
``edge_dropout`` — at depth discontinuities (``|Δz|`` to a 4-neighbour above ``edge_threshold``). 0 = no depth.
Colour: additive zero-mean noise with std ``color_noise`` (triangular: the difference of two uniform bytes, 6× cheaper
than Gaussian draws for T·H·W·3 values), clipped to uint8.
"""

from __future__ import annotations

import numpy as np

from crossvideo_kedro.synth.config import SensorConfig

_FAR = np.float32(1e3)  # stands in for "no hit" when looking for discontinuities


def discontinuities(depth: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels whose z differs from a 4-neighbour by more than ``threshold``.

    Args:
        depth: float (T, H, W) clean z-depth, ``inf`` where nothing is hit.
        threshold: Metres.

    Returns:
        bool (T, H, W).
    """
    z = np.where(np.isfinite(depth), depth, _FAR)
    jump_v = np.abs(np.diff(z, axis=1)) > threshold  # (T, H-1, W): between rows v and v+1
    jump_u = np.abs(np.diff(z, axis=2)) > threshold  # (T, H, W-1)
    edge = np.zeros(z.shape, dtype=bool)
    edge[:, :-1] |= jump_v
    edge[:, 1:] |= jump_v
    edge[:, :, :-1] |= jump_u
    edge[:, :, 1:] |= jump_u
    return edge


def sensor_depth(depth: np.ndarray, config: SensorConfig, dropout_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Noisy depth with holes.

    Args:
        depth: float32 (T, H, W) clean z-depth, ``inf`` where nothing is hit.
        config: Sensor parameters.
        dropout_rate: Probability that any pixel loses its depth (drawn per sequence from ``config.dropout``).
        rng: Random generator (draws: one normal and one uniform per pixel, one uniform per edge pixel).

    Returns:
        float32 (T, H, W) metres, 0 = no depth.
    """
    a, b = config.depth_noise
    clean = np.where(np.isfinite(depth), depth, np.float32(0.0))
    noisy = rng.standard_normal(depth.shape, dtype=np.float32)
    noisy *= np.float32(a) + np.float32(b) * clean * clean
    noisy += clean
    drop = rng.random(depth.shape, dtype=np.float32) < dropout_rate
    edges = np.flatnonzero(discontinuities(depth, config.edge_threshold))
    drop.reshape(-1)[edges[rng.random(edges.size) < config.edge_dropout]] = True
    drop |= (clean < config.min_depth) | (clean > config.max_depth)  # includes no hit (0)
    np.maximum(noisy, np.float32(0.0), out=noisy)
    noisy[drop] = 0.0
    return noisy


_BYTE_DIFF_STD = float(np.sqrt((256**2 - 1) / 6.0))  # std of a − b for independent uniform bytes a, b


def sensor_color(color: np.ndarray, config: SensorConfig, rng: np.random.Generator) -> np.ndarray:
    """float (T, H, W, 3) linear RGB in 0..255 → uint8 with additive noise of std ``color_noise``."""
    raw = rng.integers(0, 256, size=(2, *color.shape), dtype=np.uint8)
    noise = raw[0].astype(np.float32)
    noise -= raw[1]
    noise *= np.float32(config.color_noise / _BYTE_DIFF_STD)
    noise += color
    noise += np.float32(0.5)
    return np.clip(noise, 0.0, 255.0, out=noise).astype(np.uint8)
