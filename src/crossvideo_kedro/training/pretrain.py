"""The CrossVideo pretraining loop: fresh view pairs → encoders → contrastive terms → AdamW/SGD step.

Deterministic for a seed: each step's clips and views come from ``default_rng([augment.seed, seed, step])``
(:class:`crossvideo_kedro.clip_pool.ClipPool`), dropout from the torch RNG whose state every checkpoint carries,
so a killed run that resumes ends with the same weights as an uninterrupted one.
Under ``torchrun`` every rank takes its slice of the same global batch and embeddings are gathered across ranks,
so N processes compute what one process computes with the whole batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.profiler import record_function
from tqdm.auto import tqdm

from crossvideo_kedro.augment import view_layouts
from crossvideo_kedro.clip_pool import ClipPool
from crossvideo_kedro.configs.augment import AugmentConfig
from crossvideo_kedro.configs.pretrain import PretrainConfig
from crossvideo_kedro.losses import CrossVideoLoss
from crossvideo_kedro.training.checkpointing import Checkpointer, fingerprint
from crossvideo_kedro.training.distributed import DistInfo, gather_batch_dim
from crossvideo_kedro.training.model import CrossVideoModel, images_to_tensor
from crossvideo_kedro.training.precision import autocast, resolve_amp, set_threads
from crossvideo_kedro.training.schedule import build_optimizer, build_scheduler

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
IMAGE_TERMS = ("cross_video", "cross_frame", "image_intra_video", "image_intra_frame", "cross_dense")


def use_prefetch(prefetch: bool | str, device: torch.device) -> bool:
    """Whether views are drawn in a background thread: ``auto`` = only when the step runs off the CPU.

    On CPU the thread's numpy and torch work competes with the step's intra-op threads for the same cores; measured
    on 2 cores (default step, bf16): 0.54 s a step with the thread, 0.41 s drawing in the loop (37 ms a draw).
    """
    return device.type != "cpu" if prefetch == "auto" else bool(prefetch)


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("pretrain.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def uses_images(loss: CrossVideoLoss) -> bool:
    return any(loss.weights.get(term, 0) > 0 for term in IMAGE_TERMS)


def uses_pixels(loss: CrossVideoLoss) -> bool:
    """Whether the views need the point → pixel link (the ``cross_dense`` term is on)."""
    return loss.weights.get("cross_dense", 0) > 0


def _to_device(batch: Arrays, rows: slice, device: torch.device) -> dict[str, torch.Tensor]:
    """This rank's rows of a view-major numpy batch as tensors: points (2b, T, N, 3), images normalised, etc."""
    out = {key: torch.from_numpy(value[rows]).to(device) for key, value in batch.items()}
    if "images" in out:
        out["images"] = images_to_tensor(out["images"])  # (2b, T, 3, H, W)
    return out


def _rank_rows(batch_size: int, dist_info: DistInfo) -> np.ndarray:
    """Rows of a view-major batch (2B rows) that this rank computes: its slice of clips, in both views."""
    local = batch_size // dist_info.world_size
    clips = np.arange(dist_info.rank * local, (dist_info.rank + 1) * local)
    return np.concatenate([clips, clips + batch_size])


def _embeddings(model: nn.Module, batch: dict, need_images: bool, local: int) -> dict[str, torch.Tensor]:
    """Run the encoders once on both views and shape the outputs as CrossVideoLoss expects: (2, B, ...)."""
    split = lambda x: x.reshape(2, local, *x.shape[1:])  # noqa: E731
    out = model(batch["points"], batch["times"], batch.get("images") if need_images else None, batch["times"],
                batch.get("uv"), batch.get("uv_valid"))
    emb = {name: gather_batch_dim(split(value), dim=1) for name, value in out.items()}  # all ranks' samples
    emb["point_times"] = emb["image_times"] = gather_batch_dim(split(batch["keys"]), dim=1)  # global frame keys
    emb["groups"] = gather_batch_dim(split(batch["sequence"]), dim=1)[0]  # (B,) sequence of each clip
    return emb


def train_step(model: nn.Module, train_model: nn.Module, tensors: dict[str, torch.Tensor], loss_fn: CrossVideoLoss,
               optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, grad_clip: float,
               device: torch.device, amp: torch.dtype | None, need_images: bool,
               local: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """One optimiser step on this rank's view-major ``tensors`` (2·local rows, :func:`_to_device`): encoders (through
    ``train_model``: DDP or compiled), CrossVideo loss, backward, clipping of ``model``'s gradients, optimiser and
    schedule. Returns (loss, loss terms, gradient norm before clipping)."""
    with record_function("forward"), autocast(device, amp):
        emb = _embeddings(train_model, tensors, need_images, local)
    with record_function("loss"):
        total, terms = loss_fn({key: value.float() if value.is_floating_point() else value
                                for key, value in emb.items()})
    with record_function("backward"):
        optimizer.zero_grad(set_to_none=True)
        total.backward()
    with record_function("optimizer"):
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or float("inf"))
        optimizer.step()
        scheduler.step()
    return total, terms, grad_norm


