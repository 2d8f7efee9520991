"""The study design: variants, tasks, protocols, label fractions and seeds, read from ``parameters_evaluate.yml``.

The pipeline registry builds one Kedro namespace per variant from :func:`load_variants`, so a new variant is a
parameter entry, not code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossvideo_kedro.config import check_keys
from crossvideo_kedro.training.finetune import PROTOCOLS
from crossvideo_kedro.training.tasks import TASKS

INITS = ("scratch", "pretrained", "pretrain")
LOSS_TERMS = ("intra_video", "intra_frame", "cross_video", "cross_frame", "image_intra_video", "image_intra_frame")


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
    """Parameters of ``evaluate`` (key ``evaluate``): which downstream runs make the study."""

    variants: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)  # [{task, protocol, label_fractions}] — the grid
    seeds: tuple[int, ...] = (0, 1)
    test_split: str = "test"
    train_splits: tuple[str, ...] = ("train",)
    showcase: dict = field(default_factory=dict)  # which run's predictions/models are kept for plots
    plots: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, params: dict[str, Any], prefix: str = "evaluate") -> StudyConfig:
        check_keys(cls, params, prefix)
        params = dict(params)
        for key in ("seeds", "train_splits"):
            if key in params:
                params[key] = tuple(params[key])
        config = cls(**params)
        for i, run in enumerate(config.runs):
            if set(run) != {"task", "protocol", "label_fractions"}:
                raise ValueError(f"{prefix}.runs[{i}] needs exactly task, protocol, label_fractions; got {sorted(run)}")
            if run["task"] not in TASKS:
                raise ValueError(f"{prefix}.runs[{i}].task must be one of {TASKS}, got {run['task']!r}")
            if run["protocol"] not in PROTOCOLS:
                raise ValueError(f"{prefix}.runs[{i}].protocol must be one of {PROTOCOLS}, got {run['protocol']!r}")
            if not run["label_fractions"] or not all(0 < f <= 1 for f in run["label_fractions"]):
                raise ValueError(f"{prefix}.runs[{i}].label_fractions must be fractions in (0, 1]")
        if not config.seeds:
            raise ValueError(f"{prefix}.seeds must not be empty")
        return config

    def grid(self) -> list[tuple[str, str, float, int]]:
        """Every (task, protocol, label fraction, seed) of the study, in a fixed order."""
        return [(run["task"], run["protocol"], float(f), seed)
                for run in self.runs for f in run["label_fractions"] for seed in self.seeds]


def project_root() -> Path:
    """The Kedro project being run: the nearest folder at or above the working directory whose ``pyproject.toml``
    has a ``[tool.kedro]`` table (as ``kedro`` itself finds it), else the source checkout of this package."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.kedro]" in pyproject.read_text(encoding="utf-8"):
            return folder
    return Path(__file__).resolve().parents[2]


def load_study_parameters(conf_source: str | Path | None = None, env: str | None = None) -> dict[str, Any]:
    """The ``evaluate`` parameters, read with the project's config loader (pipelines are built from them).

    Pipelines are registered before ``--env`` reaches the config loader, so ``env`` defaults to ``$KEDRO_ENV``
    (which ``kedro run`` also reads): variants defined in an environment need ``KEDRO_ENV=<env> kedro run``.
    """
    import os  # noqa: PLC0415

    from kedro.framework.project import settings  # noqa: PLC0415

    if conf_source is None:
        conf_source = project_root() / settings.CONF_SOURCE
    env = env or os.environ.get("KEDRO_ENV")
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(conf_source), env=env, **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"].get("evaluate", {})


def variants_of(study_params: dict[str, Any]) -> list[Variant]:
    """The variants of ``evaluate`` parameters, validated, in their configured order."""
    return [Variant.from_dict(name, spec) for name, spec in study_params.get("variants", {}).items()]


def load_variants(conf_source: str | Path | None = None, env: str | None = None) -> list[Variant]:
    """The study's variants as configured (``evaluate.variants``)."""
    return variants_of(load_study_parameters(conf_source, env))
