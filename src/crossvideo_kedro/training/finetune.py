"""Downstream fine-tuning: its parameters, the windows it trains on, frozen features, prediction and scoring.

* ``action_segmentation`` works on **whole sequences**: each sequence is cut into consecutive windows (times from 0
  in every window, contract 4), the encoder's frame features are put back on the sequence's frames (overlaps
  averaged) → (L, D), and a sequence-level MS-TCN (:mod:`crossvideo_kedro.models.temporal`) labels every frame.
  Full fine-tuning backpropagates through the encoder over all windows of the sequences of a batch.
* ``semantic_segmentation`` and ``action_recognition`` work on windows / event clips; window predictions are put
  back on the sequence by averaging logits per frame and point.
* ``linear`` freezes the encoder(s), caches their features once and trains one linear layer on them (per frame,
  per clip, or per point on the 3-NN interpolation of the anchor features): a true linear probe.

Training is budgeted in optimiser **steps** (``steps`` / ``linear_steps``), so the cost of a run does not grow with
the number of labelled sequences. A randomly initialised encoder always trains at the full learning rate
(``encoder_lr_ratio`` applies to pretrained encoders only). With ``val_every`` the history records the loss on the
validation sequences, so convergence can be checked. The training step is in
:mod:`crossvideo_kedro.training.finetune_train`, one whole run in :mod:`crossvideo_kedro.training.downstream`.
Shape letters: R windows, T frames per window, L frames per sequence, N points, C classes, D features.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from crossvideo_kedro import metrics
from crossvideo_kedro.augment import center_clip, cover_starts, window_frames, window_inputs
from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.configs.finetune import TemporalConfig
from crossvideo_kedro.configs.model import ModelConfig
from crossvideo_kedro.training.model import images_to_tensor
from crossvideo_kedro.training.precision import autocast
from crossvideo_kedro.training.tasks import TaskModel, project_points

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
EventTimes = Literal["seconds", "fraction"]  # finetune.event_times
IGNORE = -100  # cross-entropy ignore_index


# ------------------------------------------------------------------------------------------------ data


@dataclass
class Windows:
    """Model inputs cut from sequences, with what is needed to put predictions back (``seq``, ``frames``)."""

    points: torch.Tensor | LazyClips  # (R, T, N, 3) clip-centred (built when indexed for video recognition)
    times: torch.Tensor  # (R, T) seconds from the window start
    images: torch.Tensor | None  # uint8 (R, T, H, W, 3)
    uv: torch.Tensor | None  # (R, T, N, 2) pixel of each point in ``images`` (per-point fusion only)
    frame_labels: torch.Tensor  # (R, T), or (R,) for recognition clips
    point_labels: torch.Tensor  # (R, T, N)
    seq: np.ndarray  # (R,) index into ``names``
    frames: np.ndarray  # (R, T) frame indices in the sequence
    names: list[str]
    lengths: np.ndarray  # (S,) frames of each sequence of ``names``
    sequence_labels: list[np.ndarray]  # per sequence (L_s,) frame labels
    video: np.ndarray | None = None  # (R,) the video (labelled run) of each clip: video-level recognition only

    def __len__(self) -> int:
        return len(self.seq)


def _stack(parts: list[dict], names: list[str], videos: dict[str, Arrays], use_images: bool,
           use_uv: bool) -> Windows:
    cat = lambda key: np.concatenate([p[key] for p in parts])  # noqa: E731
    return Windows(
        points=torch.from_numpy(cat("points")).float(),
        times=torch.from_numpy(cat("times")).float(),
        images=torch.from_numpy(cat("images")) if use_images else None,
        uv=torch.from_numpy(cat("uv")).float() if use_uv else None,
        frame_labels=torch.from_numpy(cat("frame_labels")).long(),
        point_labels=torch.from_numpy(cat("point_labels")).long(),
        seq=cat("seq"),
        frames=cat("frames"),
        names=names,
        lengths=np.array([videos[n]["points"].shape[0] for n in names], dtype=np.int64),
        sequence_labels=[videos[n]["frame_labels"].astype(np.int64) for n in names],
    )


def intrinsics_of(image_video: Arrays, name: str) -> np.ndarray:
    """The stored frames' pinhole K (contract 2), or a clear error for image videos written without it."""
    if "intrinsics" not in image_video:
        raise ValueError(f"image video {name!r} has no 'intrinsics' (written before contract 2): per-point fusion "
                         "needs the camera K of the stored frames; re-run ingest")
    return np.asarray(image_video["intrinsics"], dtype=np.float64).reshape(3, 3)