def pretrain(
    pool: ClipPool,
    augment: AugmentConfig,
    config: PretrainConfig,
    seed: int,
    dist_info: DistInfo = DistInfo(),
    on_step: Callable[[int], None] | None = None,
) -> tuple[CrossVideoModel, pd.DataFrame]:
    """One pretraining run (one seed) on fresh view pairs drawn from ``pool``; returns the model and its history.

    Args:
        pool: the pretraining sequences (:class:`crossvideo_kedro.clip_pool.ClipPool`).
        augment: how views are drawn (temporal + geometric + image augmentation).
        config: pretraining parameters; ``config.steps`` optimiser steps are taken.
        seed: this run's seed: initial weights and dropout (torch RNG), batches and views
            (``default_rng([augment.seed, seed, step])``).
        dist_info: rank/world size (from ``torchrun``); the process group must already be initialised.
        on_step: called after every optimiser step with the step number (tests use it).
    """
    device = select_device(config.device)
    set_threads(config.num_threads)
    loss_fn = CrossVideoLoss(config.loss)
    need_images = uses_images(loss_fn)
    batch_size = _global_batch_size(config.batch_size, pool, need_images, dist_info)
    local = batch_size // dist_info.world_size
    rows = _rank_rows(batch_size, dist_info)
    draw = partial(_draw, pool, augment, view_layouts(augment), seed, batch_size, uses_pixels(loss_fn))

    torch.manual_seed(seed)  # initial weights and dropout come from the torch RNG
    model = _build_model(config, loss_fn, need_images, device, dist_info)
    optimizer, scheduler = _optimizer(model, config)
    checkpointer = _checkpointer(config, augment, seed, pool)
    state = checkpointer.load(total_steps=config.steps) if config.checkpoint.resume else None
    step, history = _restore(state, model, optimizer, scheduler)
    train_model = DistributedDataParallel(model) if dist_info.enabled else model
    dtype = resolve_amp(config.amp, device)
    executor = ThreadPoolExecutor(max_workers=1) if use_prefetch(config.prefetch, device) else None
    batches = _prefetched(draw, step, config.steps, executor)
    progress = tqdm(total=config.steps, initial=step, desc=f"pretrain seed {seed}", unit="step",
                    disable=not (config.progress and dist_info.is_main))
    model.train()
    try:
        while step < config.steps:
            tick = time.perf_counter()
            tensors = _to_device(next(batches), rows, device)
            total, terms, grad_norm = train_step(model, train_model, tensors, loss_fn, optimizer, scheduler,
                                                 config.grad_clip, device, dtype, need_images, local)
            step += 1
            history.append(_history_row(seed, step, scheduler, total, grad_norm, terms, loss_fn,
                                        batch_size / (time.perf_counter() - tick), progress))
            if dist_info.is_main and checkpointer.due(step, config.steps):
                _save_checkpoint(checkpointer, step, model, optimizer, scheduler, history)
            if on_step is not None:
                on_step(step)
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        progress.close()
    return _without_sync_batchnorm(model), pd.DataFrame(history)


def _draw(pool: ClipPool, augment: AugmentConfig, layouts: Any, seed: int, batch_size: int, pixels: bool,
          step: int) -> Any:
    """Step ``step``'s batch of view pairs, from ``default_rng([augment.seed, seed, step])`` (+ the pixel link)."""
    return pool.sample(np.random.default_rng([augment.seed, seed, step]), batch_size, augment, layouts, pixels)


def _prefetched(draw: Callable[[int], Any], first: int, last: int, executor: ThreadPoolExecutor | None) -> Iterator:
    """The batches of steps ``first .. last - 1``; with ``executor``, each next one is drawn while a step runs."""
    pending = executor.submit(draw, first) if executor and first < last else None
    for step in range(first, last):
        batch = pending.result() if pending is not None else draw(step)
        if executor and step + 1 < last:
            pending = executor.submit(draw, step + 1)  # the next batch's views, while this step runs
        yield batch


