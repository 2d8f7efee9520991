"""One process: reference matmul rates, then the default full fine-tuning step and the frozen-feature pass.

Prints, for the default configuration (conf/base: parameters_ingest/finetune.yml, preset small):

- the dense fp32 and bf16 matmul rates (1024^3), measured interleaved with the steps;
- the full fine-tuning step of ``--task`` (``finetune.batch_size`` windows of ``clip_frames`` frames; for action
  segmentation the windows of ``finetune.sequence_batch`` default sequences, 4 x 6 = 24, as the trainer's step:
  data, forward of the point encoder and the task head, cross-entropy, backward, AdamW): best step time, windows/s,
  FLOP rate as a fraction of both matmul rates, FPS + ball query share;
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
import torch.nn.functional as F
import yaml
from torch.profiler import record_function

from _profiling import CLOCKS, add_common_arguments, bench_device, report_variants, sync_device
from crossvideo_kedro.augment import cover_starts
from crossvideo_kedro.models.presets import ModelConfig
from crossvideo_kedro.preprocess import IngestConfig, frame_selection
from crossvideo_kedro.training.precision import autocast, maybe_compile, resolve_amp, set_threads
from crossvideo_kedro.training.schedule import build_optimizer, build_scheduler
from crossvideo_kedro.training.tasks import TASKS, TaskModel

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
NUM_CLASSES = 8


def synthetic_windows(count: int, T: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Windows as fine-tuning feeds them: points (W, T, N, 3), times (W, T), frame and point labels."""
    n = yaml.safe_load((CONF / "parameters_ingest.yml").read_text())["ingest"]["num_points"]
    g = torch.Generator().manual_seed(seed)
    points = (torch.rand(count, T, n, 3, generator=g) - 0.5) * torch.tensor([1.0, 1.0, 0.2])
    return {"points": points, "times": torch.arange(T, dtype=torch.float32).expand(count, T) / 7.5,
            "frame_labels": torch.randint(0, NUM_CLASSES, (count, T), generator=g),
            "point_labels": torch.randint(0, NUM_CLASSES, (count, T, n), generator=g)}


def sequence_windows(clip_frames: int) -> int:
    """Windows that cover one default generated sequence after ingest's frame selection (90 frames at 15 fps kept at
    7.5 fps: 45 frames, 6 windows of 8)."""
    generate = yaml.safe_load((CONF / "parameters_generate.yml").read_text())["generate"]
    ingest = IngestConfig.from_dict(yaml.safe_load((CONF / "parameters_ingest.yml").read_text())["ingest"])
    kept, _ = frame_selection(generate["num_frames"], generate["fps"], ingest)
    return len(cover_starts(len(kept), clip_frames))


def make_step(task: str, params: dict, model_params: dict, amp: str, compile_model: bool, device: torch.device):
    """One full fine-tuning step of ``training/finetune.py`` (head and encoder learning rates, clipping)."""
    torch.manual_seed(0)
    model = TaskModel(task, ModelConfig.from_dict(model_params), NUM_CLASSES).to(device)
    encoder = {id(p) for m in model.encoder_modules() for p in m.parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in encoder], "lr": params["lr"]},
              {"params": [p for p in model.parameters() if id(p) in encoder],
               "lr": params["lr"] * params["encoder_lr_ratio"]}]
    optimizer = build_optimizer(groups, params["optimizer"], params["lr"], params["weight_decay"])
    scheduler = build_scheduler(optimizer, 10**6, params["warmup_steps"], params["min_lr_ratio"])
    features = maybe_compile(model.point_encoder, compile_model)  # the encoder dominates the step
    dtype = resolve_amp(amp, device)
    data = synthetic_windows(4 * params["batch_size"], params["clip_frames"])
    label_key = "point_labels" if task == "semantic_segmentation" else "frame_labels"
    model.train()

    def step(i: int) -> None:
        with record_function("data"):
            order = np.random.default_rng(i).permutation(len(data["points"]))
            idx = torch.from_numpy(order[: params["batch_size"]])
            points, times = data["points"][idx].to(device), data["times"][idx].to(device)
            target = data[label_key][idx].to(device)
            if task == "action_recognition":
                target = target[:, 0]
        with record_function("forward"), autocast(device, dtype):
            feats = dict(features.forward_features(points, times))
            with record_function("task_head"):
                if task == "action_segmentation":  # the batch's windows as one sequence: (1, B*T, D) -> (S, 1, L, C)
                    x = model.frame_inputs(feats)
                    logits = model.sequence_logits(x.reshape(1, -1, x.shape[-1]))
                    target = target.reshape(1, -1).expand(logits.shape[0], -1)
                else:
                    logits = model.forward_head(points, feats)
        with record_function("loss"):
            loss = F.cross_entropy(logits.float().reshape(-1, NUM_CLASSES), target.reshape(-1))
        with record_function("backward"):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("optimizer"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), params["grad_clip"] or float("inf"))
            optimizer.step()
            scheduler.step()

    def frozen_pass(clock) -> float:
        """Seconds per window of the no-grad, eval-mode encoder pass (the linear probe's cached features)."""
        windows = synthetic_windows(params["eval_batch_size"], params["clip_frames"], seed=1)
        model.eval()
        best = float("inf")
        with torch.no_grad(), autocast(device, dtype):
            for _ in range(3):
                sync_device(device)
                tick = clock()
                model.point_encoder.forward_features(windows["points"].to(device), windows["times"].to(device))
                sync_device(device)
                best = min(best, clock() - tick)
        model.train()
        return best / params["eval_batch_size"]

    step.frozen_pass = frozen_pass  # type: ignore[attr-defined]
    return step, dtype


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--task", choices=TASKS, default="semantic_segmentation")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    device = bench_device(args)
    params = yaml.safe_load((CONF / "parameters_finetune.yml").read_text())["finetune"]
    # action segmentation's step encodes every window of ``sequence_batch`` whole sequences, as the trainer does
    per_sequence = sequence_windows(params["clip_frames"])
    whole = args.task == "action_segmentation" and not args.batch
    params["batch_size"] = args.batch or (params["sequence_batch"] * per_sequence if whole else params["batch_size"])
    model_params = {"preset": "small", "point": {"num_points": synthetic_windows(1, 1)["points"].shape[2]}}
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
    print(f"full fine-tuning step, {args.task}: {params['batch_size']} windows{shape} x T={params['clip_frames']}, "
          f"{threads} threads; this config: amp={args.amp}, compile={args.compile}, overrides {args.set or 'none'}")
    built: dict[str, object] = {}

    def builder(name, v):
        def build():
            step, dtype = variant(*v)
            built[name] = step
            return step, dtype
        return build

    report_variants({name: builder(name, v) for name, v in variants.items()}, args, clips=params["batch_size"],
                    device=device)
    print(f"\nfrozen-feature pass (no grad, eval, {params['eval_batch_size']} windows per batch, clock {args.clock}):")
    for name, step in built.items():
        print(f"  {name:<28}{step.frozen_pass(CLOCKS[args.clock]) * 1e3:>8.1f} ms per window")


if __name__ == "__main__":
    main()
