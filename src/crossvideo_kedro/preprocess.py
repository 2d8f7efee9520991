"""Turning one raw sequence into the contracts of docs/design.md §3. The ingest nodes and notebooks call them."""

from __future__ import annotations

import zlib

import numpy as np
import torch
import torch.nn.functional as F

from crossvideo_kedro.configs.ingest import IngestConfig
from crossvideo_kedro.geometry import backproject_pixels, sample_fixed, scale_intrinsics, valid_depth_mask
from crossvideo_kedro.geometry.sampling import PlaneCap
from crossvideo_kedro.sequences import (
    SPLITS,
    DataError,
    Event,
    FrameChunk,
    LazyRawSequence,
    PointSequence,
    RawSequence,
)

Arrays = dict[str, np.ndarray]


def sequence_radius(points: np.ndarray) -> float:
    """The largest distance of a point from the sequence's centroid (over all frames and points), in its units.

    Shape:
        points: (T, N, 3).
    """
    centred = points.reshape(-1, 3) - points.reshape(-1, 3).mean(axis=0)  # (T·N, 3)
    return float(np.sqrt(np.square(centred).sum(axis=1).max()))


def normalise_scale(points: np.ndarray, mode: str, where: str) -> np.ndarray:
    """Points divided by the sequence's scale: ``none`` keeps metres; ``sequence`` divides by
    :func:`sequence_radius`, so every sequence fits a unit sphere around its centroid whatever the size of what it
    shows or its distance to the camera. The division is about the camera centre, so projections (u, v) through the
    camera K stay exact; clips are centred later (``augment.center_clip``).

    Shape:
        points: (T, N, 3) float32. Returns the same shape and dtype.
    """
    if mode == "none":
        return points
    radius = sequence_radius(points)
    if not radius > 0:
        raise DataError(f"{where}: every point of the sequence is at one place; ingest.normalise: {mode} needs an "
                        "extent (use ingest.normalise: none)")
    return (points / radius).astype(points.dtype)


def plane_cap(config: IngestConfig) -> PlaneCap | None:
    """The dominant-plane cap of ``sample_fixed`` (None when ``ingest.plane_share`` is null)."""
    if config.plane_share is None:
        return None
    return PlaneCap(float(config.plane_share), float(config.plane_threshold), int(config.plane_iterations))


