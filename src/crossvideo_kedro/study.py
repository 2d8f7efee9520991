"""The study design: variants, tasks, protocols, label fractions and seeds, read from ``parameters_evaluate.yml``.

The pipeline registry builds one Kedro namespace per variant from :func:`load_variants`, so a new variant is a
parameter entry, not code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crossvideo_kedro.config import check_keys
from crossvideo_kedro.framework.build_parameters import load_build_parameters
from crossvideo_kedro.training.finetune import PROTOCOLS
from crossvideo_kedro.training.tasks import TASKS

INITS = ("scratch", "pretrained", "pretrain")
LOSS_TERMS = ("intra_video", "intra_frame", "cross_video", "cross_frame", "image_intra_video", "image_intra_frame",
              "cross_dense")


@dataclass(frozen=True)
class Variant:
    """One row of the ablation study.

    init: ``scratch`` (random encoder), ``pretrained`` (the ``pretrain`` pipeline's encoders) or ``pretrain``
    (its own pretraining with the base ``pretrain`` parameters and these loss ``weights``).
    fusion: train point + image encoders together with labels (the "simply fusing" baseline).
    """

    name: str
    init: str = "scratch"
    weights: dict = field(default_factory=dict)
    fusion: bool = False

    @classmethod
    def from_dict(cls, name: str, params: dict[str, Any]) -> Variant:
        where = f"evaluate.variants.{name}"
        check_keys(cls, params, where, exclude=("name",))
        variant = cls(name=name, **(params or {}))
        if variant.init not in INITS:
            raise ValueError(f"{where}.init must be one of {INITS}, got {variant.init!r}")
        bad = sorted(set(variant.weights) - set(LOSS_TERMS))
        if bad:
            raise ValueError(f"{where}.weights has unknown term(s) {bad}; terms are {LOSS_TERMS}")
        if variant.init == "pretrain" and not any(w > 0 for w in variant.weights.values()):
            raise ValueError(f"{where}: init 'pretrain' needs at least one positive loss weight")
        if not name.isidentifier():
            raise ValueError(f"variant name {name!r} must be a Python identifier (it becomes a Kedro namespace)")
        return variant


@dataclass(frozen=True)
class StudyConfig:
    """Parameters of ``evaluate`` (key ``evaluate``): which downstream runs make the study.

    Selection (so an environment or ``--params`` can shrink a study that parameters merge deeply into):
    ``include`` lists the variants that run (``None``: every variant defined in ``variants``); ``tasks`` keeps only
    the runs of these tasks (``None``: all); ``label_fractions`` replaces the fractions of every run (``None``: as
    listed in ``runs``).
    """

    variants: dict = field(default_factory=dict)
    include: tuple[str, ...] | None = None
    runs: list = field(default_factory=list)  # [{task, protocol, label_fractions[, seeds]}] — the grid
    tasks: tuple[str, ...] | None = None
    label_fractions: tuple[float, ...] | None = None
    seeds: tuple[int, ...] = (0,)  # fine-tuning seeds; replicates = pretraining seeds x these
    test_split: str = "test"
    val_split: str = "val"  # where the fine-tuning learning rate is chosen (finetune.lr_grid)
    train_splits: tuple[str, ...] = ("train",)
    showcase: dict = field(default_factory=dict)  # which run's predictions/models are kept for plots
    plots: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, params: dict[str, Any], prefix: str = "evaluate") -> StudyConfig:
        params = dict(params)
        for key in ("seeds", "train_splits", "include", "tasks", "label_fractions"):
            if params.get(key) is not None:
                params[key] = _as_tuple(params[key], float if key == "label_fractions" else
                                        int if key == "seeds" else str)
        check_keys(cls, params, prefix)
        config = cls(**params)
        for i, run in enumerate(config.runs):
            if not {"task", "protocol", "label_fractions"} <= set(run) <= {"task", "protocol", "label_fractions",
                                                                           "seeds"}:
                raise ValueError(f"{prefix}.runs[{i}] needs task, protocol, label_fractions (and optionally seeds); "
                                 f"got {sorted(run)}")
            if "seeds" in run:
                seeds = run["seeds"]
                if not isinstance(seeds, list | tuple) or not seeds or len(set(seeds)) != len(seeds) or not all(
                        isinstance(x, int) and not isinstance(x, bool) for x in seeds):
                    raise ValueError(f"{prefix}.runs[{i}].seeds must be a non-empty list of distinct integers "
                                     f"(fine-tuning seeds of these runs), got {seeds!r}")
            if run["task"] not in TASKS:
                raise ValueError(f"{prefix}.runs[{i}].task must be one of {TASKS}, got {run['task']!r}")
            if run["protocol"] not in PROTOCOLS:
                raise ValueError(f"{prefix}.runs[{i}].protocol must be one of {PROTOCOLS}, got {run['protocol']!r}")
            if not run["label_fractions"] or not all(0 < f <= 1 for f in run["label_fractions"]):
                raise ValueError(f"{prefix}.runs[{i}].label_fractions must be fractions in (0, 1]")
        if config.include is not None:
            unknown = sorted(set(config.include) - set(config.variants))
            if unknown:
                raise ValueError(f"{prefix}.include names undefined variant(s) {unknown}; "
                                 f"defined: {sorted(config.variants)}")
        if config.tasks is not None and not set(config.tasks) <= set(TASKS):
            raise ValueError(f"{prefix}.tasks must be a subset of {TASKS}, got {list(config.tasks)}")
        if config.label_fractions is not None and not all(0 < f <= 1 for f in config.label_fractions):
            raise ValueError(f"{prefix}.label_fractions must be fractions in (0, 1], "
                             f"got {list(config.label_fractions)}")
        if not config.seeds:
            raise ValueError(f"{prefix}.seeds must not be empty")
        return config

    def selected_variants(self) -> list[str]:
        """The names of the variants that run, in their configured order."""
        return [name for name in self.variants if self.include is None or name in self.include]

    def grid(self, tasks: Iterable[str] | None = None) -> list[tuple[str, str, float]]:
        """Every (task, protocol, label fraction) cell of the study, in a fixed order (replicates come on top).

        ``tasks`` further restricts the tasks (what the data supports).
        """
        keep = [t for t in TASKS if (self.tasks is None or t in self.tasks) and (tasks is None or t in tasks)]
        cells = []
        for run in self.runs:
            if run["task"] not in keep:
                continue
            cells += [(run["task"], run["protocol"], float(f)) for f in self._fractions(run)]
        return list(dict.fromkeys(cells))

    def seeds_of(self, task: str, protocol: str, fraction: float) -> tuple[int, ...]:
        """The fine-tuning seeds of a grid cell: its run entry's ``seeds`` (the first entry listing the cell), else
        ``evaluate.seeds`` — so replicates can be added where runs are cheap and noise is largest (low labels)."""
        for run in self.runs:
            if (run["task"], run["protocol"]) == (task, protocol) and any(
                    np.isclose(fraction, f) for f in self._fractions(run)):
                return tuple(int(x) for x in run.get("seeds", self.seeds))
        return tuple(self.seeds)

    def _fractions(self, run: dict[str, Any]) -> Iterable[float]:
        """A run entry's label fractions, or ``evaluate.label_fractions`` where that replaces them."""
        return self.label_fractions if self.label_fractions is not None else run["label_fractions"]


def _as_tuple(value: Any, kind: type) -> tuple:
    """A list, a single value, or a string of values separated by spaces or '+' (what ``--params`` can pass:
    Kedro splits ``--params`` on commas, so ``--params "evaluate.include=scratch crossvideo"``) → tuple."""
    if isinstance(value, str):
        parts = value.replace("+", " ").split()
        return tuple(kind(p) for p in parts) if kind is not str else tuple(parts)
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def replicates(pretrain_seeds: Iterable[int], finetune_seeds: Iterable[int]) -> list[tuple[int, int]]:
    """Replicates r = (pretraining seed, fine-tuning seed): r seeds the label subset and the head's initialisation,
    so scratch and every pretrained variant are paired per replicate."""
    return [(int(p), int(f)) for p in pretrain_seeds for f in finetune_seeds]


def pretrain_seeds_of(pretrain_params: dict[str, Any]) -> list[int]:
    """``pretrain.seeds`` (contract 3), else the single ``pretrain.seed`` (default 0)."""
    seeds = pretrain_params.get("seeds")
    if seeds is None:
        return [int(pretrain_params.get("seed", 0))]
    seeds = [int(s) for s in (seeds if isinstance(seeds, list | tuple) else [seeds])]
    if not seeds:
        raise ValueError("pretrain.seeds must not be empty")
    return seeds


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
    names = StudyConfig.from_dict(study_params).selected_variants() if study_params else []
    return [Variant.from_dict(name, study_params["variants"][name]) for name in names]


def load_variants(conf_source: str | Path | None = None, env: str | None = None) -> list[Variant]:
    """The study's selected variants as configured (``evaluate.variants`` filtered by ``evaluate.include``)."""
    return variants_of(load_study_parameters(conf_source, env))