def _window_part(i: int, name: str, video: Arrays, image: Arrays | None, frames: np.ndarray, labels: np.ndarray,
                 use_uv: bool) -> dict:
    points, times = window_inputs(video, frames)  # (R, T, N, 3), (R, T)
    part = {"points": points, "times": times, "frame_labels": labels, "point_labels": video["point_labels"][frames],
            "seq": np.full(len(frames), i), "frames": frames}
    if image is not None:
        part["images"] = image["frames"][frames]
        if use_uv:  # projection of the raw (camera-frame) points, not of the clip-centred ones
            part["uv"] = project_points(video["points"][frames], intrinsics_of(image, name)).astype(np.float32)
    return part


def make_windows(names: list[str], videos: dict[str, Arrays], images: dict[str, Arrays] | None,
                 clip_frames: int, project: bool = False) -> Windows:
    """Consecutive windows covering every frame of each sequence (segmentation tasks); ``project`` adds ``uv``."""
    parts = []
    for i, name in enumerate(names):
        video = videos[name]
        n = video["points"].shape[0]
        frames = window_frames(cover_starts(n, clip_frames), clip_frames, n)  # (R_i, T)
        parts.append(_window_part(i, name, video, images[name] if images else None, frames,
                                  video["frame_labels"][frames], project))
    return _stack(parts, names, videos, images is not None, project and images is not None)


def event_clip_frames(start: int, end: int, clip_frames: int, clips: int = 1) -> np.ndarray:
    """Frames of ``clips`` clips of the event [start, end): T frames spread evenly over it, clip j shifted by
    (j + 1/2) / clips - 1/2 of the spacing between its frames (so the clips take turns on the frames between; one
    clip is the unshifted spread), clamped to the event.

    Shape:
        Returns int64 (clips, T).
    """
    base = np.linspace(start, end - 1, clip_frames)  # (T,)
    spacing = (end - 1 - start) / max(clip_frames - 1, 1)
    shift = ((np.arange(clips) + 0.5) / clips - 0.5) * spacing  # (clips,)
    return np.clip(base[None] + shift[:, None], start, end - 1).round().astype(np.int64)  # (clips, T)


def make_event_clips(names: list[str], videos: dict[str, Arrays], images: dict[str, Arrays] | None,
                     clip_frames: int, clips: int = 1, times: EventTimes = "seconds") -> Windows:
    """``clips`` clips per action event (a run of one frame label), T frames spread evenly over the run
    (recognition; see :func:`event_clip_frames`). ``times``: ``seconds`` from the clip's first frame, or
    ``fraction`` of the event's duration (0 to 1 over every event, however long it lasts)."""
    parts, kept = [], []
    for name in names:
        video = videos[name]
        runs = [(lab, s, e) for lab, s, e in metrics.segments(video["frame_labels"]) if lab >= 0]
        if not runs:
            continue
        frames = np.concatenate([event_clip_frames(s, e, clip_frames, clips) for _, s, e in runs])
        part = _window_part(len(kept), name, video, images[name] if images else None, frames,
                            np.repeat([lab for lab, _, _ in runs], clips), False)
        if times == "fraction":
            stamps = video["timestamps"]
            spans = np.repeat([max(float(stamps[e - 1] - stamps[s]), 1e-6) for _, s, e in runs], clips)  # (R,)
            part["times"] = (part["times"] / spans[:, None]).astype(part["times"].dtype)  # (R, T)
        parts.append(part)
        kept.append(name)
    if not parts:
        raise ValueError(f"no labelled action events in sequences {names[:3]}...: recognition needs frame labels")
    return _stack(parts, kept, videos, images is not None, False)


