"""One process: the machine's dense fp32 matmul rate, then the default pretraining step (forward + backward + AdamW).

Reports clips/s, achieved FLOP/s as a fraction of the matmul rate, the share of step time in FPS + ball query, and
peak memory. Shapes and the model come from conf/base (parameters_ingest/augment/pretrain.yml).

    python benchmarks/bench_pretrain.py [--steps 10] [--threads N]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from crossvideo_kedro.augment import AugmentConfig, build_view_pairs
from crossvideo_kedro.models import point4d
from crossvideo_kedro.training import pretrain as pretrain_module
from crossvideo_kedro.training.pretrain import PretrainConfig

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"


def matmul_rate(size: int = 2048, repeats: int = 10) -> float:
    """Dense fp32 matmul FLOP/s (best of ``repeats``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        tick = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - tick)
    return 2 * size**3 / best


class NeighbourTimer:
    """Wraps FPS and ball query (as the point encoder calls them) to add up their wall time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._originals = {}

    def __enter__(self) -> "NeighbourTimer":
        for module, name in ((point4d, "furthest_point_sample"), (point4d, "ball_query")):
            original = getattr(module, name)
            self._originals[(module, name)] = original

            def timed(*args, _original=original, **kwargs):
                tick = time.perf_counter()
                try:
                    return _original(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - tick

            setattr(module, name, timed)
        return self

    def __exit__(self, *exc) -> None:
        for (module, name), original in self._originals.items():
            setattr(module, name, original)


def default_bank(num_clips: int) -> dict:
    ingest = yaml.safe_load((CONF / "parameters_ingest.yml").read_text())["ingest"]
    augment = AugmentConfig.from_dict(yaml.safe_load((CONF / "parameters_augment.yml").read_text())["augment"])
    n, (h, w) = ingest["num_points"], ingest["image_size"]
    bank = {}
    for c in range(num_clips):
        rng = np.random.default_rng(c)
        video = {"points": rng.normal(0, 0.2, (augment.clip_span, n, 3)).astype(np.float32) + [0, 0, 0.6],
                 "timestamps": (np.arange(augment.clip_span) / 7.5).astype(np.float32)}
        frames = {"frames": rng.integers(0, 255, (augment.clip_span, h, w, 3), dtype=np.uint8)}
        bank[f"c{c:03d}"] = build_view_pairs(video, frames, 0, augment, rng)
    return bank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    params = yaml.safe_load((CONF / "parameters_pretrain.yml").read_text())["pretrain"]
    batch = params["batch_size"]
    params.update(epochs=1, progress=False, checkpoint={"dir": "/tmp/bench_pretrain_ckpt", "resume": False,
                                                        "every_steps": 10**6})
    config = PretrainConfig.from_dict(params)
    rate = matmul_rate()
    print(f"dense fp32 matmul (2048^3): {rate / 1e9:.1f} GFLOP/s with {torch.get_num_threads()} threads")

    bank = default_bank(batch * (args.steps + 1))
    times: list[float] = []
    flops = FlopCounterMode(display=False)
    state = {"tick": time.perf_counter()}

    def on_step(step: int) -> None:
        now = time.perf_counter()
        times.append(now - state["tick"])
        state["tick"] = now

    with NeighbourTimer() as timer:
        pretrain_module.pretrain(bank, config, on_step=on_step)  # warm-up epoch: steps + 1 batches
    neighbour_share = timer.seconds / sum(times)
    with flops:  # FLOPs of exactly one step
        one = PretrainConfig.from_dict({**params, "epochs": 1})
        pretrain_module.pretrain(dict(list(bank.items())[:batch]), one)
    step_flops = flops.get_total_flops()
    step_s = float(np.median(times[1:]))  # skip the first step (allocation, thread pools)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shapes = next(iter(bank.values()))
    print(f"pretraining step: batch {batch} clips x 2 views, T={shapes['points'].shape[2]}, "
          f"N={shapes['points'].shape[3]}, images {shapes['images'].shape[3:5]}")
    print(f"  median step {step_s * 1000:.0f} ms -> {batch / step_s:.1f} clips/s")
    print(f"  {step_flops / 1e9:.1f} GFLOP per step -> {step_flops / step_s / 1e9:.1f} GFLOP/s "
          f"= {step_flops / step_s / rate:.1%} of the matmul rate")
    print(f"  FPS + ball query: {neighbour_share:.1%} of step time")
    print(f"  peak resident memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
