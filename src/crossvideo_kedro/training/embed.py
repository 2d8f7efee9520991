"""Features of whole sequences, window by window, from trained encoders (no augmentation, eval mode)."""

from __future__ import annotations

import numpy as np
import torch

from crossvideo_kedro.augment import cover_starts, window_frames, window_inputs
from crossvideo_kedro.geometry.pixel_link import project_frames
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


@torch.no_grad()
def embed_pixels(model: CrossVideoModel, point_video: Arrays, image_video: Arrays, clip_frames: int,
                 batch_size: int) -> Arrays:
    """Dense projections of the windows of a sequence and each anchor token's place on the image feature map.

    The points' pixels come from the stored frames' ``intrinsics`` (nearest point per pixel), without augmentation.

    Returns:
        ``tokens`` (F, L, E) point-token projections of the F = C·T window frames, ``maps`` (F, E, h, w) their
        image projections, ``uv`` (F, L, 2) each token's feature-map coordinates and ``valid`` (F, L).
    """
    model.eval()
    device = next(model.parameters()).device
    num_frames = point_video["points"].shape[0]
    frames = window_frames(cover_starts(num_frames, clip_frames), clip_frames, num_frames)  # (C, T)
    points, times = (torch.from_numpy(x).float() for x in window_inputs(point_video, frames))
    hw = image_video["frames"].shape[1:3]
    uv, valid = project_frames(point_video["points"][frames], image_video["intrinsics"], hw)  # (C, T, N, ...)
    out: dict[str, list[np.ndarray]] = {}
    for lo in range(0, len(frames), batch_size):
        chunk = slice(lo, lo + batch_size)
        images = images_to_tensor(torch.from_numpy(image_video["frames"][frames[chunk]]).to(device))
        pixels, pixel_valid = torch.from_numpy(uv[chunk]).to(device), torch.from_numpy(valid[chunk]).to(device)
        emb = model(points[chunk].to(device), times[chunk].to(device), images, pixels=pixels, pixel_valid=pixel_valid)
        for key in ("point_dense", "image_dense", "dense_uv", "dense_valid"):
            value = emb[key].flatten(0, 1)  # (C'·T, ...)
            out.setdefault(key, []).append((value.float() if value.is_floating_point() else value).cpu().numpy())
    cat = {key: np.concatenate(value) for key, value in out.items()}
    return {"tokens": cat["point_dense"], "maps": cat["image_dense"], "uv": cat["dense_uv"],
            "valid": cat["dense_valid"]}
