"""Ingest throughput and peak memory of one long RGB-D sequence: streamed (chunks) vs decoded whole.

Each case runs in its own process so its peak resident memory (ru_maxrss) is its own. A longer video is made by
repeating the sample's frames (frame i reads stored frame i mod T), so 3,000 frames need no 3,000-frame capture.

    python benchmarks/bench_ingest.py ../shared/data/7scenes_kitchen             # 7-Scenes patterns (default)
    python benchmarks/bench_ingest.py data/01_raw/generated/<version>            # a HOI4D raw layout folder
    python benchmarks/bench_ingest.py FOLDER --frames 300 3000 --modes stream whole --whole-max 1000
    python benchmarks/bench_ingest.py FOLDER --depth-pattern "depth/{index:06d}.png" --color-pattern "" \\
        --intrinsics cam.json --depth-scale 0.001                              # any RGB-D folder (depth only)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402

from crossvideo_kedro.datasets import HOI4DRawDataset, RGBDFolderDataset  # noqa: E402
from crossvideo_kedro.configs import IngestConfig, parse  # noqa: E402
from crossvideo_kedro.preprocess import ingest_raw_sequence  # noqa: E402
from crossvideo_kedro.sequences import LazyRawSequence  # noqa: E402

SEVEN_SCENES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "7scenes_kitchen"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default=str(SEVEN_SCENES), help="RGB-D folder or HOI4D raw layout")
    parser.add_argument("--frames", type=int, nargs="+", default=[300, 3000], help="video lengths to time")
    parser.add_argument("--modes", nargs="+", default=["stream", "whole"], choices=["stream", "whole"],
                        help="stream: ingest reads chunk_frames at a time; whole: decode every frame first (old)")
    parser.add_argument("--whole-max", type=int, default=1000, help="longest video to decode whole (memory!)")
    parser.add_argument("--depth-pattern", default="frame-{index:06d}.depth.png")
    parser.add_argument("--color-pattern", default="frame-{index:06d}.color.jpg", help='"" for depth only')
    parser.add_argument("--intrinsics", default="camera-intrinsics.txt")
    parser.add_argument("--depth-scale", type=float, default=0.001)
    parser.add_argument("--invalid-depth", type=int, nargs="+", default=[0, 65535])
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--sampling", default="fps", choices=["fps", "random"])
    parser.add_argument("--max-depth", type=float, default=4.0)
    parser.add_argument("--chunk-frames", type=int, default=32)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FRAMES"), help=argparse.SUPPRESS)
    return parser.parse_args()


def _open(args: argparse.Namespace) -> LazyRawSequence:
    folder = Path(args.folder)
    if any(folder.rglob("align_depth")):
        loaders = HOI4DRawDataset(str(folder)).load()
    else:
        loaders = RGBDFolderDataset(
            path=str(folder), depth_pattern=args.depth_pattern, color_pattern=args.color_pattern or None,
            intrinsics=args.intrinsics, depth_scale=args.depth_scale, invalid_depth=args.invalid_depth, fps=args.fps,
        ).load()
    return next(iter(loaders.values())).open()


def _repeated(base: LazyRawSequence, frames: int) -> LazyRawSequence:
    """``base`` played in a loop to ``frames`` frames: frame i is stored frame i mod T (no events: they would end)."""
    files = base.meta.get("depth_files") or []
    return LazyRawSequence(
        name=base.name, num_frames=frames, height=base.height, width=base.width, intrinsics=base.intrinsics,
        fps=base.fps, read=lambda idx: base.read(np.asarray(idx) % base.num_frames), has_color=base.has_color,
        has_labels=base.has_labels, source=base.source,
        meta={"depth_files": [files[i % len(files)] for i in range(frames)] if files else []},
    )


def _child(args: argparse.Namespace, mode: str, frames: int) -> None:
    seq = _repeated(_open(args), frames)
    config = parse(IngestConfig, {"num_points": args.points, "sampling": args.sampling, "max_depth": args.max_depth,
                                     "target_fps": None, "chunk_frames": args.chunk_frames}, "ingest")
    tick = time.perf_counter()
    points, images = ingest_raw_sequence(seq.load() if mode == "whole" else seq, config)
    seconds = time.perf_counter() - tick
    print(json.dumps({
        "mode": mode, "frames": frames, "seconds": seconds, "frames_per_s": frames / seconds,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "size": f"{seq.width}x{seq.height}", "points": list(points["points"].shape),
        "images": list(images["frames"].shape) if images else None,
    }))


def main() -> None:
    args = _parse()
    if args.child:
        _child(args, args.child[0], int(args.child[1]))
        return
    base = _open(args)
    print(f"{args.folder}: {base.num_frames} stored frames {base.width}x{base.height}, colour {base.has_color}; "
          f"N={args.points} ({args.sampling}), chunk_frames={args.chunk_frames}")
    print(f"{'mode':>7} {'frames':>7} {'seconds':>8} {'frames/s':>9} {'peak MiB':>9}")
    rows = []
    for mode in args.modes:
        for frames in args.frames:
            if mode == "whole" and frames > args.whole_max:
                print(f"{mode:>7} {frames:>7}  skipped (> --whole-max {args.whole_max}: would hold every frame)")
                continue
            command = [sys.executable, __file__, *sys.argv[1:], "--child", mode, str(frames)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            row = json.loads(out)
            rows.append(row)
            print(f"{mode:>7} {frames:>7} {row['seconds']:8.2f} {row['frames_per_s']:9.1f} {row['peak_mib']:9.0f}")
    stream = {r["frames"]: r["peak_mib"] for r in rows if r["mode"] == "stream"}
    if len(stream) > 1:
        short, long = min(stream), max(stream)
        print(f"streamed peak memory, {long} vs {short} frames: x{stream[long] / stream[short]:.2f} "
              f"({long / short:.0f}x the frames)")


if __name__ == "__main__":
    main()
