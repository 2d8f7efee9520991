"""Downstream task models on the point video encoder (optionally fused with the image encoder).

* ``action_segmentation``: window frame features, put back on the whole sequence by the caller (see
  ``training.finetune.encode_sequences``) → MS-TCN (:mod:`crossvideo_kedro.models.temporal`) → per-frame logits;
  the linear probe is one linear layer per frame.
* ``action_recognition``: video feature → logits (B, C).
* ``semantic_segmentation``: anchor features → decoder (3-NN feature propagation) → per-point logits (B, T, N, C).

``fusion`` (the "simply fusing" baseline, trained with labels from scratch) concatenates image features with the
point features before the classifier: frame with frame, video with video, and for points the **pixel-aligned**
image features at each point's projection into its frame (bilinear samples of the image CNN's stem and last-stage
feature maps, plus the frame's global image feature).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crossvideo_kedro.models.decoder import PointDecoder, interpolate_features
from crossvideo_kedro.models.image import ImageVideoEncoder
from crossvideo_kedro.models.point4d import PointVideoEncoder
from crossvideo_kedro.configs.model import ModelConfig
from crossvideo_kedro.configs.finetune import TASKS, Task, TemporalConfig
from crossvideo_kedro.models.temporal import MultiStageTCN

def project_points(points: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-frame points into pixels of the stored frames (contract 2).

    ``u = fx·x/z + s·y/z + cx``, ``v = fy·y/z + cy`` (s = K[0, 1], the skew; 0 for most cameras) with K in
    the OpenCV convention: the centre of the pixel in row r and
    column c is at (u, v) = (c, r) (so the image spans u ∈ [−0.5, W − 0.5]). Points with z ≤ 0 (padding) get
    (−1e6, −1e6), which samples as zero features.

    Shape:
        points: (..., 3) metres; intrinsics: (3, 3). Returns (..., 2) float (u, v).
    """
    z = points[..., 2]
    safe = np.where(z > 1e-6, z, 1.0)
    u = intrinsics[0, 0] * points[..., 0] / safe + intrinsics[0, 1] * points[..., 1] / safe + intrinsics[0, 2]
    v = intrinsics[1, 1] * points[..., 1] / safe + intrinsics[1, 2]
    uv = np.stack([u, v], axis=-1)
    return np.where((z > 1e-6)[..., None], uv, -1e6)


