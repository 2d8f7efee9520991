"""Nodes of the ``augment`` pipeline."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.augment import AugmentConfig, build_view_pairs, clip_starts
from crossvideo_kedro.plots import plot_view_pair

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def build_pretrain_views(
    point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]],
    sequence_index: pd.DataFrame,
    params: dict[str, Any],
) -> dict[str, Arrays]:
    """Cut the sequences of the chosen splits into clips and store ``pairs_per_clip`` augmented view pairs each.

    Args:
        point_cloud_videos: ``{sequence: loader}`` (DESIGN.md §3).
        image_videos: ``{sequence: loader}``; sequences without images give point-only view pairs.
        sequence_index: the split of every sequence.
        params: ``augment`` parameters (see :class:`AugmentConfig`).

    Returns:
        ``{"<sequence>__c<k>": view pairs}`` (see :func:`crossvideo_kedro.augment.build_view_pairs`).
    """
    config = AugmentConfig.from_dict(params)
    chosen = sequence_index.loc[sequence_index["split"].isin(config.splits), "sequence"].tolist()
    if not chosen:
        raise ValueError(f"no sequences in splits {list(config.splits)} (augment.splits); check sequence_index")
    bank: dict[str, Arrays] = {}
    for name in tqdm(chosen, desc="augment", unit="seq"):
        point_video = materialise(point_cloud_videos[name])
        image_video = materialise(image_videos[name]) if name in image_videos else None
        starts = clip_starts(point_video["points"].shape[0], config.clip_span, config.clip_stride)
        for k, start in enumerate(starts):
            rng = np.random.default_rng([config.seed, zlib.crc32(name.encode()), k])
            bank[f"{name}__c{k:03d}"] = build_view_pairs(point_video, image_video, int(start), config, rng)
    logger.info("built %d view pairs for %d clips of %d sequences", len(bank) * config.pairs_per_clip, len(bank),
                len(chosen))
    return bank


def plot_pretrain_views(
    point_cloud_videos: dict[str, Callable[[], Arrays]], pretrain_views: dict[str, Callable[[], Arrays]]
) -> Figure:
    """A clip and its first view pair side by side: points (and images when present)."""
    clip = sorted(pretrain_views)[0]
    return plot_view_pair(clip, materialise(point_cloud_videos[clip.split("__c")[0]]), materialise(pretrain_views[clip]))
