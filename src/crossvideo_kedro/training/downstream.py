"""One downstream run: task × protocol × label fraction × replicate, from the task model to its scores.

The run's data and model come from :mod:`crossvideo_kedro.training.finetune`, its training from
:mod:`crossvideo_kedro.training.finetune_train`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from crossvideo_kedro.configs.finetune import FinetuneConfig, Protocol, Task
from crossvideo_kedro.configs.model import ModelConfig
from crossvideo_kedro.training.finetune import (
    Arrays,
    FeatureCache,
    RunSpec,
    assemble,
    build_task_model,
    make_task_windows,
    predict,
    score,
)
from crossvideo_kedro.training.finetune_train import train_task_model
from crossvideo_kedro.training.precision import resolve_amp
from crossvideo_kedro.training.pretrain import select_device
from crossvideo_kedro.training.tasks import TaskModel


def run_downstream(
    task: Task,
    protocol: Protocol,
    videos: dict[str, Arrays],
    images: dict[str, Arrays] | None,
    train_names: list[str],
    test_names: list[str],
    num_classes: int,
    model_config: ModelConfig,
    encoder_state: dict[str, Any] | None,
    fusion: bool,
    config: FinetuneConfig,
    seed: int | tuple[int, ...],
    cache: FeatureCache | None = None,
    lr: float | None = None,
    val_names: list[str] | None = None,
) -> tuple[dict[str, float], dict[str, Any], pd.DataFrame, TaskModel]:
    """One downstream run: build the task model, load pretrained encoders, train, predict ``test_names``, score.

    ``seed`` (an int or the replicate tuple) seeds the head's initialisation and the batch order. ``cache`` is used by
    the linear protocol only: pass the same dict to runs whose frozen encoders are identical and whose windows are of
    the same kind. ``val_names`` with ``config.val_every`` records the validation loss in the history. ``task`` and
    ``protocol`` come from a parsed study (:class:`crossvideo_kedro.configs.evaluate.Run`).

    Returns:
        metrics, predictions (per sequence, or clip arrays for recognition), training history, model (with
        ``model.spec`` set).
    """
    device = select_device(config.device)
    times = config.event_times
    windows = lambda names, clips=1: make_task_windows(  # noqa: E731
        task, names, videos, images, config.clip_frames, fusion, config.recognition, config.recognition_stride,
        clips, times)
    train, test = windows(train_names, config.event_clips), windows(test_names)
    val = windows(val_names) if val_names else None
    seeds = list(seed) if isinstance(seed, tuple) else [seed]
    torch.manual_seed(int(np.random.default_rng([*seeds, 3]).integers(2**31)))
    spec = RunSpec(task, protocol, num_classes, fusion, config.clip_frames,
                   config.temporal.model_dump(exclude_unset=True), config.ignore_ids)
    model = build_task_model(spec, model_config)
    model.spec = spec
    if encoder_state is not None:
        model.point_encoder.load_state_dict(encoder_state["point_encoder"])
    model.to(device)
    cache = cache if protocol == "linear" else None
    history = train_task_model(model, task, protocol, train, config, int(np.random.default_rng(seeds).integers(2**31)),
                               device, desc=f"{task}/{protocol}", cache=cache, lr=lr,
                               pretrained=encoder_state is not None, val=val)
    logits = predict(model, task, test, device, config.eval_batch_size, cache, resolve_amp(config.amp, device))
    predictions = assemble(task, test, logits, videos)
    return score(task, predictions, videos, num_classes, config.ignore_ids), predictions, history, model
