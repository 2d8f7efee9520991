"""``ingest`` (``conf/base/parameters_ingest.yml``): raw sequences → fixed-size point clouds and image videos."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from crossvideo_kedro.configs.base import Config, Int, Num, Str, expected

#: Point sampling methods of ``geometry.sampling.sample_fixed``.
SAMPLING_METHODS: tuple[str, ...] = ("fps", "random")
SPLIT_FRACTIONS = "a mapping of train/val/test to non-negative fractions, or 'file'"


class IngestConfig(Config):
    """Parameters of ``ingest`` (key ``ingest``)."""

    num_points: Int = expected("an integer > 0", default=256, gt=0)  # N points per frame
    sampling: Literal["fps", "random"] = expected(f"one of {SAMPLING_METHODS}", default="fps")  # fps or random
    fps_pool: Int = Field(4, ge=1)  # FPS runs on fps_pool·N random valid candidates
    plane_share: Num | None = expected("a fraction in [0, 1] or null", default=None, ge=0, le=1)  # plane cap
    plane_threshold: Num = Field(0.015, gt=0)  # metres from the plane that still count as on it
    plane_iterations: Int = Field(64, ge=1)  # RANSAC hypotheses per frame
    min_depth: Num = Field(0.1, ge=0)  # metres; nearer depth is discarded
    max_depth: Num = Field(2.0, gt=0)  # metres; farther depth is discarded
    frame_step: Int = Field(1, ge=1)  # keep every frame_step-th stored frame
    target_fps: Num | None = Field(None, gt=0)  # if set, overrides frame_step: step = round(fps / target_fps)
    max_frames: Int | None = Field(None, ge=1)  # keep at most this many frames (after the step)
    image_size: tuple[Annotated[Int, Field(ge=8)], Annotated[Int, Field(ge=8)]] = (64, 64)  # (H, W) of image frames
    split: dict[Str, Num] | Str | None = None  # {"train": 0.7, "val": 0.1, "test": 0.2} (seeded), or "file"
    seed: Int = Field(0, ge=0)
    num_workers: Int = Field(2, ge=1)  # sequences processed in parallel
    chunk_frames: Int = Field(32, ge=1)  # frames decoded, back-projected and sampled at once
    action_classes: list | None = None  # used when a source does not name its classes
    semantic_classes: list | None = None
    min_points: Int = Field(32, ge=1)  # a kept frame needs at least this many valid depth pixels ...
    sparse_frames: Literal["error", "skip"] = "error"  # ... else it is an error, or the frame is dropped
    on_error: Literal["raise", "skip"] = "raise"  # a bad sequence stops ingest (all listed), or is skipped+recorded
    normalise: Literal["none", "sequence"] = "none"  # sequence: points / the sequence's radius (unit scale)

    @field_validator("split", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if value is None or value == "file":
            return value
        if isinstance(value, str):
            raise ValueError(f" must be fractions {{train, val, test}} or 'file' (read the catalog entry split_file), "
                             f"got {value!r}")
        if not isinstance(value, dict) or set(value) - {"train", "val", "test"} or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value.values()) or not sum(
                value.values()) > 0:
            raise ValueError(f" must be {SPLIT_FRACTIONS}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _depth_range(self) -> IngestConfig:
        if not self.min_depth < self.max_depth:
            raise ValueError(f".max_depth must be > min_depth ({self.min_depth}) >= 0, got {self.max_depth!r}")
        return self
