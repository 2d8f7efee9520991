"""Every parameter block a pipeline consumes, validated before its first node runs.

One table maps a ``params:<key>`` input to the model of :mod:`crossvideo_kedro.configs` that owns it;
:func:`crossvideo_kedro.configs.parse` checks unknown keys, types, NaN, ranges and cross-field rules and names the
full key (``pretrain.model.point.radius``). Problems of all blocks are reported together, one line each.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from crossvideo_kedro import configs
from crossvideo_kedro.configs.evaluate import variant_of

logger = logging.getLogger(__name__)


def _evaluate(params: Any, prefix: str) -> None:
    study = configs.parse(configs.StudyConfig, params, prefix)
    for name in study.variants:
        study.variant(name)


def _variant(params: Any, prefix: str) -> None:
    variant_of(prefix.rsplit(".", 1)[-1], params)


def _model(model: type[configs.Config]) -> Callable[[Any, str], None]:
    return lambda params, prefix: configs.parse(model, params, prefix) and None


# params:<key> -> validator(params, prefix). Keys not listed (user additions) are passed through unchecked.
VALIDATORS: dict[str, Callable[[Any, str], None]] = {
    "generate": _model(configs.GeneratorConfig),
    "ingest": _model(configs.IngestConfig),
    "augment": _model(configs.AugmentConfig),
    "pretrain": _model(configs.PretrainConfig),
    "finetune": _model(configs.FinetuneConfig),
    "evaluate": _evaluate,
}


def validator_for(key: str) -> Callable[[Any, str], None] | None:
    if key in VALIDATORS:
        return VALIDATORS[key]
    if key.startswith("evaluate.variants.") and key.count(".") == 2:
        return _variant
    return None


def parameter_keys(inputs: Iterable[str]) -> list[str]:
    """The ``<key>`` of every ``params:<key>`` among a pipeline's inputs, sorted."""
    return sorted({name.removeprefix("params:") for name in inputs if name.startswith("params:")})


def validate_parameters(blocks: Mapping[str, Any]) -> list[str]:
    """Validate ``{key: parameters}``; returns one message per invalid block (empty when all are valid)."""
    problems = []
    for key in sorted(blocks):
        validate = validator_for(key)
        if validate is None:
            logger.debug("params:%s has no config class; not validated", key)
            continue
        try:
            validate(blocks[key], key)
        except (TypeError, ValueError) as error:
            problems.append(str(error))
    return problems


def _dotted(params: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``{"a": {"b": 1}}`` -> ``["a.b"]``: the keys as ``--params`` spells them."""
    keys = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        keys += _dotted(value, f"{name}.") if isinstance(value, Mapping) and value else [name]
    return keys


def unknown_blocks(given: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """One message per ``--params`` key whose block (the part before the first dot) no configuration defines.

    ``given``: the ``--params`` (``{"ingets.num_points": 8}`` or nested ``{"ingets": {...}}``); ``known``: the top-level
    parameter blocks of the configuration (base + env). A near miss is named: ``did you mean 'ingest'?``.
    """
    known = sorted(set(known))
    problems = []
    for key in sorted(set(_dotted(given))):
        block = str(key).split(".", 1)[0]
        if block in known:
            continue
        close = difflib.get_close_matches(block, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"parameter blocks are {known}"
        problems.append(f"--params {key}: no parameter block {block!r} ({hint})")
    return problems
