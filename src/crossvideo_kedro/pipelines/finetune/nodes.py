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
from crossvideo_kedro.training.finetune import HEADLINE, FinetuneConfig, pick_label_fraction
from crossvideo_kedro.training.model import encoder_runs
from crossvideo_kedro.training.runpool import DownstreamRun, RunResult, Shared, quiet, run_groups
from crossvideo_kedro.training.pretrain import PretrainConfig, select_device

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
    shared = Shared(videos, images, model_config, variant.fusion)
    if config.workers > 1 and select_device(config.device).type != "cpu":
        config = dataclasses.replace(config, workers=1)  # one process owns the GPU
    pooled = config.workers > 1

    def make_run(task: str, protocol: str, fraction: float, replicate: tuple[int, int], on: list[str] = test,
                 val_every: int | None = None, **kw: Any) -> DownstreamRun:
        run_config = config.for_run(task, fraction)  # the full protocol's step budget of this task and fraction
        if val_every is not None:
            run_config = dataclasses.replace(run_config, val_every=val_every)
        state = states.get(replicate[0]) if variant.init != "scratch" else None
        train = tuple(pick_label_fraction(train_all, fraction, replicate))
        return DownstreamRun(task, protocol, train, tuple(on), _num_classes(class_names, task), state,
                             quiet(run_config) if pooled else run_config, replicate, **kw)

    # 1. learning rates chosen on val (full protocol, finetune.lr_grid, first replicate of each cell)
    choose = [cell for cell in grid if cell[1] == "full" and len(config.lr_grid) >= 2 and val]
    selected = run_groups([[make_run(*cell, cell_reps[cell][0], on=val, val_every=0, lr=float(lr))]
                           for cell in choose for lr in config.lr_grid], shared, config.workers, config.num_threads)
    lrs: dict[tuple, float] = {}
    rows, predictions, models, specs = [], {}, {}, {}
    for n, cell in enumerate(choose):
        chosen = {float(lr): selected[n * len(config.lr_grid) + k][0].scores[HEADLINE[cell[0]]]
                  for k, lr in enumerate(config.lr_grid)}
        lrs[cell] = max(chosen, key=lambda lr: (chosen[lr], -lr))
        logger.info("%s %s frac=%.2f: lr %g chosen on val %s", variant.name, cell[0], cell[2], lrs[cell],
                    {k: round(v, 1) for k, v in chosen.items()})
        rows += [_row(variant, cell[0], cell[1], cell[2], cell_reps[cell][0], 0, lrs[cell],
                      f"val_{HEADLINE[cell[0]]}@lr={c}", v) for c, v in chosen.items()]

    # 2. the study's runs, scored once on test; linear probes of one encoder share its frozen features (one group)
    planned: list[tuple[tuple, tuple[int, int], float, DownstreamRun]] = []
    for task, protocol, fraction in grid:
        lr = (lrs.get((task, protocol, fraction), config.lr_grid[0] if config.lr_grid else config.lr)
              if protocol == "full" else config.linear_lr)
        for replicate in cell_reps[(task, protocol, fraction)]:
            keep = (protocol, replicate[1], replicate[0]) == (showcase["protocol"], showcase["seed"],
                                                              showcase["pretrain_seed"]) and (
                showcase["label_fraction"] is None or bool(np.isclose(fraction, showcase["label_fraction"])))
            run = make_run(task, protocol, fraction, replicate, lr=lr if protocol == "full" else None,
                           val=tuple(val) or None, keep=keep)
            planned.append(((task, protocol, fraction), replicate, lr, run))
    groups: dict[tuple, list[int]] = {}
    for n, (cell, replicate, _, run) in enumerate(planned):
        if cell[1] == "linear":  # one cache per encoder and window kind (as one process would share it)
            kind = ("clips" if cell[0] == "action_recognition" else
                    "pixels" if variant.fusion and cell[0] == "semantic_segmentation" else "windows")
            key = ("linear", kind, replicate[0] if run.state is not None else replicate)
        else:
            key = ("full", n)
        groups.setdefault(key, []).append(n)
    # long runs first, so the workers finish together; the results come back in this order, whatever the workers
    order = sorted(groups.values(), key=lambda ns: -sum(_cost(planned[n][3]) for n in ns)) if pooled else \
        list(groups.values())
    progress = tqdm(total=len(planned), desc=variant.name, unit="run", disable=not config.progress)

    def done(g: int, results: list[RunResult]) -> None:
        for n, result in zip(order[g], results, strict=True):
            (task, protocol, fraction), replicate, lr, _ = planned[n]
            logger.info("%s %s/%s frac=%.2f replicate=%s lr=%g: %s", variant.name, task, protocol, fraction,
                        replicate, lr, {k: round(v, 1) for k, v in _scores(result).items() if not k.startswith("iou_")})
            progress.update()

    grouped = run_groups([[planned[n][3] for n in ns] for ns in order], shared, config.workers, config.num_threads,
                         on_done=done)
    progress.close()
    results = {n: result for ns, rs in zip(order, grouped, strict=True) for n, result in zip(ns, rs, strict=True)}
    for n, ((task, protocol, fraction), replicate, lr, run) in enumerate(planned):  # rows in grid order
        result = results[n]
        rows += [_row(variant, task, protocol, fraction, replicate, len(run.train), lr, m, v)
                 for m, v in _scores(result).items()]
        if run.keep:  # the last matching run of a task wins: with label_fraction None, its largest fraction
            predictions.update(_prediction_partitions(task, result.predictions))
            models[task] = result.state_dict
            specs[task] = result.spec
    return pd.DataFrame(rows).astype(METRIC_COLUMNS), predictions, {
        "variant": variant.name, "model_config": _plain(model_config), "state_dicts": models, "specs": specs}


