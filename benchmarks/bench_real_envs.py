"""One process: the per-step costs of a real-data environment, and the run time they add up to (an estimate).

For ``--env`` (msr_action3d, ntu60, utd_mhad, utd_mhad_segmentation) this reads the environment's parameters
(conf/base + conf/<env>), builds its model at its sizes (ingest.num_points, augment.clip_frames,
finetune.clip_frames) and times, in CPU seconds of this process at ``--threads`` threads (best of ``--rounds``):

- one pretraining step (``training/pretrain.py``'s ``train_step``, intra-modal terms, ``pretrain.batch_size``);
- one full fine-tuning step of action recognition (``FinetuneTrainer.step``, ``finetune.batch_size`` clips);
- the no-grad encoder pass per clip (the linear probe's features and every test clip's score).

It then multiplies them by the environment's schedule for a dataset of ``--videos`` videos of ``--frames`` frames
(after ingest's frame selection) with ``--train-share`` of them in training:

    pretrain.seeds x pretrain.steps pretraining steps
    + per variant and replicate: finetune.steps full steps, and the encoder pass over every training clip (probe)
      and twice over every test clip (full and linear runs)

With ``--ingest N`` it also reads and samples the first N sequences of the environment's ``raw_sequences`` (the
files must be there, e.g. the UTD-MHAD sample) and counts ingest at that cost per video; plotting is not counted. The numbers are CPU seconds of one process;
on 2 cores the study's runs go to 2 worker processes, which this estimate assumes halves the fine-tuning part.

    python benchmarks/bench_real_envs.py --env msr_action3d --videos 567 --frames 40 [--threads 1]
    python benchmarks/bench_real_envs.py --env utd_mhad --videos 431 --frames 32.3 --ingest 8
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from kedro.config import OmegaConfigLoader
from kedro.io import AbstractDataset

from crossvideo_kedro.framework.build_parameters import CONFIG_LOADER_ARGS
from crossvideo_kedro.losses import CrossVideoLoss
from crossvideo_kedro.configs import FinetuneConfig, LossConfig, ModelConfig, parse
from crossvideo_kedro.pipelines.ingest.nodes import ingest_sequences
from crossvideo_kedro.training.finetune import RunSpec, build_task_model, make_task_windows
from crossvideo_kedro.training.finetune_train import FinetuneTrainer
from crossvideo_kedro.training.model import CrossVideoModel
from crossvideo_kedro.training.pretrain import _to_device, train_step
from crossvideo_kedro.training.schedule import build_optimizer, build_scheduler

CONF = Path(__file__).resolve().parents[1] / "conf"


def best_seconds(step, rounds: int) -> float:
    """Best CPU seconds of ``step()`` over ``rounds`` (after one warm-up call)."""
    step()
    times = []
    for _ in range(rounds):
        tick = time.process_time()
        step()
        times.append(time.process_time() - tick)
    return min(times)


def pretrain_step(params: dict, n: int, frames: int):
    """The pretraining step at the environment's sizes on a synthetic view-major batch (no images)."""
    batch = params["batch_size"]
    loss_fn = CrossVideoLoss(parse(LossConfig, params["loss"], "pretrain.loss"))
    model = CrossVideoModel(parse(ModelConfig, params["model"], "pretrain.model"), use_images=False, terms=loss_fn.weights)
    optimizer = build_optimizer(model.parameters(), params["optimizer"], params["lr"], params["weight_decay"])
    scheduler = build_scheduler(optimizer, 10**6, params["warmup_steps"], params["min_lr_ratio"])
    rng = np.random.default_rng(0)
    keys = np.arange(batch)[:, None] * 1000 + np.arange(frames)
    views = {"points": (rng.normal(0, 0.3, (2 * batch, frames, n, 3)) + [0, 0, 2.5]).astype(np.float32),
             "times": np.tile((np.arange(frames) / 15).astype(np.float32), (2 * batch, 1)),
             "keys": np.concatenate([keys, keys + 2]).astype(np.int64),
             "sequence": np.concatenate([np.arange(batch)] * 2).astype(np.int64)}
    tensors = _to_device(views, np.arange(2 * batch), torch.device("cpu"))
    model.train()
    return lambda: train_step(model, model, tensors, loss_fn, optimizer, scheduler, params["grad_clip"],
                              torch.device("cpu"), None, False, batch)


