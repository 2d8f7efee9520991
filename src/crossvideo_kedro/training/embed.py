"""Features of whole sequences, window by window, from trained encoders (no augmentation, eval mode)."""

from __future__ import annotations

import numpy as np
import torch

from crossvideo_kedro.augment import center_clip, cover_starts, window_frames
from crossvideo_kedro.training.model import CrossVideoModel, images_to_tensor

Arrays = dict[str, np.ndarray]


def window_inputs(point_video: Arrays, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Model inputs for windows of a point cloud video.

    Shape:
        frames: (C, T) frame indices. Returns points (C, T, N, 3) clip-centred, times (C, T) seconds from window start.
    """
    points = center_clip(point_video["points"][frames])  # (C, T, N, 3)
    stamps = point_video["timestamps"][frames]
    return torch.from_numpy(points).float(), torch.from_numpy(stamps - stamps[:, :1]).float()


@torch.no_grad()
def embed_sequence(
    model: CrossVideoModel, point_video: Arrays, image_video: Arrays | None, clip_frames: int, batch_size: int
) -> Arrays:
    """Backbone features and projected embeddings of the windows covering a sequence.

    Returns:
        ``starts`` (C,), ``frame_ids`` (C, T); backbone ``point_video`` (C, D), ``point_frame`` (C, T, D) and, with
        images, ``image_video``/``image_frame``; projected ``proj_<head>`` for each head of the model.
    """
    model.eval()
    device = next(model.parameters()).device
    num_frames = point_video["points"].shape[0]
    starts = cover_starts(num_frames, clip_frames)
    frames = window_frames(starts, clip_frames, num_frames)  # (C, T)
    points, times = window_inputs(point_video, frames)
    use_images = image_video is not None and model.image_encoder is not None
    outputs: dict[str, list[np.ndarray]] = {}
    for lo in range(0, len(starts), batch_size):
        chunk = slice(lo, lo + batch_size)
        feats = {}
        point = model.point_encoder.forward_features(points[chunk].to(device), times[chunk].to(device))
        feats["point_video"], feats["point_frame"] = point["video"], point["frame"]
        if use_images:
            images = images_to_tensor(torch.from_numpy(image_video["frames"][frames[chunk]]).to(device))
            image = model.image_encoder.forward_features(images)
            feats["image_video"], feats["image_frame"] = image["video"], image["frame"]
        for name, head in model.heads.items():
            if name in feats:
                feats[f"proj_{name}"] = head(feats[name])
        for key, value in feats.items():
            outputs.setdefault(key, []).append(value.float().cpu().numpy())
    result = {key: np.concatenate(chunks).astype(np.float32) for key, chunks in outputs.items()}
    return {"starts": starts.astype(np.int32), "frame_ids": frames.astype(np.int32), **result}
