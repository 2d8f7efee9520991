"""Geometry and sensor passes on scenes with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from crossvideo_kedro._open3d import open3d
from crossvideo_kedro.synth.config import SensorConfig
from crossvideo_kedro.synth.render import Renderer, pixel_rays
from crossvideo_kedro.synth.sensor import discontinuities, sensor_color, sensor_depth
from crossvideo_kedro.synth.shading import pattern_mask
from crossvideo_kedro.synth.shapes import Rectangle, box_mesh, object_mesh, segment_mesh
from crossvideo_kedro.synth.transforms import look_at, rot_x, rot_z, translation

K = np.array([[50.0, 0.0, 31.5], [0.0, 50.0, 23.5], [0.0, 0.0, 1.0]])
W, H = 64, 48


def test_mesh_depth_is_z_depth_not_ray_length():
    # a wide box whose front face is the plane z = 0.8 in the camera frame, seen off-centre too
    box = box_mesh((2.0, 2.0, 0.1), (0.0, 0.0, 0.05))  # front face at local z = 0
    pose = translation(np.array([0.1, 0.0, 0.8]))[None, None]  # (T=1, P=1, 4, 4)
    gbuffer = Renderer([box], K, W, H).render(pose)
    assert (gbuffer.part == 0).all()
    np.testing.assert_allclose(gbuffer.depth, 0.8, atol=1e-6)
    np.testing.assert_allclose(gbuffer.normal[0, 5, 7], [0.0, 0.0, -1.0], atol=1e-6)  # faces the camera


def test_rectangle_is_exact_and_occluded_by_nearer_meshes():
    # camera 1 m above a table, looking straight down; a small box standing on it in the middle
    extrinsic = look_at(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.0]), up=(0.0, 1.0, 0.0))
    shapes = [Rectangle(3.0, 3.0), object_mesh("box", (0.2, 0.2, 0.3))]
    poses = np.stack([extrinsic, extrinsic])[None]  # (1, 2, 4, 4), both parts at the world origin
    gbuffer = Renderer(shapes, K, W, H).render(poses)
    centre = gbuffer.part[0, 23:25, 31:33]
    assert (centre == 1).all()
    np.testing.assert_allclose(gbuffer.depth[0][gbuffer.part[0] == 1], 0.7, atol=1e-5)  # box top at z = 0.3
    np.testing.assert_allclose(gbuffer.depth[0][gbuffer.part[0] == 0], 1.0, atol=1e-5)
    assert (gbuffer.part[0] == 0).mean() > 0.8
    table_normals = gbuffer.normal[0][gbuffer.part[0] == 0]
    np.testing.assert_allclose(table_normals, np.broadcast_to([0.0, 0.0, -1.0], table_normals.shape), atol=1e-6)


def test_region_of_interest_loses_no_hit():
    """Casting only the rays in the parts' projected boxes gives exactly what casting every ray gives."""
    o3d = open3d()
    rng = np.random.default_rng(0)
    meshes = [object_mesh("torus", (0.05, 0.02)), segment_mesh(0.05, 0.01), object_mesh("cone", (0.04, 0.1))]
    poses = np.stack([
        translation(np.array([*rng.uniform(-0.15, 0.15, 2), rng.uniform(0.4, 0.7)])) @ rot_x(rng.uniform(0, 6))
        @ rot_z(rng.uniform(0, 6)) for _ in range(2 * len(meshes))
    ]).reshape(2, len(meshes), 4, 4)
    renderer = Renderer(meshes, K, W, H)
    gbuffer = renderer.render(poses)
    assert 0 < gbuffer.cast_fraction < 0.9
    for t in range(2):
        vertices, triangles, offset = [], [], 0
        for p, mesh in enumerate(meshes):
            vertices.append(mesh.vertices @ poses[t, p, :3, :3].T + poses[t, p, :3, 3])
            triangles.append(mesh.triangles + offset)
            offset += len(mesh.vertices)
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(np.concatenate(vertices).astype(np.float32)),
                            o3d.core.Tensor(np.concatenate(triangles).astype(np.uint32)))
        rays = pixel_rays(K, W, H)
        hit = scene.cast_rays(o3d.core.Tensor(np.concatenate([np.zeros_like(rays), rays], -1)))
        full = hit["t_hit"].numpy()
        assert np.isfinite(full).sum() > 50
        np.testing.assert_array_equal(np.isfinite(gbuffer.depth[t]), np.isfinite(full))
        np.testing.assert_allclose(gbuffer.depth[t][np.isfinite(full)], full[np.isfinite(full)], rtol=1e-6)


