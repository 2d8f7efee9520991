"""Nodes of the ``ingest`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.plots import plot_sequence_preview
from crossvideo_kedro.preprocess import IngestConfig, assign_splits, ingest_point_sequence, ingest_raw_sequence
from crossvideo_kedro.sequences import DataError, PointSequence, RawSequence

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def _ingest_one(loader: Callable[[], RawSequence | PointSequence], config: IngestConfig) -> dict[str, Any]:
    seq = loader()
    if isinstance(seq, PointSequence):
        point_video, image_video = ingest_point_sequence(seq, config), None
    elif isinstance(seq, RawSequence):
        point_video, image_video = ingest_raw_sequence(seq, config)
    else:
        raise DataError(f"a raw source returned {type(seq).__name__}; expected RawSequence or PointSequence")
    return {
        "point_video": point_video,
        "image_video": image_video,
        "row": {
            "sequence": seq.name,
            "source": seq.source,
            "num_frames": int(point_video["points"].shape[0]),
            "num_points": int(point_video["points"].shape[1]),
            "has_images": image_video is not None,
            "has_frame_labels": bool((point_video["frame_labels"] >= 0).any()),
            "has_point_labels": bool((point_video["point_labels"] >= 0).any()),
        },
        "classes": {"action": seq.action_classes, "semantic": seq.semantic_classes},
    }


def ingest_sequences(
    raw_sequences: dict[str, Callable[[], RawSequence | PointSequence]], params: dict[str, Any]
) -> tuple[dict[str, Arrays], dict[str, Arrays], pd.DataFrame, dict[str, list[str] | None]]:
    """Back-project, clean and sample every raw sequence, in parallel with a progress bar.

    Args:
        raw_sequences: ``{name: loader}`` from a raw source dataset (HOI4D raw, RGB-D folder, generator, HDF5).
        params: ``ingest`` parameters (see :class:`IngestConfig`).

    Returns:
        point_cloud_videos ``{name: arrays}``, image_videos ``{name: arrays}`` (sequences with colour only), a table
        of per-sequence facts (sequence_index without the split) and the class names ``{"action", "semantic"}``.
    """
    config = IngestConfig.from_dict(params)
    if not raw_sequences:
        raise DataError("raw_sequences is empty: the raw source holds no sequences")
    names = sorted(raw_sequences)
    with ThreadPoolExecutor(max_workers=config.num_workers) as pool:
        results = list(
            tqdm(
                pool.map(lambda name: _ingest_one(raw_sequences[name], config), names),
                total=len(names),
                desc="ingest",
                unit="seq",
            )
        )
    point_videos = {r["row"]["sequence"]: r["point_video"] for r in results}
    image_videos = {r["row"]["sequence"]: r["image_video"] for r in results if r["image_video"] is not None}
    table = pd.DataFrame([r["row"] for r in results])
    classes = {
        "action": next((r["classes"]["action"] for r in results if r["classes"]["action"]), config.action_classes),
        "semantic": next(
            (r["classes"]["semantic"] for r in results if r["classes"]["semantic"]), config.semantic_classes
        ),
    }
    frames = int(table["num_frames"].sum())
    logger.info("ingested %d sequences, %d frames (%d with images)", len(table), frames, len(image_videos))
    return point_videos, image_videos, table, classes


def build_sequence_index(sequence_table: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Add the seeded, sequence-level train/val/test split to the per-sequence table (DESIGN.md §3).

    Args:
        sequence_table: one row per sequence, as returned by :func:`ingest_sequences`.
        params: ``ingest`` parameters (``split``, ``seed``).

    Returns:
        ``sequence_index``: columns sequence, source, split, num_frames, num_points, has_images, has_frame_labels,
        has_point_labels; sorted by sequence.
    """
    config = IngestConfig.from_dict(params)
    splits = assign_splits(list(sequence_table["sequence"]), config.split, config.seed)
    index = sequence_table.assign(split=sequence_table["sequence"].map(splits))
    columns = ["sequence", "source", "split", "num_frames", "num_points", "has_images", "has_frame_labels"]
    columns.append("has_point_labels")
    return index[columns].sort_values("sequence").reset_index(drop=True)


def plot_ingest_preview(
    point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]],
    sequence_index: pd.DataFrame,
    class_names: dict[str, list[str] | None],
) -> Figure:
    """A look at the first sequence: a frame's image, its points coloured by depth and by label, and its actions."""
    name = sequence_index["sequence"].iloc[0]
    image_video = materialise(image_videos[name]) if name in image_videos else None
    return plot_sequence_preview(name, materialise(point_cloud_videos[name]), image_video, class_names)
