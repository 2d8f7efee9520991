"""Nodes of the ``ingest`` pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import DatasetError
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from crossvideo_kedro.configs import IngestConfig, parse
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.plots import plot_sequence_preview
from crossvideo_kedro.preprocess import (
    assign_splits,
    ingest_point_sequence,
    ingest_raw_sequence,
    splits_from_file,
)
from crossvideo_kedro.sequences import DataError, LazyRawSequence, PointSequence, RawSequence

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
Source = Mapping[str, Callable[[], RawSequence | PointSequence] | RawSequence | PointSequence]
INDEX_COLUMNS = ["sequence", "source", "split", "num_frames", "num_points", "has_images", "has_frame_labels",
                 "has_point_labels"]


def _open(loader: Any) -> RawSequence | LazyRawSequence | PointSequence:
    """A lazy sequence when the reader offers one (``loader.open()``), else the loader's value."""
    return loader.open() if hasattr(loader, "open") else materialise(loader)


def _ingest_one(name: str, loader: Any, config: IngestConfig, labelled: bool) -> dict[str, Any]:
    seq = _open(loader)
    if isinstance(seq, PointSequence):
        point_video, image_video = ingest_point_sequence(seq, config), None
    elif isinstance(seq, RawSequence | LazyRawSequence):
        point_video, image_video = ingest_raw_sequence(seq, config)
    else:
        raise DataError(f"{name}: a raw source returned {type(seq).__name__}; expected RawSequence or PointSequence")
    if not labelled:  # an unlabelled source: whatever labels it has are never used downstream
        point_video["point_labels"] = np.full_like(point_video["point_labels"], -1)
        point_video["frame_labels"] = np.full_like(point_video["frame_labels"], -1)
    return {
        "point_video": point_video,
        "image_video": image_video,
        "row": {
            "sequence": name,
            "source": seq.source,
            "labelled": labelled,
            "num_frames": int(point_video["points"].shape[0]),
            "num_points": int(point_video["points"].shape[1]),
            "has_images": image_video is not None,
            "has_frame_labels": bool((point_video["frame_labels"] >= 0).any()),
            "has_point_labels": bool((point_video["point_labels"] >= 0).any()),
        },
        "classes": {"action": seq.action_classes, "semantic": seq.semantic_classes} if labelled else {},
    }


def _try_one(name: str, loader: Any, config: IngestConfig, labelled: bool) -> dict[str, Any]:
    """:func:`_ingest_one`, with a bad input (file, frame, annotation) turned into an error record."""
    try:
        return _ingest_one(name, loader, config, labelled)
    except (DataError, DatasetError, OSError) as error:
        return {"error": {"sequence": name, "labelled": labelled, "error": f"{type(error).__name__}: {error}"}}


def _check_names(labelled: Source, unlabelled: Source) -> None:
    clash = sorted(set(labelled) & set(unlabelled))
    if clash:
        raise DataError(
            f"{len(clash)} sequence name(s) are both in raw_sequences and in unlabelled_sequences: {clash[:10]}; "
            "unlabelled sequences must never share a name with labelled ones (the generated pool is pool_0000...)"
        )


def ingest_sequences(
    raw_sequences: Source, unlabelled_sequences: Source, params: dict[str, Any],
    split_file: Mapping[str, str] | None = None,
) -> tuple[dict[str, Arrays], dict[str, Arrays], pd.DataFrame, dict[str, list[str] | None], list[dict[str, Any]]]:
    """Back-project, clean and sample every labelled and unlabelled raw sequence, in parallel with a progress bar.

    Each sequence is streamed in chunks of ``ingest.chunk_frames`` frames (flat memory, whatever its length). Every
    sequence is tried; bad ones are collected and reported **together**: ``ingest.on_error: raise`` stops with one
    error listing them all, ``skip`` leaves them out and returns them as ``ingest_skipped``. A split file is checked
    against the raw source's names first, before any sequence is read.

    Args:
        raw_sequences: ``{name: loader}`` of the labelled source (HOI4D raw, RGB-D folder, generator, HDF5).
        unlabelled_sequences: ``{name: loader}`` of the unlabelled pretraining pool (may be empty); their labels, if
            any, are dropped, and ``sequence_index.split`` will say ``unlabelled``.
        params: ``ingest`` parameters (see :class:`IngestConfig`).
        split_file: ``{sequence: split}`` of the catalog entry ``split_file`` (``{}`` or ``None``: none).

    Returns:
        point_cloud_videos ``{name: arrays}``, image_videos ``{name: arrays}`` (sequences with colour only), a table
        of per-sequence facts (sequence_index without the split, plus ``labelled``), the class names
        ``{"action", "semantic"}`` of the labelled source, and the skipped sequences
        ``[{"sequence", "labelled", "error"}]``.

    Raises:
        DataError: No labelled sequence; a name in both sources; a split file that does not match the raw source
            (every unknown and missing name in one message) or does not match ``ingest.split``; with
            ``on_error: raise`` any bad sequence (all of them listed); with ``skip`` every labelled sequence bad.
    """
    config = parse(IngestConfig, params, "ingest")
    if not raw_sequences:
        raise DataError("raw_sequences is empty: the raw source holds no sequences")
    unlabelled_sequences = unlabelled_sequences or {}
    _check_names(raw_sequences, unlabelled_sequences)
    _check_split_file(sorted(raw_sequences), split_file, config)
    jobs = [(name, raw_sequences[name], True) for name in sorted(raw_sequences)]
    jobs += [(name, unlabelled_sequences[name], False) for name in sorted(unlabelled_sequences)]
    with ThreadPoolExecutor(max_workers=config.num_workers) as pool:
        attempts = pool.map(lambda job: _try_one(job[0], job[1], config, job[2]), jobs)
        results = list(tqdm(attempts, total=len(jobs), desc="ingest", unit="seq"))
    skipped = [r["error"] for r in results if "error" in r]
    results = [r for r in results if "error" not in r]
    _report(skipped, len(jobs), config)
    if not any(r["row"]["labelled"] for r in results):
        raise DataError("every labelled sequence of raw_sequences failed to ingest (listed above)")
    point_videos = {r["row"]["sequence"]: r["point_video"] for r in results}
    image_videos = {r["row"]["sequence"]: r["image_video"] for r in results if r["image_video"] is not None}
    table = pd.DataFrame([r["row"] for r in results])
    named = [r["classes"] for r in results if r["classes"]]
    classes = {
        "action": next((c["action"] for c in named if c["action"]), config.action_classes),
        "semantic": next((c["semantic"] for c in named if c["semantic"]), config.semantic_classes),
    }
    logger.info("ingested %d sequences (%d labelled, %d unlabelled), %d frames (%d with images); %d skipped",
                len(table), int(table["labelled"].sum()), int((~table["labelled"]).sum()),
                int(table["num_frames"].sum()), len(image_videos), len(skipped))
    return point_videos, image_videos, table, classes, skipped


