"""Every parameter block a pipeline consumes, validated before its first node runs.

One table maps a ``params:<key>`` input to the config class that owns it; each block goes through the generic,
annotation-driven :func:`crossvideo_kedro.config.check_keys` (unknown keys, types, NaN, ranges) and then the class's
own ``from_dict`` (cross-field rules). Problems of all blocks are reported together.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from crossvideo_kedro.config import check_keys

logger = logging.getLogger(__name__)


def _generate(params: Any, prefix: str) -> None:
    from crossvideo_kedro.synth.config import GeneratorConfig  # noqa: PLC0415 - imports stay lazy (no cycles)

    check_keys(GeneratorConfig, params, prefix)
    GeneratorConfig.from_dict(params, prefix)


def _ingest(params: Any, prefix: str) -> None:
    from crossvideo_kedro.preprocess import IngestConfig  # noqa: PLC0415

    IngestConfig.from_dict(params, prefix)


def _augment(params: Any, prefix: str) -> None:
    from crossvideo_kedro.augment import AugmentConfig  # noqa: PLC0415

    AugmentConfig.from_dict(params, prefix)


def _pretrain(params: Any, prefix: str) -> None:
    from crossvideo_kedro.losses import CrossVideoLoss  # noqa: PLC0415
    from crossvideo_kedro.models.presets import ModelConfig  # noqa: PLC0415
    from crossvideo_kedro.training.pretrain import PretrainConfig  # noqa: PLC0415

    params = params if isinstance(params, Mapping) else {}
    problems = _collect(
        lambda: check_keys(PretrainConfig, params, prefix),
        lambda: _checkpoint_keys(params.get("checkpoint"), f"{prefix}.checkpoint"),
        lambda: _nested(lambda: ModelConfig.from_dict(params.get("model")), f"{prefix}.model"),
        lambda: _nested(lambda: CrossVideoLoss(**(params.get("loss") or {})), f"{prefix}.loss"),
    )
    if problems:
        raise ValueError("; ".join(problems))
    PretrainConfig.from_dict(params, prefix)


def _checkpoint_keys(params: Any, prefix: str) -> None:
    from crossvideo_kedro.training.pretrain import CheckpointConfig  # noqa: PLC0415

    check_keys(CheckpointConfig, params, prefix)


def _collect(*checks: Callable[[], Any]) -> list[str]:
    """Run every check; the messages of those that raise, without repeats."""
    problems: list[str] = []
    for check in checks:
        try:
            check()
        except (TypeError, ValueError) as error:
            if str(error) not in problems:
                problems.append(str(error))
    return problems


def _finetune(params: Any, prefix: str) -> None:
    from crossvideo_kedro.training.finetune import FinetuneConfig  # noqa: PLC0415

    FinetuneConfig.from_dict(params, prefix)


def _evaluate(params: Any, prefix: str) -> None:
    from crossvideo_kedro.study import StudyConfig, Variant  # noqa: PLC0415

    config = StudyConfig.from_dict(params, prefix)
    for name, variant in (config.variants or {}).items():
        Variant.from_dict(name, variant)


def _variant(params: Any, prefix: str) -> None:
    from crossvideo_kedro.study import Variant  # noqa: PLC0415

    Variant.from_dict(prefix.rsplit(".", 1)[-1], params)


def _nested(build: Callable[[], Any], prefix: str) -> None:
    try:
        build()
    except (TypeError, ValueError) as error:
        message = str(error)
        raise ValueError(message if message.startswith(prefix.split(".")[0]) else f"{prefix}: {message}") from error


# params:<key> -> validator(params, prefix). Keys not listed (user additions) are passed through unchecked.
VALIDATORS: dict[str, Callable[[Any, str], None]] = {
    "generate": _generate,
    "ingest": _ingest,
    "augment": _augment,
    "pretrain": _pretrain,
    "finetune": _finetune,
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
