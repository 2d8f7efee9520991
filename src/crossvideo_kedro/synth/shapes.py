"""Triangle meshes of the primitive shapes, as NumPy arrays in a part's local frame.

Objects stand on their local ``z = 0`` plane (origin at the bottom centre, ``z`` up), so a pose puts them on the
table directly. Finger and arm segments are capsule-like cylinders along the local ``+x`` axis starting at the origin.
Meshes come from ``open3d.geometry.TriangleMesh.create_*`` and are cached (read-only arrays).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from crossvideo_kedro._open3d import open3d
from crossvideo_kedro.synth.config import check_shape

#: Tessellation per shape (kept low: the image is 160×120 and the BVH is rebuilt every frame).
_RESOLUTION = {"cylinder": 16, "sphere": 8, "cone": 16, "torus": (16, 8)}


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh in its local frame.

    Attributes:
        vertices: float64 (V, 3) positions, metres.
        triangles: int32 (F, 3) vertex indices.
    """

    vertices: np.ndarray
    triangles: np.ndarray

    @property
    def top(self) -> float:
        """Highest local z (the object's height when it stands on z = 0)."""
        return float(self.vertices[:, 2].max())

    def scaled(self, factor: float) -> Mesh:
        return Mesh(self.vertices * factor, self.triangles)


@dataclass(frozen=True)
class Rectangle:
    """A horizontal rectangle in its local ``z = 0`` plane, centred on the origin, facing ``+z`` (a table top).

    The renderer intersects it analytically instead of putting it into the BVH: a large plane behind everything
    doubles the cost of every ray that hits it (measured 3.4 → 1.6 ms per 160×120 frame without it).
    """

    size_x: float
    size_y: float


def _from_legacy(mesh) -> Mesh:  # noqa: ANN001 - open3d.geometry.TriangleMesh
    vertices = np.asarray(mesh.vertices, dtype=np.float64).copy()
    triangles = np.asarray(mesh.triangles, dtype=np.int32).copy()
    vertices.setflags(write=False)
    triangles.setflags(write=False)
    return Mesh(vertices, triangles)


@functools.lru_cache(maxsize=256)
def object_mesh(shape: str, size: tuple[float, ...]) -> Mesh:
    """Mesh of a primitive standing on ``z = 0``, centred on the ``z`` axis.

    Args:
        shape: ``box`` (size_x, size_y, size_z), ``cylinder`` (radius, height), ``sphere`` (radius),
            ``cone`` (radius, height) or ``torus`` (radius, tube_radius; lying flat).
        size: Dimensions in metres, as listed for the shape.

    Returns:
        The cached :class:`Mesh` (read-only arrays).
    """
    check_shape(shape, list(size), "shape")
    geometry = open3d().geometry.TriangleMesh
    if shape == "box":
        sx, sy, sz = size
        mesh = geometry.create_box(sx, sy, sz).translate((-sx / 2, -sy / 2, 0.0))
    elif shape == "cylinder":
        radius, height = size
        mesh = geometry.create_cylinder(radius, height, resolution=_RESOLUTION["cylinder"], split=1)
        mesh.translate((0.0, 0.0, height / 2))
    elif shape == "sphere":
        (radius,) = size
        mesh = geometry.create_sphere(radius, resolution=_RESOLUTION["sphere"]).translate((0.0, 0.0, radius))
    elif shape == "cone":
        radius, height = size
        mesh = geometry.create_cone(radius, height, resolution=_RESOLUTION["cone"], split=1)
    else:  # torus
        radius, tube = size
        radial, tubular = _RESOLUTION["torus"]
        mesh = geometry.create_torus(radius, tube, radial_resolution=radial, tubular_resolution=tubular)
        mesh.translate((0.0, 0.0, tube))
    return _from_legacy(mesh)


@functools.lru_cache(maxsize=256)
def segment_mesh(length: float, radius: float, resolution: int = 6, cap: bool = True) -> Mesh:
    """A finger/arm segment: a cylinder along local ``+x`` from 0 to ``length`` (plus a round tip if ``cap``).

    Args:
        length: Segment length, metres.
        radius: Segment radius, metres.
        resolution: Facets around the axis.
        cap: Add a low-poly sphere at the far end (closes the gap at bent joints).
    """
    o3d = open3d()
    mesh = o3d.geometry.TriangleMesh.create_cylinder(radius, length, resolution=resolution, split=1)
    mesh.translate((0.0, 0.0, length / 2))
    if cap:
        mesh += o3d.geometry.TriangleMesh.create_sphere(radius, resolution=3).translate((0.0, 0.0, length))
    # z axis → x axis: rotate +90° about y
    rotation = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    mesh.rotate(rotation, center=(0.0, 0.0, 0.0))
    return _from_legacy(mesh)


@functools.lru_cache(maxsize=64)
def box_mesh(size: tuple[float, float, float], center: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Mesh:
    """An axis-aligned box of ``size`` centred on ``center`` (palm, table)."""
    sx, sy, sz = size
    mesh = open3d().geometry.TriangleMesh.create_box(sx, sy, sz)
    mesh.translate((center[0] - sx / 2, center[1] - sy / 2, center[2] - sz / 2))
    return _from_legacy(mesh)
