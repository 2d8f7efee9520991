"""Nodes of the ``finetune`` pipeline (used inside every variant's namespace)."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from crossvideo_kedro.models.presets import ModelConfig
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.pipelines.pretrain.nodes import pretrain_encoders
from crossvideo_kedro.study import (
    LOSS_TERMS,
    StudyConfig,
    Variant,
    check_variant_name,
    images_missing,
    pretrain_seeds_of,
    replicates,
    supported_tasks,
)
from crossvideo_kedro.training.finetune import HEADLINE, FinetuneConfig, pick_label_fraction, run_downstream
from crossvideo_kedro.training.model import encoder_runs
from crossvideo_kedro.training.predict import spec_dict
from crossvideo_kedro.training.pretrain import PretrainConfig

logger = logging.getLogger(__name__)

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
    variant = Variant.from_dict(variant_name, variant_params)
    return pretrain_encoders(pretrain_pool, point_cloud_videos, image_videos, augment_params,
                             variant_pretrain_params(pretrain_params, variant))


def _num_classes(class_names: dict[str, list[str] | None], task: str) -> int:
    return len(class_names["semantic" if task == "semantic_segmentation" else "action"])


def _empty_metrics() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in METRIC_COLUMNS.items()})


METRIC_COLUMNS = {"variant": "str", "task": "str", "protocol": "str", "label_fraction": "float64",
                  "pretrain_seed": "int64", "seed": "int64", "num_train_sequences": "int64", "lr": "float64",
                  "metric": "str", "value": "float64"}


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
    """Every downstream run of the study grid for one variant, over every replicate.

    Replicate r = (pretraining seed, fine-tuning seed): the pretraining seeds are those of ``pretrained_encoders``
    (one state per seed, contract 3) or, for scratch variants, ``pretrain.seeds``; r seeds the label subset and the
    head's initialisation, so the runs of scratch and of every pretrained variant are paired. Only train / val /
    test sequences are read (never the unlabelled pool). Tasks the source cannot support (no labels or class names)
    and a fusion variant on a source without images are skipped with one log line.

    With ``finetune.lr_grid`` the full protocol's learning rate of each (task, label fraction) is chosen on the val
    split, on the first replicate, from the same grid for every variant; test is scored once per replicate.

    Returns:
        ``downstream_metrics`` (tidy rows: variant, task, protocol, label_fraction, pretrain_seed, seed,
        num_train_sequences, lr, metric, value; ``seconds`` is the run's wall time, ``loss@<step>`` /
        ``val_loss@<step>`` the loss curves every ``finetune.val_every`` steps), ``downstream_predictions`` of
        the showcase runs (``<task>__<sequence>``: ``pred``, plus ``gt`` for recognition) and ``downstream_models``
        (their state dicts and specs by task, read with ``training.predict.load_task_model``).
    """
    variant = Variant.from_dict(variant_name, variant_params)
    check_variant_name(variant, pretrain_params)
    study = StudyConfig.from_dict(study_params)
    config = FinetuneConfig.from_dict(finetune_params)
    runs = encoder_runs(pretrained_encoders) if pretrained_encoders is not None else None
    if runs is not None:
        model_config = ModelConfig.from_dict(runs[0]["model_config"])
    else:
        model_config = ModelConfig.from_dict(PretrainConfig.from_dict(pretrain_params).model)
    pretrain_seeds = [int(r.get("pretrain_seed", i)) for i, r in enumerate(runs)] if runs else \
        pretrain_seeds_of(pretrain_params)
    states = {seed: run for seed, run in zip(pretrain_seeds, runs, strict=True)} if runs else {}

    splits = sequence_index.set_index("sequence")["split"]
    train_all = sorted(splits.index[splits.isin(study.train_splits)])
    val = sorted(splits.index[splits == study.val_split])
    test = sorted(splits.index[splits == study.test_split])
    if not train_all or not test:
        raise ValueError(f"need training sequences in {study.train_splits} and test sequences in "
                         f"'{study.test_split}'; sequence_index has {splits.value_counts().to_dict()}")
    downstream = [*study.train_splits, study.val_split, study.test_split]
    reasons = supported_tasks(sequence_index, class_names, downstream)
    for task in dict.fromkeys(run["task"] for run in study.runs):
        if reasons.get(task):
            logger.info("%s: skipping %s — %s", variant.name, task, reasons[task])
    grid = study.grid(tasks=[t for t, r in reasons.items() if r is None])
    empty = (_empty_metrics(), {}, {"variant": variant.name, "model_config": _plain(model_config),
                                    "state_dicts": {}, "specs": {}})
    if variant.fusion:
        missing = images_missing(sequence_index, image_videos, downstream)
        if missing:
            logger.info("%s: skipping the variant — it fuses image features, but %d sequences (e.g. %s) have no "
                        "image video", variant.name, len(missing), missing[:3])
            return empty
    if "cross" in variant.name and variant.init != "scratch" and "has_images" in sequence_index \
            and not sequence_index["has_images"].astype(bool).any():
        logger.info("%s: skipping the variant — it is named cross-modal, but no sequence of this source has images, "
                    "so its pretraining had no image terms (define it as e.g. intra_only for this source)",
                    variant.name)
        return empty
    if not grid:
        logger.info("%s: no runs left for this source", variant.name)
        return empty
    names = [*train_all, *val, *test]  # contract 1: the unlabelled pool is never loaded here
    videos = {name: materialise(point_cloud_videos[name]) for name in names}
    images = {name: materialise(image_videos[name]) for name in names} if variant.fusion else None
    showcase = {"protocol": "full", "label_fraction": None, "seed": study.seeds[0], "pretrain_seed": pretrain_seeds[0],
                **study.showcase}
    cell_reps = {cell: replicates(pretrain_seeds, study.seeds_of(*cell)) for cell in grid}
    rows, predictions, models, specs = [], {}, {}, {}
    caches: dict[tuple, dict] = {}  # frozen features shared by linear runs with identical encoders and windows
    progress = tqdm(total=sum(map(len, cell_reps.values())), desc=variant.name, unit="run",
                    disable=not config.progress)
    for task, protocol, fraction in grid:
        reps = cell_reps[(task, protocol, fraction)]
        run_config = config.for_fraction(fraction)  # the full protocol's step budget at this label fraction
        lr, selection = _select_lr(task, protocol, fraction, videos, images, train_all, val, class_names,
                                   model_config, states, variant, run_config, reps[0])
        rows += [_row(variant, task, protocol, fraction, reps[0], 0, lr, f"val_{HEADLINE[task]}@lr={c}", v)
                 for c, v in selection.items()]
        for replicate in reps:
            train = pick_label_fraction(train_all, fraction, replicate)
            state = states.get(replicate[0]) if variant.init != "scratch" else None
            kind = ("clips" if task == "action_recognition" else
                    "pixels" if variant.fusion and task == "semantic_segmentation" else "windows")
            cache = caches.setdefault((kind, replicate[0] if state is not None else replicate), {})
            tick = time.perf_counter()
            scores, preds, history, model = run_downstream(
                task, protocol, videos, images, train, test, _num_classes(class_names, task), model_config,
                state, variant.fusion, run_config, replicate, cache=cache, lr=lr if protocol == "full" else None,
                val_names=val or None,
            )
            scores = {**scores, "seconds": time.perf_counter() - tick, "final_loss": float(history["loss"].iloc[-1]),
                      "steps": float(len(history))}
            if "val_loss" in history:  # the loss curves (convergence check), every finetune.val_every steps
                curve = history.dropna(subset=["val_loss"])
                scores["final_val_loss"] = float(curve["val_loss"].iloc[-1])
                scores |= {f"val_loss@{int(r.step) + 1}": float(r.val_loss) for r in curve.itertuples()}
                scores |= {f"loss@{int(r.step) + 1}": float(r.loss) for r in curve.itertuples()}
            rows += [_row(variant, task, protocol, fraction, replicate, len(train), lr, m, v)
                     for m, v in scores.items()]
            if (protocol, replicate[1], replicate[0]) == (showcase["protocol"], showcase["seed"],
                                                          showcase["pretrain_seed"]) and (
                showcase["label_fraction"] is None or np.isclose(fraction, showcase["label_fraction"])
            ):  # the last matching run of a task wins: with label_fraction None, its largest fraction
                predictions.update(_prediction_partitions(task, preds))
                models[task] = {k: v.cpu() for k, v in model.state_dict().items()}
                specs[task] = spec_dict(model.spec)
            logger.info("%s %s/%s frac=%.2f replicate=%s lr=%g: %s", variant.name, task, protocol, fraction,
                        replicate, lr, {k: round(v, 1) for k, v in scores.items() if not k.startswith("iou_")})
            progress.update()
    progress.close()
    return pd.DataFrame(rows).astype(METRIC_COLUMNS), predictions, {
        "variant": variant.name, "model_config": _plain(model_config), "state_dicts": models, "specs": specs}


def _row(variant: Variant, task: str, protocol: str, fraction: float, replicate: tuple[int, int], count: int,
         lr: float, metric: str, value: float) -> dict[str, Any]:
    return {"variant": variant.name, "task": task, "protocol": protocol, "label_fraction": fraction,
            "pretrain_seed": replicate[0], "seed": replicate[1], "num_train_sequences": count, "lr": lr,
            "metric": metric, "value": float(value)}


def _select_lr(task: str, protocol: str, fraction: float, videos: dict[str, Arrays], images: dict | None,
               train_all: list[str], val: list[str], class_names: dict, model_config: ModelConfig,
               states: dict[int, dict], variant: Variant, config: FinetuneConfig,
               replicate: tuple[int, int]) -> tuple[float, dict[float, float]]:
    """The full protocol's learning rate: the best of ``finetune.lr_grid`` on the val split (first replicate).

    Returns the chosen rate and the val headline metric of every candidate (empty when there is nothing to choose).
    """
    if protocol != "full":
        return config.linear_lr, {}
    if len(config.lr_grid) < 2 or not val:
        return (config.lr_grid[0] if config.lr_grid else config.lr), {}
    train = pick_label_fraction(train_all, fraction, replicate)
    state = states.get(replicate[0]) if variant.init != "scratch" else None
    quiet = dataclasses.replace(config, val_every=0)
    selection = {}
    for lr in config.lr_grid:
        scores, *_ = run_downstream(task, protocol, videos, images, train, val, _num_classes(class_names, task),
                                    model_config, state, variant.fusion, quiet, replicate, lr=lr)
        selection[float(lr)] = scores[HEADLINE[task]]
    best = max(selection, key=lambda lr: (selection[lr], -lr))
    logger.info("%s %s frac=%.2f: lr %g chosen on val %s", variant.name, task, fraction, best,
                {k: round(v, 1) for k, v in selection.items()})
    return best, selection


def _prediction_partitions(task: str, preds: dict[str, Any]) -> dict[str, Arrays]:
    if task == "action_recognition":
        return {task: {"pred": preds["pred"].astype(np.int16), "gt": preds["gt"].astype(np.int16)}}
    return {f"{task}__{name}": {"pred": pred.astype(np.int16)} for name, pred in preds.items()}


def _plain(config: ModelConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def finetune_variant_from_scratch(*args: Any, **kwargs: Any) -> tuple[pd.DataFrame, dict[str, Arrays], dict]:
    """:func:`finetune_variant` without pretrained encoders (``scratch`` and ``fusion`` variants)."""
    return finetune_variant(None, *args, **kwargs)
