"""Nodes of the ``augment`` pipeline: the pretraining pool and a preview of the views pretraining draws."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crossvideo_kedro.configs import AugmentConfig, parse
from crossvideo_kedro.clip_pool import ClipPool
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.plots import plot_view_pair

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def build_pretrain_pool(sequence_index: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """The sequences pretraining draws clips from (``augment.splits``: labelled train + the unlabelled pool).

    Views are not stored: pretraining draws fresh ones every step (:class:`crossvideo_kedro.clip_pool.ClipPool`),
    so this table and the ``augment`` parameters are the whole, inspectable definition of the pretraining data.

    Args:
        sequence_index: one row per sequence with its split (train / val / test / unlabelled).
        params: ``augment`` parameters (see :class:`AugmentConfig`).

    Returns:
        ``pretrain_pool``: sequence, split, num_frames, has_images, clip_starts (distinct clip spans of the sequence).
    """
    config = parse(AugmentConfig, params, "augment")
    pool = sequence_index.loc[sequence_index["split"].isin(config.splits),
                              ["sequence", "split", "num_frames", "has_images"]].reset_index(drop=True)
    if pool.empty:
        raise ValueError(f"no sequences in splits {list(config.splits)} (augment.splits); sequence_index has "
                         f"{sequence_index['split'].value_counts().to_dict()}")
    pool["clip_starts"] = np.maximum(pool["num_frames"].to_numpy() - config.clip_span, 0) + 1
    logger.info("pretraining pool: %s sequences, %d frames, %d distinct clip spans",
                pool["split"].value_counts().to_dict(), int(pool["num_frames"].sum()), int(pool["clip_starts"].sum()))
    return pool


def plot_pretrain_views(
    pretrain_pool: pd.DataFrame,
    point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]],
    params: dict[str, Any],
) -> Figure:
    """A clip and one view pair drawn exactly as pretraining draws them (points, and images when present)."""
    config = parse(AugmentConfig, params, "augment")
    names = sorted(pretrain_pool["sequence"])[: config.preview_clips]
    with_images = bool(pretrain_pool.set_index("sequence").loc[names, "has_images"].all())
    pool = ClipPool.from_videos(names, point_cloud_videos, image_videos, need_images=with_images)
    batch = pool.sample(np.random.default_rng([config.seed, 0, 0]), len(names), config)
    B = len(names)
    first = int(batch["sequence"][0])
    views = {"points": batch["points"][[0, B]][None], "frame_ids": (batch["keys"][[0, B]] - pool.offsets[first])[None]}
    if "images" in batch:
        views["images"] = batch["images"][[0, B]][None]
    return plot_view_pair(pool.names[first], materialise(point_cloud_videos[pool.names[first]]), views)
