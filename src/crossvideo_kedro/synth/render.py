"""Geometry pass: ray casting with Open3D's ``RaycastingScene`` into a per-pixel G-buffer.

The rays are fixed in the camera frame: one per pixel from the camera centre with direction ``K⁻¹ (u, v, 1)``
(z component 1), so ``t_hit`` is the z-depth and pixel centres sit at integer (u, v) — exactly the inverse of the
back-projection ``x = (u − cx) z / fx``.

Per frame, every mesh part's vertices are moved into the camera frame and one fresh scene is built from the
concatenated triangle soup (1–1.5k triangles: 0.3–0.5 ms), then only the rays inside the projected bounding boxes of
the parts are cast (~20–30 % of the pixels; a ray costs ~40 ns on a miss, up to ~190 ns among the hand's small
triangles). The table top is a :class:`~crossvideo_kedro.synth.shapes.Rectangle`, intersected analytically for every
pixel: in the BVH, a plane behind everything made each frame's cast 2× slower. Measured on 2 cores at 160×120
(see ``benchmarks/``): all parts incl. the table in one scene, all rays: 4.0 ms/frame; one scene per part with rays in
the part's frame: one full cast (~1.5 ms) per part; one scene holding all frames side by side: no faster per ray than
per-frame scenes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from crossvideo_kedro._open3d import open3d
from crossvideo_kedro.synth.shapes import Mesh, Rectangle

_CHUNK = 8  # frames per analytic-rectangle batch
_NEAR = 0.01  # metres; a part with a vertex nearer than this gets the whole image as its region of interest


@dataclass(frozen=True)
class GBuffer:
    """Per-pixel results of the geometry pass.

    Attributes:
        depth: float32 (T, H, W) z-depth in metres, ``inf`` where no surface is hit.
        part: int16 (T, H, W) index of the hit part, −1 where nothing is hit.
        normal: float32 (T, H, W, 3) unit surface normal in the camera frame, turned toward the camera
            (zero where nothing is hit).
        rays: float32 (H, W, 3) ray directions in the camera frame (z = 1).
        cast_fraction: Fraction of the T·H·W rays that went through the BVH (the rest were outside every part's
            projected bounding box).
    """

    depth: np.ndarray
    part: np.ndarray
    normal: np.ndarray
    rays: np.ndarray
    cast_fraction: float

    def frames(self, selection: slice) -> GBuffer:
        """The G-buffer of a range of frames (views, no copy)."""
        return replace(self, depth=self.depth[selection], part=self.part[selection], normal=self.normal[selection])


def pixel_rays(intrinsics: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W, 3) float32 camera-frame directions ``K⁻¹ (u, v, 1)`` of the pixel centres (integer u, v)."""
    fx, fy = intrinsics[0, 0], intrinsics[1, 1]
    cx, cy = intrinsics[0, 2], intrinsics[1, 2]
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1).astype(np.float32)