class LazyClips:
    """Clips of sequences built when indexed, so every clip of every video need not be held at once.

    ``clips[idx]`` stacks ``arrays[seq[i]][frames[i]]`` for the rows ``idx`` and applies ``transform``.

    Shape:
        seq: (R,) index into ``arrays``; frames: (R, T). ``clips[idx]`` → (len(idx), T, ...) tensor.
    """

    def __init__(self, arrays: list[np.ndarray], seq: np.ndarray, frames: np.ndarray,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.arrays, self.seq, self.frames, self.transform = arrays, seq, frames, transform

    def __len__(self) -> int:
        return len(self.seq)

    def __getitem__(self, idx: torch.Tensor | np.ndarray) -> torch.Tensor:
        rows = np.asarray(idx).reshape(-1)
        stacked = np.stack([self.arrays[self.seq[r]][self.frames[r]] for r in rows])  # one gather per clip
        return torch.from_numpy(self.transform(stacked) if self.transform is not None else stacked)


def video_clip_frames(start: int, end: int, clip_frames: int, stride: int) -> np.ndarray:
    """Frames of every ``clip_frames``-long clip of the run ``[start, end)`` at ``stride``, the last one ending at
    the run's end; a run shorter than a clip gives one clip that repeats its last frame.

    Shape:
        Returns int64 (C, T).
    """
    last = max(start, end - clip_frames)
    starts = np.unique(np.append(np.arange(start, last + 1, stride), last))
    return np.minimum(starts[:, None] + np.arange(clip_frames)[None], end - 1)


def make_video_clips(names: list[str], videos: dict[str, Arrays], images: dict[str, Arrays] | None,
                     clip_frames: int, stride: int) -> Windows:
    """Video-level recognition: every labelled run of a sequence is a video (a whole single-label video), cut into
    all its ``clip_frames``-long clips at ``stride`` (:func:`video_clip_frames`); points and images are gathered
    when a batch indexes them (:class:`LazyClips`). ``Windows.video`` says which video each clip belongs to."""
    seqs, frames, stamps, labels, video_ids, kept = [], [], [], [], [], []
    for name in names:
        runs = [(lab, s, e) for lab, s, e in metrics.segments(videos[name]["frame_labels"]) if lab >= 0]
        for lab, s, e in runs:  # one labelled run (video) at a time, its clips at once
            clip = video_clip_frames(s, e, clip_frames, stride)  # (C, T)
            seqs.append(np.full(len(clip), len(kept)))
            frames.append(clip)
            stamps.append(videos[name]["timestamps"][clip])  # (C, T)
            labels.append(np.full(len(clip), lab))
            video_ids.append(np.full(len(clip), len(video_ids)))
        if runs:
            kept.append(name)
    if not kept:
        raise ValueError(f"no labelled action events in sequences {names[:3]}...: recognition needs frame labels")
    seq, frame, stamps = np.concatenate(seqs), np.concatenate(frames), np.concatenate(stamps)  # (R,), (R, T) x2
    points = LazyClips([videos[n]["points"] for n in kept], seq, frame,
                       lambda x: center_clip(x).astype(np.float32))
    return Windows(points=points, times=torch.from_numpy(stamps - stamps[:, :1]).float(),
                   images=LazyClips([images[n]["frames"] for n in kept], seq, frame) if images else None, uv=None,
                   frame_labels=torch.from_numpy(np.concatenate(labels)).long(),
                   point_labels=LazyClips([videos[n]["point_labels"] for n in kept], seq, frame), seq=seq,
                   frames=frame, names=kept, lengths=np.array([videos[n]["points"].shape[0] for n in kept]),
                   sequence_labels=[videos[n]["frame_labels"].astype(np.int64) for n in kept],
                   video=np.concatenate(video_ids))


def pick_label_fraction(train_names: list[str], fraction: float, seed: int | tuple[int, ...]) -> list[str]:
    """A seeded subset of the training sequences (at least one) — the label-efficiency protocol.

    ``seed`` may be a tuple (the replicate: pretraining seed, fine-tuning seed), so paired runs share the subset.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    count = max(1, round(fraction * len(train_names)))
    seed = list(seed) if isinstance(seed, tuple) else [seed]
    order = np.random.default_rng([*seed, 7]).permutation(len(train_names))
    return sorted(train_names[i] for i in order[:count])


def _window_targets(task: str, windows: Windows, idx: torch.Tensor, ignore_ids: tuple[int, ...]) -> torch.Tensor:
    if task == "semantic_segmentation":
        target = windows.point_labels[idx].clone()
        for ignored in ignore_ids:
            target[target == ignored] = IGNORE
    else:
        target = windows.frame_labels[idx].clone()
    target[target < 0] = IGNORE
    return target


def _sequence_targets(windows: Windows, seqs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded frame labels (B, L_max) (IGNORE where unknown or padded) and the mask of real frames (B, L_max)."""
    lengths = windows.lengths[seqs]
    target = torch.full((len(seqs), int(lengths.max())), IGNORE, dtype=torch.long)
    for b, s in enumerate(seqs):  # one row per sequence of the batch
        labels = torch.from_numpy(windows.sequence_labels[s])
        target[b, : len(labels)] = torch.where(labels < 0, IGNORE, labels)
    mask = torch.arange(target.shape[1])[None] < torch.from_numpy(lengths)[:, None]
    return target, mask


# ------------------------------------------------------------------------------------------------ model inputs


Augment = Callable[[torch.Tensor, np.ndarray], torch.Tensor]  # (points (R, T, N, 3), groups (R,)) -> points


def _inputs(windows: Windows, idx: torch.Tensor, device: torch.device, augment: Augment | None = None,
            groups: np.ndarray | None = None) -> tuple:
    """Encoder inputs of windows ``idx``; ``augment`` transforms their points, one transform per id of ``groups``
    (default: one per window)."""
    images = images_to_tensor(windows.images[idx].to(device)) if windows.images is not None else None
    uv = windows.uv[idx].to(device) if windows.uv is not None else None
    points = windows.points[idx]
    if augment is not None:
        points = augment(points, idx.numpy() if groups is None else groups)
    return points.to(device), windows.times[idx].to(device), images, uv


def scatter_frames(frame_feats: torch.Tensor, windows: Windows, rows: np.ndarray, seqs: np.ndarray) -> torch.Tensor:
    """Window frame features put back on their sequences' frames, overlaps averaged, zero-padded.

    Shape:
        frame_feats: (R, T, D) for ``rows`` of ``windows``; seqs: (B,) sequence ids (every row's sequence among
        them). Returns (B, L_max, D).
    """
    R, T, D = frame_feats.shape
    length = int(windows.lengths[seqs].max())
    slot = np.searchsorted(seqs, windows.seq[rows]) if np.all(np.diff(seqs) > 0) else \
        np.array([int(np.flatnonzero(seqs == s)[0]) for s in windows.seq[rows]])
    flat = torch.from_numpy(slot[:, None] * length + windows.frames[rows]).reshape(-1).to(frame_feats.device)
    sums = frame_feats.new_zeros(len(seqs) * length, D).index_add(0, flat, frame_feats.reshape(R * T, D))
    counts = frame_feats.new_zeros(len(seqs) * length).index_add(0, flat, frame_feats.new_ones(R * T))
    return (sums / counts.clamp(min=1)[:, None]).reshape(len(seqs), length, D)


def encode_sequences(model: TaskModel, windows: Windows, seqs: np.ndarray, device: torch.device,
                     batch_size: int | None = None, augment: Augment | None = None) -> torch.Tensor:
    """Frame features of whole sequences from their windows (B, L_max, D) — with gradients unless in no_grad.

    ``batch_size`` chunks the windows through the encoder (evaluation); ``None`` encodes them at once (training).
    ``augment`` (training) moves all windows of a sequence with one transform.
    """
    rows = np.flatnonzero(np.isin(windows.seq, seqs))
    idx = torch.from_numpy(rows)
    chunks = [idx] if batch_size is None else list(idx.split(batch_size))
    feats = torch.cat([model.frame_inputs(model.features(*_inputs(windows, c, device, augment, windows.seq[c.numpy()])))
                       for c in chunks])
    return scatter_frames(feats, windows, rows, np.asarray(seqs))


FeatureCache = dict[str, dict[str, torch.Tensor]]  # sequence -> frozen-encoder features (per window, or per frame)


@torch.no_grad()
def frozen_features(model: TaskModel, windows: Windows, device: torch.device, batch_size: int,
                    cache: FeatureCache | None = None) -> dict[str, torch.Tensor]:
    """Frozen-encoder features of every window (the linear probe's inputs), computed once per sequence.

    Returns the window features ``anchor_xyz``/``anchor_features``/``frame``/``video`` (R, ...). ``cache`` (shared
    by runs whose frozen encoders are identical) keeps them per sequence.
    """
    cache = {} if cache is None else cache
    missing = [i for i, name in enumerate(windows.names) if name not in cache and (windows.seq == i).any()]
    if missing:
        model.eval()
        rows = torch.from_numpy(np.flatnonzero(np.isin(windows.seq, missing)))
        chunks = [{k: v.detach().cpu() for k, v in model.features(*_inputs(windows, c, device)).items()}
                  for c in rows.split(batch_size)]
        feats = {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}
        seq = windows.seq[rows.numpy()]
        for i in missing:
            cache[windows.names[i]] = {key: value[seq == i] for key, value in feats.items()}
    parts = [cache[name] for i, name in enumerate(windows.names) if (windows.seq == i).any()]
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}


