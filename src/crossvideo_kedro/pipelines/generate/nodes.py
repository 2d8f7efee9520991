"""Nodes of the ``generate`` pipeline."""

from __future__ import annotations

import logging
from typing import Any

from crossvideo_kedro.sequences import RawSequence
from crossvideo_kedro.synth import GeneratorConfig, generate_sequences

logger = logging.getLogger(__name__)


def generate_raw_sequences(params: dict[str, Any]) -> dict[str, RawSequence]:
    """Render the synthetic hand–object RGB-D videos described by the ``generate`` parameters.

    Args:
        params: ``generate`` parameters (see :class:`crossvideo_kedro.synth.GeneratorConfig`).

    Returns:
        ``{sequence name: RawSequence}``, saved by the catalog in the HOI4D raw layout.
    """
    sequences = generate_sequences(GeneratorConfig.from_dict(params))
    logger.info("generated %d sequences, %d frames", len(sequences), sum(s.num_frames for s in sequences.values()))
    return sequences
