"""Time FPS and ball query (Open3D vs pure torch) at a preset's sizes, and their share of an encoder step.

    python benchmarks/bench_neighbors.py                    # small preset: B=8, T=16, N=512, A=32, K=16
    python benchmarks/bench_neighbors.py --preset paper --batch 2 --frames 8
    python benchmarks/bench_neighbors.py --encoder          # + forward/backward of the point encoder

Points are drawn in a 1 m x 1 m x 0.2 m slab (a tabletop seen from above), so balls hold a realistic number of
points. Reported times are the minimum and the median over ``--repeat`` runs (the minimum is the least disturbed
by other processes on a shared machine).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import torch

from crossvideo_kedro.models import point4d
from crossvideo_kedro.geometry.neighbors import ball_query, furthest_point_sample
from crossvideo_kedro.models.point4d import sample_anchors, temporal_window
from crossvideo_kedro.configs.model import PRESETS, resolve_config


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm-up (thread pools, allocator)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def _fmt(label: str, t: tuple[float, float]) -> str:
    return f"{label:<44s} min {t[0] * 1e3:8.2f} ms   median {t[1] * 1e3:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--encoder", action="store_true", help="also time encoder forward+backward per backend")
    args = parser.parse_args()

    cfg = resolve_config(args.preset).point
    B, T, N, A, K, Kt = args.batch, args.frames, cfg.num_points, cfg.num_anchors, cfg.k, cfg.temporal_kernel
    g = torch.Generator().manual_seed(0)
    points = torch.rand(B, T, N, 3, generator=g) * torch.tensor([1.0, 1.0, 0.2])  # (B, T, N, 3)
    print(f"preset={args.preset} B={B} T={T} N={N} A={A} K={K} r={cfg.radius} Kt={Kt}"
          f" threads={torch.get_num_threads()}")

    flat = points.reshape(B * T, N, 3)
    frames, _ = temporal_window(T, Kt)
    anchors = torch.gather(points, 2, sample_anchors(points, A)[..., None].expand(-1, -1, -1, 3))  # (B, T, A, 3)
    xyz = points[:, frames].reshape(B * T * Kt, N, 3)
    centers = anchors[:, :, None].expand(B, T, Kt, A, 3).reshape(B * T * Kt, A, 3)
    inside = ((xyz[:16, None] - centers[:16, :, None]) ** 2).sum(-1) < cfg.radius**2  # (16, A, N), a sample
    fill = inside.sum(-1).float().mean()
    print(f"mean points per ball: {fill:.1f} (K={K} kept)")

    for backend in ("open3d", "torch"):
        print(_fmt(f"FPS        {backend:6s} ({B * T} x {N} -> {A})",
                   _time(lambda b=backend: furthest_point_sample(flat, A, backend=b), args.repeat)))
        print(_fmt(f"ball query {backend:6s} ({B * T * Kt} x {A} centres, K={K})",
                   _time(lambda b=backend: ball_query(xyz, centers, cfg.radius, K, backend=b), args.repeat)))

    if not args.encoder:
        return
    for backend in ("open3d", "torch"):
        torch.manual_seed(0)
        point_cfg = resolve_config({"preset": args.preset, "point": {"neighbor_backend": backend}}).point
        encoder = point4d.PointVideoEncoder(point_cfg)
        spent = [0.0]

        def step(enc: point4d.PointVideoEncoder = encoder) -> None:
            out = enc(points)
            (out["video"].sum() + out["frame"].sum()).backward()

        t_step = _time(step, args.repeat)
        with _timed_neighbours(spent):  # the neighbour ops timed inside the real step (thread pools included)
            t_step_inner = _time(step, args.repeat)
        t_nb = spent[0] / (args.repeat + 1)
        print(_fmt(f"encoder fwd+bwd {backend}", t_step))
        print(f"  FPS + ball query inside the step: mean {t_nb * 1e3:.2f} ms"
              f" = {t_nb / t_step_inner[1]:.1%} of the median step")


@contextlib.contextmanager
def _timed_neighbours(spent: list[float]) -> Iterator[None]:
    """Wrap point4d's anchor sampling and grouping steps with a wall-clock accumulator."""
    originals = point4d.sample_anchors, point4d.group_neighbors

    def timed(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def wrapper(*a: object, **kw: object) -> torch.Tensor:
            start = time.perf_counter()
            out = fn(*a, **kw)
            spent[0] += time.perf_counter() - start
            return out

        return wrapper

    point4d.sample_anchors, point4d.group_neighbors = (timed(f) for f in originals)
    try:
        yield
    finally:
        point4d.sample_anchors, point4d.group_neighbors = originals

if __name__ == "__main__":
    main()
