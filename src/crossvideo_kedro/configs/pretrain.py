"""``pretrain`` (``conf/base/parameters_pretrain.yml``): the CrossVideo pretraining runs, their checkpoints, model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from crossvideo_kedro.configs.base import Bool, Config, Int, Num, Str, expected
from crossvideo_kedro.configs.model import ModelConfig

AMP_CHOICES = ("auto", "bf16", "off")
Seed = Annotated[Int, Field(ge=0)]


def distinct_seeds(value: tuple[int, ...]) -> tuple[int, ...]:
    """``value`` when it is a non-empty list of distinct seeds, else ``ValueError`` saying so."""
    if not value or len(set(value)) != len(value):
        raise ValueError(f" must be a non-empty list of distinct integers, got {list(value)}")
    return value


class CheckpointConfig(Config):
    dir: Str = "data/06_models/pretrain_checkpoints"  # <dir>/<run fingerprint>/last.pt
    every_steps: Int = Field(50, ge=1)
    keep: Int = Field(2, ge=1)
    resume: Bool = True  # continue from the last checkpoint of the same run (same config and data)


class PretrainConfig(Config):
    """Parameters of ``pretrain`` (key ``pretrain``)."""

    seeds: tuple[Seed, ...] = (0, 1, 2)  # one pretraining run per seed (initial weights, batches, augmentations)
    steps: Int = Field(300, ge=1)  # optimiser steps per run: the budget (more data does not mean more time)
    batch_size: Int = Field(16, ge=2)  # global batch of clips from distinct sequences (split across ranks)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: Num = Field(1e-3, gt=0)
    weight_decay: Num = Field(0.05, ge=0)
    momentum: Num = Field(0.9, ge=0, le=1)  # sgd only
    warmup_steps: Int = Field(20, ge=0)
    min_lr_ratio: Num = Field(0.01, ge=0, le=1)
    grad_clip: Num = Field(1.0, ge=0)  # max global grad norm; 0 disables
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Bool | Literal["auto", "bf16", "off"] = expected(f"one of {AMP_CHOICES} or true/false", default="auto")
    prefetch: Bool | Literal["auto"] = expected("true, false or auto", default="auto")  # views drawn in a thread
    num_threads: Int | None = Field(None, ge=1)  # torch CPU threads (None: torch's default)
    loss: dict[Str, Any] = {}  # {"weights": {...}, "temperatures": {...}} (CrossVideoLoss checks them)
    model: ModelConfig = ModelConfig()  # {preset, point, image, decoder, head}
    checkpoint: CheckpointConfig = CheckpointConfig()
    retrieval_splits: tuple[Str, ...] = ("val",)  # held-out sequences of the retrieval check
    embed_splits: tuple[Str, ...] = ("train", "val", "test")  # sequences whose clip_embeddings are cached
    embed_clip_frames: Int = Field(8, ge=1)  # window length for clip_embeddings and retrieval
    embed_batch_size: Int = Field(32, ge=1)
    progress: Bool = True

    _seeds = field_validator("seeds")(distinct_seeds)
