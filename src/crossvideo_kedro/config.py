"""Strict parameter parsing shared by the config dataclasses: one mechanism, driven by the dataclass annotations.

``check_keys(cls, params, prefix)`` (what every ``from_dict`` calls first) refuses

* keys ``cls`` has no field for (a misspelt key fails loudly, naming itself);
* values whose type does not match the field's annotation: ``int`` fields refuse ``2.5``, ``"abc"`` and booleans;
  ``float`` fields refuse strings, booleans, NaN and infinities; ``bool`` fields refuse ``1`` and ``"yes"``;
  ``tuple[int, ...]`` / ``list[str]`` / ``dict[str, float]`` check every element; ``Literal[...]`` the options;
  ``X | None`` accepts null; a field typed as a nested dataclass takes a mapping checked the same way;
* values outside the field's range: ``field(metadata={"min": 1})`` on the field, or a row of :data:`RANGES` here
  (keyed by class name, so config classes need no edit to gain a range).

Every message names ``<prefix>.<key>``, the value and what is expected.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, Literal, get_args, get_origin, get_type_hints

# Ranges of fields, by config class name: {"min"/"max": inclusive bound, "gt"/"lt": exclusive bound}.
# A range applies to a number and to every number inside a tuple/list value.
RANGES: dict[str, dict[str, dict[str, float]]] = {
    "PretrainConfig": {
        "seed": {"min": 0}, "epochs": {"min": 1}, "steps": {"min": 1}, "batch_size": {"min": 2},
        "lr": {"gt": 0}, "weight_decay": {"min": 0}, "momentum": {"min": 0, "max": 1}, "warmup_steps": {"min": 0},
        "min_lr_ratio": {"min": 0, "max": 1}, "grad_clip": {"min": 0}, "num_threads": {"min": 1},
        "embed_clip_frames": {"min": 1}, "embed_batch_size": {"min": 1}, "seeds": {"min": 0},
    },
    "CheckpointConfig": {"every_steps": {"min": 1}, "keep": {"min": 1}},
    "FinetuneConfig": {
        "epochs": {"min": 1}, "steps": {"min": 1}, "linear_epochs": {"min": 1}, "min_steps": {"min": 0},
        "batch_size": {"min": 1}, "lr": {"gt": 0}, "encoder_lr_ratio": {"min": 0}, "weight_decay": {"min": 0},
        "warmup_steps": {"min": 0}, "min_lr_ratio": {"min": 0, "max": 1}, "grad_clip": {"min": 0},
        "clip_frames": {"min": 1}, "temporal_kernel": {"min": 1}, "eval_batch_size": {"min": 1},
        "workers": {"min": 1}, "num_threads": {"min": 1},
    },
    "IngestConfig": {
        "num_points": {"min": 1}, "fps_pool": {"min": 1}, "min_depth": {"min": 0}, "max_depth": {"gt": 0},
        "frame_step": {"min": 1}, "target_fps": {"gt": 0}, "max_frames": {"min": 1}, "image_size": {"min": 8},
        "seed": {"min": 0}, "num_workers": {"min": 1}, "chunk_frames": {"min": 1},
    },
    "AugmentConfig": {
        "seed": {"min": 0}, "clip_frames": {"min": 1}, "clip_span": {"min": 1}, "clip_stride": {"min": 1},
        "frame_steps": {"min": 1}, "pairs_per_clip": {"min": 1},
    },
    "GeometricConfig": {"rotation_deg": {"min": 0, "max": 180}, "up_axis": {"min": 0, "max": 2},
                        "scale": {"gt": 0}, "translation": {"min": 0}, "jitter_std": {"min": 0},
                        "dropout": {"min": 0, "lt": 1}},
    "ImageAugConfig": {"crop_scale": {"gt": 0, "max": 1}, "brightness": {"min": 0, "max": 1},
                       "contrast": {"min": 0, "max": 1}, "saturation": {"min": 0, "max": 1},
                       "flip_prob": {"min": 0, "max": 1}},
    "GeneratorConfig": {
        "seed": {"min": 0}, "num_sequences": {"min": 1}, "num_frames": {"min": 2}, "fps": {"gt": 0},
        "width": {"min": 16}, "height": {"min": 16}, "hfov_deg": {"gt": 0, "lt": 180}, "num_workers": {"min": 1},
    },
    "StudyConfig": {"seeds": {"min": 0}},
}

_BOUNDS = {"min": (">=", lambda v, b: v >= b), "max": ("<=", lambda v, b: v <= b),
           "gt": (">", lambda v, b: v > b), "lt": ("<", lambda v, b: v < b)}


def check_keys(cls: type, params: dict[str, Any] | None, prefix: str, exclude: tuple[str, ...] = ()) -> None:
    """Refuse unknown keys, values of the wrong type and values out of range, naming ``<prefix>.<key>``.

    Raises:
        ValueError: one message listing every problem found (not only the first).
    """
    if params is not None and not isinstance(params, Mapping):
        raise ValueError(f"{prefix} must be a mapping of {sorted(f.name for f in fields(cls))}, got {params!r}")
    problems = list(_problems(cls, params or {}, prefix, exclude))
    if problems:
        raise ValueError("; ".join(problems))


def _problems(cls: type, params: Mapping[str, Any], prefix: str, exclude: tuple[str, ...] = ()) -> list[str]:
    known = {f.name for f in fields(cls)} - set(exclude)
    unknown = sorted(set(params) - known)
    problems = []
    if unknown:
        hints_ = [f" ({k!r}: did you mean {close[0]!r}?)" for k in unknown
                  if (close := difflib.get_close_matches(str(k), known, n=1))]
        problems.append(f"unknown parameter(s) {[f'{prefix}.{k}' for k in unknown]}{''.join(hints_)}; "
                        f"expected {sorted(known)}")
    try:
        hints = get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation we cannot resolve: check keys only
        hints = {}
    ranges = RANGES.get(cls.__name__, {})
    for f in fields(cls):
        if f.name not in params or f.name in exclude:
            continue
        key, value = f"{prefix}.{f.name}", params[f.name]
        if f.name in hints:
            problem = _type_problem(key, value, hints[f.name])
            if problem:
                problems.append(problem)
                continue
            if is_dataclass(_strip_optional(hints[f.name])) and isinstance(value, Mapping):
                problems.extend(_problems(_strip_optional(hints[f.name]), value, key))
                continue
        bounds = {**ranges.get(f.name, {}), **{k: v for k, v in f.metadata.items() if k in _BOUNDS}}
        problem = _range_problem(key, value, bounds)
        if problem:
            problems.append(problem)
    return problems


def _strip_optional(hint: Any) -> Any:
    if get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _describe(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if hint is int:
        return "an integer"
    if hint is float:
        return "a finite number"
    if hint is bool:
        return "true or false"
    if hint is str:
        return "a string"
    if origin is Literal:
        return f"one of {list(args)}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin in (tuple, list) or hint in (tuple, list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} values ({', '.join(_describe(a) for a in args)})"
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin is dict or hint is dict or (isinstance(hint, type) and is_dataclass(hint)):
        return "a mapping"
    return str(hint)


def _plural(hint: Any) -> str:
    """What a list of ``hint`` holds: "integers", "finite numbers", "values that are each one of [...]"."""
    named = {int: "integers", float: "finite numbers", bool: "true/false values", str: "strings"}
    return named.get(hint) or f"values that are each {_describe(hint)}"


def _type_problem(key: str, value: Any, hint: Any) -> str | None:  # noqa: PLR0911, PLR0912 - one case per kind
    """``None`` if ``value`` fits ``hint``, else a message naming the key, the value and what is expected."""
    bad = f"{key} must be {_describe(hint)}, got {value!r}"
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any or hint is object:
        return None
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return None if any(_type_problem(key, value, a) is None for a in options) else bad
    if origin is Literal:
        return None if value in args else bad
    if hint is bool:
        return None if isinstance(value, bool) else bad
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else bad
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else bad
    if hint is str:
        return None if isinstance(value, str) else bad
    if origin in (tuple, list) or hint in (tuple, list):
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, tuple | list):
            element = args[0] if args and (origin is not tuple or args[-1] is Ellipsis) else None
            if element is not None and _type_problem(key, value, element) is None:
                return f"{bad}: a single value is written as a list, e.g. {key}=[{value!r}]"
            return bad
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                return bad
            items = zip(value, args, strict=True)
        else:
            items = ((item, args[0]) for item in value) if args else ()
        for i, (item, item_hint) in enumerate(items):
            problem = _type_problem(f"{key}[{i}]", item, item_hint)
            if problem:
                return problem
        return None
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            return bad
        if len(args) == 2:
            for k, item in value.items():
                problem = _type_problem(f"{key}.{k}", item, args[1])
                if problem:
                    return problem
        return None
    if isinstance(hint, type) and is_dataclass(hint):
        return None if isinstance(value, Mapping | hint) else bad
    return None  # an annotation this checker does not know: the class's own checks apply


def _range_problem(key: str, value: Any, bounds: dict[str, float]) -> str | None:
    if not bounds or value is None:
        return None
    numbers = list(value) if isinstance(value, tuple | list) else [value]
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int | float):
            continue
        for name, bound in bounds.items():
            symbol, holds = _BOUNDS[name]
            if not holds(number, bound):
                expected = " and ".join(f"{_BOUNDS[n][0]} {b:g}" for n, b in bounds.items())
                return f"{key} must be {expected}, got {value!r}"
    return None

