"""``finetune`` (``conf/base/parameters_finetune.yml``): one downstream run, its MS-TCN head and augmentation."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator

from crossvideo_kedro.configs.augment import ordered_pair
from crossvideo_kedro.configs.base import Bool, Config, Int, Num, Str, expected
from crossvideo_kedro.configs.pretrain import AMP_CHOICES, Amp

Task = Literal["action_segmentation", "action_recognition", "semantic_segmentation"]
Protocol = Literal["full", "linear"]
TASKS: tuple[str, ...] = get_args(Task)
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
Positive = Annotated[Num, Field(gt=0)]


class TemporalConfig(Config):
    """MS-TCN head (``finetune.temporal``)."""

    stages: Int = Field(2, ge=1)  # refinement stages (MS-TCN: 4); 1 = a single-stage TCN
    layers: Int = Field(5, ge=1)  # dilated residual layers per stage: receptive field 2^(layers+1) - 1 frames
    channels: Int = Field(64, ge=1)  # F, width of every stage
    dropout: Num = Field(0.3, ge=0, lt=1)  # dropout inside each residual layer (MS-TCN: 0.5)
    smoothing_weight: Num = Field(0.15, ge=0)  # λ of the truncated-MSE smoothing loss; 0 turns it off
    smoothing_clamp: Num = Field(4.0, gt=0)  # τ: |Δ log p| is clamped here before squaring (MS-TCN: 4)

    @property
    def receptive_field(self) -> int:
        """Frames that one output frame of the whole stack depends on."""
        per_stage = 2 ** (self.layers + 1) - 1
        return self.stages * (per_stage - 1) + 1


class WindowAugmentConfig(Config):
    """Geometric augmentation of fine-tuning inputs (``finetune.augment``; see ``augment.WindowAugment``)."""

    rotation_deg: Num = Field(15.0, ge=0)  # uniform in ±rotation_deg about ``up_axis`` (camera y points down: 1)
    up_axis: Int = expected("0, 1 or 2", default=1, ge=0, le=2)
    scale: tuple[Num, Num] = (0.9, 1.1)  # per axis, uniform in [lo, hi]
    translation: Num = Field(0.05, ge=0)  # metres, per axis uniform in ±
    jitter_std: Num = Field(0.002, ge=0)  # metres, Gaussian per point, clipped at 5 std

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: tuple) -> tuple:
        return ordered_pair(value)


class FinetuneConfig(Config):
    """Parameters of one fine-tuning run (key ``finetune``)."""

    steps: Int = Field(60, ge=1)  # full fine-tuning optimiser steps (a budget in steps)
    task_step_factor: dict[Str, Num] = {}  # task -> its full runs take round(steps * factor) steps
    low_label_steps: Int | None = Field(None, ge=1)  # full steps of runs with label fraction <= low_label_fraction
    low_label_fraction: Num = expected("in (0, 1]", default=0.25, gt=0, le=1)
    linear_steps: Int = Field(200, ge=1)  # linear-probe steps on cached frozen features (cheap)
    batch_size: Int = Field(8, ge=1)  # windows per step (semantic segmentation, recognition clips)
    sequence_batch: Int = Field(2, ge=1)  # whole sequences per step (action segmentation)
    optimizer: Str = "adamw"
    lr: Num = Field(1e-3, gt=0)  # learning rate of the full protocol (head and a random encoder)
    lr_grid: tuple[Positive, ...] = ()  # candidates chosen on val (per variant × task × fraction); () = just ``lr``
    linear_lr: Num = Field(1e-2, gt=0)  # learning rate of the linear probe
    encoder_lr_ratio: Num = Field(1.0, ge=0)  # pretrained encoders only: encoder lr = lr * ratio (scratch always 1)
    weight_decay: Num = Field(0.01, ge=0)
    warmup_steps: Int = Field(10, ge=0)
    min_lr_ratio: Num = Field(0.01, ge=0, le=1)
    grad_clip: Num = Field(1.0, ge=0)
    clip_frames: Int = Field(8, ge=1)  # window length T (= augment.clip_frames)
    temporal: TemporalConfig = TemporalConfig()  # MS-TCN head
    class_balance: Num = Field(0.0, ge=0, le=1)  # semantic segmentation: class weights (train frequency)^-this
    val_every: Int = Field(0, ge=0)  # record the validation loss every this many steps (0: off)
    ignore_ids: tuple[Int, ...] = ()  # semantic ids excluded from the loss and mIoU (HOI4D: 0 no label, 1 noise)
    eval_batch_size: Int = Field(16, ge=1)
    amp: Bool | Amp = expected(f"one of {AMP_CHOICES} or true/false", default="auto")  # bf16 autocast
    device: Str = "auto"
    progress: Bool = True
    workers: Annotated[Int, Field(ge=1)] | Literal["auto"] = expected("'auto' or an integer >= 1", default=1)
    num_threads: Int | None = Field(None, ge=1)  # torch threads per run (None: 1 with auto, else cores // workers)
    executor: Str = "local"  # local | a Dask scheduler address (tcp://host:8786): where the study's runs execute
    augment: WindowAugmentConfig | None = None  # full protocol: geometric augmentation of training inputs; None: off
    recognition: Literal["event", "video"] = "event"  # recognition clips: one per labelled run | every clip_frames-long
    # clip of each run (a video), scored per video (training.finetune.make_video_clips)
    recognition_stride: Int = Field(1, ge=1)  # video recognition: frames between the starts of consecutive clips
    event_clips: Int = Field(1, ge=1)  # recognition: clips per training event, phase-shifted; prediction: 1
    event_times: Literal["seconds", "fraction"] = "seconds"  # recognition clips' times: seconds | fraction of the event

    @field_validator("executor")
    @classmethod
    def _executor(cls, value: str) -> str:
        if value != "local" and "://" not in value:
            raise ValueError(f" must be 'local' or a Dask scheduler address such as 'tcp://host:8786', got {value!r}")
        return value

    @field_validator("task_step_factor")
    @classmethod
    def _factors(cls, value: dict[str, float]) -> dict[str, float]:
        for task, factor in value.items():
            if task not in TASKS:
                raise ValueError(f": unknown task {task!r}; expected one of {TASKS}")
            if not factor > 0:
                raise ValueError(f".{task} must be a number > 0, got {factor!r}")
        return value

    @field_validator("lr_grid", "ignore_ids", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        return () if value is None else value

    def for_run(self, task: str, fraction: float) -> FinetuneConfig:
        """This config with the full-protocol step budget of a ``task`` run at label ``fraction``:
        ``low_label_steps`` when it is set and ``fraction <= low_label_fraction``, else ``steps`` times the task's
        ``task_step_factor`` (a factor, not a count, so an environment that shortens ``steps`` shortens every task:
        parameters merge softly)."""
        if self.low_label_steps is not None and fraction <= self.low_label_fraction + 1e-9:
            return self.model_copy(update={"steps": self.low_label_steps})
        if task in self.task_step_factor:
            return self.model_copy(update={"steps": max(1, round(self.steps * self.task_step_factor[task]))})
        return self
