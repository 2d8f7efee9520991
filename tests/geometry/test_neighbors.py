"""FPS and ball query: Open3D and torch backends agree index for index, and both follow PointNet++ semantics."""

from __future__ import annotations

import pytest
import torch

from crossvideo_kedro._open3d import ml_ops
from crossvideo_kedro.geometry.neighbors import _covered_picks_to_first, ball_query, furthest_point_sample

needs_open3d = pytest.mark.skipif(ml_ops() is None, reason="open3d.ml.torch.ops unavailable")


def _naive_ball_query(xyz: torch.Tensor, centers: torch.Tensor, radius: float, k: int) -> torch.Tensor:
    """Straight from the PointNet++ kernel: scan points in order, keep d² < r² (float32), pad with the first."""
    r2 = float(torch.tensor(radius, dtype=torch.float32) ** 2)
    out = torch.zeros(*centers.shape[:2], k, dtype=torch.long)
    for b in range(xyz.shape[0]):
        for m in range(centers.shape[1]):
            found = []
            for n in range(xyz.shape[1]):
                d = xyz[b, n] - centers[b, m]
                if float(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) < r2:
                    found.append(n)
                    if len(found) == k:
                        break
            if found:
                out[b, m] = torch.tensor(found + [found[0]] * (k - len(found)))
    return out


