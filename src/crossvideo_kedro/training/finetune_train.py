"""Training one downstream task model: the optimiser, the seeded batch order and the step.

:class:`FinetuneTrainer` holds what one run's training keeps between steps; its :meth:`~FinetuneTrainer.step` is
the one training step, called by :func:`train_task_model` and by ``benchmarks/bench_finetune.py``.
Shape letters: R windows, T frames per window, L frames per sequence, N points, C classes, D features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.profiler import record_function
from tqdm.auto import tqdm

from crossvideo_kedro.augment import WindowAugment
from crossvideo_kedro.configs.finetune import FinetuneConfig
from crossvideo_kedro.models.temporal import temporal_loss
from crossvideo_kedro.training.finetune import (
    IGNORE,
    Augment,
    FeatureCache,
    Windows,
    _inputs,
    _sequence_targets,
    _window_targets,
    encode_sequences,
    frozen_features,
    frozen_sequence_features,
    predict,
)
from crossvideo_kedro.training.precision import autocast, resolve_amp
from crossvideo_kedro.training.schedule import build_optimizer, build_scheduler
from crossvideo_kedro.training.tasks import TaskModel


@dataclass
class StepOutput:
    """One step's loss (detached), the logits it was computed from, and the targets (IGNORE where unknown)."""

    loss: torch.Tensor
    logits: torch.Tensor  # (B, T, C) | (B, T, N, C) | (B, C); (S, B, L, C) stages for action segmentation
    target: torch.Tensor