class Renderer:
    """Ray caster for a fixed set of rigid parts seen by a fixed pinhole camera.

    Args:
        shapes: The P parts' shapes (meshes or rectangles), each in its local frame; part ids = list index.
        intrinsics: (3, 3) pinhole K.
        width: Image width W.
        height: Image height H.
    """

    def __init__(self, shapes: list[Mesh | Rectangle], intrinsics: np.ndarray, width: int, height: int) -> None:
        self._o3d = open3d()
        self.width, self.height = width, height
        self._k = np.asarray(intrinsics, dtype=np.float64)
        self._rectangles = [(i, s) for i, s in enumerate(shapes) if isinstance(s, Rectangle)]
        meshes = [(i, s) for i, s in enumerate(shapes) if isinstance(s, Mesh)]
        self._mesh_parts = np.array([i for i, _ in meshes], dtype=np.int64)  # (Pm,) part id of each mesh
        counts = np.array([len(m.vertices) for _, m in meshes], dtype=np.int64)
        self._vertex_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)  # (Pm,)
        self._vertices = np.concatenate([m.vertices for _, m in meshes]) if meshes else np.zeros((0, 3))  # (V, 3)
        self._vertex_part = np.repeat(self._mesh_parts, counts)  # (V,) part id
        triangles = [m.triangles + start for (_, m), start in zip(meshes, self._vertex_start, strict=True)]
        triangles = np.concatenate(triangles) if triangles else np.zeros((0, 3), dtype=np.int64)  # (F, 3)
        self._triangle_part = np.repeat(self._mesh_parts, [len(m.triangles) for _, m in meshes]).astype(np.int16)
        self._triangles = self._o3d.core.Tensor(triangles.astype(np.uint32))
        self.rays = pixel_rays(self._k, width, height)  # (H, W, 3)
        self._rays6 = np.concatenate([np.zeros_like(self.rays), self.rays], axis=-1).reshape(-1, 6)  # (H·W, 6)

    @property
    def num_triangles(self) -> int:
        return len(self._triangle_part)

    def render(self, part_to_camera: np.ndarray) -> GBuffer:
        """Cast every pixel's ray in every frame.

        Args:
            part_to_camera: (T, P, 4, 4) pose of each part in the camera frame.

        Returns:
            The :class:`GBuffer` (T frames).
        """
        num_frames = part_to_camera.shape[0]
        shape = (num_frames, self.height, self.width)
        depth = np.full(shape, np.inf, dtype=np.float32)
        part = np.full(shape, -1, dtype=np.int16)
        normal = np.zeros((*shape, 3), dtype=np.float32)
        cast = 0
        if len(self._mesh_parts):
            vertices = self._camera_vertices(part_to_camera)  # (T, V, 3)
            for t in range(num_frames):
                cast += self._cast_frame(vertices[t], depth[t], part[t], normal[t])
        for index, rectangle in self._rectangles:
            self._intersect_rectangle(part_to_camera[:, index], rectangle, index, depth, part, normal)
        return GBuffer(depth=depth, part=part, normal=normal, rays=self.rays,
                       cast_fraction=cast / max(depth.size, 1))

    # ------------------------------------------------------------------------------------------------ meshes
    def _camera_vertices(self, part_to_camera: np.ndarray) -> np.ndarray:
        """(T, P, 4, 4) poses → float32 (T, V, 3) mesh vertices in the camera frame (one matmul per part)."""
        num_frames = part_to_camera.shape[0]
        out = np.empty((num_frames, len(self._vertices), 3), dtype=np.float32)
        ends = [*self._vertex_start[1:].tolist(), len(self._vertices)]
        for p, start, end in zip(self._mesh_parts.tolist(), self._vertex_start.tolist(), ends, strict=True):
            pose = part_to_camera[:, p]  # (T, 4, 4)
            local = self._vertices[start:end]  # (Vp, 3)
            out[:, start:end] = local @ pose[:, :3, :3].transpose(0, 2, 1) + pose[:, None, :3, 3]  # (T, Vp, 3)
        return out

    def _cast_frame(self, vertices: np.ndarray, depth: np.ndarray, part: np.ndarray, normal: np.ndarray) -> int:
        """Ray-cast the mesh parts of one frame into (H, W) ``depth``/``part`` and (H, W, 3) ``normal`` in place.

        Args:
            vertices: float32 (V, 3) mesh vertices in the camera frame.

        Returns:
            The number of rays cast.
        """
        o3d = self._o3d
        selected = np.flatnonzero(self._region_of_interest(vertices))  # (M,) flat pixel ids
        if selected.size == 0:
            return 0
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(vertices), self._triangles)
        hit = scene.cast_rays(o3d.core.Tensor(self._rays6[selected]))
        t_hit = hit["t_hit"].numpy()  # (M,)
        ok = np.isfinite(t_hit)
        pixels = selected[ok]
        n = hit["primitive_normals"].numpy()[ok]  # (M', 3)
        n *= np.where(np.einsum("mc,mc->m", n, self._rays6[pixels, 3:]) > 0, -1.0, 1.0)[:, None].astype(np.float32)
        depth.reshape(-1)[pixels] = t_hit[ok]
        part.reshape(-1)[pixels] = self._triangle_part[hit["primitive_ids"].numpy()[ok]]
        normal.reshape(-1, 3)[pixels] = n
        return int(selected.size)

    def _region_of_interest(self, vertices: np.ndarray) -> np.ndarray:
        """bool (H·W,): pixels inside the projected bounding box of some mesh part (conservative)."""
        height, width = self.height, self.width
        z = vertices[:, 2]
        safe_z = np.maximum(z, _NEAR)
        u = self._k[0, 0] * vertices[:, 0] / safe_z + self._k[0, 2]  # (V,)
        v = self._k[1, 1] * vertices[:, 1] / safe_z + self._k[1, 2]
        start = self._vertex_start
        u0, u1 = np.minimum.reduceat(u, start), np.maximum.reduceat(u, start)  # (Pm,)
        v0, v1 = np.minimum.reduceat(v, start), np.maximum.reduceat(v, start)
        behind = np.minimum.reduceat(z, start) < _NEAR  # (Pm,) projection not bounded: take the whole image
        u0 = np.where(behind, 0, np.clip(np.floor(u0), 0, width)).astype(np.int64)
        u1 = np.where(behind, width, np.clip(np.ceil(u1) + 1, 0, width)).astype(np.int64)
        v0 = np.where(behind, 0, np.clip(np.floor(v0), 0, height)).astype(np.int64)
        v1 = np.where(behind, height, np.clip(np.ceil(v1) + 1, 0, height)).astype(np.int64)
        mask = np.zeros((height, width), dtype=bool)
        for a, b, c, d in zip(v0.tolist(), v1.tolist(), u0.tolist(), u1.tolist(), strict=True):
            mask[a:b, c:d] = True
        return mask.reshape(-1)

    # ------------------------------------------------------------------------------------------------ rectangles
    def _intersect_rectangle(self, rect_to_camera: np.ndarray, rectangle: Rectangle, index: int,
                             depth: np.ndarray, part: np.ndarray, normal: np.ndarray) -> None:
        """Analytic ray–rectangle intersection for all frames, keeping the nearer of it and the mesh hits.

        Args:
            rect_to_camera: (T, 4, 4) rectangle pose in the camera frame (its plane: local z = 0).
            rectangle: Its size.
            index: Its part id.
            depth, part, normal: (T, H, W[, 3]) buffers updated in place.
        """
        for start in range(0, rect_to_camera.shape[0], _CHUNK):  # chunks of frames stay in cache
            frames = slice(start, start + _CHUNK)
            self._rectangle_chunk(rect_to_camera[frames], rectangle, index, depth[frames], part[frames],
                                  normal[frames])

    def _rectangle_chunk(self, rect_to_camera: np.ndarray, rectangle: Rectangle, index: int, depth: np.ndarray,
                         part: np.ndarray, normal: np.ndarray) -> None:
        num_frames = rect_to_camera.shape[0]
        axes = rect_to_camera[:, :3, :3].astype(np.float32)  # (t, 3, 3) columns: local x, y, z in camera frame
        origin = rect_to_camera[:, :3, 3].astype(np.float32)  # (t, 3)
        along = self.rays.reshape(-1, 3) @ axes  # (t, H·W, 3): d · local x, d · local y, d · n
        offsets = np.einsum("tci,tc->ti", axes, origin)[:, None, :]  # (t, 1, 3): q · local axes
        with np.errstate(divide="ignore", invalid="ignore"):
            s = offsets[..., 2] / along[..., 2]  # (t, H·W) z-depth of the plane hit (q · n) / (d · n)
            local_x = s * along[..., 0] - offsets[..., 0]
            local_y = s * along[..., 1] - offsets[..., 1]
        hit = (s > 0) & (np.abs(local_x) <= rectangle.size_x / 2) & (np.abs(local_y) <= rectangle.size_y / 2)
        flat_depth = depth.reshape(num_frames, -1)
        hit &= s < flat_depth
        np.copyto(flat_depth, s, where=hit)
        np.copyto(part.reshape(num_frames, -1), np.int16(index), where=hit)
        # the camera (origin) sees one side of the plane in all pixels: flip n toward it where q · n > 0
        toward = axes[:, :, 2] * np.where(offsets[:, 0, 2] > 0, -1.0, 1.0).astype(np.float32)[:, None]  # (t, 3)
        np.copyto(normal.reshape(num_frames, -1, 3), toward[:, None, :], where=hit[..., None])
