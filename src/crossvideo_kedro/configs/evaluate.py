"""``evaluate`` (``conf/base/parameters_evaluate.yml``): the study — variants, runs, label fractions and seeds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from crossvideo_kedro.configs.base import Bool, Config, Int, Num, Str, expected, parse
from crossvideo_kedro.configs.finetune import TASKS, Protocol, Task
from crossvideo_kedro.configs.pretrain import Seed, Term, Weight, distinct_seeds, known_terms

Init = Literal["scratch", "pretrained", "pretrain"]
Fraction = Annotated[Num, Field(gt=0, le=1)]


def _close(a: float, b: float) -> bool:
    """``numpy.isclose(a, b)`` with its default tolerances (rtol 1e-5, atol 1e-8)."""
    return abs(a - b) <= 1e-8 + 1e-5 * abs(b)


def as_tuple(value: Any, kind: type) -> Any:
    """A list, a single value, or a string of values separated by spaces or '+' (what ``--params`` can pass:
    Kedro splits ``--params`` on commas, so ``--params "evaluate.include=scratch crossvideo"``) → tuple."""
    if isinstance(value, str):
        parts = value.replace("+", " ").split()
        try:
            return tuple(kind(p) for p in parts) if kind is not str else tuple(parts)
        except ValueError:
            return value  # not numbers: the field's type check names it
    return tuple(value) if isinstance(value, list | tuple) else (value,) if value is not None else None


class Variant(Config):
    """One row of the ablation study (``evaluate.variants.<name>``).

    init: ``scratch`` (random encoder), ``pretrained`` (the ``pretrain`` pipeline's encoders) or ``pretrain``
    (its own pretraining with the base ``pretrain`` parameters and these loss ``weights``).
    fusion: train point + image encoders together with labels (the "simply fusing" baseline).
    """

    name: Str  # the key under ``evaluate.variants`` (a Kedro namespace)
    init: Init = "scratch"
    weights: dict[Term, Weight] = {}  # init pretrain: pretrain.loss.weights of its own pretraining
    fusion: Bool = False

    _terms = field_validator("weights", mode="before")(known_terms)

    @model_validator(mode="after")
    def _trains_something(self) -> Variant:
        if self.init == "pretrain" and not any(w > 0 for w in self.weights.values()):
            raise ValueError(": init 'pretrain' needs at least one positive loss weight")
        if not self.name.isidentifier():
            raise ValueError(f": variant name {self.name!r} must be a Python identifier (it becomes a Kedro "
                             "namespace)")
        return self


class Run(Config):
    """One entry of ``evaluate.runs``: a task, a protocol, its label fractions and optionally its own seeds."""

    task: Task
    protocol: Protocol
    label_fractions: tuple[Fraction, ...] = expected("fractions in (0, 1]", min_length=1)
    seeds: tuple[Seed, ...] | None = expected("a non-empty list of distinct integers (fine-tuning seeds of these "
                                              "runs)", default=None)

    @model_validator(mode="before")
    @classmethod
    def _complete(cls, data: Any) -> Any:
        if isinstance(data, dict) and not {"task", "protocol", "label_fractions"} <= set(data) <= set(cls.model_fields):
            raise ValueError(f" needs task, protocol, label_fractions (and optionally seeds); got {sorted(data)}")
        return data

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return None if value is None else distinct_seeds(value)


class StudyConfig(Config):
    """Parameters of ``evaluate`` (key ``evaluate``): which downstream runs make the study.

    Selection (so an environment or ``--params`` can shrink a study that parameters merge deeply into):
    ``include`` lists the variants that run (``None``: every variant defined in ``variants``); ``tasks`` keeps only
    the runs of these tasks (``None``: all); ``label_fractions`` replaces the fractions of every run (``None``: as
    listed in ``runs``).
    """

    variants: dict[Str, dict[Str, Any] | None] = {}  # name -> Variant fields
    include: tuple[Str, ...] | None = None
    runs: list[Run] = []  # [{task, protocol, label_fractions[, seeds]}] — the grid
    tasks: tuple[Str, ...] | None = None
    label_fractions: tuple[Fraction, ...] | None = expected("fractions in (0, 1]", default=None)
    seeds: tuple[Seed, ...] = Field((0,), min_length=1)  # fine-tuning seeds; replicates = pretraining seeds x these
    test_split: Str = "test"
    val_split: Str = "val"  # where the fine-tuning learning rate is chosen (finetune.lr_grid)
    val_from_train: Num | None = expected("a fraction in (0, 1) or null", default=None, gt=0, lt=1)  # val_split
    # empty: this share of the training sequences becomes val (study.carve_val)
    val_seed: Int = 0  # seeds which training sequences val_from_train takes
    train_splits: tuple[Str, ...] = ("train",)
    showcase: dict[Str, Any] = {}  # which run's predictions/models are kept for plots
    plots: dict[Str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _tuples(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kinds = {"seeds": int, "train_splits": str, "include": str, "tasks": str, "label_fractions": float}
        return {**data, **{k: as_tuple(data[k], kind) for k, kind in kinds.items() if data.get(k) is not None}}

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not set(value) <= set(TASKS):
            raise ValueError(f" must be a subset of {TASKS}, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _included(self) -> StudyConfig:
        unknown = sorted(set(self.include or ()) - set(self.variants))
        if unknown:
            raise ValueError(f".include names undefined variant(s) {unknown}; defined: {sorted(self.variants)}")
        return self

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
            if run.task in keep:
                cells += [(run.task, run.protocol, float(f)) for f in self._fractions(run)]
        return list(dict.fromkeys(cells))

    def seeds_of(self, task: str, protocol: str, fraction: float) -> tuple[int, ...]:
        """The fine-tuning seeds of a grid cell: its run entry's ``seeds`` (the first entry listing the cell), else
        ``evaluate.seeds`` — so replicates can be added where runs are cheap and noise is largest (low labels)."""
        for run in self.runs:
            if (run.task, run.protocol) == (task, protocol) and any(_close(fraction, f) for f in self._fractions(run)):
                return tuple(int(x) for x in (run.seeds if run.seeds is not None else self.seeds))
        return tuple(self.seeds)

    def _fractions(self, run: Run) -> tuple[float, ...]:
        """A run entry's label fractions, or ``evaluate.label_fractions`` where that replaces them."""
        return self.label_fractions if self.label_fractions is not None else run.label_fractions

    def variant(self, name: str) -> Variant:
        """The variant ``name`` (a ``ValueError`` naming ``evaluate.variants.<name>.<key>`` when it is bad)."""
        return variant_of(name, self.variants[name])


def variant_of(name: str, params: dict[str, Any] | None) -> Variant:
    """The variant ``evaluate.variants.<name>`` from its parameters (its name is its key)."""
    return parse(Variant, {**(params or {}), "name": name}, f"evaluate.variants.{name}")