def sample_pixel_features(maps: torch.Tensor, uv: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear samples of feature maps at pixel coordinates of the (H, W) image they were computed from.

    A map of any resolution covers the whole image, so pixel (u, v) (OpenCV centres, see :func:`project_points`)
    maps to the normalised coordinate ``(u + 0.5) / W · 2 − 1`` (``align_corners=False``); outside → zeros.

    Shape:
        maps: (F, C, h, w); uv: (F, N, 2). Returns (F, N, C).
    """
    H, W = image_hw
    grid = torch.stack([(uv[..., 0] + 0.5) / W * 2 - 1, (uv[..., 1] + 0.5) / H * 2 - 1], dim=-1)  # (F, N, 2)
    out = F.grid_sample(maps, grid[:, :, None].to(maps.dtype), mode="bilinear", padding_mode="zeros",
                        align_corners=False)  # (F, C, N, 1)
    return out[..., 0].transpose(1, 2)  # (F, N, C)


class TaskModel(nn.Module):
    """Encoder(s) + task head. ``encoder_modules()`` are what a linear probe freezes.

    ``probe=True`` (the linear protocol) makes every head one linear layer on frozen features: per frame, per clip,
    and per point on the parameter-free 3-NN interpolation of the anchor features.

    Shape:
        points (B, T, N, 3), times (B, T), images (B, T, 3, H, W) or None, uv (B, T, N, 2) or None (per-point
        fusion) → ``forward``: logits (B, C) | (B, T, N, C) (recognition | semantic segmentation).
        Action segmentation: ``frame_inputs(features(...))`` (B, T, D) per window, then
        ``sequence_logits(x (B, L, D), mask)`` → (S, B, L, C) on whole sequences.
    """

    def __init__(self, task: Task, config: ModelConfig, num_classes: int, fusion: bool = False,
                 temporal: TemporalConfig | None = None, probe: bool = False):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.task, self.fusion, self.probe = task, fusion, probe
        self.head_classes = num_classes
        self.temporal_config = temporal or TemporalConfig()
        self.image_hw: tuple[int, int] = (config.image.image_size, config.image.image_size)
        self.spec = None  # set by the trainer: what rebuilds this model (training.finetune.RunSpec)
        self.point_encoder = PointVideoEncoder(config.point)
        self.image_encoder = ImageVideoEncoder(config.image) if fusion else None
        dim = config.point.dim
        extra = config.image.dim if fusion else 0
        if fusion and task == "semantic_segmentation":  # stem + last-stage CNN channels at each point's pixel
            extra += config.image.channels[0] + config.image.channels[-1]
            self._maps: dict[str, torch.Tensor] = {}
            self.image_encoder.cnn.stem.register_forward_hook(lambda m, i, o: self._maps.__setitem__("stem", o))
            self.image_encoder.cnn.blocks.register_forward_hook(lambda m, i, o: self._maps.__setitem__("last", o))
        if task == "semantic_segmentation" and probe:  # linear probe: interpolated frozen features -> one layer
            self.decoder = None
            self.num_neighbors = config.decoder.num_neighbors
            self.head = nn.Linear(dim + extra, num_classes)
        elif task == "semantic_segmentation":
            self.decoder = PointDecoder(config.decoder, in_dim=dim)
            self.head = nn.Linear(config.decoder.dim + extra, num_classes)
        elif task == "action_segmentation" and not probe:
            self.head = MultiStageTCN(dim + extra, num_classes, self.temporal_config)
        else:
            self.head = nn.Linear(dim + extra, num_classes)

    def encoder_modules(self) -> list[nn.Module]:
        return [m for m in (self.point_encoder, self.image_encoder) if m is not None]

    def features(self, points: torch.Tensor, times: torch.Tensor, images: torch.Tensor | None = None,
                 uv: torch.Tensor | None = None) -> dict:
        """What the encoders give the head: anchor_xyz/anchor_features/frame/video (+ image_frame/image_video, and
        for per-point fusion image_stem (B, T, C0, h0, w0) / image_last (B, T, C, h, w) feature maps)."""
        feats = dict(self.point_encoder.forward_features(points, times))
        if self.image_encoder is not None:
            if images is None:
                raise ValueError("this task model fuses image features: images are required")
            image = self.image_encoder.forward_features(images, times)
            feats["image_frame"], feats["image_video"] = image["frame"], image["video"]
            if self.task == "semantic_segmentation":
                B, T = images.shape[:2]
                feats["image_stem"] = self._maps["stem"].reshape(B, T, *self._maps["stem"].shape[1:])
                feats["image_last"] = self._maps["last"].reshape(B, T, *self._maps["last"].shape[1:])
                self.image_hw = tuple(int(v) for v in images.shape[-2:])  # (H, W) the maps were computed from
        return feats

    def frame_inputs(self, feats: dict) -> torch.Tensor:
        """Per-frame inputs of the action-segmentation head: point frame features (⊕ image frame features)."""
        if "image_frame" in feats:
            return torch.cat([feats["frame"], feats["image_frame"]], dim=-1)  # (B, T, D + D_img)
        return feats["frame"]  # (B, T, D)

    def sequence_logits(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Action segmentation on whole sequences: (B, L, D) frame features → (S, B, L, C) (S = 1 for the probe)."""
        if isinstance(self.head, MultiStageTCN):
            return self.head(x, mask)
        return self.head(x)[None]

    def forward(self, points: torch.Tensor, times: torch.Tensor, images: torch.Tensor | None = None,
                uv: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(points, self.features(points, times, images), uv)

    def forward_head(self, points: torch.Tensor, feats: dict, uv: torch.Tensor | None = None) -> torch.Tensor:
        """Window-level task head on encoder features (a linear probe trains only this, on cached features)."""
        if self.task == "action_segmentation":
            raise ValueError("action segmentation runs on whole sequences: use frame_inputs + sequence_logits")
        image = "image_frame" in feats
        if self.task == "semantic_segmentation":
            if self.decoder is None:
                x = interpolate_features(points, feats["anchor_xyz"], feats["anchor_features"], self.num_neighbors)
            else:
                x = self.decoder(points, feats["anchor_xyz"], feats["anchor_features"])  # (B, T, N, D)
            if image:
                x = torch.cat([x, self._pixel_features(feats, uv),
                               feats["image_frame"][:, :, None].expand(-1, -1, x.shape[2], -1)], dim=-1)
        else:
            x = feats["video"] if not image else torch.cat([feats["video"], feats["image_video"]], dim=-1)  # (B, D)
        return self.head(x)

    def _pixel_features(self, feats: dict, uv: torch.Tensor | None) -> torch.Tensor:
        """Image CNN features at each point's pixel: (B, T, N, C0 + C)."""
        if uv is None:
            raise ValueError("per-point fusion needs each point's pixel (uv): build windows with project=True")
        B, T, N, _ = uv.shape
        hw = self.image_hw
        flat_uv = uv.reshape(B * T, N, 2)
        parts = [sample_pixel_features(feats[key].reshape(B * T, *feats[key].shape[2:]), flat_uv, hw)
                 for key in ("image_stem", "image_last")]  # (B*T, N, C_i)
        return torch.cat(parts, dim=-1).reshape(B, T, N, -1)
