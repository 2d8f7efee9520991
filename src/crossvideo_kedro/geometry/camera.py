"""Pinhole intrinsics: plausibility checks and the K of resized frames (OpenCV convention, no Kedro).

Convention everywhere in this project: pixel ``(row v, column u)`` of an image has its **centre at the integer
coordinates (u, v)** (OpenCV's), so a camera-frame point ``(x, y, z)`` projects to
``u = fx·x/z + s·y/z + cx``, ``v = fy·y/z + cy`` and ``round(u), round(v)`` is the pixel it falls in.
"""

from __future__ import annotations

import numpy as np

from crossvideo_kedro.errors import DataError

#: Focal lengths a real camera has, as a multiple of the image's larger side: 0.05 (a ~170° fisheye treated as a
#: pinhole) to 50 (a ~1° telephoto). Outside this, K is almost certainly in the wrong unit or corrupt.
FOCAL_RANGE = (0.05, 50.0)
#: The principal point may lie this far (fraction of the image size) outside the image (off-centre crops).
PRINCIPAL_MARGIN = 0.25
#: |skew| above this fraction of fx is not a real camera.
MAX_SKEW = 0.1


def check_intrinsics(intrinsics: np.ndarray, image_hw: tuple[int, int], where: str) -> np.ndarray:
    """Check that K is a plausible pinhole camera for images of size ``image_hw``.

    Checks: finite 3×3 with last row (0, 0, 1); fx, fy > 0 and within :data:`FOCAL_RANGE` × max(H, W) pixels;
    principal point inside the image widened by :data:`PRINCIPAL_MARGIN`; |skew| ≤ :data:`MAX_SKEW` · fx (skew is
    then used by back-projection through the full K inverse).

    Args:
        intrinsics: (3, 3) K.
        image_hw: (H, W) of the frames K describes.
        where: The file or option K came from, for the message.

    Returns:
        K as float64 (3, 3).

    Raises:
        DataError: Naming ``where``, the offending entry, its value and the plausible range.
    """
    k = np.asarray(intrinsics, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        raise DataError(f"{where}: intrinsics must be a finite 3x3 matrix, got {k.tolist()}")
    if not np.allclose(k[2], (0.0, 0.0, 1.0)) or k[1, 0] != 0:
        raise DataError(f"{where}: intrinsics are not a pinhole K (need rows [fx s cx], [0 fy cy], [0 0 1]), "
                        f"got {k.tolist()}")
    height, width = image_hw
    side = max(height, width)
    lo, hi = FOCAL_RANGE[0] * side, FOCAL_RANGE[1] * side
    for name, value in (("fx", k[0, 0]), ("fy", k[1, 1])):
        if not lo <= value <= hi:
            raise DataError(
                f"{where}: focal length {name} = {value:g} px is implausible for {width}x{height} images; expected "
                f"{lo:g}..{hi:g} px ({FOCAL_RANGE[0]}..{FOCAL_RANGE[1]} x the larger side). Is K in pixels, and "
                "for this image size?"
            )
    for name, value, size in (("cx", k[0, 2], width), ("cy", k[1, 2], height)):
        if not -PRINCIPAL_MARGIN * size <= value <= (1 + PRINCIPAL_MARGIN) * size:
            raise DataError(
                f"{where}: principal point {name} = {value:g} px lies far outside the {width}x{height} image; "
                f"expected {-PRINCIPAL_MARGIN * size:g}..{(1 + PRINCIPAL_MARGIN) * size:g} px"
            )
    if abs(k[0, 1]) > MAX_SKEW * k[0, 0]:
        raise DataError(f"{where}: skew {k[0, 1]:g} is more than {MAX_SKEW} x fx ({k[0, 0]:g}); not a real camera")
    return k


def scale_intrinsics(intrinsics: np.ndarray, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> np.ndarray:
    """K of the same camera after resizing its images from ``from_hw`` to ``to_hw`` (no crop).

    With pixel centres at integers, a resize by s maps coordinate ``u`` to ``(u + 0.5)·s − 0.5`` (what bilinear
    resizing with ``align_corners=False`` does), so ``fx' = s·fx``, ``skew' = s_x·skew`` and
    ``cx' = (cx + 0.5)·s − 0.5``.

    Returns:
        float32 (3, 3).
    """
    k = np.asarray(intrinsics, dtype=np.float64)
    sy, sx = to_hw[0] / from_hw[0], to_hw[1] / from_hw[1]
    scaled = np.array(
        [
            [k[0, 0] * sx, k[0, 1] * sx, (k[0, 2] + 0.5) * sx - 0.5],
            [0.0, k[1, 1] * sy, (k[1, 2] + 0.5) * sy - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )
    return scaled.astype(np.float32)


def project_points(points: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixel coordinates (u, v) of camera-frame points (centres at integers).

    Shape:
        points: (..., 3) with z > 0. Returns (..., 2).
    """
    k = np.asarray(intrinsics, dtype=np.float64)
    pts = np.asarray(points, dtype=np.float64)
    uvw = pts @ k.T
    return uvw[..., :2] / uvw[..., 2:3]
