"""``predict`` (``conf/base/parameters_predict.yml``): the trained models applied to new recordings."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from crossvideo_kedro.configs.base import Config, Int, Str

SEGMENTATION_TASKS = ("action_segmentation", "semantic_segmentation")


class PredictConfig(Config):
    """Parameters of ``predict`` (key ``predict``)."""

    variant: Str = "crossvideo"  # whose <variant>.downstream_models are applied (read when pipelines are built)
    tasks: tuple[Str, ...] = SEGMENTATION_TASKS  # a subset of the tasks the models were trained for
    clip_frames: Int = Field(8, ge=1)  # window length of the clip embeddings (the task models keep their own)
    batch_size: Int = Field(16, ge=1)
    embed_run: Int = 0  # which pretraining seed's encoders embed the clips (index into pretrained_encoders runs)
    plot_frames: Int = Field(3, ge=1)  # frames shown in the point picture
    view_3d_frames: Int = Field(30, ge=1)  # frames in the interactive 3-D view
    classes: dict[Str, Any] = {}  # class names when neither the models nor class_names have them
    unseen: dict[Str, Any] = {}  # `generate` overrides of the unseen sequences (seed, count, …)

    @field_validator("tasks", mode="before")
    @classmethod
    def _tasks(cls, value: Any) -> Any:
        tasks = list(value or ())
        if not tasks or set(tasks) - set(SEGMENTATION_TASKS):
            raise ValueError(f" must be a non-empty subset of {list(SEGMENTATION_TASKS)}, got {tasks}")
        return value