def _row(variant: Variant, task: str, protocol: str, fraction: float, replicate: tuple[int, int], count: int,
         lr: float, metric: str, value: float) -> dict[str, Any]:
    return {"variant": variant.name, "task": task, "protocol": protocol, "label_fraction": fraction,
            "pretrain_seed": replicate[0], "seed": replicate[1], "num_train_sequences": count, "lr": lr,
            "metric": metric, "value": float(value)}


def _scores(result: RunResult) -> dict[str, float]:
    """A run's metric rows: its scores, wall seconds, final loss, steps and the loss curves (convergence check)."""
    history = result.history
    scores = {**result.scores, "seconds": result.seconds, "final_loss": float(history["loss"].iloc[-1]),
              "steps": float(len(history))}
    if "val_loss" in history:  # every finetune.val_every steps
        curve = history.dropna(subset=["val_loss"])
        scores["final_val_loss"] = float(curve["val_loss"].iloc[-1])
        scores |= {f"val_loss@{int(r.step) + 1}": float(r.val_loss) for r in curve.itertuples()}
        scores |= {f"loss@{int(r.step) + 1}": float(r.loss) for r in curve.itertuples()}
    return scores


def _cost(run: DownstreamRun) -> float:
    """Rough relative cost of a run, to hand the long ones out first (whole sequences per step for action
    segmentation are ~2x the windows of a semantic segmentation step; a linear step is ~free)."""
    if run.protocol == "linear":
        return 0.05 * run.config.linear_steps
    return run.config.steps * (2.0 if run.task == "action_segmentation" else 1.0)


def _prediction_partitions(task: str, preds: dict[str, Any]) -> dict[str, Arrays]:
    if task == "action_recognition":
        return {task: {"pred": preds["pred"].astype(np.int16), "gt": preds["gt"].astype(np.int16)}}
    return {f"{task}__{name}": {"pred": pred.astype(np.int16)} for name, pred in preds.items()}


def _plain(config: ModelConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def finetune_variant_from_scratch(*args: Any, **kwargs: Any) -> tuple[pd.DataFrame, dict[str, Arrays], dict]:
    """:func:`finetune_variant` without pretrained encoders (``scratch`` and ``fusion`` variants)."""
    return finetune_variant(None, *args, **kwargs)
