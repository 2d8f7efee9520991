"""View pairs for contrastive pretraining: temporal + geometric augmentation of point clips, consistent image views.

Every function is vectorised over pairs P, views (2), frames T and points N; all randomness comes from one NumPy
generator. Shape letters: P pairs, V=2 views, T frames, N points, H×W image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from crossvideo_kedro.configs.augment import AugmentConfig, GeometricConfig, ImageAugConfig
from crossvideo_kedro.configs.finetune import WindowAugmentConfig
from crossvideo_kedro.geometry.sampling import random_valid_indices

Arrays = dict[str, np.ndarray]


class WindowAugment(WindowAugmentConfig):
    """Geometric augmentation of fine-tuning inputs (``finetune.augment``; the full protocol's training steps only).

    One random transform per *group* of windows — a whole sequence for action segmentation (its windows feed one
    MS-TCN input, so they move together), each window otherwise: rotation about the up axis, anisotropic scale and
    translation as in pretraining's views, then Gaussian jitter per point. Labels and per-point pixels (``uv``, from
    the raw points) are unchanged: every point keeps its index. Drawn from a ``torch.Generator``, so a seeded run
    sees the same transforms.
    """

    def __call__(self, points: torch.Tensor, groups: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        """Augmented copy of ``points``.

        Shape:
            points: (R, T, N, 3); groups: (R,) ids, windows with one id share a transform. Returns (R, T, N, 3).
        """
        _, inverse = np.unique(groups, return_inverse=True)
        count = int(inverse.max()) + 1
        uniform = torch.rand(count, 7, generator=generator, dtype=torch.float64)  # angle, 3 scales, 3 shifts
        angle = np.deg2rad(self.rotation_deg) * (2 * uniform[:, 0] - 1)
        rot = torch.from_numpy(rotation_about_axis(angle.numpy(), self.up_axis))  # (G, 3, 3)
        scale = self.scale[0] + (self.scale[1] - self.scale[0]) * uniform[:, 1:4]  # (G, 3)
        shift = self.translation * (2 * uniform[:, 4:7] - 1)  # (G, 3)
        linear = (scale[:, :, None] * rot.transpose(1, 2)).to(points.dtype)  # (G, 3, 3): p -> (p * s) @ rot^T
        index = torch.from_numpy(inverse)
        out = torch.einsum("rtnj,rji->rtni", points, linear[index]) + shift.to(points.dtype)[index][:, None, None]
        if self.jitter_std > 0:
            noise = torch.randn(points.shape, generator=generator, dtype=points.dtype) * self.jitter_std
            out = out + noise.clamp(-5 * self.jitter_std, 5 * self.jitter_std)
        return out


def view_layouts(config: AugmentConfig) -> list[np.ndarray]:
    """For each first-view step ``frame_steps[i]``: every admissible (offset 1, step 2, offset 2) of the views.

    A view with step s and offset o reads frames o + s·j (j < T) of the clip span. A layout is admissible when
    the two views share at least ``ceil(min_overlap · T)`` source frames; (o, s, o) always is, so no list is
    empty whatever ``frame_steps`` are.

    Returns:
        one int64 (L_i, 3) array per entry of ``frame_steps``.
    """
    T, need = config.clip_frames, int(np.ceil(config.min_overlap * config.clip_frames - 1e-9))
    layouts = []
    for s1 in config.frame_steps:
        rows = []
        for o1 in range(config.clip_span - (T - 1) * s1):
            first = set(range(o1, o1 + T * s1, s1))
            for s2 in config.frame_steps:
                for o2 in range(config.clip_span - (T - 1) * s2):
                    if len(first.intersection(range(o2, o2 + T * s2, s2))) >= need:
                        rows.append((o1, s2, o2))
        layouts.append(np.asarray(rows, dtype=np.int64))
    return layouts


def sample_view_frames(rng: np.random.Generator, starts: np.ndarray, num_frames: np.ndarray,
                       config: AugmentConfig, layouts: list[np.ndarray] | None = None) -> np.ndarray:
    """Temporal augmentation: each view gets a frame step and a window inside its clip span; the views overlap.

    View 1's step is drawn from ``frame_steps``; (its offset, view 2's step, view 2's offset) is drawn uniformly
    among the layouts in which the views share at least ``min_overlap`` of their frames
    (:func:`view_layouts`, pass it precomputed as ``layouts`` in loops).

    Args:
        starts: int (B,) first source frame of each clip's span.
        num_frames: int (B,) length of each clip's sequence (frames past its end repeat the last frame).

    Returns:
        int64 (B, 2, T) frame indices within each sequence.
    """
    layouts = view_layouts(config) if layouts is None else layouts
    B, T = len(starts), config.clip_frames
    counts = np.array([len(layout) for layout in layouts])
    which = rng.integers(0, len(layouts), size=B)  # (B,) view 1's step index
    pick = np.floor(rng.random(B) * counts[which]).astype(np.int64)  # (B,) one of its layouts, uniformly
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    o1, s2, o2 = np.concatenate(layouts)[first[which] + pick].T  # (B,) each
    s1 = np.asarray(config.frame_steps, dtype=np.int64)[which]
    offsets, steps = np.stack([o1, o2], axis=1), np.stack([s1, s2], axis=1)  # (B, 2)
    frames = np.asarray(starts)[:, None, None] + offsets[..., None] + steps[..., None] * np.arange(T)  # (B, 2, T)
    return np.minimum(frames, np.asarray(num_frames)[:, None, None] - 1)


def rotation_about_axis(angles: np.ndarray, axis: int) -> np.ndarray:
    """Rotation matrices about one coordinate axis.

    Shape:
        angles: (...,) radians. Returns (..., 3, 3).
    """
    c, s = np.cos(angles), np.sin(angles)
    rot = np.zeros(angles.shape + (3, 3))
    i, j = [a for a in range(3) if a != axis]
    rot[..., axis, axis] = 1.0
    rot[..., i, i], rot[..., i, j], rot[..., j, i], rot[..., j, j] = c, -s, s, c
    return rot


def augment_points(
    rng: np.random.Generator, points: np.ndarray, config: GeometricConfig, mirror: np.ndarray,
    return_index: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Geometric augmentation of point views, one transform per view (shared by its frames).

    Args:
        points: (P, 2, T, N, 3) clip-centred points.
        mirror: bool (P, 2): views whose image is flipped horizontally get x → −x.
        return_index: also return which source point each slot holds after dropout (the same draws either way).

    Returns:
        float32 (P, 2, T, N, 3); with ``return_index`` also int64 (P, 2, T, N): slot n holds source point
        ``index[..., n]`` of its frame (``arange(N)`` without dropout).
    """
    num_pairs, _, num_frames, num_points, _ = points.shape
    angles = np.deg2rad(rng.uniform(-config.rotation_deg, config.rotation_deg, size=(num_pairs, 2)))
    rot = rotation_about_axis(angles, config.up_axis)  # (P, 2, 3, 3)
    scale = rng.uniform(*config.scale, size=(num_pairs, 2, 3)) * np.where(mirror[..., None], [-1.0, 1, 1], 1.0)
    shift = rng.uniform(-config.translation, config.translation, size=(num_pairs, 2, 3))
    out = np.einsum("pvtnj,pvij->pvtni", points * scale[:, :, None, None], rot) + shift[:, :, None, None]
    jitter = np.clip(rng.normal(0, config.jitter_std, out.shape), -5 * config.jitter_std, 5 * config.jitter_std)
    out = out + jitter
    index = np.broadcast_to(np.arange(num_points), out.shape[:-1])
    if config.dropout > 0:  # dropped points are replaced by copies of kept points of the same frame
        flat = out.reshape(-1, num_points, 3)  # (P·2·T, N, 3)
        kept = rng.random(flat.shape[:2]) >= config.dropout
        kept[~kept.any(axis=1), 0] = True
        replacement = random_valid_indices(kept, num_points, rng)  # (P·2·T, N) indices of kept points
        index = np.where(kept, np.arange(num_points)[None], replacement)
        out = np.take_along_axis(flat, index[..., None], axis=1).reshape(out.shape)
        index = index.reshape(out.shape[:-1])
    if return_index:
        return out.astype(np.float32), np.ascontiguousarray(index, dtype=np.int64)
    return out.astype(np.float32)


