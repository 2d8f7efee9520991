"""Fine-tuning and evaluation of one downstream run: task × protocol × label fraction × seed.

Protocols: ``full`` trains encoder and head; ``linear`` freezes the encoder(s), caches their features once and trains
one linear layer on them (for semantic segmentation on the 3-NN interpolation of the anchor features). Predictions on the test sequences are
assembled from overlapping windows by averaging logits per frame (and per point).
Shape letters: W windows, T frames, N points, C classes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from crossvideo_kedro import metrics
from crossvideo_kedro.config import check_keys
from crossvideo_kedro.augment import cover_starts, window_frames, window_inputs
from crossvideo_kedro.models.presets import ModelConfig
from crossvideo_kedro.training.model import images_to_tensor
from crossvideo_kedro.training.pretrain import select_device
from crossvideo_kedro.training.schedule import build_optimizer, build_scheduler
from crossvideo_kedro.training.tasks import TASKS, TaskModel

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
PROTOCOLS = ("full", "linear")
IGNORE = -100  # cross-entropy ignore_index


@dataclass(frozen=True)
class FinetuneConfig:
    """Parameters of one fine-tuning run (``conf/base/parameters_finetune.yml``, key ``finetune``)."""

    epochs: int = 12
    linear_epochs: int = 30  # linear probes are cheap (cached features): more epochs
    min_steps: int = 0  # at least this many optimiser steps (small label fractions get more epochs)
    batch_size: int = 8
    optimizer: str = "adamw"
    lr: float = 1e-3  # head learning rate
    encoder_lr_ratio: float = 0.5  # full fine-tuning: encoder lr = lr * encoder_lr_ratio
    weight_decay: float = 0.01
    warmup_steps: int = 10
    min_lr_ratio: float = 0.01
    grad_clip: float = 1.0
    clip_frames: int = 8  # window length (T)
    temporal_kernel: int = 5  # action segmentation temporal head (1: per-frame linear classifier)
    ignore_ids: tuple[int, ...] = ()  # semantic ids excluded from the loss and mIoU (HOI4D: 0 no label, 1 noise)
    eval_batch_size: int = 16
    device: str = "auto"
    progress: bool = True

    @classmethod
    def from_dict(cls, params: dict[str, Any], prefix: str = "finetune") -> FinetuneConfig:
        check_keys(cls, params, prefix)
        params = dict(params)
        if "ignore_ids" in params:
            params["ignore_ids"] = tuple(params["ignore_ids"] or ())
        config = cls(**params)
        for key in ("epochs", "linear_epochs", "batch_size", "clip_frames", "eval_batch_size", "temporal_kernel"):
            if getattr(config, key) < 1:
                raise ValueError(f"{prefix}.{key} must be >= 1, got {getattr(config, key)}")
        if config.lr <= 0 or not 0 <= config.encoder_lr_ratio:
            raise ValueError(f"{prefix}.lr must be > 0 and {prefix}.encoder_lr_ratio >= 0")
        return config


# ------------------------------------------------------------------------------------------------ data


@dataclass
class Windows:
    """Model inputs cut from sequences, with what is needed to put predictions back (``seq``, ``frames``)."""

    points: torch.Tensor  # (W, T, N, 3) clip-centred
    times: torch.Tensor  # (W, T) seconds from the window start
    images: torch.Tensor | None  # uint8 (W, T, H, W, 3)
    frame_labels: torch.Tensor  # (W, T) or (W,) for recognition clips
    point_labels: torch.Tensor  # (W, T, N)
    seq: np.ndarray  # (W,) index into ``names``
    frames: np.ndarray  # (W, T) frame indices in the sequence
    names: list[str]

    def __len__(self) -> int:
        return len(self.seq)


def _stack(parts: list[dict], names: list[str], use_images: bool) -> Windows:
    cat = lambda key: np.concatenate([p[key] for p in parts])  # noqa: E731
    return Windows(
        points=torch.from_numpy(cat("points")).float(),
        times=torch.from_numpy(cat("times")).float(),
        images=torch.from_numpy(cat("images")) if use_images else None,
        frame_labels=torch.from_numpy(cat("frame_labels")).long(),
        point_labels=torch.from_numpy(cat("point_labels")).long(),
        seq=cat("seq"),
        frames=cat("frames"),
        names=names,
    )


def _window_part(i: int, video: Arrays, image: Arrays | None, frames: np.ndarray, labels: np.ndarray) -> dict:
    points, times = window_inputs(video, frames)  # (W, T, N, 3), (W, T)
    part = {
        "points": points,
        "times": times,
        "frame_labels": labels,
        "point_labels": video["point_labels"][frames],
        "seq": np.full(len(frames), i),
        "frames": frames,
    }
    if image is not None:
        part["images"] = image["frames"][frames]
    return part


def make_windows(names: list[str], videos: dict[str, Arrays], images: dict[str, Arrays] | None,
                 clip_frames: int) -> Windows:
    """Windows covering every frame of each sequence (segmentation tasks)."""
    parts = []
    for i, name in enumerate(names):
        video = videos[name]
        n = video["points"].shape[0]
        frames = window_frames(cover_starts(n, clip_frames), clip_frames, n)  # (W, T)
        parts.append(_window_part(i, video, images[name] if images else None, frames, video["frame_labels"][frames]))
    return _stack(parts, names, images is not None)


def make_event_clips(names: list[str], videos: dict[str, Arrays], images: dict[str, Arrays] | None,
                     clip_frames: int) -> Windows:
    """One clip per action event (a run of one frame label), T frames spread evenly over the run (recognition)."""
    parts = []
    for i, name in enumerate(names):
        video = videos[name]
        labels = video["frame_labels"]
        runs = [(lab, s, e) for lab, s, e in metrics.segments(labels) if lab >= 0]
        if not runs:
            continue
        frames = np.stack([np.linspace(s, e - 1, clip_frames).round().astype(np.int64) for _, s, e in runs])
        parts.append(_window_part(i, video, images[name] if images else None, frames,
                                  np.array([lab for lab, _, _ in runs])))
    if not parts:
        raise ValueError(f"no labelled action events in sequences {names[:3]}...: recognition needs frame labels")
    return _stack(parts, names, images is not None)


def pick_label_fraction(train_names: list[str], fraction: float, seed: int) -> list[str]:
    """A seeded subset of the training sequences (at least one) — the label-efficiency protocol."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    count = max(1, round(fraction * len(train_names)))
    order = np.random.default_rng([seed, 7]).permutation(len(train_names))
    return sorted(train_names[i] for i in order[:count])


