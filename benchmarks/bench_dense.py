"""One process: the default pretraining step with and without the ``cross_dense`` term, and the view draw's cost.

For each number of dense locations (anchor tokens per frame), the default step (``train_step`` of
``training/pretrain.py`` on a synthetic batch of the default shapes, :mod:`bench_pretrain`) runs with the base
parameters and with ``cross_dense`` at weight 0, interleaved round by round; the best of ``--rounds`` of each is
reported and their ratio, beside the ratio of the steps' FLOP counts (torch's counter: machine load does not
change it). The view draw (``ClipPool.sample`` of a pool of the default shapes, as pretraining draws
it on CPU, in the loop) is timed with and without the point -> pixel link the same way.

    OMP_NUM_THREADS=1 python benchmarks/bench_dense.py [--rounds 5] [--locations 8 16 32] [--threads 1]

Read the ratios: absolute times on a shared machine are noisy, ratios measured in one process are not.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from _profiling import step_flops
from bench_pretrain import make_step, synthetic_batch
from crossvideo_kedro.augment import view_layouts
from crossvideo_kedro.configs import AugmentConfig, parse
from crossvideo_kedro.clip_pool import ClipPool
from crossvideo_kedro.training.precision import set_threads

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"


def best_seconds(run, rounds: int) -> float:
    """Best of ``rounds`` timings of ``run()`` (one warm-up call first)."""
    run()
    times = []
    for _ in range(rounds):
        tick = time.perf_counter()
        run()
        times.append(time.perf_counter() - tick)
    return min(times)


def synthetic_pool(batch: int, frames: int = 40) -> ClipPool:
    """A pool of ``batch`` sequences of the default point count and image size, on a tabletop 0.6 m away."""
    shapes = synthetic_batch(1)
    n, (h, w) = shapes["points"].shape[2], shapes["images"].shape[2:4]
    rng = np.random.default_rng(0)
    k = np.array([[w * 1.0, 0, (w - 1) / 2], [0, w * 1.0, (h - 1) / 2], [0, 0, 1]])
    points, images = {}, {}
    for s in range(batch):
        xyz = rng.uniform(-0.25, 0.25, (frames, n, 3)) * [1, 1, 0.2] + [0, 0, 0.6]
        points[f"s{s}"] = {"points": xyz.astype(np.float32), "timestamps": (np.arange(frames) / 7.5).astype(np.float32)}
        images[f"s{s}"] = {"frames": rng.integers(0, 255, (frames, h, w, 3), dtype=np.uint8), "intrinsics": k}
    return ClipPool.from_videos(points, points, images, need_images=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--locations", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    base = yaml.safe_load((CONF / "parameters_pretrain.yml").read_text())["pretrain"]
    off = copy.deepcopy(base)
    off["loss"]["weights"]["cross_dense"] = 0.0
    without, _ = make_step(off, "auto", False, torch.device("cpu"))
    print(f"default step, {base['batch_size']} clips x 2 views, {torch.get_num_threads()} thread(s), amp auto")
    for locations in args.locations:
        on = copy.deepcopy(base)
        on["loss"]["dense"]["locations"] = locations
        with_dense, _ = make_step(on, "auto", False, torch.device("cpu"))
        t_on, t_off = [], []
        for _ in range(args.rounds):  # interleaved: both see the same machine load
            t_off.append(best_seconds(lambda: without(0), 1))
            t_on.append(best_seconds(lambda: with_dense(0), 1))
        flops = step_flops(with_dense) / step_flops(without)
        print(f"locations {locations:3d}: step {min(t_on) * 1e3:7.1f} ms with cross_dense, {min(t_off) * 1e3:7.1f} ms "
              f"without: time ratio {min(t_on) / min(t_off):.3f}, FLOP ratio {flops:.3f}")
    augment = parse(AugmentConfig, yaml.safe_load((CONF / "parameters_augment.yml").read_text())["augment"], "augment")
    pool, layouts = synthetic_pool(base["batch_size"]), view_layouts(augment)
    draw = {pixels: (lambda p=pixels: pool.sample(np.random.default_rng(0), base["batch_size"], augment, layouts, p))
            for pixels in (False, True)}
    d_on, d_off = [], []
    for _ in range(args.rounds):
        d_off.append(best_seconds(draw[False], 1))
        d_on.append(best_seconds(draw[True], 1))
    print(f"view draw: {min(d_on) * 1e3:.1f} ms with the pixel link, {min(d_off) * 1e3:.1f} ms without: "
          f"+{(min(d_on) - min(d_off)) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
