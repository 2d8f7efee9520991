"""One process: reference matmul rates, then the default pretraining step (data + forward + backward + AdamW).

Prints, for the default configuration (conf/base: parameters_ingest/augment/pretrain.yml):

- the dense fp32 and bf16 matmul rates (1024^3), measured in this process interleaved with the steps;
- the step time (best of ``--rounds``), clips/s, and the step's FLOP rate as a fraction of both rates;
- a torch.profiler breakdown: data assembly, forward (FPS, ball query, grouping, tube MLP, point transformer,
  image CNN, image transformer, heads), losses, backward, optimiser — ms per step and share of the step;
- the FPS + ball query share of the step, and peak resident memory.

The step is ``training/pretrain.py``'s own ``train_step`` (model, CrossVideo loss, AdamW, schedule, clipping) on a
synthetic view-major batch of the default shapes (the loader that draws views runs in a prefetch thread and is
not part of it), with ``--amp`` (auto | bf16 | off) and ``--compile`` as the loop's parameters would set them.
``--compare`` also runs the pre-optimisation step (fp32, unchunked tube MLP), interleaved.

    python benchmarks/bench_pretrain.py [--compare] [--amp auto] [--threads 1] [--rounds 5] [--compile] [--top 25]
    python benchmarks/bench_pretrain.py --device cuda --amp auto [--batch 128]     # on a GPU

On a shared machine absolute times are noisy: read the ratios (step FLOP rate / matmul rate, shares of the step).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.profiler import record_function

from _profiling import add_common_arguments, bench_device, report_variants
from crossvideo_kedro.losses import CrossVideoLoss
from crossvideo_kedro.configs import LossConfig, ModelConfig, parse
from crossvideo_kedro.training.model import CrossVideoModel
from crossvideo_kedro.training.precision import maybe_compile, resolve_amp, set_threads
from crossvideo_kedro.training.pretrain import _to_device, train_step, uses_images, uses_pixels
from crossvideo_kedro.training.schedule import build_optimizer, build_scheduler

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"


def synthetic_batch(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A view-major batch as the pretraining loader hands it to the step: 2·B rows (view 1, then view 2).

    Shapes come from conf/base (ingest.num_points, ingest.image_size, augment.clip_frames); values do not change
    the cost (points on a ~1 m tabletop so balls hold realistic numbers of points).
    """
    ingest = yaml.safe_load((CONF / "parameters_ingest.yml").read_text())["ingest"]
    T = yaml.safe_load((CONF / "parameters_augment.yml").read_text())["augment"]["clip_frames"]
    n, (h, w) = ingest["num_points"], ingest["image_size"]
    rng = np.random.default_rng(seed)
    points = rng.uniform(-0.5, 0.5, (2 * batch, T, n, 3)).astype(np.float32) * [1, 1, 0.2] + [0, 0, 0.6]
    keys = np.arange(batch)[:, None] * 1000 + np.arange(T)  # (B, T) global frame keys of view 1
    return {
        "points": points.astype(np.float32),
        "times": np.tile((np.arange(T) / 7.5).astype(np.float32), (2 * batch, 1)),
        "keys": np.concatenate([keys, keys + 2]).astype(np.int64),  # view 2 overlaps view 1 on T - 2 frames
        "sequence": np.concatenate([np.arange(batch)] * 2).astype(np.int64),
        "images": rng.integers(0, 255, (2 * batch, T, h, w, 3), dtype=np.uint8),
        "uv": (rng.random((2 * batch, T, n, 2)) * [w, h] - 0.5).astype(np.float32),  # the point -> pixel link
        "uv_valid": rng.random((2 * batch, T, n)) < 0.9,
    }


def make_step(params: dict, amp: str, compile_model: bool, device: torch.device):
    """``training/pretrain.py``'s own :func:`~crossvideo_kedro.training.pretrain.train_step` (model, loss, AdamW,
    schedule, clipping; its profiler ranges) on the synthetic batches, after the loop's own ``_to_device``."""
    loss_fn = CrossVideoLoss(parse(LossConfig, params.get("loss"), "pretrain.loss"))
    need_images = uses_images(loss_fn)
    batch = params["batch_size"]
    torch.manual_seed(0)
    model = CrossVideoModel(parse(ModelConfig, params["model"], "pretrain.model"), use_images=need_images,
                            terms=loss_fn.weights, dense_locations=loss_fn.dense.locations,
                            dense_dim=loss_fn.dense.dim).to(device)
    train_model = maybe_compile(model, compile_model)
    optimizer = build_optimizer(model.parameters(), params["optimizer"], params["lr"], params["weight_decay"])
    scheduler = build_scheduler(optimizer, 10**6, params["warmup_steps"], params["min_lr_ratio"])
    dtype = resolve_amp(amp, device)
    batches = [synthetic_batch(batch, seed) for seed in range(2)]
    for views in batches:
        if not need_images:
            del views["images"]
        if not uses_pixels(loss_fn):
            del views["uv"], views["uv_valid"]
    rows = np.arange(2 * batch)  # every row: one rank
    model.train()

    def step(i: int) -> None:
        with record_function("data"):
            tensors = _to_device(batches[i % 2], rows, device)
        train_step(model, train_model, tensors, loss_fn, optimizer, scheduler, params["grad_clip"], device, dtype,
                   need_images, batch)

    return step, dtype


def parse_overrides(items: list[str]) -> dict[str, dict]:
    """``["point.tube_chunk_rows=0", ...]`` -> ``{"point": {"tube_chunk_rows": 0}}`` (values parsed as YAML)."""
    out: dict[str, dict] = {}
    for item in items:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    args = parser.parse_args()
    threads = set_threads(args.threads)
    device = bench_device(args)
    params = yaml.safe_load((CONF / "parameters_pretrain.yml").read_text())["pretrain"]
    params["batch_size"] = batch = args.batch or params["batch_size"]
    T = synthetic_batch(2)["points"].shape[1]

    def variant(amp: str, overrides: dict, compile_model: bool):
        model = {k: {**(params["model"].get(k) or {}), **v} if isinstance(v, dict) else v
                 for k, v in {**params["model"], **overrides}.items()}
        return make_step({**params, "model": model}, amp, compile_model, device)

    variants = {"this config": (args.amp, parse_overrides(args.set), args.compile)}
    if args.compare:
        variants = {"before (fp32, unchunked)": ("off", {"point": {"tube_chunk_rows": 0}}, False), **variants}
    print(f"pretraining step, default config: {batch} clips x 2 views, T={T}, {threads} threads; "
          f"this config: amp={args.amp}, compile={args.compile}, overrides {args.set or 'none'}")
    report_variants({name: (lambda v=v: variant(*v)) for name, v in variants.items()}, args, clips=batch,
                    device=device)


if __name__ == "__main__":
    main()
