"""Nodes of the ``pretrain`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from crossvideo_kedro.configs import AugmentConfig, PretrainConfig, parse
from crossvideo_kedro.clip_pool import ClipPool
from crossvideo_kedro.losses import CrossVideoLoss
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.plots import plot_history
from crossvideo_kedro.training.distributed import init_distributed
from crossvideo_kedro.training.embed import embed_pixels, embed_sequence
from crossvideo_kedro.training.model import CrossVideoModel, encoder_runs
from crossvideo_kedro.training.pretrain import pretrain, select_device, uses_images
from crossvideo_kedro.training.retrieval import pixel_retrieval, retrieval_report, summarise_runs

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def pretrain_encoders(
    pretrain_pool: pd.DataFrame,
    point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]],
    augment_params: dict[str, Any],
    params: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Train the point and image video encoders with the CrossVideo objectives (no labels), once per seed.

    Under ``torchrun`` this node joins the process group and trains with DistributedDataParallel; the project's
    hook keeps ranks other than 0 from writing catalog outputs.

    Args:
        pretrain_pool: the sequences to draw clips from (``augment``'s table).
        point_cloud_videos, image_videos: the ingest contracts (only the pool's sequences are read).
        augment_params: ``augment`` parameters (how views are drawn).
        params: ``pretrain`` parameters (see :class:`PretrainConfig`); one run per entry of ``seeds``.

    Returns:
        ``pretrained_encoders`` ``{"runs": [state, ...]}`` (one encoder state per seed, with ``pretrain_seed``) and
        ``pretrain_history`` (one row per step and seed).
    """
    config = parse(PretrainConfig, params, "pretrain")
    augment = parse(AugmentConfig, augment_params, "augment")
    need_images = uses_images(CrossVideoLoss(config.loss))
    pool = ClipPool.from_videos(pretrain_pool["sequence"], point_cloud_videos, image_videos, need_images)
    logger.info("pretraining on %d sequences (%d frames), %d steps x %d seeds", len(pool), int(pool.lengths.sum()),
                config.steps, len(config.seeds))
    dist_info = init_distributed(select_device(config.device))
    runs, histories = [], []
    for seed in config.seeds:
        model, history = pretrain(pool, augment, config, seed, dist_info)
        logger.info("pretraining seed %d done: %d steps, final loss %.4f", seed, len(history),
                    history["loss"].iloc[-1])
        runs.append({"pretrain_seed": int(seed), **model.cpu().encoder_state()})
        histories.append(history)
    return {"runs": runs}, pd.concat(histories, ignore_index=True)


def _labelled(sequence_index: pd.DataFrame, splits: tuple[str, ...]) -> list[str]:
    return sorted(sequence_index.loc[sequence_index["split"].isin(splits), "sequence"])


def _no_retrieval_reason(sequence_index: pd.DataFrame, splits: tuple[str, ...]) -> str:
    """Why no held-out sequence can be retrieved: a missing split is named, else the missing image videos."""
    wanted = ", ".join(repr(s) for s in splits)
    if not _labelled(sequence_index, splits):
        present = ", ".join(sorted(sequence_index["split"].unique()))
        return (f"no sequence is in split {wanted} (retrieval_splits); splits present: {present} - give the split "
                "file or ingest.split a val part, or set pretrain.retrieval_splits")
    return f"no held-out sequence (split {wanted}) has an image video"


def embed_clips(
    pretrained_encoders: dict[str, Any],
    point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]],
    sequence_index: pd.DataFrame,
    params: dict[str, Any],
) -> dict[str, Arrays]:
    """Cache video- and frame-level features of the windows of the ``embed_splits`` sequences (first seed's model).

    Args:
        pretrained_encoders: output of :func:`pretrain_encoders`.
        point_cloud_videos, image_videos, sequence_index: the ingest contracts.
        params: ``pretrain`` parameters (``embed_splits``, ``embed_clip_frames``, ``embed_batch_size``).

    Returns:
        ``{sequence: arrays}`` as produced by :func:`crossvideo_kedro.training.embed.embed_sequence`.
    """
    config = parse(PretrainConfig, params, "pretrain")
    model = CrossVideoModel.from_state(encoder_runs(pretrained_encoders)[0])
    embeddings = {}
    names = _labelled(sequence_index, config.embed_splits)
    for name in tqdm(names, desc="embed", unit="seq", disable=not config.progress):
        image_video = materialise(image_videos[name]) if name in image_videos else None
        embeddings[name] = embed_sequence(model, materialise(point_cloud_videos[name]), image_video,
                                          config.embed_clip_frames, config.embed_batch_size)
    return embeddings


