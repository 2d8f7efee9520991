"""A real pretraining process for the resume and torchrun tests: ``python pretrain_worker.py OUT [options]``.

Builds a small, seeded view bank in memory, runs :func:`crossvideo_kedro.training.pretrain.pretrain` (joining the
process group when launched by torchrun) and lets rank 0 save the final weights to OUT.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch

from crossvideo_kedro.augment import AugmentConfig, build_view_pairs
from crossvideo_kedro.training.distributed import init_distributed
from crossvideo_kedro.training.pretrain import PretrainConfig, pretrain

TINY_MODEL = {
    "point": {"num_points": 32, "num_anchors": 8, "k": 8, "radius": 0.5, "conv_channels": [16], "dim": 32,
              "depth": 1, "heads": 2, "norm": "layer"},
    "image": {"image_size": 16, "channels": [8, 16], "dim": 32, "depth": 1, "heads": 2, "norm": "group"},
    "head": {"hidden_dim": 32, "out_dim": 16, "norm": "layer"},
}


def tiny_bank(num_clips: int = 8, images: bool = True, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Clips of random point/image videos with one view pair each (T=4, N=32, 16x16 images)."""
    config = AugmentConfig.from_dict({"clip_frames": 4, "clip_span": 8, "clip_stride": 8, "pairs_per_clip": 2})
    bank = {}
    for c in range(num_clips):
        rng = np.random.default_rng([seed, c])
        video = {"points": rng.normal(0, 0.3, (8, 32, 3)).astype(np.float32),
                 "timestamps": (np.arange(8) / 7.5).astype(np.float32)}
        frames = {"frames": rng.integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)} if images else None
        bank[f"clip{c:02d}"] = build_view_pairs(video, frames, 0, config, rng)
    return bank


def tiny_config(**overrides) -> PretrainConfig:
    params = {"epochs": 6, "batch_size": 4, "lr": 3e-3, "warmup_steps": 2, "progress": False, "model": TINY_MODEL,
              "checkpoint": {"dir": tempfile.mkdtemp(prefix="ckpt-"), "every_steps": 1000, "resume": False},
              "device": "cpu"}
    params.update(overrides)
    return PretrainConfig.from_dict(params)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--config", default="{}", help="JSON overrides of the pretrain parameters")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to wait after each step")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = tiny_config(**json.loads(args.config))
    dist_info = init_distributed(torch.device("cpu"))
    model, history = pretrain(tiny_bank(), config, dist_info, on_step=lambda step: time.sleep(args.sleep))
    if dist_info.is_main:
        torch.save({"state": model.state_dict(), "loss": history["loss"].tolist()}, args.out)


if __name__ == "__main__":
    main()