def frozen_sequence_features(model: TaskModel, windows: Windows, device: torch.device, batch_size: int,
                             cache: FeatureCache | None) -> torch.Tensor:
    """Frozen frame features of every sequence (S, L_max, D), from the cached window features."""
    feats = frozen_features(model, windows, device, batch_size, cache)
    frame = model.frame_inputs({k: v.to(device) for k, v in feats.items()})  # (R, T, D)
    return scatter_frames(frame, windows, np.arange(len(windows)), np.arange(len(windows.names)))


# ------------------------------------------------------------------------------------------------ predict


@torch.no_grad()
def predict(model: TaskModel, task: str, windows: Windows, device: torch.device, batch_size: int,
            cache: FeatureCache | None = None, amp: torch.dtype | None = None) -> list[torch.Tensor]:
    """Logits (float32): per sequence (L_s, C) for action segmentation; else per window batch, in window order.

    The linear protocol reads frozen features through ``cache`` when given; ``amp`` is the autocast dtype (None:
    fp32).
    """
    with autocast(device, amp):
        return _predict(model, task, windows, device, batch_size, cache)


def _predict(model: TaskModel, task: str, windows: Windows, device: torch.device, batch_size: int,
             cache: FeatureCache | None) -> list[torch.Tensor]:
    model.eval()
    if task == "action_segmentation":
        seqs = np.arange(len(windows.names))
        x = frozen_sequence_features(model, windows, device, batch_size, cache) if model.probe else None
        out = []
        for i in seqs:  # one sequence at a time: no padding, no dependence on the batch
            feats = x[i : i + 1, : windows.lengths[i]] if x is not None else \
                encode_sequences(model, windows, seqs[i : i + 1], device, batch_size)
            out.append(model.sequence_logits(feats)[-1][0].float().cpu())  # (L_i, C)
        return out
    chunks = torch.arange(len(windows)).split(batch_size)
    if cache is not None and model.probe:
        feats = frozen_features(model, windows, device, batch_size, cache)
        return [model.forward_head(windows.points[c].to(device), {k: v[c].to(device) for k, v in feats.items()},
                                   windows.uv[c].to(device) if windows.uv is not None else None).float().cpu()
                for c in chunks]
    return [model(*_inputs(windows, c, device)).float().cpu() for c in chunks]


