"""Nodes of the ``finetune`` pipeline (used inside every variant's namespace)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.pipelines.pretrain.nodes import pretrain_encoders
from crossvideo_kedro.configs.evaluate import Variant, variant_of
from crossvideo_kedro.configs.pretrain import LOSS_TERMS
from crossvideo_kedro.study import check_variant_name
from crossvideo_kedro.study_runner import plan_variant, run_variant, study_outputs

Arrays = dict[str, np.ndarray]


def variant_pretrain_params(pretrain_params: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """The base ``pretrain`` parameters with the variant's loss weights (terms it does not name get 0)."""
    params = copy.deepcopy(pretrain_params)
    params.setdefault("loss", {})["weights"] = {term: float(variant.weights.get(term, 0.0)) for term in LOSS_TERMS}
    return params


def pretrain_variant(
    pretrain_pool: Any, point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]], augment_params: dict[str, Any], pretrain_params: dict[str, Any],
    variant_params: dict[str, Any], variant_name: str,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Pretrain this variant's encoders (every pretraining seed): the base schedule and model, its loss weights."""
    variant = variant_of(variant_name, variant_params)
    return pretrain_encoders(pretrain_pool, point_cloud_videos, image_videos, augment_params,
                             variant_pretrain_params(pretrain_params, variant))


def finetune_variant(
    pretrained_encoders: dict[str, Any] | None,
    point_cloud_videos: dict[str, Callable[[], Arrays]],
    image_videos: dict[str, Callable[[], Arrays]],
    sequence_index: pd.DataFrame,
    class_names: dict[str, list[str] | None],
    pretrain_params: dict[str, Any],
    finetune_params: dict[str, Any],
    study_params: dict[str, Any],
    variant_params: dict[str, Any],
    variant_name: str,
) -> tuple[pd.DataFrame, dict[str, Arrays], dict[str, Any]]:
    """Every downstream run of the study grid for one variant, over every replicate
    (:mod:`crossvideo_kedro.study_runner`).

    Only train / val / test sequences are read (never the unlabelled pool). Tasks the source cannot support and a
    fusion variant on a source without images are skipped with one log line.

    Returns:
        ``downstream_metrics`` (tidy rows: variant, task, protocol, label_fraction, pretrain_seed, seed,
        num_train_sequences, lr, metric, value), ``downstream_predictions`` of the showcase runs
        (``<task>__<sequence>``: ``pred``, plus ``gt`` for recognition) and ``downstream_models`` (their state dicts
        and specs by task, read with ``training.predict.load_task_model``).
    """
    variant = variant_of(variant_name, variant_params)
    check_variant_name(variant, pretrain_params)
    plan = plan_variant(variant, pretrained_encoders, sequence_index, class_names, list(image_videos),
                        pretrain_params, finetune_params, study_params)
    if not plan.grid:
        return study_outputs(plan, [], [], [])
    videos = {name: materialise(point_cloud_videos[name]) for name in plan.names}
    images = {name: materialise(image_videos[name]) for name in plan.names} if variant.fusion else None
    return run_variant(plan, videos, images)


def finetune_variant_from_scratch(*args: Any, **kwargs: Any) -> tuple[pd.DataFrame, dict[str, Arrays], dict]:
    """:func:`finetune_variant` without pretrained encoders (``scratch`` and ``fusion`` variants)."""
    return finetune_variant(None, *args, **kwargs)