def augment_images(rng: np.random.Generator, frames: np.ndarray,
                   config: ImageAugConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image-side augmentation, one random crop/flip/colour jitter per view, shared by its frames.

    Crop and flip are one affine resampling (``grid_sample``) batched over all views and frames.

    Args:
        frames: uint8 (P, 2, T, H, W, 3).

    Returns:
        uint8 (P, 2, T, H, W, 3) augmented frames, bool (P, 2) flip flags (to mirror the matching point views) and
        float32 (P, 2, 2, 3) each view's ``theta``: output normalised coordinates x_o read the source at
        ``theta[:, :2] @ x_o + theta[:, 2]`` (``affine_grid``, align_corners=False), so a source pixel can be
        followed into the view (:func:`crossvideo_kedro.geometry.pixel_link.follow_crop`).
    """
    num_pairs, _, num_frames, height, width, _ = frames.shape
    views = num_pairs * 2
    side = rng.uniform(*config.crop_scale, size=views)  # crop side as a fraction of the frame
    centre = (rng.random((views, 2)) * 2 - 1) * (1 - side)[:, None]  # keeps the crop inside, normalised coords
    flip = rng.random(views) < config.flip_prob
    theta = np.zeros((views, 2, 3), dtype=np.float32)
    theta[:, 0, 0] = side * np.where(flip, -1.0, 1.0)
    theta[:, 1, 1] = side
    theta[:, :, 2] = centre
    video = torch.from_numpy(frames.reshape(views * num_frames, height, width, 3)).permute(0, 3, 1, 2).float()
    grid = F.affine_grid(torch.from_numpy(np.repeat(theta, num_frames, axis=0)), list(video.shape), align_corners=False)
    video = F.grid_sample(video, grid, mode="bilinear", padding_mode="border", align_corners=False) / 255.0
    video = video.reshape(views, num_frames, 3, height, width)  # (V', T, 3, H, W)

    def factor(strength: float) -> torch.Tensor:
        return torch.from_numpy(rng.uniform(1 - strength, 1 + strength, size=views)).float()[:, None, None, None, None]

    video = video * factor(config.brightness)
    mean = video.mean(dim=(1, 2, 3, 4), keepdim=True)
    video = (video - mean) * factor(config.contrast) + mean
    gray = (video * torch.tensor([0.299, 0.587, 0.114]).view(1, 1, 3, 1, 1)).sum(dim=2, keepdim=True)
    video = (video - gray) * factor(config.saturation) + gray
    out = (video.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2)  # (V', T, H, W, 3)
    return out.reshape(frames.shape).numpy(), flip.reshape(num_pairs, 2), theta.reshape(num_pairs, 2, 2, 3)


def center_clip(points: np.ndarray) -> np.ndarray:
    """Subtract the centroid of a clip (over frames and points), so models see positions relative to the scene.

    Shape:
        points: (..., T, N, 3). Returns the same shape.
    """
    return points - points.mean(axis=(-3, -2), keepdims=True)


def cover_starts(num_frames: int, clip_frames: int) -> np.ndarray:
    """Starts of consecutive windows of ``clip_frames`` that cover every frame (the last one ends at the end).

    A sequence shorter than a window gets one window at 0 (its frames are repeated to fill it, see
    :func:`window_frames`).
    """
    if num_frames <= clip_frames:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, num_frames - clip_frames + 1, clip_frames, dtype=np.int64)
    if starts[-1] + clip_frames < num_frames:
        starts = np.append(starts, num_frames - clip_frames)
    return starts


def window_inputs(point_video: Arrays, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs for windows of a point cloud video: clip-centred points and times from each window's start.

    Shape:
        frames: (C, T) frame indices. Returns points (C, T, N, 3), times (C, T) seconds.
    """
    stamps = point_video["timestamps"][frames]
    return center_clip(point_video["points"][frames]), stamps - stamps[:, :1]


def window_frames(starts: np.ndarray, clip_frames: int, num_frames: int) -> np.ndarray:
    """Frame indices of windows, clamped to the sequence (short sequences repeat their last frame).

    Shape:
        starts: (C,). Returns int64 (C, T).
    """
    return np.minimum(starts[:, None] + np.arange(clip_frames)[None], num_frames - 1)
