"""A small, stable API to apply trained downstream models to new recordings (used by the ``predict`` pipeline).

    model = load_task_model(downstream_models, "action_segmentation")
    labels = predict_sequence(model, "action_segmentation", point_video, image_video)  # (L,) class ids

``downstream_models`` is the catalog object written by ``finetune`` (``<variant>.downstream_models``):
``{"variant", "model_config", "state_dicts": {task: state_dict}, "specs": {task: RunSpec fields}}``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from crossvideo_kedro.configs import ModelConfig, parse
from crossvideo_kedro.configs.pretrain import Amp
from crossvideo_kedro.training.finetune import (
    RunSpec,
    assemble,
    build_task_model,
    make_windows,
    predict,
)
from crossvideo_kedro.training.precision import resolve_amp
from crossvideo_kedro.training.tasks import Task, TaskModel

Arrays = dict[str, np.ndarray]


def load_task_model(downstream_models: dict[str, Any], task: Task) -> TaskModel:
    """Rebuild the trained model of ``task`` from a ``downstream_models`` object, on CPU, in eval mode.

    Args:
        downstream_models: what ``finetune`` saved for one variant (see the module docstring).
        task: ``action_segmentation``, ``semantic_segmentation`` or ``action_recognition``.

    Returns:
        The :class:`TaskModel` with its weights; ``model.spec`` (a ``RunSpec``) says how it was trained
        (protocol, number of classes, fusion, window length).

    Raises:
        ValueError: the object holds no model for ``task`` (the ones it holds are named), or is not a
            ``downstream_models`` object.
    """
    if not isinstance(downstream_models, dict) or "state_dicts" not in downstream_models:
        raise ValueError("not a downstream_models object: expected keys 'model_config', 'state_dicts', 'specs'")
    states, specs = downstream_models["state_dicts"], downstream_models.get("specs", {})
    if task not in states or task not in specs:
        raise ValueError(f"downstream_models of variant {downstream_models.get('variant')!r} holds no {task} model; "
                         f"it has {sorted(states)}")
    spec_dict = dict(specs[task])
    spec_dict["ignore_ids"] = tuple(spec_dict.get("ignore_ids") or ())
    spec = RunSpec(**spec_dict)
    model = build_task_model(spec, parse(ModelConfig, downstream_models["model_config"], "model"))
    model.load_state_dict(states[task])
    model.spec = spec
    return model.eval()


def spec_dict(spec: RunSpec) -> dict[str, Any]:
    """A ``RunSpec`` as plain types (what ``downstream_models["specs"][task]`` stores)."""
    out = dataclasses.asdict(spec)
    out["ignore_ids"] = list(out["ignore_ids"])
    return out


@torch.no_grad()
def predict_sequence(model: TaskModel, task: str, point_video: Arrays, image_video: Arrays | None = None,
                     batch_size: int = 16, amp: bool | Amp = "auto") -> np.ndarray:
    """Labels of one whole recording.

    Args:
        model: from :func:`load_task_model`.
        task: the model's task.
        point_video: a ``point_cloud_videos`` partition: ``points`` (L, N, 3) and ``timestamps`` (L,) at least
            (labels are not needed).
        image_video: an ``image_videos`` partition (``frames`` (L, H, W, 3), and ``intrinsics`` for per-point
            fusion); required only by models trained with ``fusion``.
        batch_size: windows per forward pass.
        amp: bf16 autocast as in ``finetune.amp`` ("auto": where the device has bf16 matmul, as the study ran).

    Returns:
        ``action_segmentation``: int64 (L,) action class per frame. ``semantic_segmentation``: int64 (L, N)
        semantic class per point. ``action_recognition``: int64 (L,) — each window's clip label on its frames
        (overlaps: the later window wins).
    """
    if model.task != task:
        raise ValueError(f"this model was trained for {model.task}, not {task}")
    if model.fusion and image_video is None:
        raise ValueError("this model fuses image features: predict_sequence needs the recording's image_video")
    L = point_video["points"].shape[0]
    video = {"points": point_video["points"], "timestamps": point_video["timestamps"],
             "frame_labels": np.full(L, -1, np.int16),
             "point_labels": np.full(point_video["points"].shape[:2], -1, np.int16)}
    spec = model.spec
    clip_frames = spec.clip_frames if spec is not None else 8
    images = {"rec": image_video} if model.fusion else None
    windows = make_windows(["rec"], {"rec": video}, images, clip_frames,
                           project=model.fusion and task == "semantic_segmentation")
    device = next(model.parameters()).device
    logits = predict(model, task, windows, device, batch_size, amp=resolve_amp(amp, device))
    if task == "action_recognition":
        labels = np.zeros(L, dtype=np.int64)
        labels[windows.frames.reshape(-1)] = np.repeat(torch.cat(logits).argmax(-1).numpy(), windows.frames.shape[1])
        return labels
    return assemble(task, windows, logits, {"rec": video})["rec"].astype(np.int64)
