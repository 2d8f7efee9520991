"""One process: reference matmul rates, then the default full fine-tuning step and the frozen-feature pass.

Prints, for the default configuration (conf/base: parameters_ingest/finetune.yml, preset small):

- the dense fp32 and bf16 matmul rates (1024^3), measured interleaved with the steps;
- the trainer's own full fine-tuning step (``FinetuneTrainer.step`` of ``training/finetune_train.py``) of
  ``--task`` on synthetic default-length sequences (``finetune.batch_size`` windows of ``clip_frames`` frames; for
  action segmentation the windows of ``finetune.sequence_batch`` whole sequences, 4 x 6 = 24; ``--batch`` replaces
  the windows, or the sequences): best step time, windows/s, FLOP rate as a fraction of both matmul rates,
  FPS + ball query share;
- a torch.profiler breakdown (neighbour search, grouping, tube MLP, transformer, task head, loss, backward, optimiser);
- the linear probe's frozen-feature pass (no grad, eval mode, ``eval_batch_size`` windows): ms per window;
- peak resident memory.

    python benchmarks/bench_finetune.py [--task semantic_segmentation] [--amp auto] [--compare] [--threads 1]
    python benchmarks/bench_finetune.py --device cuda --amp auto [--batch 64]      # on a GPU

On a shared machine read the ratios; ``--clock cpu`` (default) counts this process's CPU seconds only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.profiler import record_function

from _profiling import CLOCKS, add_common_arguments, bench_device, report_variants, sync_device
from crossvideo_kedro.augment import cover_starts
from crossvideo_kedro.configs import FinetuneConfig, IngestConfig, ModelConfig, parse
from crossvideo_kedro.preprocess import frame_selection
from crossvideo_kedro.training.finetune import RunSpec, build_task_model, make_task_windows
from crossvideo_kedro.training.finetune_train import FinetuneTrainer
from crossvideo_kedro.training.precision import autocast, maybe_compile, set_threads
from crossvideo_kedro.training.tasks import TASKS

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
NUM_CLASSES = 8


def synthetic_videos(count: int, length: int, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """``count`` sequences of ``length`` frames as ingest writes them: points (L, N, 3), timestamps (L,), frame and
    point labels; values do not change the cost (points on a ~1 m tabletop so balls hold realistic counts)."""
    n = yaml.safe_load((CONF / "parameters_ingest.yml").read_text())["ingest"]["num_points"]
    rng = np.random.default_rng(seed)
    return {f"seq_{i:04d}": {
        "points": (rng.uniform(-0.5, 0.5, (length, n, 3)) * [1.0, 1.0, 0.2]).astype(np.float32),
        "timestamps": (np.arange(length) / 7.5).astype(np.float32),
        "frame_labels": rng.integers(0, NUM_CLASSES, length).astype(np.int16),
        "point_labels": rng.integers(0, NUM_CLASSES, (length, n)).astype(np.int16)} for i in range(count)}


def sequence_frames() -> int:
    """Frames of one default generated sequence after ingest's frame selection (90 frames at 15 fps kept at
    7.5 fps: 45 frames, 6 windows of 8)."""
    generate = yaml.safe_load((CONF / "parameters_generate.yml").read_text())["generate"]
    ingest = parse(IngestConfig, yaml.safe_load((CONF / "parameters_ingest.yml").read_text())["ingest"], "ingest")
    kept, _ = frame_selection(generate["num_frames"], generate["fps"], ingest)
    return len(kept)


def make_step(task: str, params: dict, model_params: dict, amp: str, compile_model: bool, device: torch.device):
    """The trainer's own step (:meth:`FinetuneTrainer.step`, full protocol: data to the device, forward of the point
    encoder and the task head, loss, backward, clipping, AdamW, schedule) on synthetic default-length sequences."""
    config = parse(FinetuneConfig, {**params, "amp": amp, "progress": False}, "finetune")
    length = sequence_frames()
    per_sequence = len(cover_starts(length, config.clip_frames))
    units = 4 * (config.sequence_batch if task == "action_segmentation" else -(-config.batch_size // per_sequence))
    videos = synthetic_videos(units, length)
    train = make_task_windows(task, sorted(videos), videos, None, config.clip_frames, fusion=False)
    torch.manual_seed(0)
    spec = RunSpec(task, "full", NUM_CLASSES, False, config.clip_frames, dict(config.temporal), config.ignore_ids)
    model = build_task_model(spec, parse(ModelConfig, model_params, "pretrain.model")).to(device)
    model.point_encoder = maybe_compile(model.point_encoder, compile_model)  # the encoder dominates the step
    trainer = FinetuneTrainer.build(model, task, "full", train, config, seed=0, device=device)

    def step(i: int) -> None:
        with record_function("data"):
            batch = trainer.next_batch()
        trainer.step(batch)

    def frozen_pass(clock) -> float:
        """Seconds per window of the no-grad, eval-mode encoder pass (the linear probe's cached features)."""
        rows = torch.arange(min(config.eval_batch_size, len(train)))
        model.eval()
        best = float("inf")
        with torch.no_grad(), autocast(device, trainer.amp):
            for _ in range(3):
                sync_device(device)
                tick = clock()
                model.point_encoder.forward_features(train.points[rows].to(device), train.times[rows].to(device))
                sync_device(device)
                best = min(best, clock() - tick)
        model.train()
        return best / len(rows)

    step.frozen_pass = frozen_pass  # type: ignore[attr-defined]
    return step, trainer.amp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--task", choices=TASKS, default="semantic_segmentation")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    device = bench_device(args)
    params = yaml.safe_load((CONF / "parameters_finetune.yml").read_text())["finetune"]
    # action segmentation's step encodes every window of ``sequence_batch`` whole sequences, as the trainer does
    per_sequence = len(cover_starts(sequence_frames(), params["clip_frames"]))
    whole = args.task == "action_segmentation"
    if args.batch:
        params["sequence_batch" if whole else "batch_size"] = args.batch
    windows = params["sequence_batch"] * per_sequence if whole else params["batch_size"]
    n = yaml.safe_load((CONF / "parameters_ingest.yml").read_text())["ingest"]["num_points"]
    model_params = {"preset": "small", "point": {"num_points": n}}
    overrides: dict[str, dict] = {}
    for item in args.set:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        overrides.setdefault(section, {})[name] = yaml.safe_load(value)

    def variant(amp: str, extra: dict, compile_model: bool):
        merged = {**model_params, **{k: {**model_params.get(k, {}), **v} for k, v in extra.items()}}
        return make_step(args.task, params, merged, amp, compile_model, device)

    variants = {"this config": (args.amp, overrides, args.compile)}
    if args.compare:
        variants = {"before (fp32, unchunked)": ("off", {"point": {"tube_chunk_rows": 0}}, False), **variants}
    shape = f" ({params['sequence_batch']} sequences x {per_sequence} windows)" if whole else ""
    print(f"full fine-tuning step, {args.task}: {windows} windows{shape} x T={params['clip_frames']}, "
          f"{threads} threads; this config: amp={args.amp}, compile={args.compile}, overrides {args.set or 'none'}")
    built: dict[str, object] = {}

    def builder(name, v):
        def build():
            step, dtype = variant(*v)
            built[name] = step
            return step, dtype
        return build

    report_variants({name: builder(name, v) for name, v in variants.items()}, args, clips=windows,
                    device=device)
    print(f"\nfrozen-feature pass (no grad, eval, {params['eval_batch_size']} windows per batch, clock {args.clock}):")
    for name, step in built.items():
        print(f"  {name:<28}{step.frozen_pass(CLOCKS[args.clock]) * 1e3:>8.1f} ms per window")


if __name__ == "__main__":
    main()