def _report(skipped: list[dict[str, Any]], total: int, config: IngestConfig) -> None:
    if not skipped:
        return
    lines = "\n".join(f"  - {s['sequence']}{'' if s['labelled'] else ' (unlabelled)'}: {s['error']}" for s in skipped)
    if config.on_error == "raise":
        raise DataError(
            f"{len(skipped)} of {total} sequences could not be ingested:\n{lines}\n"
            "Fix them, or set ingest.on_error: skip to leave them out (they are then listed in ingest_skipped)."
        )
    logger.warning("Skipped %d of %d sequences (ingest.on_error: skip; listed in ingest_skipped):\n%s",
                   len(skipped), total, lines)


def _check_split_file(names: list[str], split_file: Mapping[str, str] | None, config: IngestConfig,
                      skipped: set[str] | frozenset = frozenset()) -> dict[str, str] | None:
    """The split a split file gives ``names`` (``None`` with ``ingest.split`` fractions), or one clear error."""
    if config.split == "file":
        if not split_file:
            raise DataError("ingest.split is 'file' but the catalog entry split_file is empty; point it at a "
                            "crossvideo_kedro.datasets.SplitFileDataset (CSV, JSON or lists)")
        return splits_from_file(names, dict(split_file), skipped=skipped)
    if split_file:
        raise DataError("the catalog entry split_file holds a split, but ingest.split gives fractions; set "
                        "ingest.split: file to use the file (or empty split_file to keep the seeded split)")
    return None


def build_sequence_index(
    sequence_table: pd.DataFrame, split_file: Mapping[str, str] | None, ingest_skipped: list[dict[str, Any]],
    params: dict[str, Any],
) -> pd.DataFrame:
    """Add the sequence-level split to the per-sequence table (docs/design.md §3).

    Labelled sequences get train/val/test from the seeded fractions of ``ingest.split`` (the default) or, with
    ``ingest.split: file``, from the catalog entry ``split_file`` (which may also mark sequences ``unlabelled``);
    sequences of the unlabelled source always get ``unlabelled``, and never change the labelled split.

    Args:
        sequence_table: one row per sequence, as returned by :func:`ingest_sequences`.
        split_file: ``{sequence: split}`` (a :class:`~crossvideo_kedro.datasets.SplitFileDataset`), or ``{}``.
        ingest_skipped: the sequences ingest skipped (a split file may still name them).
        params: ``ingest`` parameters (``split``, ``seed``).

    Returns:
        ``sequence_index``: columns sequence, source, split, num_frames, num_points, has_images, has_frame_labels,
        has_point_labels; sorted by sequence.

    Raises:
        DataError: ``split: file`` without a split file (or a split file with fractions), or a split file that
            misses ingested sequences or names unknown ones.
    """
    config = parse(IngestConfig, params, "ingest")
    labelled = sorted(sequence_table.loc[sequence_table["labelled"].astype(bool), "sequence"])
    splits = _check_split_file(labelled, split_file, config, skipped={s["sequence"] for s in ingest_skipped})
    if splits is None:
        splits = assign_splits(labelled, config.split, config.seed)
    index = sequence_table.assign(split=sequence_table["sequence"].map(splits).fillna("unlabelled"))
    counts = index["split"].value_counts().to_dict()
    logger.info("sequence split: %s", ", ".join(f"{k} {counts[k]}" for k in sorted(counts)))
    return index[INDEX_COLUMNS].sort_values("sequence").reset_index(drop=True)


def plot_ingest_preview(
    point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]],
    sequence_index: pd.DataFrame,
    class_names: dict[str, list[str] | None],
) -> Figure:
    """A look at the first labelled sequence: a frame's image, its points by depth and by label, and its actions."""
    labelled = sequence_index[sequence_index["split"] != "unlabelled"]
    name = (labelled if len(labelled) else sequence_index)["sequence"].iloc[0]
    image_video = materialise(image_videos[name]) if name in image_videos else None
    return plot_sequence_preview(name, materialise(point_cloud_videos[name]), image_video, class_names)