def _checkpointer(config: PretrainConfig, augment: AugmentConfig, seed: int, pool: ClipPool) -> Checkpointer:
    """The run's checkpointer, keyed by a fingerprint of everything that changes its numbers."""
    identity = config.model_dump(mode="json", exclude={"progress", "checkpoint", "device", "num_threads", "prefetch",
                                                       "seeds"})
    run_id = fingerprint(identity, augment.model_dump(), seed, pool.describe())
    checkpoint = config.checkpoint
    return Checkpointer(checkpoint.dir, run_id, checkpoint.every_steps, checkpoint.keep)


def _history_row(seed: int, step: int, scheduler: Any, total: torch.Tensor, grad_norm: Any,
                 terms: dict[str, torch.Tensor], loss_fn: CrossVideoLoss, clips_per_s: float,
                 progress: tqdm) -> dict[str, Any]:
    """One step's row of the history (loss, terms, lr, grad norm, speed), also shown on the progress bar."""
    row = {"pretrain_seed": seed, "step": step, "lr": scheduler.get_last_lr()[0], "loss": float(total.detach()),
           "grad_norm": float(grad_norm), "clips_per_s": clips_per_s,
           **{term: float(value) for term, value in terms.items()},
           **{f"positives_{term}": count for term, count in loss_fn.positives.items()}}
    progress.update(1)
    progress.set_postfix(loss=f"{row['loss']:.3f}", **{k: f"{v:.2f}" for k, v in terms.items()},
                         clips_s=f"{row['clips_per_s']:.1f}")
    return row


def _global_batch_size(requested: int, pool: ClipPool, need_images: bool, dist_info: DistInfo) -> int:
    """Clips per step over all ranks: ``requested``, capped at the pool's size and rounded down to the ranks."""
    if need_images and pool.images is None:
        raise ValueError("pretrain.loss.weights gives image terms weight > 0 but the pool has no image videos")
    pool_size = len(pool)
    if requested % dist_info.world_size:
        raise ValueError(f"pretrain.batch_size {requested} must divide by the {dist_info.world_size} ranks")
    batch_size = min(requested, pool_size)
    batch_size -= batch_size % dist_info.world_size
    if batch_size < 2:
        raise ValueError(f"the pretraining pool has {pool_size} sequences; contrastive batches need >= 2")
    return batch_size


def _build_model(config: PretrainConfig, loss_fn: CrossVideoLoss, need_images: bool, device: torch.device,
                 dist_info: DistInfo) -> CrossVideoModel:
    """The model on ``device`` (weights from the torch RNG as seeded); BatchNorm synchronised under DDP on CUDA."""
    model = CrossVideoModel(config.model, use_images=need_images,
                            terms=loss_fn.weights, dense_locations=loss_fn.dense.locations,
                            dense_dim=loss_fn.dense.dim).to(device)
    if dist_info.enabled and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        if device.type != "cuda":
            raise ValueError("BatchNorm in the model under DDP on CPU would use per-rank statistics (SyncBatchNorm "
                             "needs CUDA); set pretrain.model.head.norm (and point.norm) to 'layer'")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def _restore(state: dict[str, Any] | None, model: nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: Any) -> tuple[int, list[dict[str, Any]]]:
    """Load a checkpoint's states into the training objects; returns its step and history ((0, []) without one)."""
    if state is None:
        return 0, []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state["step"], list(state["history"])


def _optimizer(model: nn.Module, config: PretrainConfig) -> tuple[torch.optim.Optimizer, Any]:
    """The optimiser and its warm-up + cosine schedule over ``config.steps``."""
    optimizer = build_optimizer(model.parameters(), config.optimizer, config.lr, config.weight_decay, config.momentum)
    return optimizer, build_scheduler(optimizer, config.steps, config.warmup_steps, config.min_lr_ratio)


def _save_checkpoint(checkpointer: Checkpointer, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any, history: list[dict[str, Any]]) -> None:
    checkpointer.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                       "scheduler": scheduler.state_dict(), "history": history}, step)


def _without_sync_batchnorm(model: nn.Module) -> nn.Module:
    """``model`` with any SyncBatchNorm (DDP on CUDA) turned back into BatchNorm."""
    if any(isinstance(m, nn.SyncBatchNorm) for m in model.modules()):
        return _revert_sync_batchnorm(model)
    return model


def _revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """SyncBatchNorm layers back to BatchNorm1d (same weights and statistics), so saved encoders load anywhere."""
    out = module
    if isinstance(module, nn.SyncBatchNorm):
        out = nn.BatchNorm1d(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats)
        out.load_state_dict(module.state_dict())
    for name, child in module.named_children():
        out.add_module(name, _revert_sync_batchnorm(child))
    return out
