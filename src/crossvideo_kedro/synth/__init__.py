"""Built-in generator of synthetic RGB-D hand–object interaction videos (the project's default data).

A table, 1–3 distractor primitives, one manipulated object from a configurable set of categories (some share a
shape and differ in colour/texture, others share a look and differ in shape) and an articulated hand that performs
actions from a grammar (rest, reach, grasp, lift, carry, place, release, retract, push, rotate), seen by a slowly
orbiting RGB-D camera with sensor-like depth noise and holes. Rendered on the CPU with Open3D ray casting.

Usage::

    from crossvideo_kedro.configs import GeneratorConfig, parse
    from crossvideo_kedro.synth import generate_sequence, generate_sequences, stream_sequences

    config = parse(GeneratorConfig, params, "generate")  # strict: unknown key or bad value -> ValueError
    sequence = generate_sequence(config, 0)  # RawSequence, deterministic for (config.seed, index)
    sequences = generate_sequences(config)  # {"seq_0000": RawSequence, ...}
    loaders = stream_sequences(config)  # {"seq_0000": loader, ...}: rendered on demand, bounded memory

Modules: ``config`` (parameters), ``shapes`` (meshes), ``hand`` (articulated hand), ``actions`` (grammar and motion
primitives), ``scene`` (layout, camera, lights), ``render`` (ray casting), ``shading`` (albedo, textures, Lambert),
``sensor`` (depth noise and holes, colour noise), ``generator`` (putting it together).
"""

from crossvideo_kedro.synth.config import GeneratorConfig
from crossvideo_kedro.synth.generator import (
    GENERATOR_VERSION,
    generate_sequence,
    generate_sequences,
    sequence_category,
    stream_sequences,
)

__all__ = ["GENERATOR_VERSION", "GeneratorConfig", "generate_sequence", "generate_sequences", "sequence_category",
           "stream_sequences"]