def finetune_steps(params: dict, model_params: dict, n: int):
    """(full recognition step, encoder pass of one clip) at the environment's sizes on synthetic videos."""
    config = parse(FinetuneConfig, {**params, "amp": "off", "progress": False, "device": "cpu"}, "finetune")
    rng = np.random.default_rng(0)
    length = 2 * config.clip_frames
    videos = {f"v{i}": {"points": (rng.normal(0, 0.3, (length, n, 3)) + [0, 0, 2.5]).astype(np.float32),
                        "timestamps": (np.arange(length) / 15).astype(np.float32),
                        "frame_labels": np.full(length, i % 4, np.int16),
                        "point_labels": np.zeros((length, n), np.int16)} for i in range(8)}
    windows = make_task_windows("action_recognition", sorted(videos), videos, None, config.clip_frames, False,
                                config.recognition, config.recognition_stride)
    spec = RunSpec("action_recognition", "full", 20, False, config.clip_frames, dict(config.temporal))
    torch.manual_seed(0)
    model = build_task_model(spec, parse(ModelConfig, model_params, "pretrain.model"))
    trainer = FinetuneTrainer.build(model, "action_recognition", "full", windows, config, seed=0,
                                    device=torch.device("cpu"))
    rows = torch.arange(min(config.eval_batch_size, len(windows)))

    def encode() -> None:
        with torch.no_grad():
            model.point_encoder.forward_features(windows.points[rows], windows.times[rows])

    return (lambda: trainer.step(trainer.next_batch())), encode, len(rows), config


def ingest_seconds(catalog: dict, params: dict, count: int) -> float:
    """CPU seconds per sequence of ingest's own ``ingest_sequences`` on the first ``count`` raw sequences."""
    raw = AbstractDataset.from_config("raw_sequences", dict(catalog["raw_sequences"])).load()
    names = sorted(raw)[:count]
    tick = time.process_time()
    ingest_sequences({n: raw[n] for n in names}, {}, {**params, "split": None, "num_workers": 1}, None)
    return (time.process_time() - tick) / len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--videos", type=int, required=True, help="videos of the dataset")
    parser.add_argument("--frames", type=float, required=True, help="mean frames per video after frame selection")
    parser.add_argument("--train-share", type=float, default=0.5, help="share of the videos in training")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ingest", type=int, default=0, help="also time ingest on this many raw sequences")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loader = OmegaConfigLoader(str(CONF), env=args.env, **CONFIG_LOADER_ARGS)
    params = loader["parameters"]
    ingest = ingest_seconds(loader["catalog"], params["ingest"], args.ingest) * args.videos if args.ingest else 0.0
    n, pretrain, finetune, evaluate = (params["ingest"]["num_points"], params["pretrain"], params["finetune"],
                                       params["evaluate"])
    pre = best_seconds(pretrain_step(pretrain, n, params["augment"]["clip_frames"]), args.rounds)
    step, encode, rows, config = finetune_steps(finetune, pretrain["model"], n)
    full, clip = best_seconds(step, args.rounds), best_seconds(encode, args.rounds) / rows
    clips = args.videos * max(1.0, (args.frames - config.clip_frames) / config.recognition_stride + 1)
    replicates = len(pretrain["seeds"]) * len(evaluate["seeds"]) * len(evaluate["include"])
    pretraining = len(pretrain["seeds"]) * pretrain["steps"] * pre
    tuning = replicates * (config.steps * full + clip * clips * (args.train_share + 2 * (1 - args.train_share)))
    print(f"{args.env}: N={n}, pretraining clips of {params['augment']['clip_frames']} frames x "
          f"{pretrain['batch_size']}, recognition clips of {config.clip_frames} x {config.batch_size}; "
          f"CPU seconds at {args.threads} thread(s)")
    print(f"  pretraining step {pre:.2f} s, fine-tuning step {full:.2f} s, encoder pass {clip * 1e3:.0f} ms per clip")
    print(f"  {args.videos} videos x {args.frames:g} frames -> {clips:.0f} clips; {replicates} fine-tuning replicates")
    if args.ingest:
        print(f"  ingest {ingest / args.videos:.2f} s per video (first {args.ingest} sequences)")
    print(f"  estimate: ingest {ingest / 3600:.1f} h + pretraining {pretraining / 3600:.1f} h + fine-tuning and "
          f"scoring {tuning / 3600:.1f} h (~{(ingest / 2 + pretraining + tuning / 2) / 3600:.1f} h on 2 cores: ingest "
          "and fine-tuning runs in 2 workers)")


if __name__ == "__main__":
    main()
