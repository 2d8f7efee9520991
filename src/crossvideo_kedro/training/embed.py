"""Features of whole sequences, window by window, from trained encoders (no augmentation, eval mode)."""

from __future__ import annotations

import numpy as np
import torch

from crossvideo_kedro.augment import cover_starts, window_frames, window_inputs
from crossvideo_kedro.training.model import CrossVideoModel, images_to_tensor

Arrays = dict[str, np.ndarray]


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
    points, times = (torch.from_numpy(x).float() for x in window_inputs(point_video, frames))
    use_images = image_video is not None and model.image_encoder is not None
    outputs: dict[str, list[np.ndarray]] = {}
    for lo in range(0, len(starts), batch_size):
        chunk = slice(lo, lo + batch_size)
        images = images_to_tensor(torch.from_numpy(image_video["frames"][frames[chunk]]).to(device)) if use_images else None
        feats = model.features(points[chunk].to(device), times[chunk].to(device), images)
        feats |= {f"proj_{name}": value for name, value in model.project(feats).items()}
        for key, value in feats.items():
            outputs.setdefault(key, []).append(value.float().cpu().numpy())
    result = {key: np.concatenate(chunks).astype(np.float32) for key, chunks in outputs.items()}
    return {"starts": starts.astype(np.int32), "frame_ids": frames.astype(np.int32), **result}
