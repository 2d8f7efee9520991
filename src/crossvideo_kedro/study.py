"""The study design: variants, tasks, protocols, label fractions and seeds, read from ``parameters_evaluate.yml``.

The pipeline registry builds one Kedro namespace per variant from :func:`load_variants`, so a new variant is a
parameter entry, not code.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from crossvideo_kedro.configs import PretrainConfig, StudyConfig, Variant, parse
from crossvideo_kedro.framework.build_parameters import load_build_parameters

def carve_val(train: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, val) of a split without val: ``max(1, round(fraction * len(train)))`` of the training sequences,
    the first of ``np.random.default_rng([seed, 19]).permutation`` of their sorted names, become val; at least one
    sequence stays in train (a single training sequence gives no val)."""
    names = sorted(train)
    count = min(max(1, round(fraction * len(names))), len(names) - 1)
    order = np.random.default_rng([seed, 19]).permutation(len(names))
    val = sorted(names[i] for i in order[:count])
    return [n for n in names if n not in set(val)], val


def replicates(pretrain_seeds: Iterable[int], finetune_seeds: Iterable[int]) -> list[tuple[int, int]]:
    """Replicates r = (pretraining seed, fine-tuning seed): r seeds the label subset and the head's initialisation,
    so scratch and every pretrained variant are paired per replicate."""
    return [(int(p), int(f)) for p in pretrain_seeds for f in finetune_seeds]


def pretrain_seeds_of(pretrain_params: dict[str, Any]) -> list[int]:
    """``pretrain.seeds`` (contract 3); its one default is :class:`crossvideo_kedro.configs.PretrainConfig`'s."""
    return list(parse(PretrainConfig, pretrain_params, "pretrain").seeds)


CROSS_TERMS = ("cross_video", "cross_frame")


def check_variant_name(variant: Variant, pretrain_params: dict[str, Any]) -> None:
    """Names say what variants are: one whose name mentions ``cross`` must train a cross-modal term.

    ``init: pretrained`` reads the ``pretrain`` pipeline's weights (``pretrain.loss.weights``); ``init: pretrain``
    its own ``weights``. Raises ``ValueError`` (with what to do) when every cross-modal weight is zero.
    """
    if "cross" not in variant.name or variant.init == "scratch":
        return
    weights = variant.weights if variant.init == "pretrain" else pretrain_params.get("loss", {}).get("weights", {})
    if not any(float(weights.get(term, 0) or 0) > 0 for term in CROSS_TERMS):
        source = f"evaluate.variants.{variant.name}.weights" if variant.init == "pretrain" else "pretrain.loss.weights"
        raise ValueError(f"variant {variant.name!r} has no cross-modal term ({source}: {list(CROSS_TERMS)} are 0), "
                         "so it would silently mean intra-modal pretraining: rename it (e.g. intra_only) or give a "
                         "cross-modal weight > 0 (a depth-only source cannot train cross-modal terms)")


TASK_NEEDS = {"action_segmentation": ("has_frame_labels", "action"),
              "action_recognition": ("has_frame_labels", "action"),
              "semantic_segmentation": ("has_point_labels", "semantic")}


def supported_tasks(sequence_index: Any, class_names: dict[str, Any], splits: Iterable[str]) -> dict[str, str | None]:
    """Per task: ``None`` when this source supports it, else the reason it does not (for one log line).

    A task needs labels (``has_frame_labels`` / ``has_point_labels`` of ``sequence_index``) on some sequence of
    ``splits`` and the matching class names (``class_names.action`` / ``class_names.semantic``).
    """
    rows = sequence_index[sequence_index["split"].isin(list(splits))]
    reasons: dict[str, str | None] = {}
    for task, (column, key) in TASK_NEEDS.items():
        if column in rows and not bool(rows[column].any()):
            reasons[task] = f"no sequence has {column.removeprefix('has_')}"
        elif not (class_names or {}).get(key):
            reasons[task] = f"the source names no {key} classes (class_names.{key})"
        else:
            reasons[task] = None
    return reasons


def images_missing(sequence_index: Any, image_videos: Iterable[str], splits: Iterable[str]) -> list[str]:
    """Sequences of ``splits`` without an image video (``has_images`` false, or no partition)."""
    rows = sequence_index[sequence_index["split"].isin(list(splits))]
    have = set(image_videos)
    no_flag = set(rows.loc[~rows["has_images"].astype(bool), "sequence"]) if "has_images" in rows else set()
    return sorted(no_flag | (set(rows["sequence"]) - have))


def load_study_parameters(conf_source: str | Path | None = None, env: str | None = None) -> dict[str, Any]:
    """The ``evaluate`` parameters (the study's namespaces are built from them); see :func:`load_build_parameters`."""
    return load_build_parameters("evaluate", conf_source, env)


def variants_of(study_params: dict[str, Any]) -> list[Variant]:
    """The selected variants of ``evaluate`` parameters (``include``), validated, in their configured order."""
    if not study_params:
        return []
    study = parse(StudyConfig, study_params, "evaluate")
    return [study.variant(name) for name in study.selected_variants()]


def load_variants(conf_source: str | Path | None = None, env: str | None = None) -> list[Variant]:
    """The study's selected variants as configured (``evaluate.variants`` filtered by ``evaluate.include``)."""
    return variants_of(load_study_parameters(conf_source, env))
