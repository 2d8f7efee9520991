"""Ingest throughput on the real 7-Scenes sample: decode + back-project + sample, frames per second and peak memory.

    python benchmarks/bench_ingest.py [--frames 300] [--sampling fps|random] [--points 256]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from crossvideo_kedro.datasets import RGBDFolderDataset
from crossvideo_kedro.preprocess import IngestConfig, ingest_raw_sequence

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "7scenes_kitchen"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--sampling", default="fps", choices=["fps", "random"])
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dataset = RGBDFolderDataset(
        path=str(SAMPLE), depth_pattern="frame-{index:06d}.depth.png", color_pattern="frame-{index:06d}.color.jpg",
        intrinsics="camera-intrinsics.txt", invalid_depth=[0, 65535], fps=30.0, max_frames=args.frames,
    )
    config = IngestConfig.from_dict({"num_points": args.points, "sampling": args.sampling, "max_depth": 4.0,
                                     "target_fps": None})
    loader = next(iter(dataset.load().values()))
    best_read = best_ingest = float("inf")
    for _ in range(args.repeats):
        tick = time.perf_counter()
        seq = loader()
        best_read = min(best_read, time.perf_counter() - tick)
        tick = time.perf_counter()
        points, images = ingest_raw_sequence(seq, config)
        best_ingest = min(best_ingest, time.perf_counter() - tick)
    frames = seq.num_frames
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"7-Scenes kitchen, {frames} frames {seq.depth.shape[2]}x{seq.depth.shape[1]}, N={args.points}, "
          f"sampling={args.sampling}")
    print(f"  decode (colour + depth): {frames / best_read:7.1f} frames/s ({best_read:.2f} s)")
    print(f"  back-project + sample:   {frames / best_ingest:7.1f} frames/s ({best_ingest:.2f} s)")
    print(f"  end to end:              {frames / (best_read + best_ingest):7.1f} frames/s")
    print(f"  peak resident memory:    {peak_mib:7.0f} MiB")
    print(f"  output: points {points['points'].shape}, images {images['frames'].shape}")


if __name__ == "__main__":
    main()
