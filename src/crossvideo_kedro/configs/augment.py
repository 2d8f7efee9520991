"""``augment`` (``conf/base/parameters_augment.yml``): the view pairs pretraining draws, and their preview."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from crossvideo_kedro.configs.base import Config, Int, Num, Str, expected

SPLITS = ("train", "val", "test", "unlabelled")
Pair = tuple[Num, Num]


def ordered_pair(value: tuple, upper: float | None = None) -> tuple:
    """``value`` when it is ``[lo, hi]`` with ``0 < lo <= hi`` (``<= upper``), else ``ValueError`` saying so."""
    top = "" if upper is None else f" <= {upper:g}"
    if not 0 < value[0] <= value[1] or (upper is not None and value[1] > upper):
        raise ValueError(f" must be [lo, hi] with 0 < lo <= hi{top}, got {list(value)!r}")
    return value


class GeometricConfig(Config):
    rotation_deg: Num = Field(15.0, ge=0, le=180)  # rotation about the up axis, uniform in ±rotation_deg
    up_axis: Int = Field(1, ge=0, le=2)  # camera frame: y points down, so the vertical is axis 1
    scale: Pair = (0.9, 1.1)  # anisotropic scale, per axis uniform in [lo, hi]
    translation: Num = Field(0.05, ge=0)  # metres, uniform in ± per axis
    jitter_std: Num = Field(0.002, ge=0)  # metres, Gaussian per point, clipped at 5 std
    dropout: Num = Field(0.1, ge=0, lt=1)  # fraction of points dropped (replaced by duplicates: N stays fixed)

    @field_validator("scale")
    @classmethod
    def _scale(cls, value: tuple) -> tuple:
        return ordered_pair(value)


class ImageAugConfig(Config):
    crop_scale: Pair = (0.7, 1.0)  # side of the random crop, as a fraction of the frame side
    brightness: Num = Field(0.3, ge=0, lt=1)  # factor uniform in [1 − b, 1 + b]
    contrast: Num = Field(0.3, ge=0, le=1)
    saturation: Num = Field(0.3, ge=0, le=1)
    flip_prob: Num = Field(0.5, ge=0, le=1)  # horizontal flip; the same view's points are mirrored (x → −x)

    @field_validator("crop_scale")
    @classmethod
    def _crop(cls, value: tuple) -> tuple:
        return ordered_pair(value, 1.0)


class AugmentConfig(Config):
    """Parameters of ``augment`` (key ``augment``).

    Pretraining draws fresh views every step from these parameters; ``augment`` itself stores the pool of sequences
    and a preview of the views.
    """

    seed: Int = Field(0, ge=0)  # augmentation seed; step s of pretraining seed p draws from rng([seed, p, s])
    splits: tuple[Str, ...] = expected(f"a non-empty subset of {list(SPLITS)}", default=("train", "unlabelled"))
    clip_frames: Int = Field(8, ge=1)  # T frames per view
    clip_span: Int = Field(16, ge=1)  # source frames one clip covers; both views pick their frames inside it
    frame_steps: tuple[Annotated[Int, Field(ge=1)], ...] = expected(  # each view keeps every s-th frame
        "a non-empty list of integers >= 1", default=(1, 2), min_length=1)
    min_overlap: Num = expected("a fraction in (0, 1]", default=0.5, gt=0, le=1)  # shared fraction of the T frames
    preview_clips: Int = Field(4, ge=1)  # clips drawn for the augment preview plot
    geometric: GeometricConfig = GeometricConfig()
    image: ImageAugConfig = ImageAugConfig()

    @field_validator("splits")
    @classmethod
    def _splits(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or set(value) - set(SPLITS):
            raise ValueError(f" must be a non-empty subset of {list(SPLITS)}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _views_fit(self) -> AugmentConfig:
        needed = (self.clip_frames - 1) * max(self.frame_steps) + 1
        if self.clip_span < needed:
            raise ValueError(f".clip_span must be >= (clip_frames - 1) * max(frame_steps) + 1 = {needed} (every view "
                             f"must fit in the span), got {self.clip_span!r}")
        return self
