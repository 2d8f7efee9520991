"""Turning one raw sequence into the DESIGN.md §3 contracts. Plain functions: the ingest nodes and notebooks call them."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from crossvideo_kedro.config import check_keys
from crossvideo_kedro.geometry import backproject_pixels, sample_fixed, valid_depth_mask
from crossvideo_kedro.geometry.sampling import SAMPLING_METHODS
from crossvideo_kedro.sequences import DataError, Event, PointSequence, RawSequence

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class IngestConfig:
    """Parameters of ``ingest`` (``conf/base/parameters_ingest.yml``, key ``ingest``)."""

    num_points: int = 256  # N points per frame
    sampling: str = "fps"  # "fps" (farthest point sampling) or "random"
    fps_pool: int = 4  # FPS runs on fps_pool·N random valid candidates
    min_depth: float = 0.1  # metres; nearer depth is discarded
    max_depth: float = 2.0  # metres; farther depth is discarded
    frame_step: int = 1  # keep every frame_step-th stored frame
    target_fps: float | None = None  # if set, overrides frame_step: step = round(fps / target_fps)
    max_frames: int | None = None  # keep at most this many frames (after the step)
    image_size: tuple[int, int] = (64, 64)  # (H, W) of the image video frames for the image encoder
    split: dict | None = None  # {"train": 0.7, "val": 0.1, "test": 0.2}
    seed: int = 0
    num_workers: int = 2  # sequences processed in parallel
    chunk_frames: int = 32  # frames back-projected and sampled at once (bounds memory on large depth maps)
    action_classes: list | None = None  # used when a source does not name its classes
    semantic_classes: list | None = None

    @classmethod
    def from_dict(cls, params: dict[str, Any], prefix: str = "ingest") -> IngestConfig:
        """Build and validate; an unknown key or a bad value raises ``ValueError`` naming ``<prefix>.<key>``."""
        check_keys(cls, params, prefix)
        params = dict(params)
        if "image_size" in params:
            params["image_size"] = tuple(params["image_size"])
        config = cls(**params)
        config._validate(prefix)
        return config

    def _validate(self, prefix: str) -> None:
        def bad(key: str, expected: str) -> ValueError:
            return ValueError(f"{prefix}.{key} must be {expected}, got {getattr(self, key)!r}")

        if not isinstance(self.num_points, int) or self.num_points <= 0:
            raise bad("num_points", "an integer > 0")
        if self.sampling not in SAMPLING_METHODS:
            raise bad("sampling", f"one of {SAMPLING_METHODS}")
        if self.fps_pool < 1:
            raise bad("fps_pool", ">= 1")
        if not 0 <= self.min_depth < self.max_depth:
            raise bad("max_depth", f"> min_depth ({self.min_depth}) >= 0")
        if not isinstance(self.frame_step, int) or self.frame_step < 1:
            raise bad("frame_step", "an integer >= 1")
        if self.target_fps is not None and not self.target_fps > 0:
            raise bad("target_fps", "> 0 or null")
        if self.max_frames is not None and self.max_frames < 1:
            raise bad("max_frames", ">= 1 or null")
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            raise bad("image_size", "[H, W] with H, W >= 8")
        if self.num_workers < 1:
            raise bad("num_workers", ">= 1")
        if self.chunk_frames < 1:
            raise bad("chunk_frames", ">= 1")
        split = self.split or {"train": 1.0}
        if set(split) - {"train", "val", "test"} or any(v < 0 for v in split.values()) or not sum(split.values()) > 0:
            raise bad("split", "a mapping of train/val/test to non-negative fractions")


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
        raise DataError(f"{where}: the sequence has action events but no action class list (set ingest.action_classes)")
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


def _no_depth_error(seq: RawSequence, stored_index: int, config: IngestConfig) -> DataError:
    files = seq.meta.get("depth_files") or []
    file = files[stored_index] if stored_index < len(files) else f"frame {stored_index}"
    return DataError(
        f"{seq.name}: {file} (frame {stored_index}) has no valid depth in "
        f"[{config.min_depth}, {config.max_depth}] m; expected at least one pixel with depth"
    )


def _sample_frames(
    seq: RawSequence, frames: np.ndarray, config: IngestConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exactly N valid points for each of ``frames``: points (t, N, 3), colors (t, N, 3) u8, labels (t, N) i16."""
    depth = seq.depth[frames]  # (t, H, W)
    valid = valid_depth_mask(depth, config.min_depth, config.max_depth).reshape(len(frames), -1)  # (t, H·W)
    empty = np.flatnonzero(~valid.any(axis=1))
    if empty.size:
        raise _no_depth_error(seq, int(frames[empty[0]]), config)
    pixels = sample_fixed(lambda pool: backproject_pixels(depth, pool, seq.intrinsics), valid, config.num_points,
                          config.sampling, rng, config.fps_pool)  # (t, N) flat pixel indices
    points = backproject_pixels(depth, pixels, seq.intrinsics)
    if seq.color is not None:
        colors = np.take_along_axis(seq.color[frames].reshape(len(frames), -1, 3), pixels[..., None], axis=1)
    else:
        colors = np.zeros(points.shape, dtype=np.uint8)
    if seq.labels is not None:
        labels = np.take_along_axis(seq.labels[frames].reshape(len(frames), -1), pixels, axis=1)
    else:
        labels = np.full(pixels.shape, -1)
    return points, colors.astype(np.uint8), labels.astype(np.int16)