def sequence_rng(seed: int, name: str) -> np.random.Generator:
    """A generator that depends only on the seed and the sequence name, not on processing order."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def frame_selection(num_frames: int, fps: float, config: IngestConfig) -> tuple[np.ndarray, float]:
    """Indices of the stored frames to keep and the resulting frame rate."""
    step = max(1, round(fps / config.target_fps)) if config.target_fps else config.frame_step
    keep = np.arange(0, num_frames, step)
    if config.max_frames is not None:
        keep = keep[: config.max_frames]
    return keep, fps / step


def frame_labels_from_events(
    times: np.ndarray, events: list[Event], classes: list[str] | None, where: str
) -> np.ndarray:
    """Action id of every frame time: the event whose ``[start, end)`` contains it, else −1.

    Shape:
        times: (T,) seconds. Returns int16 (T,).
    """
    labels = np.full(times.shape, -1, dtype=np.int16)
    if not events:
        return labels
    if classes is None:
        raise DataError(f"{where}: the sequence has action events but no action class list (name them in the source's "
                        "meta.json as 'classes', or on its catalog entry as action_classes, or set "
                        "ingest.action_classes)")
    for event in events:  # a handful of events per video; vectorised over frames
        if event.name not in classes:
            raise DataError(f"{where}: event {event.name!r} is not in the action class list {classes}")
        labels[(times >= event.start) & (times < event.end)] = classes.index(event.name)
    return labels


def resize_frames(color: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a colour video with antialiasing, batched over frames.

    Shape:
        color: uint8 (T, H, W, 3). Returns uint8 (T, h, w, 3) with (h, w) = size.
    """
    if color.shape[1:3] == tuple(size):
        return color.copy()
    video = torch.from_numpy(color).permute(0, 3, 1, 2).float()  # (T, 3, H, W)
    video = F.interpolate(video, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
    return video.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _frame_file(seq: LazyRawSequence, stored_index: int) -> str:
    files = seq.meta.get("depth_files") or []
    return files[stored_index] if stored_index < len(files) else f"frame {stored_index}"


def _sparse_frames(seq: LazyRawSequence, frames: np.ndarray, counts: np.ndarray, config: IngestConfig) -> np.ndarray:
    """Which of ``frames`` have enough valid pixels; raise unless ``config.sparse_frames == "skip"``."""
    enough = counts >= config.min_points
    if not enough.all() and config.sparse_frames == "error":
        first = int(np.flatnonzero(~enough)[0])
        stored, count = int(frames[first]), int(counts[first])
        what = "no valid depth" if count == 0 else f"only {count} valid depth pixel(s)"
        raise DataError(
            f"{seq.name}: {_frame_file(seq, stored)} (frame {stored}) has {what} in "
            f"[{config.min_depth}, {config.max_depth}] m; expected at least ingest.min_points = {config.min_points} "
            "(lower it, widen min_depth/max_depth, or set ingest.sparse_frames: skip to drop such frames)"
        )
    return enough


def _ingest_chunk(
    seq: LazyRawSequence, chunk: FrameChunk, frames: np.ndarray, config: IngestConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Sample exactly N valid points for each frame of one decoded chunk (dropping sparse frames when asked).

    Returns:
        ``frames`` (t,) kept stored-frame indices, ``points`` (t, N, 3), ``colors`` (t, N, 3) u8, ``labels`` (t, N)
        i16 and, with colour, ``images`` (t, h, w, 3) u8 resized to ``config.image_size``.
    """
    depth = chunk.depth  # (t, H, W)
    valid = valid_depth_mask(depth, config.min_depth, config.max_depth).reshape(len(frames), -1)  # (t, H·W)
    enough = _sparse_frames(seq, frames, valid.sum(axis=1), config)
    if not enough.all():
        depth, valid, frames = depth[enough], valid[enough], frames[enough]
        chunk = FrameChunk(depth=depth, color=chunk.color[enough] if chunk.color is not None else None,
                           labels=chunk.labels[enough] if chunk.labels is not None else None)
    out: dict[str, np.ndarray] = {"frames": frames}
    if len(frames) == 0:
        return out
    pixels = sample_fixed(lambda pool: backproject_pixels(depth, pool, seq.intrinsics), valid, config.num_points,
                          config.sampling, rng, config.fps_pool, plane_cap(config))  # (t, N) flat pixel indices
    out["points"] = backproject_pixels(depth, pixels, seq.intrinsics)
    if chunk.color is not None:
        colors = np.take_along_axis(chunk.color.reshape(len(frames), -1, 3), pixels[..., None], axis=1)
        out["images"] = resize_frames(chunk.color, config.image_size)
    else:
        colors = np.zeros(out["points"].shape, dtype=np.uint8)
    out["colors"] = colors.astype(np.uint8)
    if chunk.labels is not None:
        out["labels"] = np.take_along_axis(chunk.labels.reshape(len(frames), -1), pixels, axis=1).astype(np.int16)
    else:
        out["labels"] = np.full(pixels.shape, -1, dtype=np.int16)
    return out


def _allocate_outputs(total: int, has_color: bool, config: IngestConfig) -> Arrays:
    """Output arrays for ``total`` kept frames, allocated once: they are all that grows with T."""
    n = config.num_points
    out = {
        "points": np.empty((total, n, 3), dtype=np.float32),
        "colors": np.empty((total, n, 3), dtype=np.uint8),
        "point_labels": np.empty((total, n), dtype=np.int16),
        "frame_indices": np.empty(total, dtype=np.int64),
    }
    if has_color:
        out["frames"] = np.empty((total, *config.image_size, 3), dtype=np.uint8)
    return out


def _stream_chunks(lazy: LazyRawSequence, keep: np.ndarray, config: IngestConfig, rng: np.random.Generator) -> Arrays:
    """Ingest the kept frames ``config.chunk_frames`` at a time; drop sparse frames; raise if none is left."""
    total = len(keep)
    out = _allocate_outputs(total, lazy.has_color, config)
    filled = 0
    for start in range(0, total, config.chunk_frames):  # bounded memory: one chunk of decoded frames at a time
        frames = keep[start : start + config.chunk_frames]
        part = _ingest_chunk(lazy, lazy.read(frames), frames, config, rng)
        done = filled + len(part["frames"])
        out["frame_indices"][filled:done] = part["frames"]
        if done > filled:
            out["points"][filled:done], out["colors"][filled:done] = part["points"], part["colors"]
            out["point_labels"][filled:done] = part["labels"]
            if lazy.has_color:
                out["frames"][filled:done] = part["images"]
        filled = done
    if filled == 0:
        raise DataError(
            f"{lazy.name}: every kept frame has fewer than ingest.min_points = {config.min_points} valid depth "
            f"pixels in [{config.min_depth}, {config.max_depth}] m; nothing left to ingest"
        )
    if filled < total:  # sparse frames were dropped
        out = {key: value[:filled].copy() for key, value in out.items()}
    return out


def _assemble_videos(lazy: LazyRawSequence, out: Arrays, config: IngestConfig) -> tuple[Arrays, Arrays | None]:
    """The ``point_video`` and ``image_video`` of the ingested frames: timestamps, frame labels, resized K."""
    kept = out["frame_indices"]
    timestamps = (kept / lazy.fps).astype(np.float32)
    classes = lazy.action_classes if lazy.action_classes is not None else config.action_classes
    point_video = {
        "points": normalise_scale(out["points"], config.normalise, lazy.name),
        "colors": out["colors"],
        "point_labels": out["point_labels"],
        "frame_labels": frame_labels_from_events(timestamps.astype(np.float64), lazy.events, classes, lazy.name),
        "timestamps": timestamps,
        "frame_indices": kept.astype(np.int32),
    }
    numbers = lazy.meta.get("frame_indices")  # a reader that skips files records the file number of each frame
    if numbers is not None and len(numbers) == lazy.num_frames:
        point_video["source_frames"] = np.asarray(numbers, dtype=np.int32)[kept]
    image_video = None
    if lazy.has_color:
        image_video = {
            "frames": out["frames"],
            "timestamps": timestamps,
            "intrinsics": scale_intrinsics(lazy.intrinsics, (lazy.height, lazy.width), tuple(config.image_size)),
        }
    return point_video, image_video


def ingest_raw_sequence(seq: RawSequence | LazyRawSequence, config: IngestConfig) -> tuple[Arrays, Arrays | None]:
    """Back-project, clean and sample one RGB-D video into a point cloud video (and its image video).

    The video is streamed: ``config.chunk_frames`` frames at a time are decoded (a :class:`LazyRawSequence`
    reads only those files), back-projected, sampled and resized, so peak memory depends on the chunk size and the
    frame size, not on the length (the outputs, ~15 kB a frame at the defaults, are all that grows).

    A kept frame with fewer than ``config.min_points`` valid depth pixels is an error naming its file, or — with
    ``sparse_frames: skip`` — is dropped (``frame_indices`` / ``timestamps`` say which frames remain).

    Returns:
        ``point_video`` with ``points`` float32 (T, N, 3), ``colors`` uint8 (T, N, 3), ``point_labels`` int16 (T, N),
        ``frame_labels`` int16 (T,), ``timestamps`` float32 (T,) seconds, ``frame_indices`` int32 (T,) (frames of
        ``seq``) and, where the reader records its files' frame numbers (``meta["frame_indices"]``), ``source_frames``
        int32 (T,) (those numbers);
        ``image_video`` with ``frames`` uint8 (T, h, w, 3), the same ``timestamps`` and ``intrinsics`` float32 (3, 3)
        — K of the stored (resized) frames, pixel centres at integers (OpenCV): point (x, y, z) of frame t projects to
        column ``fx·x/z + s·y/z + cx``, row ``fy·y/z + cy`` of ``frames[t]`` — or ``None`` without colour.
    """
    lazy = seq if isinstance(seq, LazyRawSequence) else LazyRawSequence.from_sequence(seq)
    lazy.validate()
    keep, _ = frame_selection(lazy.num_frames, lazy.fps, config)
    out = _stream_chunks(lazy, keep, config, sequence_rng(config.seed, lazy.name))
    return _assemble_videos(lazy, out, config)


def ingest_point_sequence(seq: PointSequence, config: IngestConfig) -> Arrays:
    """Resample a source's point cloud video (e.g. HOI4D HDF5) to exactly N points per frame."""
    keep, _ = frame_selection(seq.num_frames, seq.fps, config)
    points = np.asarray(seq.points[keep], dtype=np.float32)  # (T, P, 3)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise DataError(f"{seq.name}: points must be (T, P, 3), got {points.shape}")
    valid = np.isfinite(points).all(axis=-1)  # (T, P)
    sparse = np.flatnonzero(valid.sum(axis=1) < min(config.min_points, points.shape[1]))
    if sparse.size:
        raise DataError(f"{seq.name}: frame {int(keep[sparse[0]])} has {int(valid[sparse[0]].sum())} finite points; "
                        f"expected at least ingest.min_points = {config.min_points}")
    points = np.where(valid[..., None], points, 0.0)
    idx = sample_fixed(points, valid, config.num_points, config.sampling, sequence_rng(config.seed, seq.name),
                       config.fps_pool, plane_cap(config))
    t = len(keep)
    point_labels = (
        np.take_along_axis(np.asarray(seq.point_labels[keep]), idx, axis=1).astype(np.int16)
        if seq.point_labels is not None
        else np.full(idx.shape, -1, dtype=np.int16)
    )
    frame_labels = (
        np.asarray(seq.frame_labels[keep], dtype=np.int16)
        if seq.frame_labels is not None
        else np.full(t, -1, dtype=np.int16)
    )
    return {
        "points": normalise_scale(np.take_along_axis(points, idx[..., None], axis=1), config.normalise, seq.name),
        "colors": np.zeros((t, config.num_points, 3), dtype=np.uint8),
        "point_labels": point_labels,
        "frame_labels": frame_labels,
        "timestamps": (keep / seq.fps).astype(np.float32),
        "frame_indices": keep.astype(np.int32),
    }


def assign_splits(names: list[str], split: dict[str, float] | None, seed: int) -> dict[str, str]:
    """Seeded, sequence-level train/val/test assignment with sizes proportional to ``split`` (largest remainder)."""
    split = split or {"train": 1.0}
    order = sorted(names)
    perm = np.random.default_rng(seed).permutation(len(order))
    parts = [k for k in ("train", "val", "test") if split.get(k, 0) > 0]
    weights = np.array([split[k] for k in parts], dtype=np.float64)
    exact = weights / weights.sum() * len(order)
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: len(order) - counts.sum()]] += 1
    labels = np.repeat(parts, counts)
    return {order[i]: str(labels[rank]) for rank, i in enumerate(perm)}


