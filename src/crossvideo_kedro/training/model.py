"""The CrossVideo pretraining model: point and image video encoders plus one projection head per modality and level.

Only what the active loss terms need is built: without image terms there is no image encoder, without frame-level
terms no frame heads, without ``cross_dense`` no dense heads and no feature maps — so a zero weight removes the
term's compute, not just its value.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.configs.pretrain import DenseConfig
from crossvideo_kedro.losses import to_feature_map
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
    "cross_dense": (),  # its own heads: :class:`DenseHeads`
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


class DenseHeads(nn.Module):
    """The ``cross_dense`` projections to width E = ``dim``: an MLP head (``head.hidden_dim``) on point anchor
    tokens, a 1×1 convolution on image maps.

    Shape:
        tokens: (B, T, L, D_point) -> (B, T, L, E) unit vectors; maps: (B, T, C, h, w) -> (B, T, E, h, w).
    """

    def __init__(self, config: ModelConfig, dim: int) -> None:
        super().__init__()
        h = config.head
        self.point = ProjectionHead(config.point.dim, h.hidden_dim, dim, norm=h.norm)
        self.image = nn.Conv2d(config.image.channels[-1], dim, 1)

    def forward(self, tokens: torch.Tensor, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, C, h, w = maps.shape
        image = self.image(maps.reshape(B * T, C, h, w)).float()  # (B·T, E, h, w), normalised by the loss
        return self.point(tokens), image.reshape(B, T, -1, h, w)


def link_tokens(pixels: torch.Tensor, pixel_valid: torch.Tensor, anchor_index: torch.Tensor,
                image_hw: tuple[int, int], map_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each anchor token's position on the image feature map, from its input point's pixel.

    Shape:
        pixels: (B, T, N, 2) augmented-image pixels of every input point; pixel_valid: (B, T, N) bool;
        anchor_index: (B, T, L) the input point of each token. Returns uv (B, T, L, 2) feature-map coordinates
        and valid (B, T, L).
    """
    uv = torch.gather(pixels, 2, anchor_index[..., None].expand(-1, -1, -1, 2))  # (B, T, L, 2)
    return to_feature_map(uv.float(), image_hw, map_hw), torch.gather(pixel_valid, 2, anchor_index)