def assemble(task: str, windows: Windows, logits: list[torch.Tensor], videos: dict[str, Arrays]) -> dict[str, Any]:
    """Per-sequence predictions: argmax of sequence logits, or window logits averaged per frame (and point)."""
    if task == "action_segmentation":
        return {name: lg.argmax(-1).numpy() for name, lg in zip(windows.names, logits, strict=True)}
    logits_all = torch.cat(logits)  # (R, T, N, C) | (R, C)
    if task == "action_recognition":
        out = {"pred": logits_all.argmax(-1).numpy(), "gt": windows.frame_labels.numpy()}
        return out if windows.video is None else {**out, **video_predictions(logits_all, windows)}
    preds = {}
    for i, name in enumerate(windows.names):
        rows = np.flatnonzero(windows.seq == i)
        n = int(windows.lengths[i])
        sums = torch.zeros((n, *logits_all.shape[2:]))
        counts = torch.zeros(n)
        frames = torch.from_numpy(windows.frames[rows]).reshape(-1)
        sums.index_add_(0, frames, logits_all[rows].reshape(-1, *logits_all.shape[2:]))
        counts.index_add_(0, frames, torch.ones(len(frames)))
        preds[name] = (sums / counts.clamp(min=1).reshape(-1, *[1] * (sums.dim() - 1))).argmax(-1).numpy()
    return preds


