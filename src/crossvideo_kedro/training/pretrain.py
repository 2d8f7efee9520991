"""The CrossVideo pretraining loop: view-pair batches → encoders → four contrastive terms → AdamW/SGD step.

Deterministic for a seed: batch order comes from ``default_rng([seed, epoch])``, dropout from the torch RNG whose
state every checkpoint carries, so a killed run that resumes ends with the same weights as an uninterrupted one.
Under ``torchrun`` every rank takes its slice of the same global batch and embeddings are gathered across ranks,
so N processes compute what one process computes with the whole batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.config import check_keys
from crossvideo_kedro.losses import CrossVideoLoss
from crossvideo_kedro.training.checkpointing import Checkpointer, fingerprint
from crossvideo_kedro.training.distributed import DistInfo, gather_batch_dim
from crossvideo_kedro.models.presets import ModelConfig
from crossvideo_kedro.training.model import CrossVideoModel, images_to_tensor
from crossvideo_kedro.training.schedule import build_optimizer, build_scheduler

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
IMAGE_TERMS = ("cross_video", "cross_frame", "image_intra_video", "image_intra_frame")


@dataclass(frozen=True)
class CheckpointConfig:
    dir: str = "data/06_models/pretrain_checkpoints"  # <dir>/<run fingerprint>/last.pt
    every_steps: int = 20
    keep: int = 2
    resume: bool = True  # continue from the last checkpoint of the same run (same config and data)


@dataclass(frozen=True)
class PretrainConfig:
    """Parameters of ``pretrain`` (``conf/base/parameters_pretrain.yml``, key ``pretrain``)."""

    seed: int = 0
    epochs: int = 15
    batch_size: int = 16  # global batch (split across ranks under torchrun)
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.05
    momentum: float = 0.9  # sgd only
    warmup_steps: int = 20
    min_lr_ratio: float = 0.01
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    num_threads: int | None = None  # torch CPU threads (None: torch's default)
    loss: dict = field(default_factory=dict)  # {"weights": {...}, "temperatures": {...}} (CrossVideoLoss)
    model: dict = field(default_factory=dict)  # ModelConfig
    checkpoint: dict = field(default_factory=dict)  # CheckpointConfig
    retrieval_splits: tuple[str, ...] = ("val", "test")
    embed_clip_frames: int = 8  # window length for clip_embeddings (match augment.clip_frames)
    embed_batch_size: int = 32
    progress: bool = True

    @classmethod
    def from_dict(cls, params: dict[str, Any], prefix: str = "pretrain") -> PretrainConfig:
        check_keys(cls, params, prefix)
        params = dict(params)
        if "retrieval_splits" in params:
            params["retrieval_splits"] = tuple(params["retrieval_splits"])
        config = cls(**params)
        for key, expected in (("epochs", 1), ("batch_size", 2), ("embed_batch_size", 1)):
            if getattr(config, key) < expected:
                raise ValueError(f"{prefix}.{key} must be >= {expected}, got {getattr(config, key)}")
        if config.lr <= 0 or config.weight_decay < 0 or config.grad_clip < 0 or config.warmup_steps < 0:
            raise ValueError(f"{prefix}: lr must be > 0 and weight_decay, grad_clip, warmup_steps >= 0")
        if config.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"{prefix}.device must be auto, cpu or cuda, got {config.device!r}")
        if config.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"{prefix}.optimizer must be adamw or sgd, got {config.optimizer!r}")
        check_keys(CheckpointConfig, config.checkpoint, f"{prefix}.checkpoint")
        return config

    @property
    def checkpointing(self) -> CheckpointConfig:
        return CheckpointConfig(**self.checkpoint)


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("pretrain.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


@dataclass
class ViewBank:
    """The ``pretrain_views`` bank in memory. C clips, P pairs, 2 views, T frames, N points, H×W images."""

    names: list[str]
    points: torch.Tensor  # float32 (C, P, 2, T, N, 3)
    timestamps: torch.Tensor  # float32 (C, P, 2, T) seconds from the clip start
    frame_ids: torch.Tensor  # int64 (C, P, 2, T) source frame indices (frame positives match on these)
    images: torch.Tensor | None  # uint8 (C, P, 2, T, H, W, 3)

    @classmethod
    def from_partitions(cls, views: dict[str, Callable[[], Arrays]], need_images: bool) -> ViewBank:
        names = sorted(views)
        if not names:
            raise ValueError("pretrain_views is empty: run `augment` on a source with training sequences")
        loaded = [materialise(views[name]) for name in names]
        missing = [n for n, arrays in zip(names, loaded, strict=True) if "images" not in arrays]
        if need_images and missing:
            raise ValueError(
                f"clips {missing[:3]}{'...' if len(missing) > 3 else ''} have no image views (depth-only source) but "
                f"pretrain.loss.weights gives image terms {IMAGE_TERMS} weight > 0; set those weights to 0"
            )
        stack = lambda key, dtype: torch.from_numpy(np.stack([a[key] for a in loaded])).to(dtype)  # noqa: E731
        return cls(
            names=names,
            points=stack("points", torch.float32),
            timestamps=stack("timestamps", torch.float32),
            frame_ids=stack("frame_ids", torch.int64),
            images=stack("images", torch.uint8) if need_images else None,
        )

    def describe(self) -> dict[str, Any]:
        """What identifies the data of a run (for checkpoint fingerprints)."""
        return {"names": self.names, "shape": list(self.points.shape), "sum": float(self.points.double().sum())}


def uses_images(loss: CrossVideoLoss) -> bool:
    return any(loss.weights.get(term, 0) > 0 for term in IMAGE_TERMS)


def _batch(bank: ViewBank, clips: np.ndarray, pair: int, device: torch.device, need_images: bool) -> dict:
    """View-stacked tensors of a batch: points (2·B, T, N, 3) etc., view 1 first."""
    idx = torch.from_numpy(clips)
    stack = lambda x: x[idx, pair].transpose(0, 1).reshape(-1, *x.shape[3:]).to(device)  # noqa: E731
    batch = {"points": stack(bank.points), "timestamps": stack(bank.timestamps), "frame_ids": stack(bank.frame_ids)}
    if need_images:
        batch["images"] = images_to_tensor(stack(bank.images))
    return batch


def _embeddings(model: nn.Module, batch: dict, need_images: bool, batch_size: int) -> dict[str, torch.Tensor]:
    """Run the encoders once on both views and shape the outputs as CrossVideoLoss expects: (2, B, ...)."""
    split = lambda x: x.reshape(2, batch_size, *x.shape[1:])  # noqa: E731
    out = model(batch["points"], batch["timestamps"], batch.get("images") if need_images else None)
    emb = {name: gather_batch_dim(split(value), dim=1) for name, value in out.items()}  # all ranks' samples
    emb["point_times"] = emb["image_times"] = gather_batch_dim(split(batch["frame_ids"]), dim=1)
    return emb


def pretrain(
    bank_views: dict[str, Callable[[], Arrays]],
    config: PretrainConfig,
    dist_info: DistInfo = DistInfo(),
    on_step: Callable[[int], None] | None = None,
) -> tuple[CrossVideoModel, pd.DataFrame]:
    """Pretrain the encoders on a view-pair bank; returns the (unwrapped) model and the per-step history.

    Args:
        bank_views: ``pretrain_views`` partitions.
        config: pretraining parameters.
        dist_info: rank/world size (from ``torchrun``); the process group must already be initialised.
        on_step: called after every optimiser step with the step number (tests use it).
    """
    device = select_device(config.device)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    loss_fn = CrossVideoLoss(**config.loss)
    need_images = uses_images(loss_fn)
    bank = ViewBank.from_partitions(bank_views, need_images)
    num_clips, num_pairs = bank.points.shape[:2]
    if config.batch_size % dist_info.world_size:
        raise ValueError(f"pretrain.batch_size {config.batch_size} must divide by the {dist_info.world_size} ranks")
    batch_size = min(config.batch_size, num_clips)
    batch_size -= batch_size % dist_info.world_size
    local = batch_size // dist_info.world_size
    steps_per_epoch = num_clips // batch_size
    total_steps = steps_per_epoch * config.epochs

    torch.manual_seed(config.seed)  # initial weights and dropout come from the torch RNG
    model_config = ModelConfig.from_dict(config.model)
    model = CrossVideoModel(model_config, use_images=need_images, terms=loss_fn.weights).to(device)
    optimizer = build_optimizer(model.parameters(), config.optimizer, config.lr, config.weight_decay, config.momentum)
    scheduler = build_scheduler(optimizer, total_steps, config.warmup_steps, config.min_lr_ratio)
    run_id = fingerprint(
        {k: v for k, v in config.__dict__.items() if k not in ("progress", "checkpoint", "device", "num_threads")},
        bank.describe(),
    )
    checkpoint = config.checkpointing
    checkpointer = Checkpointer(checkpoint.dir, run_id, checkpoint.every_steps, checkpoint.keep)
    history: list[dict[str, Any]] = []
    step = 0
    state = checkpointer.load() if checkpoint.resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history = state["step"], list(state["history"])
    train_model = DistributedDataParallel(model) if dist_info.enabled else model
    use_amp = config.amp and device.type == "cuda"

    progress = tqdm(total=total_steps, initial=step, desc="pretrain", unit="step",
                    disable=not (config.progress and dist_info.is_main))
    model.train()
    while step < total_steps:
        epoch, within = divmod(step, steps_per_epoch)
        order = np.random.default_rng([config.seed, epoch]).permutation(num_clips)
        clips = order[within * batch_size : (within + 1) * batch_size]
        clips = clips[dist_info.rank * local : (dist_info.rank + 1) * local]  # this rank's slice
        tick = time.perf_counter()
        batch = _batch(bank, clips, epoch % num_pairs, device, need_images)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            emb = _embeddings(train_model, batch, need_images, local)
        total, terms = loss_fn({key: value.float() for key, value in emb.items()})
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or float("inf"))
        optimizer.step()
        scheduler.step()
        step += 1
        seconds = time.perf_counter() - tick
        row = {"step": step, "epoch": epoch, "lr": scheduler.get_last_lr()[0], "loss": float(total.detach()),
               "grad_norm": float(grad_norm), "clips_per_s": batch_size / seconds}
        row.update({term: float(value) for term, value in terms.items()})
        history.append(row)
        progress.update(1)
        progress.set_postfix(loss=f"{row['loss']:.3f}", **{k: f"{v:.2f}" for k, v in terms.items()},
                             clips_s=f"{row['clips_per_s']:.1f}")
        if dist_info.is_main and checkpointer.due(step, total_steps):
            checkpointer.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "scheduler": scheduler.state_dict(), "history": history}, step)
        if on_step is not None:
            on_step(step)
    progress.close()
    return model, pd.DataFrame(history)