class CrossVideoModel(nn.Module):
    """Encoders + projection heads. ``forward`` returns L2-normalised embeddings keyed by head name.

    Shape:
        points: (B, T, N, 3); times: (B, T) seconds from the clip's first frame; images: (B, T, 3, H, W)
        normalised, or None; image_times: (B, T) (default: ``times``).
        returns point_video (B, E), point_frame (B, T, E), image_video (B, E), image_frame (B, T, E) — the active ones.
    """

    def __init__(self, config: ModelConfig, use_images: bool, terms: dict[str, float],
                 dense_locations: int = DenseConfig().locations, dense_dim: int = DenseConfig().dim):
        super().__init__()
        self.config = config
        self.point_encoder = PointVideoEncoder(config.point)
        self.image_encoder = ImageVideoEncoder(config.image) if use_images else None
        self.heads = build_heads(config, active_heads(terms))
        dense = use_images and terms.get("cross_dense", 0) > 0
        self.dense_heads = DenseHeads(config, dense_dim) if dense else None
        self.dense_dim = int(dense_dim)
        self.dense_locations = min(int(dense_locations), config.point.num_anchors)

    def features(self, points: torch.Tensor, times: torch.Tensor, images: torch.Tensor | None = None,
                 image_times: torch.Tensor | None = None, dense: bool = False) -> dict:
        """Backbone features keyed like the heads: point_video (B, D), point_frame (B, T, D) (+ image_* with images).

        ``image_times`` (B, Ti) default to ``times``: both encoders always see times that start at 0 at the first
        frame of the clip they are given. With ``dense`` (and dense heads and images) also the first L FPS anchors
        of each frame, ``point_tokens`` (B, T, L, D) and ``anchor_index`` (B, T, L), and ``image_map``
        (B, T, C, h, w), the image CNN's last map.
        """
        point = self.point_encoder.forward_features(points, times)
        feats = {"point_video": point["video"], "point_frame": point["frame"]}
        dense = dense and self.dense_heads is not None and images is not None
        if images is not None and self.image_encoder is not None:
            image = self.image_encoder.forward_features(images, times if image_times is None else image_times,
                                                        feature_map=dense)
            feats["image_video"], feats["image_frame"] = image["video"], image["frame"]
            if dense:
                L = self.dense_locations
                feats["point_tokens"] = point["anchor_features"][:, :, :L]  # (B, T, L, D)
                feats["anchor_index"] = point["anchor_index"][:, :, :L]  # (B, T, L)
                feats["image_map"] = image["map"]  # (B, T, C, h, w)
        return feats

    def project(self, feats: dict) -> dict:
        """L2-normalised embeddings of the heads whose features are present (+ point_dense, image_dense)."""
        out = {name: head(feats[name]) for name, head in self.heads.items() if name in feats}
        if "point_tokens" in feats:
            out["point_dense"], out["image_dense"] = self.dense_heads(feats["point_tokens"], feats["image_map"])
        return out

    def forward(self, points: torch.Tensor, times: torch.Tensor, images: torch.Tensor | None = None,
                image_times: torch.Tensor | None = None, pixels: torch.Tensor | None = None,
                pixel_valid: torch.Tensor | None = None) -> dict:
        """Embeddings of the active heads; with ``pixels`` (B, T, N, 2) and ``pixel_valid`` (B, T, N) (the views'
        point → pixel link) also ``point_dense`` (B, T, L, E), ``image_dense`` (B, T, E, h, w), ``dense_uv``
        (B, T, L, 2) feature-map positions and ``dense_valid`` (B, T, L) of the ``cross_dense`` term."""
        dense = pixels is not None and self.dense_heads is not None
        feats = self.features(points, times, images, image_times, dense=dense)
        out = self.project(feats)
        if "point_dense" in out:
            map_hw = tuple(out["image_dense"].shape[-2:])
            out["dense_uv"], out["dense_valid"] = link_tokens(pixels, pixel_valid, feats["anchor_index"],
                                                              tuple(images.shape[-2:]), map_hw)
        return out

    def encoder_state(self) -> dict[str, Any]:
        """What ``pretrained_encoders`` stores: configs (plain types) and state dicts, loadable with weights_only."""
        return {
            "model_config": self.config.model_dump(),
            "point_encoder": self.point_encoder.state_dict(),
            "image_encoder": self.image_encoder.state_dict() if self.image_encoder is not None else None,
            "heads": self.heads.state_dict(),
            "head_names": list(self.heads),
            "dense_heads": self.dense_heads.state_dict() if self.dense_heads is not None else None,
            "dense_locations": self.dense_locations,
            "dense_dim": self.dense_dim,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CrossVideoModel:
        """Rebuild a model saved with :meth:`encoder_state` (configs and weights)."""
        config = parse(ModelConfig, state["model_config"], "model")
        terms = {term: 1.0 for term, heads in TERM_HEADS.items()
                 if heads and set(heads) <= set(state["head_names"])}
        if state.get("dense_heads") is not None:
            terms["cross_dense"] = 1.0
        model = cls(config, use_images=state["image_encoder"] is not None, terms=terms,
                    dense_locations=state.get("dense_locations", DenseConfig().locations),
                    dense_dim=state.get("dense_dim", DenseConfig().dim))
        model.point_encoder.load_state_dict(state["point_encoder"])
        if state["image_encoder"] is not None:
            model.image_encoder.load_state_dict(state["image_encoder"])
        model.heads.load_state_dict(state["heads"])
        if model.dense_heads is not None:
            model.dense_heads.load_state_dict(state["dense_heads"])
        return model