def video_predictions(logits: torch.Tensor, windows: Windows) -> dict[str, np.ndarray]:
    """Each video's prediction: the argmax of the mean of its clips' softmax scores; and its label.

    Shape:
        logits: (R, C) of the clips of ``windows`` (``windows.video`` set). Returns ``video_pred``, ``video_gt`` (V,).
    """
    video = torch.from_numpy(windows.video)
    count = int(video.max()) + 1
    sums = torch.zeros(count, logits.shape[-1]).index_add_(0, video, logits.float().softmax(-1))  # (V, C)
    labels = torch.zeros(count, dtype=torch.long).index_copy_(0, video, windows.frame_labels)
    return {"video_pred": sums.argmax(-1).numpy(), "video_gt": labels.numpy()}


def score(task: str, predictions: dict[str, Any], videos: dict[str, Arrays], num_classes: int,
          ignore_ids: tuple[int, ...]) -> dict[str, float]:
    """The task's metrics (percent): segmentation metrics, clip accuracy or mIoU (+ per-class IoU)."""
    if task == "action_recognition":
        result = {"clip_accuracy": metrics.clip_accuracy(predictions["pred"], predictions["gt"])}
        if "video_pred" in predictions:
            result["video_accuracy"] = metrics.clip_accuracy(predictions["video_pred"], predictions["video_gt"])
        return result
    names = sorted(predictions)
    if task == "action_segmentation":
        return metrics.action_segmentation_metrics([predictions[n] for n in names],
                                                   [videos[n]["frame_labels"] for n in names])
    pred = np.concatenate([predictions[n].reshape(-1) for n in names])
    gt = np.concatenate([videos[n]["point_labels"].reshape(-1) for n in names])
    result = metrics.semantic_segmentation_metrics(pred, gt, num_classes, ignore_ids=(*ignore_ids, -1))
    flat = {"miou": result["miou"], "point_accuracy": result["accuracy"]}
    flat.update({f"iou_{c}": v for c, v in result["iou_per_class"].items()})
    return flat


HEADLINE = {"action_segmentation": "accuracy", "semantic_segmentation": "miou", "action_recognition": "clip_accuracy"}


# ------------------------------------------------------------------------------------------------ one run


@dataclass
class RunSpec:
    """What rebuilds a trained task model (stored with its state dict in ``downstream_models``)."""

    task: str
    protocol: str
    num_classes: int
    fusion: bool
    clip_frames: int
    temporal: dict
    ignore_ids: tuple[int, ...] = ()


def build_task_model(spec: RunSpec, model_config: ModelConfig) -> TaskModel:
    """A fresh task model for ``spec`` (random weights)."""
    return TaskModel(spec.task, model_config, spec.num_classes, fusion=spec.fusion,
                     temporal=parse(TemporalConfig, spec.temporal, "finetune.temporal"), probe=spec.protocol == "linear")


def make_task_windows(task: str, names: list[str], videos: dict[str, Arrays], images: dict[str, Arrays] | None,
                      clip_frames: int, fusion: bool, recognition: str = "event", stride: int = 1,
                      event_clips: int = 1, event_times: EventTimes = "seconds") -> Windows:
    """The windows a task trains and predicts on (recognition: ``event_clips`` event clips each, their times
    ``event_times``, or every clip of each video with ``recognition="video"``; ``uv`` for per-point fusion)."""
    use_images = images if fusion else None
    if task == "action_recognition" and recognition == "video":
        return make_video_clips(names, videos, use_images, clip_frames, stride)
    if task == "action_recognition":
        return make_event_clips(names, videos, use_images, clip_frames, event_clips, event_times)
    return make_windows(names, videos, use_images, clip_frames, project=fusion and task == "semantic_segmentation")
