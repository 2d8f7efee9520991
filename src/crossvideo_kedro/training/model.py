"""The CrossVideo pretraining model: point and image video encoders plus one projection head per modality and level.

Only what the active loss terms need is built: without image terms there is no image encoder, without frame-level
terms no frame heads — so a zero weight removes the term's compute, not just its value.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.models.decoder import PointDecoder
from crossvideo_kedro.models.heads import ProjectionHead
from crossvideo_kedro.models.image import ImageVideoEncoder
from crossvideo_kedro.models.point4d import PointVideoEncoder
from crossvideo_kedro.configs.model import ModelConfig, resolve_config

# Which projection heads each loss term reads.
TERM_HEADS = {
    "intra_video": ("point_video",),
    "intra_frame": ("point_frame",),
    "cross_video": ("point_video", "image_video"),
    "cross_frame": ("point_frame", "image_frame"),
    "image_intra_video": ("image_video",),
    "image_intra_frame": ("image_frame",),
}
#: Every projection head: one per modality (point, image) and level (video, frame).
ALL_HEADS = ("point_video", "point_frame", "image_video", "image_frame")
IMAGE_MEAN, IMAGE_STD = 0.45, 0.25


def images_to_tensor(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) frames → normalised float (..., 3, H, W) for the image encoder."""
    return ((frames.float() / 255.0 - IMAGE_MEAN) / IMAGE_STD).movedim(-1, -3)


def encoder_runs(encoders: dict[str, Any]) -> list[dict[str, Any]]:
    """The encoder states of a ``pretrained_encoders`` object, one per pretraining seed.

    Accepts the current form ``{"runs": [state, ...]}`` (each state from :meth:`CrossVideoModel.encoder_state` plus
    ``"pretrain_seed"``) and the older single-state form (returned as one run with ``pretrain_seed`` 0).
    """
    if "runs" in encoders:
        runs = list(encoders["runs"])
        if not runs:
            raise ValueError("pretrained_encoders holds no runs (empty 'runs' list)")
        return runs
    if "point_encoder" in encoders:
        return [{"pretrain_seed": 0, **encoders}]
    raise ValueError(f"not a pretrained_encoders object: keys {sorted(encoders)[:6]}; expected 'runs' or 'point_encoder'")


def build_encoders(preset_or_dict: str | dict[str, Any] | ModelConfig) -> nn.ModuleDict:
    """The point and image video encoders of a preset or config: ``ModuleDict(point=..., image=...)``."""
    cfg = resolve_config(preset_or_dict)
    return nn.ModuleDict({"point": PointVideoEncoder(cfg.point), "image": ImageVideoEncoder(cfg.image)})


def build_decoder(preset_or_dict: str | dict[str, Any] | ModelConfig) -> nn.Module:
    """The point decoder (anchor features -> every point) matching the preset's point encoder width."""
    cfg = resolve_config(preset_or_dict)
    return PointDecoder(cfg.decoder, in_dim=cfg.point.dim)


def build_heads(preset_or_dict: str | dict[str, Any] | ModelConfig,
                names: tuple[str, ...] | list[str] = ALL_HEADS) -> nn.ModuleDict:
    """Projection heads ``names`` (default: all of :data:`ALL_HEADS`) for a preset or config.

    A head ``<modality>_<level>`` maps that modality's encoder width to ``head.out_dim``.
    """
    cfg = resolve_config(preset_or_dict)
    dims, h = {"point": cfg.point.dim, "image": cfg.image.dim}, cfg.head
    return nn.ModuleDict({
        name: ProjectionHead(dims[name.split("_")[0]], h.hidden_dim, h.out_dim, norm=h.norm) for name in names
    })


def active_heads(weights: dict[str, float]) -> list[str]:
    return sorted({head for term, w in weights.items() if w > 0 for head in TERM_HEADS[term]})


class CrossVideoModel(nn.Module):
    """Encoders + projection heads. ``forward`` returns L2-normalised embeddings keyed by head name.

    Shape:
        points: (B, T, N, 3); times: (B, T) seconds from the clip's first frame; images: (B, T, 3, H, W)
        normalised, or None; image_times: (B, T) (default: ``times``).
        returns point_video (B, E), point_frame (B, T, E), image_video (B, E), image_frame (B, T, E) — the active ones.
    """

    def __init__(self, config: ModelConfig, use_images: bool, terms: dict[str, float]):
        super().__init__()
        self.config = config
        self.point_encoder = PointVideoEncoder(config.point)
        self.image_encoder = ImageVideoEncoder(config.image) if use_images else None
        self.heads = build_heads(config, active_heads(terms))

    def features(self, points: torch.Tensor, times: torch.Tensor, images: torch.Tensor | None = None,
                 image_times: torch.Tensor | None = None) -> dict:
        """Backbone features keyed like the heads: point_video (B, D), point_frame (B, T, D) (+ image_* with images).

        ``image_times`` (B, Ti) default to ``times``: both encoders always see times that start at 0 at the first
        frame of the clip they are given.
        """
        point = self.point_encoder.forward_features(points, times)
        feats = {"point_video": point["video"], "point_frame": point["frame"]}
        if images is not None and self.image_encoder is not None:
            image = self.image_encoder.forward_features(images, times if image_times is None else image_times)
            feats["image_video"], feats["image_frame"] = image["video"], image["frame"]
        return feats

    def project(self, feats: dict) -> dict:
        """L2-normalised embeddings of the heads whose features are present."""
        return {name: head(feats[name]) for name, head in self.heads.items() if name in feats}

    def forward(self, points: torch.Tensor, times: torch.Tensor, images: torch.Tensor | None = None,
                image_times: torch.Tensor | None = None) -> dict:
        return self.project(self.features(points, times, images, image_times))

    def encoder_state(self) -> dict[str, Any]:
        """What ``pretrained_encoders`` stores: configs (plain types) and state dicts, loadable with weights_only."""
        return {
            "model_config": self.config.model_dump(),
            "point_encoder": self.point_encoder.state_dict(),
            "image_encoder": self.image_encoder.state_dict() if self.image_encoder is not None else None,
            "heads": self.heads.state_dict(),
            "head_names": list(self.heads),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CrossVideoModel:
        """Rebuild a model saved with :meth:`encoder_state` (configs and weights)."""
        config = parse(ModelConfig, state["model_config"], "model")
        terms = {term: 1.0 for term, heads in TERM_HEADS.items() if set(heads) <= set(state["head_names"])}
        model = cls(config, use_images=state["image_encoder"] is not None, terms=terms)
        model.point_encoder.load_state_dict(state["point_encoder"])
        if state["image_encoder"] is not None:
            model.image_encoder.load_state_dict(state["image_encoder"])
        model.heads.load_state_dict(state["heads"])
        return model
