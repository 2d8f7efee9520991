"""The study runner: every downstream run of one variant, over the study grid and its replicates.

Replicate r = (pretraining seed, fine-tuning seed): the pretraining seeds are those of the variant's encoder states
(one per seed, contract 3) or, for scratch variants, ``pretrain.seeds``; r seeds the label subset and the head's
initialisation, so the runs of scratch and of every pretrained variant are paired.

1. :func:`plan_variant` reads the parameters and the data's index into a :class:`VariantPlan` (the grid left
   after unsupported tasks and variants are skipped, with one log line each).
2. :func:`run_variant` describes every run once as a :class:`~crossvideo_kedro.training.run_executor.DownstreamRun`
   and executes them on the executor that ``finetune.executor`` / ``finetune.workers`` name: with
   ``finetune.lr_grid`` the full protocol's learning rate of each (task, label fraction) is first chosen on the val
   split, on the first replicate; then every run is scored once on test.
3. The results become the tidy metrics table, the showcase predictions and models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from crossvideo_kedro.configs import FinetuneConfig, PretrainConfig, StudyConfig, Variant, parse
from crossvideo_kedro.configs.model import ModelConfig
from crossvideo_kedro.study import (
    carve_val,
    images_missing,
    pretrain_seeds_of,
    replicates,
    supported_tasks,
)
from crossvideo_kedro.training.finetune import HEADLINE, pick_label_fraction
from crossvideo_kedro.training.model import encoder_runs
from crossvideo_kedro.training.run_executor import (
    DownstreamRun,
    RunResult,
    Shared,
    assign_devices,
    map_groups,
    open_executor,
    resolve_workers,
    visible_devices,
)

logger = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
Cell = tuple[str, str, float]  # (task, protocol, label fraction)
METRIC_COLUMNS = {"variant": "str", "task": "str", "protocol": "str", "label_fraction": "float64",
                  "pretrain_seed": "int64", "seed": "int64", "num_train_sequences": "int64", "lr": "float64",
                  "metric": "str", "value": "float64"}


@dataclass(frozen=True)
class VariantPlan:
    """What one variant runs: its grid cells and replicates, on which sequences, from which encoder states."""

    variant: Variant
    study: StudyConfig
    config: FinetuneConfig
    model_config: ModelConfig
    states: dict[int, dict[str, Any]]  # pretraining seed -> encoder state (empty for scratch variants)
    pretrain_seeds: list[int]
    train: list[str]
    val: list[str]
    test: list[str]
    grid: list[Cell]  # empty: the variant is skipped on this source
    num_classes: dict[str, int]

    @property
    def names(self) -> list[str]:
        """The sequences the runs read (contract 1: never the unlabelled pool)."""
        return [*self.train, *self.val, *self.test]

    def replicates(self, cell: Cell) -> list[tuple[int, int]]:
        return replicates(self.pretrain_seeds, self.study.seeds_of(*cell))


@dataclass(frozen=True)
class PlannedRun:
    """One run of the test phase, with where its rows go in the metrics table."""

    cell: Cell
    replicate: tuple[int, int]
    lr: float
    run: DownstreamRun


# ------------------------------------------------------------------------------------------------ plan


def _encoders(pretrained_encoders: dict[str, Any] | None, pretrain_params: dict[str, Any]
              ) -> tuple[ModelConfig, list[int], dict[int, dict[str, Any]]]:
    """(model configuration, pretraining seeds, encoder state per seed) of a pretrained or scratch variant."""
    if pretrained_encoders is None:
        model = parse(PretrainConfig, pretrain_params, "pretrain").model
        return model, pretrain_seeds_of(pretrain_params), {}
    runs = encoder_runs(pretrained_encoders)
    seeds = [int(r.get("pretrain_seed", i)) for i, r in enumerate(runs)]
    return parse(ModelConfig, runs[0]["model_config"], "model"), seeds, dict(zip(seeds, runs, strict=True))


def _supported_grid(variant: Variant, study: StudyConfig, sequence_index: pd.DataFrame,
                    class_names: dict[str, list[str] | None], image_names: Sequence[str]) -> list[Cell]:
    """The cells this source supports; tasks and variants it cannot support are skipped with one log line."""
    downstream = [*study.train_splits, study.val_split, study.test_split]
    reasons = supported_tasks(sequence_index, class_names, downstream)
    for task in dict.fromkeys(run.task for run in study.runs):
        if reasons.get(task):
            logger.info("%s: skipping %s — %s", variant.name, task, reasons[task])
    if variant.fusion:
        missing = images_missing(sequence_index, image_names, downstream)
        if missing:
            logger.info("%s: skipping the variant — it fuses image features, but %d sequences (e.g. %s) have no "
                        "image video", variant.name, len(missing), missing[:3])
            return []
    if "cross" in variant.name and variant.init != "scratch" and "has_images" in sequence_index \
            and not sequence_index["has_images"].astype(bool).any():
        logger.info("%s: skipping the variant — it is named cross-modal, but no sequence of this source has images, "
                    "so its pretraining had no image terms (define it as e.g. intra_only for this source)",
                    variant.name)
        return []
    grid = study.grid(tasks=[t for t, r in reasons.items() if r is None])
    if not grid:
        logger.info("%s: no runs left for this source", variant.name)
    return grid


def plan_variant(variant: Variant, pretrained_encoders: dict[str, Any] | None, sequence_index: pd.DataFrame,
                 class_names: dict[str, list[str] | None], image_names: Sequence[str],
                 pretrain_params: dict[str, Any], finetune_params: dict[str, Any],
                 study_params: dict[str, Any]) -> VariantPlan:
    """The plan of one variant (``pretrained_encoders`` None: a scratch variant)."""
    study = parse(StudyConfig, study_params, "evaluate")
    config = parse(FinetuneConfig, finetune_params, "finetune")
    model_config, seeds, states = _encoders(pretrained_encoders, pretrain_params)
    splits = sequence_index.set_index("sequence")["split"]
    train = sorted(splits.index[splits.isin(study.train_splits)])
    test = sorted(splits.index[splits == study.test_split])
    if not train or not test:
        raise ValueError(f"need training sequences in {study.train_splits} and test sequences in "
                         f"'{study.test_split}'; sequence_index has {splits.value_counts().to_dict()}")
    num_classes = {task: len(class_names.get("semantic" if task == "semantic_segmentation" else "action") or [])
                   for task in HEADLINE}
    train, val = _train_and_val(variant.name, study, config, train, sorted(splits.index[splits == study.val_split]))
    return VariantPlan(variant, study, config, model_config, states, seeds, train, val, test,
                       _supported_grid(variant, study, sequence_index, class_names, image_names), num_classes)


def _train_and_val(name: str, study: StudyConfig, config: FinetuneConfig, train: list[str],
                   val: list[str]) -> tuple[list[str], list[str]]:
    """The training and val sequences: a split without val (most benchmarks) gets one carved from train with
    ``evaluate.val_from_train``, else the lr choice is skipped; either way one log line."""
    if val:
        return train, val
    if study.val_from_train is not None:
        train, val = carve_val(train, study.val_from_train, study.val_seed)
        logger.info("%s: no sequence is in split %r; %d of %d training sequences are val (evaluate.val_from_train "
                    "%g, val_seed %d)", name, study.val_split, len(val), len(train) + len(val), study.val_from_train,
                    study.val_seed)
    elif len(config.lr_grid) >= 2:
        logger.info("%s: no sequence is in split %r and evaluate.val_from_train is null: finetune.lr_grid is not "
                    "searched, every full run uses finetune.lr %g", name, study.val_split, config.lr)
    return train, val


# ------------------------------------------------------------------------------------------------ runs


def make_run(plan: VariantPlan, cell: Cell, replicate: tuple[int, int], on: Sequence[str], threads: int | None,
             quiet: bool, val_every: int | None = None, **kwargs: Any) -> DownstreamRun:
    """The run spec of ``cell`` for ``replicate``, scored on ``on`` (``kwargs``: lr, val, keep)."""
    task, protocol, fraction = cell
    config = plan.config.for_run(task, fraction)  # the full protocol's step budget of this task and fraction
    if val_every is not None:
        config = config.model_copy(update={"val_every": val_every})
    if quiet:
        config = config.model_copy(update={"progress": False})  # no per-run bars in workers or under the study's bar
    state = plan.states.get(replicate[0]) if plan.variant.init != "scratch" else None
    train = tuple(pick_label_fraction(plan.train, fraction, replicate))
    return DownstreamRun(task, protocol, train, tuple(on), plan.num_classes[task], state, config, replicate,
                         threads=threads, **kwargs)


def _lr_cells(plan: VariantPlan) -> list[Cell]:
    """Cells whose learning rate is chosen on val: the full protocol, with a grid of >= 2 and a val split."""
    return [cell for cell in plan.grid if cell[1] == "full" and len(plan.config.lr_grid) >= 2 and plan.val]


def choose_learning_rates(plan: VariantPlan, execute: Callable[[list[list[DownstreamRun]]], list[list[RunResult]]],
                          threads: int | None, quiet: bool) -> tuple[dict[Cell, float], list[dict[str, Any]]]:
    """Per full-protocol cell, the lr of ``finetune.lr_grid`` with the best val headline metric on the cell's first
    replicate (ties: the smaller lr), and the metric rows of every candidate (``val_<metric>@lr=<lr>``)."""
    cells, grid = _lr_cells(plan), plan.config.lr_grid
    groups = [[make_run(plan, cell, plan.replicates(cell)[0], plan.val, threads, quiet, val_every=0,
                        lr=float(lr)) for lr in grid] for cell in cells]
    # each candidate alone in its group (no shared cache between full runs), in the order cell x lr
    results = execute([[run] for group in groups for run in group])
    lrs: dict[Cell, float] = {}
    rows: list[dict[str, Any]] = []
    for n, cell in enumerate(cells):
        metric = HEADLINE[cell[0]]
        chosen = {float(lr): results[n * len(grid) + k][0].scores[metric] for k, lr in enumerate(grid)}
        lrs[cell] = max(chosen, key=lambda lr: (chosen[lr], -lr))
        logger.info("%s %s frac=%.2f: lr %g chosen on val %s", plan.variant.name, cell[0], cell[2], lrs[cell],
                    {k: round(v, 1) for k, v in chosen.items()})
        rows += [_row(plan, cell, plan.replicates(cell)[0], 0, lrs[cell], f"val_{metric}@lr={c}", v)
                 for c, v in chosen.items()]
    return lrs, rows


def _is_showcase(plan: VariantPlan, cell: Cell, replicate: tuple[int, int]) -> bool:
    showcase = {"protocol": "full", "label_fraction": None, "seed": plan.study.seeds[0],
                "pretrain_seed": plan.pretrain_seeds[0], **plan.study.showcase}
    return (cell[1], replicate[1], replicate[0]) == (showcase["protocol"], showcase["seed"],
                                                     showcase["pretrain_seed"]) and (
        showcase["label_fraction"] is None or bool(np.isclose(cell[2], showcase["label_fraction"])))


def plan_runs(plan: VariantPlan, lrs: dict[Cell, float], threads: int | None, quiet: bool) -> list[PlannedRun]:
    """Every test-phase run, in grid order then replicate order (the order of the metrics table)."""
    config, planned = plan.config, []
    for cell in plan.grid:
        lr = (lrs.get(cell, config.lr_grid[0] if config.lr_grid else config.lr) if cell[1] == "full"
              else config.linear_lr)
        for replicate in plan.replicates(cell):
            run = make_run(plan, cell, replicate, plan.test, threads, quiet, lr=lr if cell[1] == "full" else None,
                           val=tuple(plan.val) or None, keep=_is_showcase(plan, cell, replicate))
            planned.append(PlannedRun(cell, replicate, lr, run))
    return planned


def group_runs(plan: VariantPlan, planned: Sequence[PlannedRun], longest_first: bool) -> list[list[int]]:
    """Indices of ``planned`` in groups: the linear probes of one encoder and window kind share one group (and
    its frozen-feature cache); every full run is its own group. ``longest_first`` orders the groups by cost, so
    parallel workers finish together."""
    groups: dict[tuple, list[int]] = {}
    for n, p in enumerate(planned):
        task, protocol, _ = p.cell
        if protocol == "linear":
            kind = ("clips" if task == "action_recognition" else
                    "pixels" if plan.variant.fusion and task == "semantic_segmentation" else "windows")
            key: tuple = ("linear", kind, p.replicate[0] if p.run.state is not None else p.replicate)
        else:
            key = ("full", n)
        groups.setdefault(key, []).append(n)
    order = list(groups.values())
    if longest_first:
        order.sort(key=lambda ns: -sum(_cost(planned[n].run) for n in ns))
    return order


def _cost(run: DownstreamRun) -> float:
    """Rough relative cost of a run, to hand the long ones out first (whole sequences per step for action
    segmentation are ~2x the windows of a semantic segmentation step; a linear step is ~free)."""
    if run.protocol == "linear":
        return 0.05 * run.config.linear_steps
    return run.config.steps * (2.0 if run.task == "action_segmentation" else 1.0)


# ------------------------------------------------------------------------------------------------ execute


def run_variant(plan: VariantPlan, videos: dict[str, Arrays], images: dict[str, Arrays] | None,
                initializer: Callable[[], None] | None = None) -> tuple[pd.DataFrame, dict[str, Arrays], dict]:
    """Execute ``plan`` (``videos`` / ``images``: the sequences of ``plan.names``) on the configured executor.

    ``initializer`` runs first in every local worker process (e.g. to make it die with its parent).
    Returns the metrics table, the showcase predictions and the showcase models (see :func:`study_outputs`).
    """
    config = plan.config
    processes, threads = resolve_workers(config.workers, config.num_threads)
    if config.executor != "local":
        threads = config.num_threads or 1  # the cluster's workers decide how many runs at once
    devices = visible_devices(config.device)
    count = max(len(_lr_cells(plan)) * len(config.lr_grid), sum(len(plan.replicates(c)) for c in plan.grid))
    inline = config.executor == "local" and min(processes, count) <= 1
    shared = Shared(videos, images, plan.model_config, plan.variant.fusion)
    with open_executor(shared, config.executor, 1 if inline else processes, initializer) as (executor, ref):

        def execute(groups: list[list[DownstreamRun]], on_done: Callable | None = None) -> list[list[RunResult]]:
            return map_groups(executor, ref, assign_devices(groups, devices), on_done)

        lrs, rows = choose_learning_rates(plan, execute, threads, quiet=not inline)
        planned = plan_runs(plan, lrs, threads, quiet=not inline)
        results = _execute_planned(plan, planned, execute, longest_first=not inline)
    return study_outputs(plan, planned, results, rows)


def _execute_planned(plan: VariantPlan, planned: Sequence[PlannedRun], execute: Callable,
                     longest_first: bool) -> list[RunResult]:
    """The result of every planned run, in the order of ``planned``, with one progress bar and a log line a run."""
    order = group_runs(plan, planned, longest_first)
    progress = tqdm(total=len(planned), desc=plan.variant.name, unit="run", disable=not plan.config.progress)

    def done(g: int, results: list[RunResult]) -> None:
        for n, result in zip(order[g], results, strict=True):
            p = planned[n]
            logger.info("%s %s/%s frac=%.2f replicate=%s lr=%g: %s", plan.variant.name, *p.cell, p.replicate, p.lr,
                        {k: round(v, 1) for k, v in _scores(result).items() if not k.startswith("iou_")})
            progress.update()

    try:
        grouped = execute([[planned[n].run for n in ns] for ns in order], done)
    finally:
        progress.close()
    results = {n: result for ns, rs in zip(order, grouped, strict=True) for n, result in zip(ns, rs, strict=True)}
    return [results[n] for n in range(len(planned))]


# ------------------------------------------------------------------------------------------------ outputs


def study_outputs(plan: VariantPlan, planned: Sequence[PlannedRun], results: Sequence[RunResult],
                  rows: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, Arrays], dict[str, Any]]:
    """``downstream_metrics`` (``rows`` first, then every run's rows in grid order), ``downstream_predictions`` and
    ``downstream_models`` of the showcase runs (the last matching run of a task wins: with ``label_fraction`` None,
    its largest fraction)."""
    rows = list(rows)
    predictions: dict[str, Arrays] = {}
    models: dict[str, Any] = {"variant": plan.variant.name, "model_config": plan.model_config.model_dump(),
                              "state_dicts": {}, "specs": {}}
    for p, result in zip(planned, results, strict=True):
        rows += [_row(plan, p.cell, p.replicate, len(p.run.train), p.lr, m, v) for m, v in _scores(result).items()]
        if p.run.keep:
            predictions.update(_prediction_partitions(p.cell[0], result.predictions))
            models["state_dicts"][p.cell[0]] = result.state_dict
            models["specs"][p.cell[0]] = result.spec
    table = pd.DataFrame(rows).astype(METRIC_COLUMNS) if rows else \
        pd.DataFrame({c: pd.Series(dtype=t) for c, t in METRIC_COLUMNS.items()})
    return table, predictions, models


def _row(plan: VariantPlan, cell: Cell, replicate: tuple[int, int], count: int, lr: float, metric: str,
         value: float) -> dict[str, Any]:
    return {"variant": plan.variant.name, "task": cell[0], "protocol": cell[1], "label_fraction": cell[2],
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


def _prediction_partitions(task: str, preds: dict[str, Any]) -> dict[str, Arrays]:
    if task == "action_recognition":
        return {task: {"pred": preds["pred"].astype(np.int16), "gt": preds["gt"].astype(np.int16)}}
    return {f"{task}__{name}": {"pred": pred.astype(np.int16)} for name, pred in preds.items()}