def evaluate_retrieval(
    pretrained_encoders: dict[str, Any],
    point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]],
    sequence_index: pd.DataFrame,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Point → image retrieval on the windows of held-out (``retrieval_splits``, val by default) sequences.

    For every pretraining seed: video level (video projections, or the mean of frame projections), aligned frames
    (all frame projections of a window at once) and "right sequence" top-1, each with its chance level; the
    summary gives mean, min and max over seeds. Values that are not defined (depth-only model) are ``null``.
    A model with the ``cross_dense`` heads also gets ``pixel``: point → pixel top-1 within ``loss.dense.mask_radius``
    cells among the h×w cells of the token's own frame (:func:`crossvideo_kedro.training.retrieval.pixel_retrieval`).
    """
    config = parse(PretrainConfig, params, "pretrain")
    names = [n for n in _labelled(sequence_index, config.retrieval_splits) if n in image_videos]
    runs = encoder_runs(pretrained_encoders)
    if not names or runs[0]["image_encoder"] is None:
        reason = (_no_retrieval_reason(sequence_index, config.retrieval_splits) if not names
                  else "the model has no image encoder (no image terms)")
        logger.warning("retrieval is not defined here: %s", reason)
        return {"splits": list(config.retrieval_splits), "defined": False, "runs": []}
    videos = {n: materialise(point_cloud_videos[n]) for n in names}
    images = {n: materialise(image_videos[n]) for n in names}
    reports = []
    radius = float(config.loss.dense.mask_radius)
    for run in runs:
        model = CrossVideoModel.from_state(run)
        clips = [embed_sequence(model, videos[n], images[n], config.embed_clip_frames, config.embed_batch_size)
                 for n in names]
        reports.append({"pretrain_seed": int(run["pretrain_seed"]), **retrieval_report(clips),
                        **_pixel_report(model, videos, images, config, radius)})
    result = {"splits": list(config.retrieval_splits), "defined": True, "num_sequences": len(names),
              **summarise_runs(reports), "runs": reports}
    video = result["video"]
    logger.info("point->image retrieval on %d %s clips, video level top1 %.1f%% (seeds %.1f..%.1f) top5 %.1f%% "
                "(chance %.1f%% / %.1f%%); frames top1 %.1f%%; right sequence %.1f%% (chance %.1f%%)",
                video["num_clips"], "+".join(config.retrieval_splits), video["top1"], video["top1_min"],
                video["top1_max"], video["top5"], video["chance_top1"], video["chance_top5"],
                result["frame"]["top1"], result["sequence"]["top1"], result["sequence"]["chance_top1"])
    if "pixel" in result:
        logger.info("point->pixel retrieval on %d tokens: top1 %.1f%% (chance %.1f%%, within %.1f cells)",
                    result["pixel"]["num_tokens"], result["pixel"]["top1"], result["pixel"]["chance_top1"], radius)
    return result


def _pixel_report(model: CrossVideoModel, videos: dict[str, Arrays], images: dict[str, Arrays],
                  config: PretrainConfig, radius: float) -> dict[str, Any]:
    """``{"pixel": pixel_retrieval(...)}`` over the frames of all sequences, or {} without dense heads/intrinsics."""
    if model.dense_heads is None or any("intrinsics" not in images[n] for n in images):
        return {}
    parts = [embed_pixels(model, videos[n], images[n], config.embed_clip_frames, config.embed_batch_size)
             for n in sorted(videos)]
    joined = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return {"pixel": pixel_retrieval(joined["tokens"], joined["maps"], joined["uv"], joined["valid"], radius)}


def plot_pretrain_history(pretrain_history: pd.DataFrame) -> Figure:
    """Loss curves: total and every term per step (mean over pretraining seeds), with the learning rate."""
    columns = [c for c in pretrain_history.columns if not c.startswith("positives_") and c != "pretrain_seed"]
    mean = pretrain_history[columns].groupby("step", as_index=False).mean()
    seeds = sorted(pretrain_history["pretrain_seed"].unique()) if "pretrain_seed" in pretrain_history else [0]
    return plot_history(mean, title=f"CrossVideo pretraining (mean of seeds {', '.join(map(str, seeds))})")