def test_object_meshes_stand_on_their_base():
    for shape, size in [("box", (0.1, 0.05, 0.2)), ("cylinder", (0.04, 0.1)), ("sphere", (0.05,)),
                        ("cone", (0.04, 0.1)), ("torus", (0.05, 0.02))]:
        mesh = object_mesh(shape, size)
        assert mesh.vertices[:, 2].min() == pytest.approx(0.0, abs=1e-9), shape
        assert np.abs(mesh.vertices[:, :2].mean(axis=0)).max() < 1e-3, shape  # centred on the z axis
    assert object_mesh("torus", (0.05, 0.02)).top == pytest.approx(0.04)
    assert object_mesh("cone", (0.04, 0.1)).top == pytest.approx(0.1)


def test_stripes_alternate_along_the_up_axis():
    z = np.linspace(0.0, 0.1, 1001)[:-1]
    points = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)
    second = pattern_mask(points, "stripes", period=0.02)
    assert second.mean() == pytest.approx(0.5, abs=0.01)
    assert np.count_nonzero(np.diff(second.astype(int))) == 9  # 10 bands of 1 cm in 10 cm
    assert not pattern_mask(points, "plain", 0.02).any()


def test_depth_noise_grows_with_z_squared_and_holes_follow_the_config():
    config = SensorConfig(depth_noise=(0.001, 0.004), dropout=(0.1, 0.1), edge_dropout=0.0, max_depth=3.0)
    near, far = np.full((50, 40, 40), 0.5, np.float32), np.full((50, 40, 40), 1.5, np.float32)
    for clean in (near, far):
        noisy = sensor_depth(clean, config, dropout_rate=0.1, rng=np.random.default_rng(1))
        valid = noisy > 0
        assert valid.mean() == pytest.approx(0.9, abs=0.01)
        expected = 0.001 + 0.004 * clean[0, 0, 0] ** 2
        assert np.std(noisy[valid] - clean[valid]) == pytest.approx(expected, rel=0.05)


def test_discontinuities_and_range_make_holes():
    depth = np.full((1, 10, 10), 1.0, np.float32)
    depth[0, :, 5:] = 1.3  # a 30 cm step between columns 4 and 5
    depth[0, 0, 0] = np.inf  # nothing hit
    depth[0, 9, 9] = 5.0  # beyond max_depth
    edges = discontinuities(depth, threshold=0.05)
    assert edges[0, 3, 4] and edges[0, 3, 5] and not edges[0, 3, 3] and not edges[0, 3, 6]
    config = SensorConfig(depth_noise=(0.0, 0.0), dropout=(0.0, 0.0), edge_dropout=1.0, edge_threshold=0.05)
    out = sensor_depth(depth, config, dropout_rate=0.0, rng=np.random.default_rng(0))
    assert (out[0, :, 4:6] == 0).all() and out[0, 0, 0] == 0 and out[0, 9, 9] == 0
    assert (out[0, 2:8, :4] == 1.0).all() and out[0, 1, 0] == 0  # next to "nothing hit" is an edge too


def test_color_noise_has_the_configured_spread():
    flat = np.full((20, 30, 30, 3), 100.0, np.float32)
    noisy = sensor_color(flat, SensorConfig(color_noise=4.0), np.random.default_rng(0))
    assert noisy.dtype == np.uint8
    assert noisy.astype(float).mean() == pytest.approx(100.0, abs=0.1)
    assert noisy.astype(float).std() == pytest.approx(4.0, rel=0.05)