def _cloud_with_boundary_points(seed: int, B: int, N: int, M: int, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Random points plus every third point placed at distance ~radius (float32-rounded) from the first centre."""
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(B, N, 3, generator=g) * 2 - 1
    centers = xyz[:, :M] + 0.01 * torch.randn(B, M, 3, generator=g)
    direction = torch.nn.functional.normalize(torch.randn(B, N, 3, generator=g), dim=-1)
    xyz[:, ::3] = centers[:, :1] + radius * direction[:, ::3]
    return xyz, centers


@needs_open3d
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("B", "N", "m"), [(1, 7, 7), (2, 5, 9), (3, 100, 16), (5, 513, 64), (2, 2048, 128)])
def test_fps_backends_identical(seed: int, B: int, N: int, m: int) -> None:
    xyz = torch.rand(B, N, 3, generator=torch.Generator().manual_seed(seed)) * 4 - 2
    a = furthest_point_sample(xyz, m, backend="open3d")
    b = furthest_point_sample(xyz, m, backend="torch")
    assert a.dtype == b.dtype == torch.int64
    assert a.shape == (B, m)
    assert torch.equal(a, b)


def test_fps_picks_after_full_cover_are_index_0_whatever_the_kernel_tied_on() -> None:
    # the CI failure: Open3D's parallel argmax returned point 2 where every distance was already 0, torch returns 0
    xyz = torch.rand(2, 5, 3, generator=torch.Generator().manual_seed(5)) * 4 - 2
    open3d_on_ci = torch.tensor([[0, 2, 4, 1, 3, 0, 0, 0, 0], [0, 2, 3, 1, 4, 2, 0, 0, 0]])
    fixed = _covered_picks_to_first(xyz, open3d_on_ci)
    assert torch.equal(fixed, torch.tensor([[0, 2, 4, 1, 3, 0, 0, 0, 0], [0, 2, 3, 1, 4, 0, 0, 0, 0]]))
    assert torch.equal(fixed, furthest_point_sample(xyz, 9, backend="torch"))
    # copies of a point: a pick becomes its lowest copy, and a repeat (distance 0) and all after it become 0
    dup = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]]])
    assert torch.equal(_covered_picks_to_first(dup, torch.tensor([[0, 3, 4, 1, 2]])), torch.tensor([[0, 1, 2, 0, 0]]))
    assert torch.equal(furthest_point_sample(dup, 5, backend="torch"), torch.tensor([[0, 1, 2, 0, 0]]))


@needs_open3d
@pytest.mark.parametrize("seed", range(4))
def test_fps_backends_identical_on_clouds_with_duplicate_points(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    distinct = torch.rand(3, 40, 3, generator=g)
    xyz = distinct[:, torch.randint(0, 40, (1500,), generator=g)]  # 1,500 points, at most 40 distinct
    xyz[:, 0] = distinct[:, 0]
    a = furthest_point_sample(xyz, 200, backend="open3d")
    assert torch.equal(a, furthest_point_sample(xyz, 200, backend="torch"))
    assert (a[:, 45:] == 0).all()


@needs_open3d
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("B", "N", "M", "k"), [(1, 10, 3, 4), (4, 300, 17, 1), (4, 300, 17, 16), (2, 1000, 32, 64)])
def test_ball_query_backends_identical_including_boundary(seed: int, B: int, N: int, M: int, k: int) -> None:
    radius = 0.3
    xyz, centers = _cloud_with_boundary_points(seed, B, N, M, radius)
    d2 = ((xyz[:, None] - centers[:, :1, None]) ** 2).sum(-1)
    assert ((d2 - radius**2).abs() < 1e-6).sum() >= N // 3 - 1  # the boundary case is really exercised
    a = ball_query(xyz, centers, radius, k, backend="open3d")
    b = ball_query(xyz, centers, radius, k, backend="torch")
    assert a.dtype == b.dtype == torch.int64
    assert a.shape == (B, M, k)
    assert torch.equal(a, b)


@pytest.mark.parametrize("seed", range(3))
def test_torch_ball_query_matches_naive_scan(seed: int) -> None:
    xyz, centers = _cloud_with_boundary_points(seed, 2, 40, 5, 0.5)
    centers[:, -1] = 10.0  # an empty ball
    expected = _naive_ball_query(xyz, centers, 0.5, 6)
    assert torch.equal(ball_query(xyz, centers, 0.5, 6, backend="torch"), expected)
    assert torch.equal(expected[:, -1], torch.zeros(2, 6, dtype=torch.long))


@pytest.mark.parametrize("backend", ["auto", "torch", pytest.param("open3d", marks=needs_open3d)])
def test_ball_query_strict_radius_padding_and_empty(backend: str) -> None:
    xyz = torch.tensor([[[0.0, 0, 0], [0.5, 0, 0], [0.25, 0, 0], [3, 0, 0], [0, 0.125, 0]]])
    centers = torch.tensor([[[0.0, 0, 0], [10, 0, 0], [3, 0, 0]]])
    idx = ball_query(xyz, centers, 0.5, 4, backend=backend)
    # point 1 sits exactly at r (0.25 == 0.5², exact in float32): strictly outside
    assert idx.tolist() == [[[0, 2, 4, 0], [0, 0, 0, 0], [3, 3, 3, 3]]]


@pytest.mark.parametrize("backend", ["auto", "torch", pytest.param("open3d", marks=needs_open3d)])
def test_fps_hand_made_line(backend: str) -> None:
    xyz = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [10, 0, 0], [5, 0, 0], [7.5, 0, 0]]])
    # from x=0: farthest is 10; then 5 (5 from both); then 7.5 (2.5 from 5 and 10) beats 2 (2 from 0)
    assert furthest_point_sample(xyz, 4, backend=backend).tolist() == [[0, 3, 4, 5]]


@pytest.mark.parametrize("backend", ["auto", "torch", pytest.param("open3d", marks=needs_open3d)])
def test_fps_picks_one_point_per_cluster(backend: str) -> None:
    g = torch.Generator().manual_seed(0)
    corners = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1]])
    xyz = (corners[:, None, :] + 0.01 * torch.rand(4, 25, 3, generator=g)).reshape(1, 100, 3)  # 4 tight clusters
    xyz = xyz[:, torch.randperm(100, generator=g)]
    idx = furthest_point_sample(xyz, 4, backend=backend)
    assert idx[0, 0] == 0
    picked = xyz[0, idx[0]]  # (4, 3)
    cluster = torch.cdist(picked, corners).argmin(dim=1)
    assert sorted(cluster.tolist()) == [0, 1, 2, 3]
    assert torch.pdist(picked).min() > 0.9  # mutually far: no two picks share a cluster


def test_backend_errors() -> None:
    xyz = torch.rand(1, 8, 3)
    with pytest.raises(ValueError, match="backend must be one of"):
        furthest_point_sample(xyz, 2, backend="cuda")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        ball_query(torch.rand(8, 3), xyz, 0.1, 4)
    with pytest.raises(ValueError, match="radius"):
        ball_query(xyz, xyz, 0.0, 4)
    if ml_ops() is not None:
        with pytest.raises(ValueError, match="CPU tensors only"):
            furthest_point_sample(torch.empty(1, 8, 3, device="meta"), 2, backend="open3d")


def _naive_knn_sets(xyz: torch.Tensor, k: int) -> list[list[set[int]]]:
    """The k nearest points of every point by sorting its float64 distances (a set: ties never occur here)."""
    d = ((xyz[:, :, None].double() - xyz[:, None].double()) ** 2).sum(-1)
    return [[set(d[b, n].argsort()[:k].tolist()) for n in range(xyz.shape[1])] for b in range(xyz.shape[0])]


@pytest.mark.parametrize("backend", ["torch", pytest.param("open3d", marks=needs_open3d)])
@pytest.mark.parametrize(("B", "N", "k"), [(1, 9, 4), (3, 100, 8), (2, 256, 16), (2, 5, 8)])
def test_knn_finds_the_nearest_points_of_each_cloud_nearest_first(backend: str, B: int, N: int, k: int) -> None:
    from crossvideo_kedro.geometry.neighbors import knn

    xyz = torch.rand(B, N, 3, generator=torch.Generator().manual_seed(N)) * 2 - 1
    idx = knn(xyz, k, backend)
    assert idx.shape == (B, N, min(k, N)) and idx.dtype == torch.int64
    assert (idx[..., 0] == torch.arange(N)).all()  # itself first (distance 0)
    assert [[set(row.tolist()) for row in cloud] for cloud in idx] == _naive_knn_sets(xyz, min(k, N))
    d = (xyz[:, :, None] - torch.gather(xyz[:, None].expand(-1, N, -1, -1), 2, idx[..., None].expand(-1, -1, -1, 3)))
    dist = d.square().sum(-1)
    assert (dist[..., 1:] >= dist[..., :-1]).all()  # nearest first
    with pytest.raises(ValueError, match="k must be >= 1"):
        knn(xyz, 0, backend)
