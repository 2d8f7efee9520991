"""One synthetic RGB-D hand–object interaction video per (seed, index): layout → motion → render → sensor.

Randomness: ``numpy.random.SeedSequence([seed, index])`` spawns independent streams for the layout, the motion, the
depth sensor and the colour sensor, so changing one part (e.g. the object category) leaves the others' draws alone.
Categories are balanced: every block of ``len(categories)`` consecutive indices holds each category once, in an order
drawn from (seed, block).
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from typing import Any

import numpy as np

from crossvideo_kedro.sequences import RawSequence
from crossvideo_kedro.synth.actions import MotionContext, initial_state, plan_events, plan_motion, sample_plan
from crossvideo_kedro.synth.config import GeneratorConfig
from crossvideo_kedro.synth.hand import PALM_SIZE, hand_meshes, hand_part_poses
from crossvideo_kedro.synth.render import GBuffer, Renderer
from crossvideo_kedro.synth.scene import LABEL, Layout, Part, sample_layout
from crossvideo_kedro.synth.sensor import sensor_color, sensor_depth
from crossvideo_kedro.synth.shading import albedo, shade
from crossvideo_kedro.workers import process_pool

logger = logging.getLogger(__name__)

GENERATOR_NAME = "crossvideo_kedro.synth"
GENERATOR_VERSION = "1.0"
_GRASP_CLEARANCE = 0.006  # palm above the object's top when grasping, metres
_CATEGORY_STREAM = 0xCA7E  # keeps the category order's seed apart from the sequences' seeds
_CHUNK = 8  # frames shaded at a time (8 × 160×120×3 float32 ≈ 1.8 MB)


def sequence_name(index: int) -> str:
    return f"seq_{index:04d}"


def sequence_category(config: GeneratorConfig, index: int) -> str:
    """Category of sequence ``index``: a (seed, block)-drawn permutation, so every block of K indices has all K."""
    names = list(config.categories)
    block, slot = divmod(index, len(names))
    order = np.random.default_rng([config.seed, _CATEGORY_STREAM, block]).permutation(len(names))
    return names[int(order[slot])]


def generate_sequence(config: GeneratorConfig, index: int, category: str | None = None) -> RawSequence:
    """Render sequence ``index`` of the data set described by ``config``.

    Args:
        config: Validated generator parameters.
        index: Sequence index (>= 0); with ``config.seed`` it fixes every random draw.
        category: Force the object category (default: the balanced assignment of :func:`sequence_category`).
            The geometry, motion and noise do not depend on it — only the object's shape and look do.

    Returns:
        A validated :class:`RawSequence` named ``seq_<index>``: depth float32 (T, H, W) metres (0 = no depth),
        color uint8 (T, H, W, 3), labels int16 (T, H, W), back-to-back events covering the video.
    """
    if not isinstance(index, int | np.integer) or index < 0:
        raise ValueError(f"index must be an integer >= 0, got {index!r}")
    category = sequence_category(config, index) if category is None else category
    if category not in config.categories:
        raise ValueError(f"category {category!r} is not one of generate.categories {list(config.categories)}")
    layout_rng, motion_rng, depth_rng, color_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([config.seed, int(index)]).spawn(4)
    )
    layout = sample_layout(config, layout_rng, category)
    dropout_rate = float(layout_rng.uniform(*config.sensor.dropout))

    plan, motion = _sample_motion(config, layout, motion_rng)

    parts, part_to_world = _assemble(layout, motion.hand_pose, motion.flexion, motion.object_pose)
    part_to_camera = layout.extrinsics[:, None] @ part_to_world  # (T, P, 4, 4)
    renderer = Renderer([p.shape for p in parts], np.asarray(config.intrinsics), config.width, config.height)
    gbuffer = renderer.render(part_to_camera)

    color = _colorize(gbuffer, parts, part_to_camera, layout, config, color_rng)
    depth = sensor_depth(gbuffer.depth, config.sensor, dropout_rate, depth_rng)
    label_of_part = np.array([p.label for p in parts] + [LABEL["background"]], dtype=np.int16)
    labels = label_of_part[gbuffer.part]  # (T, H, W); part −1 (nothing hit) takes the last entry: background

    meta = {
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "seed": config.seed, "index": int(index)},
        **layout.info,
        "dropout_rate": round(dropout_rate, 5),
        "num_triangles": renderer.num_triangles,
        "frame_actions": motion.action.tolist(),
        "table_planes": _table_planes(layout.extrinsics).round(6).tolist(),
    }
    sequence = RawSequence(
        name=sequence_name(int(index)),
        depth=depth,
        intrinsics=np.asarray(config.intrinsics, dtype=np.float64),
        fps=float(config.fps),
        color=color,
        labels=labels,
        events=plan_events(plan, config.fps),
        action_classes=list(config.action_classes),
        semantic_classes=config.semantic_classes,
        source="generated",
        meta=meta,
    )
    logger.debug("%s: %s, %d events, %.0f%% of rays cast", sequence.name, category, len(sequence.events),
                 100 * gbuffer.cast_fraction)
    return sequence.validate()


def _sample_motion(config: GeneratorConfig, layout: Layout, rng: np.random.Generator) -> tuple[Any, Any]:
    """The action plan and the hand/object motion that carries it out, drawn from ``rng`` in that order."""
    plan = sample_plan(config, rng)
    context = MotionContext(
        motion=config.motion,
        centre=np.zeros(2),
        grasp_z=layout.object_mesh.top + PALM_SIZE[2] * layout.hand_scale / 2 + _GRASP_CLEARANCE,
        approach_yaw=layout.approach_yaw,
    )
    start = initial_state(rng, context, layout.object_start, layout.object_yaw)
    return plan, plan_motion(plan, list(config.action_classes), start, context, rng)


def generate_sequences(config: GeneratorConfig, first_index: int = 0) -> dict[str, RawSequence]:
    """All ``config.num_sequences`` sequences, ``{"seq_0000": …}``, rendered in ``config.num_workers`` processes.

    The result does not depend on ``num_workers``: each sequence has its own random streams. Everything is held in
    memory; :func:`stream_sequences` renders the same sequences on demand instead (bounded memory).

    Args:
        config: Validated generator parameters.
        first_index: Generator index of the first sequence (the unlabelled pool starts at
            :data:`~crossvideo_kedro.synth.config.POOL_FIRST_INDEX`, so its streams never repeat a labelled one's).
    """
    return {name: loader() for name, loader in stream_sequences(config, first_index).items()}


def stream_sequences(config: GeneratorConfig, first_index: int = 0,
                     window: int | None = None) -> dict[str, Callable[[], RawSequence]]:
    """``{"seq_0000": loader, …}``: each loader returns its sequence, rendered in worker processes just ahead of use.

    Kedro's lazy-saving convention (a partitioned dataset calls each value when it writes it): a dataset that writes
    the sequences one by one in name order holds at most ``window`` of them in memory (plus the one being
    written), while ``config.num_workers`` processes render the next ones. Called in any order, or twice, a loader
    still returns its sequence (rendered again when it is no longer queued). Same sequences as
    :func:`generate_sequences`, whatever the window or number of workers.

    Args:
        config: Validated generator parameters.
        first_index: Generator index of the first sequence.
        window: Sequences rendered ahead of the one asked for (default: ``2 * num_workers``).
    """
    indices = list(range(first_index, first_index + config.num_sequences))
    stream = _SequenceStream(config, indices, window)
    return {sequence_name(index): partial(stream.get, position) for position, index in enumerate(indices)}


class _SequenceStream:
    """Renders ``indices`` in a process pool, at most ``window`` ahead of the position last asked for."""

    def __init__(self, config: GeneratorConfig, indices: list[int], window: int | None) -> None:
        self._config = config
        self._indices = indices
        self._workers = min(config.num_workers, len(indices), os.cpu_count() or 1)
        self._window = max(1, window if window is not None else 2 * self._workers)
        self._futures: dict[int, Future] = {}
        self._submitted = 0  # positions [0, _submitted) were queued once
        self._delivered = 0
        self._executor: ProcessPoolExecutor | None = None
        self._started = 0.0
        self._frames = 0

    def get(self, position: int) -> RawSequence:
        self._started = self._started or time.perf_counter()
        if self._workers <= 1:
            sequence = generate_sequence(self._config, self._indices[position])
        else:
            if self._executor is None:
                # spawn, not fork: Open3D/TBB state in the parent does not survive a fork reliably; the workers
                # exit when this process dies (killed or not)
                self._executor = process_pool(self._workers, context="spawn")
                weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True)
            while self._submitted < min(len(self._indices), position + 1 + self._window):
                index = self._indices[self._submitted]
                self._futures[self._submitted] = self._executor.submit(generate_sequence, self._config, index)
                self._submitted += 1
            future = self._futures.pop(position, None)
            sequence = future.result() if future is not None else generate_sequence(self._config,
                                                                                    self._indices[position])
        self._delivered += 1
        self._frames += sequence.num_frames
        if self._delivered == len(self._indices):
            self._finish()
        return sequence

    def _finish(self) -> None:
        if self._executor is not None and not self._futures:
            self._executor.shutdown()
            self._executor = None
        elapsed = time.perf_counter() - self._started
        logger.info("Generated %d sequences (%d frames, %dx%d) in %.1f s (%.0f frames/s, %d worker(s))",
                    len(self._indices), self._frames, self._config.width, self._config.height, elapsed,
                    self._frames / max(elapsed, 1e-9), self._workers)


def _assemble(layout: Layout, hand_pose: np.ndarray, flexion: np.ndarray,
              object_pose: np.ndarray) -> tuple[list[Part], np.ndarray]:
    """All rigid parts and their world poses per frame.

    Returns:
        ``(parts, part_to_world)`` with part_to_world (T, P, 4, 4); order: table, distractors, object, hand.
    """
    num_frames = hand_pose.shape[0]
    names, meshes = hand_meshes(layout.hand_scale)
    hand_parts = [Part(n, m, LABEL["hand"], layout.hand_appearance) for n, m in zip(names, meshes, strict=True)]
    obj = Part(layout.category, layout.object_mesh, layout.category_id, layout.object_appearance)
    parts = [*layout.static_parts, obj, *hand_parts]
    static = np.broadcast_to(layout.static_poses, (num_frames, *layout.static_poses.shape))  # (T, S, 4, 4)
    hand = hand_part_poses(hand_pose, flexion, layout.finger_gains, layout.hand_scale)  # (T, 16, 4, 4)
    return parts, np.concatenate([static, object_pose[:, None], hand], axis=1)


def _colorize(gbuffer: GBuffer, parts: list[Part], part_to_camera: np.ndarray, layout: Layout,
              config: GeneratorConfig, rng: np.random.Generator) -> np.ndarray:
    """uint8 (T, H, W, 3) colour video: albedo → shading → sensor noise, in chunks of frames that stay in cache."""
    appearances = [p.appearance for p in parts]
    num_frames, height, width = gbuffer.depth.shape
    color = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for start in range(0, num_frames, _CHUNK):
        frames = slice(start, min(start + _CHUNK, num_frames))
        chunk = gbuffer.frames(frames)
        base = albedo(chunk, appearances, part_to_camera[frames], layout.lighting.tint)
        linear = shade(chunk, base, layout.lighting.frames(frames), layout.extrinsics[frames])
        color[frames] = sensor_color(linear, config.sensor, rng)
    return color


def _table_planes(extrinsics: np.ndarray) -> np.ndarray:
    """(T, 4) table-top plane ``n · x + d = 0`` in each frame's camera coordinates (n: unit normal, up)."""
    normal = extrinsics[:, :3, 2]  # world z axis in camera coordinates
    offset = -np.einsum("ti,ti->t", normal, extrinsics[:, :3, 3])  # plane z = 0 passes through the world origin
    return np.concatenate([normal, offset[:, None]], axis=1)

