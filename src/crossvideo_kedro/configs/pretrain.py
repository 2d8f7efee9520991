"""``pretrain`` (``conf/base/parameters_pretrain.yml``): the CrossVideo pretraining runs, their checkpoints, model."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from crossvideo_kedro.configs.base import Bool, Config, Int, Num, Str, UnknownKeys, expected
from crossvideo_kedro.configs.model import ModelConfig

Amp = Literal["auto", "bf16", "off"]
AMP_CHOICES: tuple[str, ...] = get_args(Amp)
Seed = Annotated[Int, Field(ge=0)]


def distinct_seeds(value: tuple[int, ...]) -> tuple[int, ...]:
    """``value`` when it is a non-empty list of distinct seeds, else ``ValueError`` saying so."""
    if not value or len(set(value)) != len(value):
        raise ValueError(f" must be a non-empty list of distinct integers, got {list(value)}")
    return value


Term = Literal["intra_video", "intra_frame", "cross_video", "cross_frame", "image_intra_video", "image_intra_frame",
               "cross_dense"]  # the terms of the CrossVideo objective (losses.CrossVideoLoss)
LOSS_TERMS: tuple[str, ...] = get_args(Term)
DEFAULT_WEIGHTS = {"intra_video": 1.0, "intra_frame": 1.0, "cross_video": 1.0, "cross_frame": 1.0}
DEFAULT_TEMPERATURE = 0.1
DenseNegatives = Literal["same_location", "batch"]
DENSE_NEGATIVES: tuple[str, ...] = get_args(DenseNegatives)
Weight = Annotated[Num, Field(ge=0)]
Temperature = Annotated[Num, Field(gt=0)]


def known_terms(value: Any) -> Any:
    """``value`` unless it is a mapping with keys that are no loss term (``UnknownKeys`` naming them)."""
    if isinstance(value, dict):
        unknown = sorted(str(k) for k in value if k not in LOSS_TERMS)
        if unknown:
            raise UnknownKeys([f".{k}" for k in unknown], list(LOSS_TERMS))
    return value


class DenseConfig(Config):
    """``pretrain.loss.dense``: the ``cross_dense`` term (losses.DensePixelLoss, the model's dense heads)."""

    negatives: DenseNegatives = "same_location"  # other clips at the token's pixel | other locations of the batch
    mask_radius: Num = Field(1.0, ge=0)  # feature-map cells: same-frame neighbours that are no negatives (batch)
    locations: Int = Field(16, ge=1)  # anchor tokens per frame
    dim: Int = Field(32, ge=1)  # width of the dense projections


class LossConfig(Config):
    """``pretrain.loss``: the CrossVideo objective, L = Σ_k w_k · L_k over the terms with w_k > 0.

    ``weights``: term -> weight >= 0; the listed terms are the objective, unlisted terms have weight 0 (default: the
    four main terms at 1). ``temperatures``: term -> τ > 0, or one number for every term; unlisted terms use 0.1.
    """

    weights: dict[Term, Weight] = DEFAULT_WEIGHTS  # a zero weight removes the term and its compute
    temperatures: dict[Term, Temperature] = {}
    cross_negatives: Literal["both", "other"] = "both"  # cross_video negatives: both (CrossPoint) | other (CLIP)
    dense: DenseConfig = DenseConfig()

    _weights = field_validator("weights", mode="before")(known_terms)  # before the key type: one line per name

    @field_validator("temperatures", mode="before")
    @classmethod
    def _temperatures(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f" must be a finite number > 0 (one for every term) or a mapping of term -> number "
                                 f"> 0, got {value!r}")
            return dict.fromkeys(LOSS_TERMS, value)
        return known_terms(value)

    @model_validator(mode="after")
    def _some_term(self) -> LossConfig:
        if not any(w > 0 for w in self.weights.values()):
            raise ValueError(f".weights are all 0: give at least one of {list(LOSS_TERMS)} a weight > 0")
        return self

    def weight(self, term: str) -> float:
        """The weight of ``term`` (0.0 when ``weights`` does not list it)."""
        return float(self.weights.get(term, 0.0))

    def temperature(self, term: str) -> float:
        """τ of ``term`` (:data:`DEFAULT_TEMPERATURE` when ``temperatures`` does not list it)."""
        return float(self.temperatures.get(term, DEFAULT_TEMPERATURE))


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
    amp: Bool | Amp = expected(f"one of {AMP_CHOICES} or true/false", default="auto")
    prefetch: Bool | Literal["auto"] = expected("true, false or auto", default="auto")  # views drawn in a thread
    num_threads: Int | None = Field(None, ge=1)  # torch CPU threads (None: torch's default)
    loss: LossConfig = LossConfig()  # {weights, temperatures, cross_negatives, dense}
    model: ModelConfig = ModelConfig()  # {preset, point, image, decoder, head}
    checkpoint: CheckpointConfig = CheckpointConfig()
    retrieval_splits: tuple[Str, ...] = ("val",)  # held-out sequences of the retrieval check
    embed_splits: tuple[Str, ...] = ("train", "val", "test")  # sequences whose clip_embeddings are cached
    embed_clip_frames: Int = Field(8, ge=1)  # window length for clip_embeddings and retrieval
    embed_batch_size: Int = Field(32, ge=1)
    progress: Bool = True

    _seeds = field_validator("seeds")(distinct_seeds)
