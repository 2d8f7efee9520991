"""The pretraining pool: every frame of the pretraining sequences in one array, and fresh view pairs per step.

Pretraining never stores augmented views: each step draws B clips from B *different* sequences (so no two clips of
a batch are near-duplicates of one video), a random clip start anywhere in its sequence (the last frames included),
two temporally overlapping views and fresh geometric/image augmentations, all from ``default_rng([seed, run, step])``.
A run that resumes at step s therefore sees exactly the batches an uninterrupted run sees, with no sampler state.

Frames are addressed by a global key ``offset[sequence] + frame``: the key is the gather index and the identity of a
moment, so two frames are the same moment iff their keys are equal — across views, clips and modalities.
Shape letters: F frames of all pool sequences, S sequences, B clips, V=2 views, T frames, N points, H×W image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from crossvideo_kedro.augment import augment_images, augment_points, center_clip, sample_view_frames
from crossvideo_kedro.configs.augment import AugmentConfig
from crossvideo_kedro.partitions import materialise

Arrays = dict[str, np.ndarray]


@dataclass
class ClipPool:
    """Concatenated frames of the pretraining sequences (read once), and a seeded view-pair sampler."""

    names: list[str]  # (S,) sequence names
    offsets: np.ndarray  # int64 (S,) first global frame of each sequence
    lengths: np.ndarray  # int64 (S,) frames per sequence
    points: np.ndarray  # float32 (F, N, 3)
    timestamps: np.ndarray  # float32 (F,) seconds within each sequence
    images: np.ndarray | None  # uint8 (F, H, W, 3), or None for point-only pools

    @classmethod
    def from_videos(cls, names: Iterable[str], point_videos: dict[str, Callable[[], Arrays] | Arrays],
                    image_videos: dict[str, Callable[[], Arrays] | Arrays] | None, need_images: bool) -> ClipPool:
        """Load the named sequences (lazy partition loaders or arrays) into one pool.

        Raises:
            ValueError: no sequences, a missing sequence, or image terms requested for sequences without images.
        """
        names = sorted(names)
        if not names:
            raise ValueError("the pretraining pool is empty: no sequences in augment.splits (check sequence_index)")
        missing = [n for n in names if n not in point_videos]
        if missing:
            raise ValueError(f"pretraining sequences {missing[:3]} are in the pool but not in point_cloud_videos")
        no_images = [n for n in names if image_videos is None or n not in image_videos]
        if need_images and no_images:
            raise ValueError(
                f"sequences {no_images[:3]}{'...' if len(no_images) > 3 else ''} have no image video (depth-only "
                "source) but pretrain.loss.weights gives image terms (cross_*, image_intra_*) weight > 0; set those "
                "weights to 0 or leave these sequences out of augment.splits"
            )
        videos = [materialise(point_videos[n]) for n in names]
        lengths = np.array([v["points"].shape[0] for v in videos], dtype=np.int64)
        shapes = {v["points"].shape[1:] for v in videos}
        if len(shapes) != 1:
            raise ValueError(f"pretraining sequences have different point counts {sorted(shapes)}; ingest them with "
                             "one ingest.num_points")
        images = None
        if need_images:
            images = np.concatenate([materialise(image_videos[n])["frames"] for n in names])
            if len(images) != lengths.sum():
                raise ValueError("image videos and point videos of the pool differ in length (re-run ingest)")
        return cls(
            names=names,
            offsets=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
            lengths=lengths,
            points=np.concatenate([v["points"] for v in videos]).astype(np.float32, copy=False),
            timestamps=np.concatenate([v["timestamps"] for v in videos]).astype(np.float32, copy=False),
            images=images,
        )

    def __len__(self) -> int:
        return len(self.names)

    def describe(self) -> dict[str, Any]:
        """What identifies the data of a run (for checkpoint fingerprints)."""
        return {"names": self.names, "frames": int(self.lengths.sum()), "points": list(self.points.shape),
                "sum": float(self.points.sum(dtype=np.float64)), "images": self.images is not None}

    def sample(self, rng: np.random.Generator, batch_size: int, config: AugmentConfig,
               layouts: list[np.ndarray] | None = None) -> Arrays:
        """One batch of fresh view pairs from ``batch_size`` distinct sequences.

        Returns (view-major: rows [0, B) are view 1, [B, 2B) view 2 of the same clips):
            ``points`` float32 (2B, T, N, 3) each view centred on itself and augmented; ``times`` float32 (2B, T)
            seconds from each view's own first frame; ``keys`` int64 (2B, T) global frame keys (same key = same
            sequence and source frame); ``sequence`` int64 (2B,) pool index of the clip's sequence; with images,
            ``images`` uint8 (2B, T, H, W, 3) aligned frame by frame with the point views.
        """
        if batch_size > len(self):
            raise ValueError(f"batch of {batch_size} distinct sequences from a pool of {len(self)}")
        seq = np.sort(rng.choice(len(self), size=batch_size, replace=False))  # (B,) distinct sequences
        room = np.maximum(self.lengths[seq] - config.clip_span, 0) + 1
        starts = np.floor(rng.random(batch_size) * room).astype(np.int64)  # (B,) clip spans reach the last frame
        local = sample_view_frames(rng, starts, self.lengths[seq], config, layouts)  # (B, 2, T)
        keys = self.offsets[seq][:, None, None] + local  # (B, 2, T)
        stamps = self.timestamps[keys]
        mirror = np.zeros((batch_size, 2), dtype=bool)
        batch = {}
        if self.images is not None:
            batch["images"], mirror = augment_images(rng, self.images[keys], config.image)  # (B, 2, T, H, W, 3)
        batch["points"] = augment_points(rng, center_clip(self.points[keys]), config.geometric, mirror)
        batch["times"] = (stamps - stamps[..., :1]).astype(np.float32)  # each view starts at 0
        batch["keys"] = keys
        batch["sequence"] = np.repeat(seq[:, None], 2, axis=1)
        return {k: np.ascontiguousarray(v.swapaxes(0, 1).reshape(2 * batch_size, *v.shape[2:]))
                for k, v in batch.items()}  # (B, 2, ...) -> (2B, ...)