def ingest_raw_sequence(seq: RawSequence, config: IngestConfig) -> tuple[Arrays, Arrays | None]:
    """Back-project, clean and sample one RGB-D video into a point cloud video (and its image video).

    Returns:
        ``point_video`` with ``points`` float32 (T, N, 3), ``colors`` uint8 (T, N, 3), ``point_labels`` int16 (T, N),
        ``frame_labels`` int16 (T,), ``timestamps`` float32 (T,) seconds, ``frame_indices`` int32 (T,);
        ``image_video`` with ``frames`` uint8 (T, h, w, 3) and the same ``timestamps``, or ``None`` without colour.
    """
    seq.validate()
    keep, _ = frame_selection(seq.num_frames, seq.fps, config)
    rng = sequence_rng(config.seed, seq.name)
    chunks = [_sample_frames(seq, keep[i : i + config.chunk_frames], config, rng)
              for i in range(0, len(keep), config.chunk_frames)]  # bounded memory: a chunk of frames at a time
    points, colors, point_labels = (np.concatenate(part) for part in zip(*chunks, strict=True))
    timestamps = (keep / seq.fps).astype(np.float32)
    classes = seq.action_classes if seq.action_classes is not None else config.action_classes
    point_video = {
        "points": points.astype(np.float32),
        "colors": colors.astype(np.uint8),
        "point_labels": point_labels,
        "frame_labels": frame_labels_from_events(timestamps.astype(np.float64), seq.events, classes, seq.name),
        "timestamps": timestamps,
        "frame_indices": keep.astype(np.int32),
    }
    image_video = None
    if seq.color is not None:
        image_video = {"frames": resize_frames(seq.color[keep], config.image_size), "timestamps": timestamps}
    return point_video, image_video


def ingest_point_sequence(seq: PointSequence, config: IngestConfig) -> Arrays:
    """Resample a source's point cloud video (e.g. HOI4D HDF5) to exactly N points per frame."""
    keep, _ = frame_selection(seq.num_frames, seq.fps, config)
    points = np.asarray(seq.points[keep], dtype=np.float32)  # (T, P, 3)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise DataError(f"{seq.name}: points must be (T, P, 3), got {points.shape}")
    valid = np.isfinite(points).all(axis=-1)  # (T, P)
    empty = np.flatnonzero(~valid.any(axis=1))
    if empty.size:
        raise DataError(f"{seq.name}: frame {int(keep[empty[0]])} has no finite point; expected at least one")
    points = np.where(valid[..., None], points, 0.0)
    idx = sample_fixed(points, valid, config.num_points, config.sampling, sequence_rng(config.seed, seq.name))
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
        "points": np.take_along_axis(points, idx[..., None], axis=1),
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