def splits_from_file(names: list[str], split_file: dict[str, str], where: str = "split_file",
                     skipped: set[str] | frozenset = frozenset()) -> dict[str, str]:
    """The split of every sequence of ``names`` as a split file gives it.

    Args:
        names: The labelled sequences ingested.
        split_file: ``{sequence: train|val|test|unlabelled}`` (what :class:`~crossvideo_kedro.datasets.SplitFileDataset`
            loads).
        where: Name of the catalog entry, for messages.
        skipped: Sequences ingest skipped (``on_error: skip``); the file may name them.

    Raises:
        DataError: An unknown split value, a sequence missing from the file, or a file entry naming no sequence.
    """
    bad = {k: v for k, v in split_file.items() if v not in SPLITS}
    if bad:
        raise DataError(f"{where}: split values must be one of {list(SPLITS)}, got {dict(list(bad.items())[:5])}")
    missing = sorted(set(names) - set(split_file))
    unknown = sorted(set(split_file) - set(names) - set(skipped))
    problems = []
    if missing:
        problems.append(f"{len(missing)} sequence(s) of the raw source are not in the split file: {missing[:10]}")
    if unknown:
        problems.append(f"{len(unknown)} sequence(s) of the split file were not found in the raw source: "
                        f"{unknown[:10]}")
    if problems:
        raise DataError(f"{where}: " + "; ".join(problems) + " (names as ingest gives them: the folder path relative "
                        "to the source root with '/' -> '__')")
    return {name: split_file[name] for name in names}