@dataclass
class FinetuneTrainer:
    """One run's training state: model, optimiser, schedule, seeded batch order, frozen features (linear)."""

    model: TaskModel
    task: str
    linear: bool
    train: Windows
    config: FinetuneConfig
    device: torch.device
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    amp: torch.dtype | None
    weight: torch.Tensor | None  # class weights of the loss (semantic segmentation)
    cached: torch.Tensor | dict[str, torch.Tensor] | None  # frozen features (linear protocol)
    rng: np.random.Generator
    augment: Augment | None
    order: np.ndarray

    @property
    def sequences(self) -> bool:
        """Action segmentation steps on whole sequences (``sequence_batch``); other tasks on windows."""
        return self.task == "action_segmentation"

    @classmethod
    def build(cls, model: TaskModel, task: str, protocol: str, train: Windows, config: FinetuneConfig, seed: int,
              device: torch.device, cache: FeatureCache | None = None, lr: float | None = None,
              pretrained: bool = False) -> FinetuneTrainer:
        """The trainer of ``model`` for ``steps`` (full) or ``linear_steps`` (linear) optimiser steps."""
        linear = protocol == "linear"
        steps = config.linear_steps if linear else config.steps
        lr = (config.linear_lr if linear else config.lr) if lr is None else lr
        encoder_params = {id(p) for m in model.encoder_modules() for p in m.parameters()}
        head_params = [p for p in model.parameters() if id(p) not in encoder_params]
        if linear:
            for module in model.encoder_modules():
                module.requires_grad_(False)
            groups = [{"params": head_params, "lr": lr}]
        else:
            ratio = config.encoder_lr_ratio if pretrained else 1.0  # a random encoder trains at the full rate
            groups = [{"params": head_params, "lr": lr},
                      {"params": [p for m in model.encoder_modules() for p in m.parameters()], "lr": lr * ratio}]
        optimizer = build_optimizer(groups, config.optimizer, lr, config.weight_decay)
        scheduler = build_scheduler(optimizer, steps, min(config.warmup_steps, steps // 4), config.min_lr_ratio)
        amp = resolve_amp(config.amp, device)
        weight = class_weights(train, model.head_classes, config, device) if task == "semantic_segmentation" else None
        cached = _frozen(model, task, train, config, device, amp, cache) if linear else None
        augment = None
        if config.augment is not None and not linear:  # fresh transforms every step, seeded by the run
            generator = torch.Generator().manual_seed(int(np.random.default_rng([seed, 13]).integers(2**63)))
            transform = WindowAugment.model_validate(config.augment.model_dump())
            augment = lambda points, groups: transform(points, groups, generator)  # noqa: E731
        return cls(model, task, linear, train, config, device, optimizer, scheduler, amp, weight, cached,
                   np.random.default_rng([seed, 11]), augment, np.empty(0, dtype=np.int64))

    def next_batch(self) -> np.ndarray:
        """The next batch (sorted unit indices): epochs of a seeded permutation, topped up across epoch ends, never
        one unit twice in a batch. Units are sequences for action segmentation, else windows."""
        units = len(self.train.names) if self.sequences else len(self.train)
        per_step = self.config.sequence_batch if self.sequences else self.config.batch_size
        if len(self.order) < per_step:
            self.order = np.concatenate([self.order, self.rng.permutation(units)])
        pick = np.sort(np.unique(self.order, return_index=True)[1])[:per_step]
        batch, self.order = np.sort(self.order[pick]), np.delete(self.order, pick)
        return batch

    def step(self, batch: np.ndarray) -> StepOutput:
        """One optimiser step on ``batch``: forward, loss, backward, gradient clipping, optimiser and schedule."""
        self.model.train()
        for module in self.model.encoder_modules() if self.linear else []:
            module.eval()  # frozen: normalisation statistics stay those of pretraining
        with record_function("forward"):
            logits, target, mask = self._forward(batch)
        with record_function("loss"):
            loss = self._loss(logits, target, mask)
        with record_function("backward"):
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("optimizer"):
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip or float("inf"))
            self.optimizer.step()
            self.scheduler.step()
        return StepOutput(loss.detach(), logits, target)

    def _forward(self, batch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(logits, target, mask of real frames (B, L_max) for action segmentation, else None) of ``batch``."""
        model, device = self.model, self.device
        if self.sequences:
            target, mask = _sequence_targets(self.train, batch)
            x = self.cached[torch.from_numpy(batch)][:, : target.shape[1]] if self.linear else None
            with autocast(device, self.amp):
                if x is None:
                    x = encode_sequences(model, self.train, batch, device, augment=self.augment)  # (B, L_max, D)
                return model.sequence_logits(x, mask.to(device)).float(), target, mask  # (S, B, L_max, C)
        idx = torch.from_numpy(batch)
        with autocast(device, self.amp):
            if self.linear:
                logits = model.forward_head(self.train.points[idx].to(device),
                                            {k: v[idx].to(device) for k, v in self.cached.items()},
                                            self.train.uv[idx].to(device) if self.train.uv is not None else None)
            else:
                logits = model(*_inputs(self.train, idx, device, self.augment))
        return logits.float(), _window_targets(self.task, self.train, idx, self.config.ignore_ids), None

    def _loss(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        device = self.device
        if self.sequences and self.linear:  # every frame of the batch's sequences, one linear layer
            return F.cross_entropy(logits[-1].reshape(-1, logits.shape[-1]), target.to(device).reshape(-1),
                                   ignore_index=IGNORE)
        if self.sequences:
            return temporal_loss(logits, target.to(device), mask.to(device), self.model.temporal_config, IGNORE)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.to(device).reshape(-1),
                               ignore_index=IGNORE, weight=self.weight)


def _frozen(model: TaskModel, task: str, train: Windows, config: FinetuneConfig, device: torch.device,
            amp: torch.dtype | None, cache: FeatureCache | None) -> torch.Tensor | dict[str, torch.Tensor]:
    """The linear probe's frozen features of ``train``, once (float32): (S, L_max, D) per sequence for action
    segmentation, else the window features."""
    with autocast(device, amp):
        cached = (frozen_sequence_features(model, train, device, config.eval_batch_size, cache)
                  if task == "action_segmentation" else
                  frozen_features(model, train, device, config.eval_batch_size, cache))
    return {k: v.float() for k, v in cached.items()} if isinstance(cached, dict) else cached.float()


def _history_row(step: int, loss: float, correct: int, count: int, tick: float) -> dict:
    return {"step": step, "loss": loss, "train_accuracy": 100 * correct / max(count, 1),
            "seconds": time.perf_counter() - tick}


def train_task_model(model: TaskModel, task: str, protocol: str, train: Windows, config: FinetuneConfig, seed: int,
                     device: torch.device, desc: str, cache: FeatureCache | None = None, lr: float | None = None,
                     pretrained: bool = False, val: Windows | None = None) -> pd.DataFrame:
    """Train ``model`` in place for ``steps`` (or ``linear_steps``) optimiser steps.

    Returns the history: one row per step (loss, accuracy on the batch, seconds) and, every ``val_every`` steps,
    ``val_loss`` on ``val``.
    """
    trainer = FinetuneTrainer.build(model, task, protocol, train, config, seed, device, cache, lr, pretrained)
    steps = config.linear_steps if trainer.linear else config.steps
    history = []
    for step in tqdm(range(steps), desc=desc, unit="step", disable=not config.progress, leave=False):
        tick = time.perf_counter()
        out = trainer.step(trainer.next_batch())
        pred = (out.logits[-1] if trainer.sequences else out.logits).argmax(-1).cpu()
        valid = out.target != IGNORE
        row = _history_row(step, float(out.loss), int((pred == out.target)[valid].sum()), int(valid.sum()), tick)
        if val is not None and config.val_every and (step + 1) % config.val_every == 0:
            row["val_loss"] = validation_loss(model, task, val, config, device, cache)
        history.append(row)
    return pd.DataFrame(history)


def class_weights(train: Windows, num_classes: int, config: FinetuneConfig,
                  device: torch.device) -> torch.Tensor | None:
    """Per-class loss weights ∝ (frequency of the class among the training points)^−class_balance, mean 1 over the
    classes present (absent classes get weight 0: they have no points to weigh). None when ``class_balance`` is 0."""
    if config.class_balance == 0:
        return None
    labels = _window_targets("semantic_segmentation", train, torch.arange(len(train)), config.ignore_ids)
    counts = torch.bincount(labels[labels != IGNORE], minlength=num_classes)[:num_classes].double()
    present = counts > 0
    weight = torch.zeros(num_classes, dtype=torch.float64)
    weight[present] = (counts[present] / counts.sum()) ** -config.class_balance
    weight[present] /= weight[present].mean()
    return weight.float().to(device)


@torch.no_grad()
def validation_loss(model: TaskModel, task: str, windows: Windows, config: FinetuneConfig, device: torch.device,
                    cache: FeatureCache | None = None) -> float:
    """Mean per-frame (per-point) cross-entropy of the current model on ``windows`` (last stage for MS-TCN)."""
    logits = predict(model, task, windows, device, config.eval_batch_size, cache, resolve_amp(config.amp, device))
    if task == "action_segmentation":
        flat = torch.cat(logits)  # (ΣL, C), sequences one after another
        target = torch.cat([torch.where(torch.from_numpy(lab) < 0, IGNORE, torch.from_numpy(lab))
                            for lab in windows.sequence_labels])
        return float(F.cross_entropy(flat, target, ignore_index=IGNORE))
    flat = torch.cat(logits)
    target = _window_targets(task, windows, torch.arange(len(windows)), config.ignore_ids)
    return float(F.cross_entropy(flat.reshape(-1, flat.shape[-1]), target.reshape(-1), ignore_index=IGNORE))
