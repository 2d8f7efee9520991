"""Benchmark the synthetic RGB-D generator: frames per second and total seconds for a configuration.

Usage::

    python benchmarks/bench_generate.py                       # the default data set (GeneratorConfig defaults)
    python benchmarks/bench_generate.py --workers 1 2         # compare in-process and 2 worker processes
    python benchmarks/bench_generate.py --sequences 4 --profile   # per-stage timings of a few sequences
    python benchmarks/bench_generate.py --pool --sequences 32     # the unlabelled pool's config (7.5 fps, own seed)
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

from crossvideo_kedro.configs import GeneratorConfig, parse  # noqa: E402
from crossvideo_kedro.synth import generate_sequence, generate_sequences  # noqa: E402
from crossvideo_kedro.synth.config import POOL_FIRST_INDEX  # noqa: E402


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=None, help="num_sequences (default: the config's, 32)")
    parser.add_argument("--frames", type=int, default=None, help="num_frames per sequence (default: 90)")
    parser.add_argument("--width", type=int, default=None, help="image width (default: 160)")
    parser.add_argument("--height", type=int, default=None, help="image height (default: 120)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="num_workers values to time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="also print per-stage timings (in-process)")
    parser.add_argument("--pool", action="store_true",
                        help="time the unlabelled pool (generate.unlabelled: its seed, its fps, same duration)")
    return parser.parse_args()


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _profile(config: GeneratorConfig, count: int) -> None:
    """Time the stages of ``generate_sequence`` with cProfile (cumulative seconds per stage function)."""
    import cProfile  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    generate_sequence(config, 0)  # warm the mesh caches
    profiler = cProfile.Profile()
    profiler.enable()
    for index in range(count):
        generate_sequence(config, index)
    profiler.disable()
    frames = count * config.num_frames
    stats = pstats.Stats(profiler).stats
    stages = ["sample_layout", "plan_motion", "_camera_vertices", "_cast_frame", "cast_rays",
              "_intersect_rectangle", "albedo", "shade", "sensor_color", "sensor_depth", "validate"]
    print(f"per-stage cumulative time over {count} sequences ({frames} frames):")
    for stage in stages:
        total = sum(v[3] for k, v in stats.items() if k[2] == stage or f"'{stage}'" in k[2] or f".{stage}" in k[2])
        print(f"  {stage:22s} {1e3 * total / frames:7.3f} ms/frame")


def _config(overrides: dict, pool: bool) -> GeneratorConfig:
    """The labelled generator, or (``pool``) the unlabelled pool's with ``num_sequences`` as the pool size."""
    if not pool:
        return parse(GeneratorConfig, overrides, "generate")
    overrides = dict(overrides)
    count = overrides.pop("num_sequences", None)
    config = parse(GeneratorConfig, overrides, "generate")
    if count is not None:
        config = parse(GeneratorConfig, {**overrides, "unlabelled": {**config.to_dict()["unlabelled"],
                                                                        "num_sequences": count}}, "generate")
    return config.pool_config()


def main() -> None:
    args = _parse()
    overrides = {"seed": args.seed}
    for key, value in (("num_sequences", args.sequences), ("num_frames", args.frames), ("width", args.width),
                       ("height", args.height)):
        if value is not None:
            overrides[key] = value
    base = _config(overrides, args.pool)
    frames = base.num_sequences * base.num_frames
    print(f"config: {base.num_sequences} sequences x {base.num_frames} frames at {base.width}x{base.height}, "
          f"{len(base.categories)} categories, {len(base.action_classes)} actions, {os.cpu_count()} CPU(s)")
    for workers in args.workers:
        config = _config({**overrides, "num_workers": workers}, args.pool)
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        sequences = generate_sequences(config, first_index=POOL_FIRST_INDEX if args.pool else 0)
        elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
        assert sum(s.num_frames for s in sequences.values()) == frames
        print(f"num_workers={workers}: {elapsed:6.2f} s total, {frames / elapsed:7.1f} frames/s, "
              f"{1e3 * elapsed / frames:5.2f} ms/frame wall, {1e3 * cpu / frames:5.2f} ms/frame CPU "
              f"(all processes; includes worker start-up)")
    print(f"load average now: {', '.join(f'{v:.2f}' for v in os.getloadavg())} (other jobs skew wall times)")
    if args.profile:
        _profile(base, min(base.num_sequences, 4))


if __name__ == "__main__":
    main()
