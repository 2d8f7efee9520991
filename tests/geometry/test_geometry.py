import numpy as np
import pytest
import torch

from crossvideo_kedro.geometry import backproject_pixels, sample_fixed, valid_depth_mask
from crossvideo_kedro.geometry.sampling import PlaneCap, dominant_plane, random_valid_indices


def backproject(depth: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Every pixel of a depth video, (T, H, W, 3)."""
    t, h, w = depth.shape
    every = np.broadcast_to(np.arange(h * w), (t, h * w))
    return backproject_pixels(depth, every, k).reshape(t, h, w, 3)


def test_backproject_inverts_the_pinhole_projection():
    rng = np.random.default_rng(0)
    k = np.array([[500.0, 0, 31.5], [0, 480.0, 23.5], [0, 0, 1]])
    depth = rng.uniform(0.5, 3.0, size=(2, 48, 64)).astype(np.float32)
    xyz = backproject(depth, k)  # (T, H, W, 3)
    assert xyz.shape == (2, 48, 64, 3) and xyz.dtype == np.float32
    uvw = xyz.reshape(-1, 3) @ k.T
    u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
    grid_v, grid_u = np.meshgrid(np.arange(48), np.arange(64), indexing="ij")
    np.testing.assert_allclose(u, np.tile(grid_u.ravel(), 2), atol=1e-3)
    np.testing.assert_allclose(v, np.tile(grid_v.ravel(), 2), atol=1e-3)
    np.testing.assert_allclose(xyz[..., 2], depth)


def test_principal_point_pixel_lies_on_the_optical_axis():
    k = np.array([[100.0, 0, 2.0], [0, 100.0, 1.0], [0, 0, 1]])
    xyz = backproject(np.full((1, 3, 5), 2.0, np.float32), k)
    np.testing.assert_allclose(xyz[0, 1, 2], [0.0, 0.0, 2.0])
    np.testing.assert_allclose(xyz[0, 1, 4], [2 * 2 / 100, 0.0, 2.0], rtol=1e-6)


def test_valid_depth_mask_drops_zero_nan_and_out_of_range():
    depth = np.array([[[0.0, np.nan, 0.05, 0.5, 5.0, np.inf]]], dtype=np.float32)
    assert valid_depth_mask(depth, 0.1, 2.0).tolist() == [[[False, False, False, True, False, False]]]


def test_random_valid_indices_only_picks_valid_points_and_repeats_when_short():
    rng = np.random.default_rng(1)
    valid = np.zeros((3, 50), dtype=bool)
    valid[0, :40] = True
    valid[1, [3, 7]] = True
    valid[2, 10] = True
    idx = random_valid_indices(valid, 8, rng)
    assert idx.shape == (3, 8)
    assert valid[np.arange(3)[:, None], idx].all()
    assert len(set(idx[0])) == 8  # enough valid points: no repeats
    assert set(idx[1]) == {3, 7} and (idx[1] == 3).sum() == 4  # two valid points, each used equally
    assert set(idx[2]) == {10}


@pytest.mark.parametrize("method", ["fps", "random"])
def test_sample_fixed_returns_exactly_n_valid_points(method):
    rng = np.random.default_rng(2)
    points = rng.normal(size=(4, 500, 3)).astype(np.float32)
    valid = rng.random((4, 500)) < 0.3
    valid[3] = False
    valid[3, :5] = True  # a frame with fewer valid points than N
    idx = sample_fixed(points, valid, 32, method, rng)
    assert idx.shape == (4, 32) and idx.dtype == np.int64
    assert valid[np.arange(4)[:, None], idx].all()
    assert set(idx[3]) == set(range(5))


def test_fps_spreads_points_wider_than_random():
    rng = np.random.default_rng(3)
    points = np.concatenate([rng.normal(0, 0.01, (1, 900, 3)), rng.normal(1, 0.01, (1, 100, 3))], axis=1)
    points = points.astype(np.float32)
    valid = np.ones((1, 1000), dtype=bool)

    def min_gap(idx):
        picked = torch.from_numpy(points[0, idx[0]])
        dist = torch.cdist(picked, picked) + torch.eye(len(idx[0])) * 1e9
        return float(dist.min())

    fps = sample_fixed(points, valid, 16, "fps", np.random.default_rng(0), fps_pool=64)
    rand = sample_fixed(points, valid, 16, "random", np.random.default_rng(0))
    assert min_gap(fps) > 2 * min_gap(rand)
    assert (fps[0] >= 900).any()  # FPS reaches the small far cluster


def test_sample_fixed_rejects_bad_arguments():
    points, valid = np.zeros((1, 4, 3), np.float32), np.ones((1, 4), bool)
    with pytest.raises(ValueError, match="num_points must be > 0"):
        sample_fixed(points, valid, 0, "random", np.random.default_rng())
    with pytest.raises(ValueError, match="unknown sampling method 'grid'"):
        sample_fixed(points, valid, 2, "grid", np.random.default_rng())
    with pytest.raises(ValueError, match="at least one valid point"):
        sample_fixed(points, np.zeros((1, 4), bool), 2, "random", np.random.default_rng())


# ------------------------------------------------------------------------------------------------ intrinsics
def _tabletop(frames: int = 4, points: int = 4000, on_object: int = 200, seed: int = 0):
    """A tilted noisy table plane (z ≈ 0.5 m in front of the camera) with a 10 cm box standing on it."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.5, 0.5, (frames, points, 2))
    height = rng.normal(0.0, 0.002, (frames, points))  # depth noise
    is_object = np.zeros((frames, points), bool)
    is_object[:, :on_object] = True
    xy[:, :on_object] = rng.uniform(0.0, 0.1, (frames, on_object, 2))
    height[:, :on_object] = rng.uniform(0.03, 0.1, (frames, on_object))
    tilt = np.deg2rad(40.0)  # the plane is not axis-aligned in the camera frame
    xyz = np.stack([xy[..., 0], xy[..., 1] * np.cos(tilt) - height * np.sin(tilt),
                    0.5 + xy[..., 1] * np.sin(tilt) + height * np.cos(tilt)], axis=-1)
    return xyz.astype(np.float32), is_object


def test_dominant_plane_finds_the_table_and_not_the_object():
    xyz, is_object = _tabletop()
    on_plane = dominant_plane(xyz, 0.015, 64, np.random.default_rng(0))
    assert on_plane.shape == is_object.shape
    assert not on_plane[is_object].any()  # every object point is >= 3 cm above the table
    assert on_plane[~is_object].mean() > 0.99  # noise std 2 mm vs threshold 15 mm


CAP = {"threshold": 0.015, "iterations": 64}  # ingest's defaults (IngestConfig)


@pytest.mark.parametrize("method", ["fps", "random"])
def test_plane_cap_gives_the_object_its_share(method):
    xyz, is_object = _tabletop()  # the object is 5 % of the points
    valid = np.ones(is_object.shape, bool)
    plain = sample_fixed(xyz, valid, 64, method, np.random.default_rng(0), fps_pool=8)
    capped = sample_fixed(xyz, valid, 64, method, np.random.default_rng(0), fps_pool=8, plane=PlaneCap(0.25, **CAP))
    rows = np.arange(len(xyz))[:, None]
    assert is_object[rows, plain].mean() < 0.1
    # 512 candidates hold ~26 object points a frame: all of them are taken (they are all that is off the plane),
    # the table fills the rest
    assert is_object[rows, capped].mean() > 0.3
    assert all(len(np.unique(r)) == 64 for r in capped)  # 64 distinct points, no repeats
    again = sample_fixed(xyz, valid, 64, method, np.random.default_rng(0), fps_pool=8, plane=PlaneCap(0.25, **CAP))
    np.testing.assert_array_equal(capped, again)  # seeded


def test_plane_cap_keeps_at_most_its_share_on_the_plane_when_enough_is_off_it():
    xyz, is_object = _tabletop(points=2000, on_object=1000)  # half of the frame is off the plane
    idx = sample_fixed(xyz, np.ones(is_object.shape, bool), 100, "fps", np.random.default_rng(1), fps_pool=4,
                       plane=PlaneCap(0.3, **CAP))
    on_plane_share = (~is_object[np.arange(len(xyz))[:, None], idx]).mean(axis=1)
    np.testing.assert_allclose(on_plane_share, 0.3)  # exactly round(0.3 * 100) plane points a frame


def test_plane_cap_fills_up_with_the_plane_when_little_is_off_it():
    xyz, is_object = _tabletop(points=1000, on_object=5)
    idx = sample_fixed(xyz, np.ones(is_object.shape, bool), 64, "fps", np.random.default_rng(2), fps_pool=4,
                       plane=PlaneCap(0.0, **CAP))  # "no plane at all" cannot be met: 5 object points exist
    picked = is_object[np.arange(len(xyz))[:, None], idx]
    assert (picked.sum(axis=1) <= 5).all() and (picked.sum(axis=1) >= 1).all()
    assert all(len(np.unique(r)) == 64 for r in idx)


from crossvideo_kedro.geometry import check_intrinsics, project_points, scale_intrinsics  # noqa: E402
from crossvideo_kedro.sequences import DataError  # noqa: E402

GOOD_K = np.array([[150.0, 0.0, 79.5], [0.0, 150.0, 59.5], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize(
    ("entry", "value", "match"),
    [
        ((0, 0), 1e30, r"focal length fx = 1e\+30 px is implausible for 160x120 images; expected 8\.\.8000 px"),
        ((1, 1), 1e-30, r"focal length fy = 1e-30 px is implausible"),
        ((0, 0), -150.0, r"focal length fx = -150 px is implausible"),
        ((0, 2), 1e30, r"principal point cx = 1e\+30 px lies far outside the 160x120 image; expected -40\.\.200"),
        ((1, 2), -90.0, r"principal point cy = -90 px lies far outside"),
        ((0, 1), 40.0, r"skew 40 is more than 0\.1 x fx"),
        ((1, 0), 3.0, r"not a pinhole K"),
        ((2, 2), 0.0, r"not a pinhole K"),
    ],
)
def test_implausible_intrinsics_are_refused_with_the_entry(entry, value, match):
    k = GOOD_K.copy()
    k[entry] = value
    with pytest.raises(DataError, match=match):
        check_intrinsics(k, (120, 160), "cam.json")
    check_intrinsics(GOOD_K, (120, 160), "cam.json")  # the real one passes


def test_skew_is_used_by_back_projection():
    k = GOOD_K.copy()
    k[0, 1] = 5.0  # a small skew, as some calibrations report
    rng = np.random.default_rng(0)
    points = np.stack([rng.uniform(-0.2, 0.2, 50), rng.uniform(-0.2, 0.2, 50), rng.uniform(0.5, 1.5, 50)], -1)
    uv = project_points(points, k)
    pixels = np.rint(uv).astype(int)
    depth = np.zeros((1, 120, 160), dtype=np.float32)
    depth[0, pixels[:, 1], pixels[:, 0]] = points[:, 2]
    back = backproject_pixels(depth, (pixels[:, 1] * 160 + pixels[:, 0])[None], k)[0]
    # exact for the pixel centre: re-project the back-projected point and land on the same integer pixel
    np.testing.assert_allclose(project_points(back, k), pixels, atol=1e-3)
    ignoring_skew = backproject_pixels(depth, (pixels[:, 1] * 160 + pixels[:, 0])[None], GOOD_K)[0]
    assert np.abs(project_points(ignoring_skew, k) - pixels).max() > 0.5  # skew matters by more than a pixel


def test_scaled_intrinsics_follow_a_resize_with_pixel_centres_at_integers():
    scaled = scale_intrinsics(GOOD_K, (120, 160), (60, 40))
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[37.5, 0, 19.5], [0, 75.0, 29.5], [0, 0, 1]])  # centre stays the centre
