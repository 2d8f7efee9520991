"""Nodes of the ``pretrain`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.plots import plot_history
from crossvideo_kedro.training.distributed import init_distributed
from crossvideo_kedro.training.embed import embed_sequence
from crossvideo_kedro.training.model import CrossVideoModel
from crossvideo_kedro.training.pretrain import PretrainConfig, pretrain, select_device
from crossvideo_kedro.training.retrieval import retrieval_topk

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def pretrain_encoders(
    pretrain_views: dict[str, Callable[[], Arrays]], params: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Train the point and image video encoders with the CrossVideo objectives (no labels).

    Under ``torchrun`` this node joins the process group and trains with DistributedDataParallel; the project's
    hook keeps ranks other than 0 from writing catalog outputs.

    Args:
        pretrain_views: the view-pair bank from ``augment``.
        params: ``pretrain`` parameters (see :class:`PretrainConfig`).

    Returns:
        ``pretrained_encoders`` (configs + state dicts) and ``pretrain_history`` (one row per step).
    """
    config = PretrainConfig.from_dict(params)
    dist_info = init_distributed(select_device(config.device))
    model, history = pretrain(pretrain_views, config, dist_info)
    logger.info("pretraining done: %d steps, final loss %.4f", len(history), history["loss"].iloc[-1])
    return model.cpu().encoder_state(), history


def embed_clips(
    pretrained_encoders: dict[str, Any],
    point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]],
    params: dict[str, Any],
) -> dict[str, Arrays]:
    """Cache video- and frame-level features of every sequence's windows, both modalities (``clip_embeddings``).

    Args:
        pretrained_encoders: output of :func:`pretrain_encoders`.
        point_cloud_videos, image_videos: the ingest contracts.
        params: ``pretrain`` parameters (``embed_clip_frames``, ``embed_batch_size``).

    Returns:
        ``{sequence: arrays}`` as produced by :func:`crossvideo_kedro.training.embed.embed_sequence`.
    """
    config = PretrainConfig.from_dict(params)
    model = CrossVideoModel.from_state(pretrained_encoders)
    embeddings = {}
    for name in tqdm(sorted(point_cloud_videos), desc="embed", unit="seq", disable=not config.progress):
        image_video = materialise(image_videos[name]) if name in image_videos else None
        embeddings[name] = embed_sequence(model, materialise(point_cloud_videos[name]), image_video, config.embed_clip_frames,
                                          config.embed_batch_size)
    return embeddings


def evaluate_retrieval(
    clip_embeddings: dict[str, Callable[[], Arrays]], sequence_index: pd.DataFrame, params: dict[str, Any]
) -> dict[str, Any]:
    """Point-video → image-video retrieval (top-1/top-5) on the clips of held-out sequences.

    Uses the video-level projections when the model has them, else the mean of the frame-level projections.
    """
    config = PretrainConfig.from_dict(params)
    held_out = sequence_index.loc[sequence_index["split"].isin(config.retrieval_splits), "sequence"]
    clips = {name: materialise(clip_embeddings[name]) for name in held_out if name in clip_embeddings}
    clips = {n: c for n, c in clips.items() if "proj_image_video" in c or "proj_image_frame" in c}
    groups = np.concatenate([np.full(len(c["starts"]), i) for i, c in enumerate(clips.values())]) if clips else None
    clips = list(clips.values())
    if not clips:
        logger.warning("no held-out clips with image embeddings: retrieval is not defined for this model")
        return {"top1": float("nan"), "top5": float("nan"), "num_clips": 0, "level": "none"}
    level = "video" if "proj_point_video" in clips[0] and "proj_image_video" in clips[0] else "frame"
    pick = (lambda c, m: c[f"proj_{m}_video"]) if level == "video" else (lambda c, m: c[f"proj_{m}_frame"].mean(1))
    queries = np.concatenate([pick(c, "point") for c in clips])
    keys = np.concatenate([pick(c, "image") for c in clips])
    result = {**retrieval_topk(queries, keys, groups=groups), "level": level, "splits": list(config.retrieval_splits)}
    if "proj_point_frame" in clips[0] and "proj_image_frame" in clips[0]:  # aligned frames, all compared at once
        frames = [np.concatenate([c[f"proj_{m}_frame"].reshape(len(c["starts"]), -1) for c in clips])
                  for m in ("point", "image")]
        result["frame_level"] = retrieval_topk(*frames, groups=groups)
    logger.info("point->image retrieval on %d held-out clips: top1 %.1f%% top5 %.1f%% (chance %.1f%% / %.1f%%)",
                result["num_clips"], result["top1"], result["top5"], result["chance_top1"], result["chance_top5"])
    return result


def plot_pretrain_history(pretrain_history: pd.DataFrame) -> Figure:
    """Loss curves: total and every term, per step, with the learning rate."""
    return plot_history(pretrain_history, title="CrossVideo pretraining")
