"""Batched rigid transforms as 4×4 homogeneous matrices (leading batch shape ``...``, usually T frames)."""

from __future__ import annotations

import numpy as np


def translation(xyz: np.ndarray) -> np.ndarray:
    """(..., 3) → (..., 4, 4) translations."""
    xyz = np.asarray(xyz, dtype=np.float64)
    out = np.broadcast_to(np.eye(4), (*xyz.shape[:-1], 4, 4)).copy()
    out[..., :3, 3] = xyz
    return out


def _rotation(angle: np.ndarray, i: int, j: int) -> np.ndarray:
    angle = np.asarray(angle, dtype=np.float64)
    out = np.broadcast_to(np.eye(4), (*angle.shape, 4, 4)).copy()
    c, s = np.cos(angle), np.sin(angle)
    out[..., i, i] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    out[..., j, j] = c
    return out


def rot_x(angle: np.ndarray) -> np.ndarray:
    """(...) radians → (..., 4, 4) rotations about x (right-handed: y → z)."""
    return _rotation(angle, 1, 2)


def rot_y(angle: np.ndarray) -> np.ndarray:
    """(...) radians → (..., 4, 4) rotations about y (right-handed: z → x; a positive angle turns +x toward −z)."""
    return _rotation(angle, 2, 0)


def rot_z(angle: np.ndarray) -> np.ndarray:
    """(...) radians → (..., 4, 4) rotations about z (right-handed: x → y)."""
    return _rotation(angle, 0, 1)


def look_at(eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """World→camera extrinsics of cameras at ``eye`` looking at ``target`` (OpenCV: x right, y down, z forward).

    Args:
        eye: (..., 3) camera centres in world coordinates.
        target: (..., 3) points the optical axes pass through.
        up: World up direction (must not be parallel to the viewing direction).

    Returns:
        (..., 4, 4) matrices E with ``x_cam = E @ x_world``.
    """
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward], axis=-2)  # rows: camera axes in world coordinates
    out = np.broadcast_to(np.eye(4), (*eye.shape[:-1], 4, 4)).copy()
    out[..., :3, :3] = rotation
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rotation, eye)
    return out


def invert(transform: np.ndarray) -> np.ndarray:
    """Inverse of (..., 4, 4) rigid transforms."""
    rotation = transform[..., :3, :3]
    out = np.broadcast_to(np.eye(4), transform.shape).copy()
    out[..., :3, :3] = np.swapaxes(rotation, -1, -2)
    out[..., :3, 3] = -np.einsum("...ji,...j->...i", rotation, transform[..., :3, 3])
    return out