def _targets(task: str, windows: Windows, idx: torch.Tensor, ignore_ids: tuple[int, ...]) -> torch.Tensor:
    if task == "semantic_segmentation":
        target = windows.point_labels[idx].clone()
        for ignored in ignore_ids:
            target[target == ignored] = IGNORE
    else:
        target = windows.frame_labels[idx].clone()
    target[target < 0] = IGNORE
    return target


# ------------------------------------------------------------------------------------------------ train / predict


def _batches(n: int, size: int, rng: np.random.Generator | None) -> list[torch.Tensor]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [torch.from_numpy(order[i : i + size]) for i in range(0, n, size)]


def _inputs(windows: Windows, idx: torch.Tensor, device: torch.device) -> tuple:
    images = images_to_tensor(windows.images[idx].to(device)) if windows.images is not None else None
    return windows.points[idx].to(device), windows.times[idx].to(device), images


FeatureCache = dict[str, dict[str, torch.Tensor]]  # sequence -> frozen-encoder features of its windows (W_i, ...)


@torch.no_grad()
def frozen_features(model: TaskModel, windows: Windows, device: torch.device, batch_size: int,
                    cache: FeatureCache | None = None) -> dict[str, torch.Tensor]:
    """Frozen-encoder features of every window (the linear probe's inputs), computed once per sequence.

    ``cache`` (shared by the runs whose frozen encoders are identical: same weights) keeps them per sequence, so
    the runs of a study compute each window's features once instead of once per task, fraction and seed.
    """
    cache = {} if cache is None else cache
    missing = [i for i, name in enumerate(windows.names) if name not in cache and (windows.seq == i).any()]
    if missing:
        model.eval()
        rows = torch.from_numpy(np.flatnonzero(np.isin(windows.seq, missing)))
        chunks = [{k: v.detach().cpu() for k, v in model.features(*_inputs(windows, rows[i : i + batch_size],
                                                                            device)).items()}
                  for i in range(0, len(rows), batch_size)]
        feats = {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}
        seq = windows.seq[rows.numpy()]
        for i in missing:
            cache[windows.names[i]] = {key: value[seq == i] for key, value in feats.items()}
    parts = [cache[name] for i, name in enumerate(windows.names) if (windows.seq == i).any()]
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def train_task_model(model: TaskModel, task: str, protocol: str, train: Windows, config: FinetuneConfig, seed: int,
                     device: torch.device, desc: str, cache: FeatureCache | None = None) -> pd.DataFrame:
    """Train ``model`` in place; returns the per-epoch history (loss, accuracy on the training windows)."""
    linear = protocol == "linear"
    steps_per_epoch = len(_batches(len(train), config.batch_size, None))
    epochs = config.linear_epochs if linear else config.epochs
    epochs = max(epochs, -(-config.min_steps // steps_per_epoch))
    encoder_params = {id(p) for m in model.encoder_modules() for p in m.parameters()}
    head_params = [p for p in model.parameters() if id(p) not in encoder_params]
    if linear:
        for module in model.encoder_modules():
            module.requires_grad_(False)
        groups = [{"params": head_params, "lr": config.lr}]
        cached = frozen_features(model, train, device, config.eval_batch_size, cache)
    else:
        encoder = [p for m in model.encoder_modules() for p in m.parameters()]
        groups = [{"params": head_params, "lr": config.lr},
                  {"params": encoder, "lr": config.lr * config.encoder_lr_ratio}]
    optimizer = build_optimizer(groups, config.optimizer, config.lr, config.weight_decay)
    steps = epochs * steps_per_epoch
    scheduler = build_scheduler(optimizer, steps, min(config.warmup_steps, steps // 4), config.min_lr_ratio)
    history = []
    progress = tqdm(range(epochs), desc=desc, unit="epoch", disable=not config.progress, leave=False)
    for epoch in progress:
        model.train()
        for module in model.encoder_modules() if linear else []:
            module.eval()  # frozen: batch-norm statistics stay those of pretraining
        rng = np.random.default_rng([seed, epoch])
        total, correct, count, tick = 0.0, 0, 0, time.perf_counter()
        for idx in _batches(len(train), config.batch_size, rng):
            if linear:
                feats = {key: value[idx].to(device) for key, value in cached.items()}
                logits = model.forward_head(train.points[idx].to(device), feats)
            else:
                logits = model(*_inputs(train, idx, device))
            target = _targets(task, train, idx, config.ignore_ids).to(device)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or float("inf"))
            optimizer.step()
            scheduler.step()
            valid = target != IGNORE
            total += float(loss.detach()) * int(valid.sum())
            correct += int((logits.argmax(-1) == target)[valid].sum())
            count += int(valid.sum())
        row = {"epoch": epoch, "loss": total / max(count, 1), "train_accuracy": 100 * correct / max(count, 1),
               "seconds": time.perf_counter() - tick}
        history.append(row)
        progress.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['train_accuracy']:.1f}")
    return pd.DataFrame(history)


@torch.no_grad()
def predict(model: TaskModel, windows: Windows, device: torch.device, batch_size: int,
            cached: dict[str, torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Logits of every window, in window order (from cached frozen features when given)."""
    model.eval()
    if cached is not None:
        return [model.forward_head(windows.points[idx].to(device), {k: v[idx].to(device) for k, v in cached.items()})
                .float().cpu() for idx in _batches(len(windows), batch_size, None)]
    return [model(*_inputs(windows, idx, device)).float().cpu() for idx in _batches(len(windows), batch_size, None)]


def assemble(task: str, windows: Windows, logits: list[torch.Tensor], videos: dict[str, Arrays]) -> dict[str, Any]:
    """Per-sequence predictions: logits of overlapping windows averaged per frame (and point), then argmax."""
    logits_all = torch.cat(logits)  # (W, T, C) | (W, T, N, C) | (W, C)
    if task == "action_recognition":
        return {"pred": logits_all.argmax(-1).numpy(), "gt": windows.frame_labels.numpy()}
    preds = {}
    for i, name in enumerate(windows.names):
        rows = np.flatnonzero(windows.seq == i)
        n = videos[name]["points"].shape[0]
        sums = torch.zeros((n, *logits_all.shape[2:]))
        counts = torch.zeros(n)
        frames = torch.from_numpy(windows.frames[rows]).reshape(-1)
        sums.index_add_(0, frames, logits_all[rows].reshape(-1, *logits_all.shape[2:]))
        counts.index_add_(0, frames, torch.ones(len(frames)))
        preds[name] = (sums / counts.clamp(min=1).reshape(-1, *[1] * (sums.dim() - 1))).argmax(-1).numpy()
    return preds


def score(task: str, predictions: dict[str, Any], videos: dict[str, Arrays], num_classes: int,
          ignore_ids: tuple[int, ...]) -> dict[str, float]:
    """The task's metrics (percent): segmentation metrics, clip accuracy or mIoU."""
    if task == "action_recognition":
        return {"clip_accuracy": metrics.clip_accuracy(predictions["pred"], predictions["gt"])}
    names = sorted(predictions)
    if task == "action_segmentation":
        return metrics.action_segmentation_metrics([predictions[n] for n in names],
                                                   [videos[n]["frame_labels"] for n in names])
    pred = np.concatenate([predictions[n].reshape(-1) for n in names])
    gt = np.concatenate([videos[n]["point_labels"].reshape(-1) for n in names])
    result = metrics.semantic_segmentation_metrics(pred, gt, num_classes, ignore_ids=(*ignore_ids, -1))
    flat = {"miou": result["miou"], "point_accuracy": result["accuracy"]}
    flat.update({f"iou_{c}": v for c, v in result["iou_per_class"].items()})
    return flat


def run_downstream(
    task: str,
    protocol: str,
    videos: dict[str, Arrays],
    images: dict[str, Arrays] | None,
    train_names: list[str],
    test_names: list[str],
    num_classes: int,
    model_config: ModelConfig,
    encoder_state: dict[str, Any] | None,
    fusion: bool,
    config: FinetuneConfig,
    seed: int,
    cache: FeatureCache | None = None,
) -> tuple[dict[str, float], dict[str, Any], pd.DataFrame, TaskModel]:
    """One downstream run: build the task model, load pretrained encoders, train, predict the test set, score.

    ``cache`` is used by the linear protocol only: pass the same dict to runs whose frozen encoders are identical
    (same pretrained weights, or the same seed from scratch) and of the same window kind (``action_recognition``
    clips differ from the segmentation windows).

    Returns:
        metrics, predictions (per test sequence, or clip arrays for recognition), training history, model.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    device = select_device(config.device)
    make = make_event_clips if task == "action_recognition" else make_windows
    use_images = images if fusion else None
    train = make(train_names, videos, use_images, config.clip_frames)
    test = make(test_names, videos, use_images, config.clip_frames)
    torch.manual_seed(seed)
    model = TaskModel(task, model_config, num_classes, fusion=fusion, temporal_kernel=config.temporal_kernel,
                      probe=protocol == "linear")
    if encoder_state is not None:
        model.point_encoder.load_state_dict(encoder_state["point_encoder"])
    model.to(device)
    cache = cache if protocol == "linear" else None
    history = train_task_model(model, task, protocol, train, config, seed, device, desc=f"{task}/{protocol}",
                               cache=cache)
    cached = frozen_features(model, test, device, config.eval_batch_size, cache) if cache is not None else None
    predictions = assemble(task, test, predict(model, test, device, config.eval_batch_size, cached), videos)
    return score(task, predictions, videos, num_classes, config.ignore_ids), predictions, history, model
