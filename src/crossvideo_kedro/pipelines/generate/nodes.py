"""Nodes of the ``generate`` pipeline."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.sequences import RawSequence
from crossvideo_kedro.synth import GeneratorConfig, stream_sequences
from crossvideo_kedro.synth.config import POOL_FIRST_INDEX

logger = logging.getLogger(__name__)

POOL_PREFIX = "pool_"


Loaders = dict[str, Callable[[], RawSequence]]


def generate_raw_sequences(params: dict[str, Any]) -> Loaders:
    """Render the labelled synthetic hand–object RGB-D videos described by the ``generate`` parameters.

    Args:
        params: ``generate`` parameters (see :class:`crossvideo_kedro.synth.GeneratorConfig`).

    Returns:
        ``{"seq_0000": loader, ...}``: each loader renders its :class:`RawSequence` when called (Kedro's lazy
        saving), so the catalog (``generated_sequences``, HOI4D raw layout) writes them one by one while the
        generator's workers render the next few — the data set is never in memory at once.
    """
    return stream_sequences(parse(GeneratorConfig, params, "generate"))


def generate_unlabelled_sequences(params: dict[str, Any]) -> Loaders:
    """Render the unlabelled pretraining pool (``generate.unlabelled``): same generator, own seed, lower fps.

    The pool is rendered at ``unlabelled.fps`` (ingest's target rate, 7.5 fps by default: half the frames of the
    labelled videos for the same 6 s). Its sequences are saved without labels or events: they are unlabelled
    pretraining data, named ``pool_0000``… so they never collide with the labelled ``seq_0000``….

    Returns:
        ``{"pool_0000": loader, ...}`` rendering on demand like :func:`generate_raw_sequences` (empty when
        ``unlabelled.num_sequences`` is 0), saved as ``generated_unlabelled_sequences``.
    """
    config = parse(GeneratorConfig, params, "generate")
    if config.unlabelled.num_sequences == 0:
        logger.info("generate.unlabelled.num_sequences is 0: no unlabelled pool")
        return {}
    pool = stream_sequences(config.pool_config(), first_index=POOL_FIRST_INDEX)
    logger.info("an unlabelled pool of %d sequences at %.1f fps", len(pool), config.unlabelled.fps)
    return {f"{POOL_PREFIX}{index:04d}": partial(_unlabelled, pool[name], f"{POOL_PREFIX}{index:04d}")
            for index, name in enumerate(sorted(pool))}


def _unlabelled(loader: Callable[[], RawSequence], name: str) -> RawSequence:
    return dataclasses.replace(loader(), name=name, labels=None, events=[])
