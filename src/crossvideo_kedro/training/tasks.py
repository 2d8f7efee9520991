"""Downstream task models on the point video encoder (optionally fused with the image encoder).

* ``action_segmentation``: frame features → (optional temporal conv) → per-frame logits (B, T, C).
* ``action_recognition``: video feature → logits (B, C).
* ``semantic_segmentation``: anchor features → decoder (3-NN feature propagation) → per-point logits (B, T, N, C).

``fusion`` (the "simply fusing" baseline) concatenates image features with the point features before the classifier:
frame with frame, video with video, and for points the image frame feature broadcast to every point of its frame.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from crossvideo_kedro.models.decoder import PointDecoder, interpolate_features
from crossvideo_kedro.models.image import ImageVideoEncoder
from crossvideo_kedro.models.point4d import PointVideoEncoder
from crossvideo_kedro.models.presets import ModelConfig

Task = Literal["action_segmentation", "action_recognition", "semantic_segmentation"]
TASKS: tuple[str, ...] = ("action_segmentation", "action_recognition", "semantic_segmentation")


class TemporalHead(nn.Module):
    """A light temporal head: residual 1D convolution over frames, then a linear classifier.

    Shape:
        x: (B, T, D) → (B, T, C).
    """

    def __init__(self, dim: int, num_classes: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2) if kernel > 1 else None
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = x + torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)  # (B, T, D)
        return self.fc(x)


class TaskModel(nn.Module):
    """Encoder(s) + task head. ``encoder_modules()`` are what a linear probe freezes.

    ``probe=True`` (the linear protocol) makes every head one linear layer on frozen features: per frame, per clip,
    and per point on the parameter-free 3-NN interpolation of the anchor features.

    Shape:
        points (B, T, N, 3), times (B, T), images (B, T, 3, H, W) or None (fusion only) →
        logits (B, T, C) | (B, C) | (B, T, N, C) by task.
    """

    def __init__(self, task: Task, config: ModelConfig, num_classes: int, fusion: bool = False,
                 temporal_kernel: int = 1, probe: bool = False):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.task, self.fusion, self.probe = task, fusion, probe
        self.point_encoder = PointVideoEncoder(config.point)
        self.image_encoder = ImageVideoEncoder(config.image) if fusion else None
        dim = config.point.dim
        extra = config.image.dim if fusion else 0
        if task == "semantic_segmentation" and probe:  # linear probe: interpolated frozen features -> one layer
            self.decoder = None
            self.num_neighbors = config.decoder.num_neighbors
            self.head = nn.Linear(dim + extra, num_classes)
        elif task == "semantic_segmentation":
            self.decoder = PointDecoder(config.decoder, in_dim=dim)
            self.head = nn.Linear(config.decoder.dim + extra, num_classes)
        elif task == "action_segmentation":
            self.head = TemporalHead(dim + extra, num_classes, 1 if probe else temporal_kernel)
        else:
            self.head = nn.Linear(dim + extra, num_classes)

    def encoder_modules(self) -> list[nn.Module]:
        return [m for m in (self.point_encoder, self.image_encoder) if m is not None]

    def features(self, points: torch.Tensor, times: torch.Tensor, images: torch.Tensor | None = None) -> dict:
        """What the encoders give the head: anchor_xyz/anchor_features/frame/video (+ image_frame/image_video)."""
        feats = dict(self.point_encoder.forward_features(points, times))
        if self.image_encoder is not None:
            image = self.image_encoder.forward_features(images)
            feats["image_frame"], feats["image_video"] = image["frame"], image["video"]
        return feats

    def forward(self, points: torch.Tensor, times: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(points, self.features(points, times, images))

    def forward_head(self, points: torch.Tensor, feats: dict) -> torch.Tensor:
        """Task head on encoder features (a linear probe trains only this, on cached features)."""
        image = {"frame": feats["image_frame"], "video": feats["image_video"]} if "image_frame" in feats else None
        if self.task == "semantic_segmentation":
            if self.decoder is None:
                x = interpolate_features(points, feats["anchor_xyz"], feats["anchor_features"], self.num_neighbors)
            else:
                x = self.decoder(points, feats["anchor_xyz"], feats["anchor_features"])  # (B, T, N, D)
            if image is not None:
                x = torch.cat([x, image["frame"][:, :, None].expand(-1, -1, x.shape[2], -1)], dim=-1)
        elif self.task == "action_segmentation":
            x = feats["frame"] if image is None else torch.cat([feats["frame"], image["frame"]], dim=-1)  # (B, T, D)
        else:
            x = feats["video"] if image is None else torch.cat([feats["video"], image["video"]], dim=-1)  # (B, D)
        return self.head(x)
