"""Nodes of the ``generate`` pipeline."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from crossvideo_kedro.sequences import RawSequence
from crossvideo_kedro.synth import GeneratorConfig, generate_sequences
from crossvideo_kedro.synth.config import POOL_FIRST_INDEX

logger = logging.getLogger(__name__)

POOL_PREFIX = "pool_"


def generate_raw_sequences(params: dict[str, Any]) -> dict[str, RawSequence]:
    """Render the labelled synthetic hand–object RGB-D videos described by the ``generate`` parameters.

    Args:
        params: ``generate`` parameters (see :class:`crossvideo_kedro.synth.GeneratorConfig`).

    Returns:
        ``{"seq_0000": RawSequence, ...}``, saved by the catalog (``generated_sequences``) in the HOI4D raw layout.
    """
    sequences = generate_sequences(GeneratorConfig.from_dict(params))
    logger.info("generated %d sequences, %d frames", len(sequences), sum(s.num_frames for s in sequences.values()))
    return sequences


def generate_unlabelled_sequences(params: dict[str, Any]) -> dict[str, RawSequence]:
    """Render the unlabelled pretraining pool (``generate.unlabelled``): same generator, own seed, lower fps.

    The pool is rendered at ``unlabelled.fps`` (ingest's target rate, 7.5 fps by default: half the frames of the
    labelled videos for the same 6 s). Its sequences are saved without labels or events: they are unlabelled
    pretraining data, named ``pool_0000``… so they never collide with the labelled ``seq_0000``….

    Returns:
        ``{"pool_0000": RawSequence, ...}`` (empty when ``unlabelled.num_sequences`` is 0), saved as
        ``generated_unlabelled_sequences``.
    """
    config = GeneratorConfig.from_dict(params)
    if config.unlabelled.num_sequences == 0:
        logger.info("generate.unlabelled.num_sequences is 0: no unlabelled pool")
        return {}
    pool = generate_sequences(config.pool_config(), first_index=POOL_FIRST_INDEX)
    sequences = {}
    for index, sequence in enumerate(pool[name] for name in sorted(pool)):
        name = f"{POOL_PREFIX}{index:04d}"
        sequences[name] = dataclasses.replace(sequence, name=name, labels=None, events=[])
    logger.info("generated an unlabelled pool of %d sequences, %d frames at %.1f fps", len(sequences),
                sum(s.num_frames for s in sequences.values()), config.unlabelled.fps)
    return sequences
