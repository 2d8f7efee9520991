"""A real pretraining process for the resume and torchrun tests: ``python pretrain_worker.py OUT [options]``.

Builds a small, seeded pool of random point/image videos in memory, runs
:func:`crossvideo_kedro.training.pretrain.pretrain` (joining the process group when launched by torchrun) and lets
rank 0 save the final weights to OUT. ``--shipped`` uses the shipped model preset and head config
(conf/base/parameters_pretrain.yml) at a small point count instead of the tiny test model.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from crossvideo_kedro.configs import AugmentConfig, PretrainConfig, parse
from crossvideo_kedro.clip_pool import ClipPool
from crossvideo_kedro.training.distributed import init_distributed
from crossvideo_kedro.training.pretrain import pretrain

TINY_MODEL = {
    "point": {"num_points": 32, "num_anchors": 8, "k": 8, "radius": 0.5, "conv_channels": [16], "dim": 32,
              "depth": 1, "heads": 2, "norm": "layer"},
    "image": {"image_size": 16, "channels": [8, 16], "dim": 32, "depth": 1, "heads": 2, "norm": "group"},
    "head": {"hidden_dim": 32, "out_dim": 16, "norm": "layer"},
}
TINY_AUGMENT = {"clip_frames": 4, "clip_span": 8}
CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
_CHECKPOINTS = tempfile.TemporaryDirectory(prefix="ckpt-")  # every tiny run's checkpoints; removed at exit


def tiny_pool(num_sequences: int = 8, images: bool = True, seed: int = 0, num_points: int = 32,
              image_size: int = 16, num_frames: int = 12) -> ClipPool:
    """Random point/image videos (num_frames frames at 7.5 fps) in a pool."""
    videos, frames = {}, {}
    for s in range(num_sequences):
        rng = np.random.default_rng([seed, s])
        videos[f"seq{s:02d}"] = {"points": rng.normal(0, 0.3, (num_frames, num_points, 3)).astype(np.float32),
                                 "timestamps": (np.arange(num_frames) / 7.5).astype(np.float32)}
        frames[f"seq{s:02d}"] = {"frames": rng.integers(0, 255, (num_frames, image_size, image_size, 3),
                                                        dtype=np.uint8)}
    return ClipPool.from_videos(videos, videos, frames if images else None, need_images=images)


def tiny_augment(**overrides) -> AugmentConfig:
    return parse(AugmentConfig, {**TINY_AUGMENT, **overrides}, "augment")


def tiny_config(**overrides) -> PretrainConfig:
    params = {"steps": 12, "batch_size": 4, "lr": 3e-3, "warmup_steps": 2, "progress": False, "model": TINY_MODEL,
              "device": "cpu", "amp": False}
    params.update(overrides)
    if "checkpoint" not in params:  # a fresh folder per run, under one that the process removes when it exits
        params["checkpoint"] = {"dir": tempfile.mkdtemp(dir=_CHECKPOINTS.name), "every_steps": 1000,
                                "resume": False}
    return parse(PretrainConfig, params, "pretrain")


def shipped_model(num_points: int = 64) -> dict:
    """The shipped ``pretrain.model`` (preset and head config) with fewer points per frame."""
    model = yaml.safe_load((CONF / "parameters_pretrain.yml").read_text())["pretrain"]["model"]
    return {**model, "point": {**model.get("point", {}), "num_points": num_points}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--config", default="{}", help="JSON overrides of the pretrain parameters")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to wait after each step")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shipped", action="store_true", help="the shipped model config (64 points, 64x64 images)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = json.loads(args.config)
    if args.shipped:
        overrides.setdefault("model", shipped_model())
        pool = tiny_pool(num_points=64, image_size=64)
    else:
        pool = tiny_pool()
    config = tiny_config(**overrides)
    dist_info = init_distributed(torch.device("cpu"))
    model, history = pretrain(pool, tiny_augment(), config, config.seeds[0], dist_info,
                              on_step=lambda step: time.sleep(args.sleep))
    if dist_info.is_main:
        torch.save({"state": model.state_dict(), "loss": history["loss"].tolist()}, args.out)


if __name__ == "__main__":
    main()
