"""Nodes of the ``finetune`` pipeline (used inside every variant's namespace)."""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from crossvideo_kedro.models.presets import ModelConfig
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.pipelines.pretrain.nodes import pretrain_encoders
from crossvideo_kedro.study import LOSS_TERMS, StudyConfig, Variant
from crossvideo_kedro.training.finetune import FinetuneConfig, pick_label_fraction, run_downstream
from crossvideo_kedro.training.pretrain import PretrainConfig

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def variant_pretrain_params(pretrain_params: dict[str, Any], variant: Variant) -> dict[str, Any]:
    """The base ``pretrain`` parameters with the variant's loss weights (terms it does not name get 0)."""
    params = copy.deepcopy(pretrain_params)
    params.setdefault("loss", {})["weights"] = {term: float(variant.weights.get(term, 0.0)) for term in LOSS_TERMS}
    return params


def pretrain_variant(
    pretrain_views: dict[str, Callable[[], Arrays]], pretrain_params: dict[str, Any], variant_params: dict[str, Any],
    variant_name: str,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Pretrain this variant's encoders: same schedule and model as ``pretrain``, the variant's loss weights."""
    variant = Variant.from_dict(variant_name, variant_params)
    return pretrain_encoders(pretrain_views, variant_pretrain_params(pretrain_params, variant))


def _labelled(class_names: dict[str, list[str] | None], task: str) -> int:
    key = "semantic" if task == "semantic_segmentation" else "action"
    classes = class_names.get(key)
    if not classes:
        raise ValueError(f"task {task} needs {key} class names, but this source has none (class_names.{key})")
    return len(classes)


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
    """Every downstream run of the study grid for one variant.

    Args:
        pretrained_encoders: encoder checkpoint (``None`` for variants trained from scratch).
        point_cloud_videos, image_videos, sequence_index, class_names: the ingest contracts.
        pretrain_params: ``pretrain`` parameters (their ``model`` gives the architecture of scratch variants).
        finetune_params: ``finetune`` parameters (:class:`FinetuneConfig`).
        study_params: ``evaluate`` parameters (:class:`StudyConfig`: grid, seeds, splits, showcase run).
        variant_params: this variant's entry of ``evaluate.variants``.

    Returns:
        ``downstream_metrics`` (tidy rows: variant, task, protocol, label_fraction, seed, metric, value),
        ``downstream_predictions`` of the showcase runs (``<task>__<sequence>``: ``pred``, plus ``gt`` for
        recognition) and ``downstream_models`` (their state dicts, by task).
    """
    variant = Variant.from_dict(variant_name, variant_params)
    study = StudyConfig.from_dict(study_params)
    config = FinetuneConfig.from_dict(finetune_params)
    if pretrained_encoders is not None:
        model_config = ModelConfig.from_dict(pretrained_encoders["model_config"])
    else:
        model_config = ModelConfig.from_dict(PretrainConfig.from_dict(pretrain_params).model)
    videos = {name: materialise(point_cloud_videos[name]) for name in sequence_index["sequence"]}
    missing_images = sorted(set(videos) - set(image_videos))
    if variant.fusion and missing_images:
        raise ValueError(f"variant {variant.name!r} fuses image features, but sequences {missing_images[:3]} have no "
                         "image video (point-only source); drop the variant for this source")
    images = {name: materialise(image_videos[name]) for name in image_videos} if variant.fusion else None
    splits = sequence_index.set_index("sequence")["split"]
    train_all = sorted(splits.index[splits.isin(study.train_splits)])
    test = sorted(splits.index[splits == study.test_split])
    if not train_all or not test:
        raise ValueError(f"need training sequences in {study.train_splits} and test sequences in "
                         f"'{study.test_split}'; sequence_index has {splits.value_counts().to_dict()}")
    showcase = {"protocol": "full", "label_fraction": None, "seed": study.seeds[0], **study.showcase}
    rows, predictions, models = [], {}, {}
    caches: dict[tuple, dict] = {}  # frozen features shared by linear runs with identical encoders and windows
    grid = study.grid()
    for task, protocol, fraction, seed in tqdm(grid, desc=f"{variant.name}", unit="run", disable=not config.progress):
        train = pick_label_fraction(train_all, fraction, seed)
        encoders = pretrained_encoders if variant.init != "scratch" else None
        kind = "clips" if task == "action_recognition" else "windows"
        cache = caches.setdefault((kind, seed if encoders is None else "pretrained"), {})
        scores, preds, _, model = run_downstream(
            task, protocol, videos, images, train, test, _labelled(class_names, task), model_config,
            encoders, variant.fusion, config, seed, cache=cache,
        )
        rows += [{"variant": variant.name, "task": task, "protocol": protocol, "label_fraction": fraction,
                  "seed": seed, "num_train_sequences": len(train), "metric": m, "value": float(v)}
                 for m, v in scores.items()]
        if (protocol, seed) == (showcase["protocol"], showcase["seed"]) and (
            showcase["label_fraction"] is None or np.isclose(fraction, showcase["label_fraction"])
        ):  # the last matching run of a task wins: with label_fraction None, its largest fraction
            predictions.update(_prediction_partitions(task, preds))
            models[task] = {k: v.cpu() for k, v in model.state_dict().items()}
        logger.info("%s %s/%s frac=%.2f seed=%d: %s", variant.name, task, protocol, fraction, seed,
                    {k: round(v, 1) for k, v in scores.items() if not k.startswith("iou_")})
    return pd.DataFrame(rows), predictions, {"variant": variant.name, "model_config": _plain(model_config),
                                              "state_dicts": models}


def _prediction_partitions(task: str, preds: dict[str, Any]) -> dict[str, Arrays]:
    if task == "action_recognition":
        return {task: {"pred": preds["pred"].astype(np.int16), "gt": preds["gt"].astype(np.int16)}}
    return {f"{task}__{name}": {"pred": pred.astype(np.int16)} for name, pred in preds.items()}


def _plain(config: ModelConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def finetune_variant_from_scratch(*args: Any, **kwargs: Any) -> tuple[pd.DataFrame, dict[str, Arrays], dict]:
    """:func:`finetune_variant` without pretrained encoders (``scratch`` and ``fusion`` variants)."""
    return finetune_variant(None, *args, **kwargs)
