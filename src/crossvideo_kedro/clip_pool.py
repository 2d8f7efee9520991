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
from crossvideo_kedro.geometry.pixel_link import follow_crop, follow_index, project_frames
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
    intrinsics: np.ndarray | None = None  # float64 (S, 3, 3) K of each sequence's stored frames (with images)

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
        images, intrinsics = None, None
        if need_images:
            image_arrays = [materialise(image_videos[n]) for n in names]
            images = np.concatenate([v["frames"] for v in image_arrays])
            if len(images) != lengths.sum():
                raise ValueError("image videos and point videos of the pool differ in length (re-run ingest)")
            if all("intrinsics" in v for v in image_arrays):
                intrinsics = np.stack([np.asarray(v["intrinsics"], dtype=np.float64).reshape(3, 3)
                                       for v in image_arrays])
        return cls(
            names=names,
            offsets=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
            lengths=lengths,
            points=np.concatenate([v["points"] for v in videos]).astype(np.float32, copy=False),
            timestamps=np.concatenate([v["timestamps"] for v in videos]).astype(np.float32, copy=False),
            images=images,
            intrinsics=intrinsics,
        )

    def __len__(self) -> int:
        return len(self.names)

    def describe(self) -> dict[str, Any]:
        """What identifies the data of a run (for checkpoint fingerprints)."""
        return {"names": self.names, "frames": int(self.lengths.sum()), "points": list(self.points.shape),
                "sum": float(self.points.sum(dtype=np.float64)), "images": self.images is not None}

    def sample(self, rng: np.random.Generator, batch_size: int, config: AugmentConfig,
               layouts: list[np.ndarray] | None = None, pixels: bool = False) -> Arrays:
        """One batch of fresh view pairs from ``batch_size`` distinct sequences.

        With ``pixels`` (needs images and intrinsics) also the point → pixel link of every point of the views
        (:meth:`pixel_link`); it draws no random numbers, so the views are the same with or without it.

        Returns (view-major: rows [0, B) are view 1, [B, 2B) view 2 of the same clips):
            ``points`` float32 (2B, T, N, 3) each view centred on itself and augmented; ``times`` float32 (2B, T)
            seconds from each view's own first frame; ``keys`` int64 (2B, T) global frame keys (same key = same
            sequence and source frame); ``sequence`` int64 (2B,) pool index of the clip's sequence; with images,
            ``images`` uint8 (2B, T, H, W, 3) aligned frame by frame with the point views; with ``pixels``, ``uv``
            float32 (2B, T, N, 2) each point's pixel in its view's augmented frame, ``uv_valid`` bool (2B, T, N) and
            ``point_index`` int64 (2B, T, N) the source point each slot holds after dropout.
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
        if pixels and (self.images is None or self.intrinsics is None):
            raise ValueError("the point -> pixel link needs image videos with 'intrinsics' for every pool sequence "
                             "(re-run ingest), or pretrain.loss.weights.cross_dense: 0")
        if self.images is not None:
            batch["images"], mirror, theta = augment_images(rng, self.images[keys], config.image)  # (B, 2, T, H, W, 3)
        batch["points"], index = augment_points(rng, center_clip(self.points[keys]), config.geometric, mirror,
                                                return_index=True)  # (B, 2, T, N, 3), (B, 2, T, N)
        if pixels:
            batch["uv"], batch["uv_valid"] = self.pixel_link(keys, seq, index, theta)
            batch["point_index"] = index
        batch["times"] = (stamps - stamps[..., :1]).astype(np.float32)  # each view starts at 0
        batch["keys"] = keys
        batch["sequence"] = np.repeat(seq[:, None], 2, axis=1)
        return {k: np.ascontiguousarray(v.swapaxes(0, 1).reshape(2 * batch_size, *v.shape[2:]))
                for k, v in batch.items()}  # (B, 2, ...) -> (2B, ...)

    def pixel_link(self, keys: np.ndarray, seq: np.ndarray, index: np.ndarray,
                   theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each point of the views lands in its view's augmented frame, and whether it is seen there.

        The source points (camera frame) are projected with their sequence's K (nearest point per pixel), then
        followed through the point view's dropout ``index`` and the image view's crop/flip ``theta``.

        Shape:
            keys: (B, 2, T) global frames; seq: (B,) sequences; index: (B, 2, T, N); theta: (B, 2, 2, 3).
            Returns uv float32 (B, 2, T, N, 2) pixels of the augmented frames and valid bool (B, 2, T, N).
        """
        hw = self.images.shape[1:3]
        uv, valid = project_frames(self.points[keys], self.intrinsics[seq][:, None, None], hw)  # (B, 2, T, N, ...)
        uv, valid = follow_index(uv, valid, index)
        return follow_crop(uv, valid, theta[:, :, None], hw)
