"""Per-sequence scene layout: table, distractors, the manipulated object, hand appearance, camera path and lights.

Everything is drawn from one generator in a fixed order that does not depend on the object category, so two
categories that share a shape give the same geometry for the same (seed, index) (see the shape-twin test).

World frame: ``z`` up, table top at ``z = 0``, workspace centre at the origin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from crossvideo_kedro.synth.config import BASE_SEMANTIC_CLASSES, GeneratorConfig
from crossvideo_kedro.synth.hand import NUM_FINGERS
from crossvideo_kedro.synth.shapes import Mesh, Rectangle, object_mesh
from crossvideo_kedro.synth.transforms import look_at, rot_z, translation

LABEL = {name: i for i, name in enumerate(BASE_SEMANTIC_CLASSES)}


@dataclass(frozen=True)
class Appearance:
    """Surface of one rigid part.

    Attributes:
        color: (3,) base RGB in 0..255.
        texture: ``plain``, ``stripes`` or ``checker`` (see :data:`~crossvideo_kedro.synth.config.TEXTURES`).
        color2: (3,) second RGB of a patterned texture.
        period: Pattern period in metres (part coordinates).
    """

    color: np.ndarray
    texture: str = "plain"
    color2: np.ndarray | None = None
    period: float = 0.02


@dataclass(frozen=True)
class Part:
    """A rigid part of the scene: local shape (mesh or rectangle), semantic label id, appearance."""

    name: str
    shape: Mesh | Rectangle
    label: int
    appearance: Appearance


@dataclass(frozen=True)
class Lighting:
    """One directional light plus ambient.

    Attributes:
        direction: (3,) unit vector toward the light, world frame.
        ambient: Ambient term.
        intensity: Diffuse term of the light.
        tint: (3,) per-channel light colour factor.
        flicker: (T,) per-frame intensity factor.
        background: (2, 3) RGB of the top and bottom image rows where nothing is hit.
    """

    direction: np.ndarray
    ambient: float
    intensity: float
    tint: np.ndarray
    flicker: np.ndarray
    background: np.ndarray

    def frames(self, selection: slice) -> Lighting:
        """The lighting of a range of frames."""
        return replace(self, flicker=self.flicker[selection])


@dataclass(frozen=True)
class Layout:
    """Everything about one sequence except the motion.

    Attributes:
        category: Object category name; ``category_id`` its semantic label id.
        object_mesh: Mesh of the manipulated object (scaled), standing on z = 0.
        object_start: (3,) initial base position; ``object_yaw`` its initial yaw (radians).
        approach_yaw: Direction the hand reaches along (radians; the arm lies opposite).
        static_parts: Table and distractors; ``static_poses`` (S, 4, 4) their part → world.
        object_appearance / hand_appearance: Surfaces.
        hand_scale: Hand size factor; ``finger_gains`` (5,) per-finger flexion factors (thumb first).
        extrinsics: (T, 4, 4) world → camera (OpenCV).
        lighting: Lights and background.
        info: JSON-serialisable facts for ``RawSequence.meta``.
    """

    category: str
    category_id: int
    object_mesh: Mesh
    object_start: np.ndarray
    object_yaw: float
    approach_yaw: float
    static_parts: list[Part]
    static_poses: np.ndarray
    object_appearance: Appearance
    hand_appearance: Appearance
    hand_scale: float
    finger_gains: np.ndarray
    extrinsics: np.ndarray
    lighting: Lighting
    info: dict


def _jitter_color(rng: np.random.Generator, color, amount: float) -> np.ndarray:  # noqa: ANN001 - [r, g, b]
    return np.clip(np.asarray(color, dtype=np.float64) + rng.uniform(-amount, amount, size=3), 0.0, 255.0)


def _smooth_noise(rng: np.random.Generator, num_frames: int, dims: int) -> np.ndarray:
    """(T, dims) smooth zero-mean noise in about [−1, 1]: two random sinusoids per dimension."""
    t = np.arange(num_frames, dtype=np.float64)[:, None, None]
    period = rng.uniform(20.0, 60.0, size=(1, 2, dims))
    phase = rng.uniform(0.0, 2 * math.pi, size=(1, 2, dims))
    return 0.5 * np.sin(2 * math.pi * t / period + phase).sum(axis=1)


def distractor_size(shape: str, radius: float, rng: np.random.Generator) -> tuple[float, ...]:
    """A random ``size`` list for a distractor of characteristic ``radius`` (three draws, whatever the shape)."""
    a, b, c = rng.uniform(0.7, 1.3, size=3)
    sizes = {
        "box": (2 * radius * a, 2 * radius * b, 2 * radius * c),
        "cylinder": (radius, 2.2 * radius * a),
        "sphere": (radius,),
        "cone": (radius, 2.5 * radius * a),
        "torus": (radius, 0.35 * radius),
    }
    return tuple(round(float(v), 5) for v in sizes[shape])


def sample_layout(config: GeneratorConfig, rng: np.random.Generator, category: str) -> Layout:
    """Draw the scene of one sequence.

    Args:
        config: Generator parameters.
        rng: The sequence's layout generator (the number of draws does not depend on ``category``).
        category: Name of the manipulated object's category (a key of ``config.categories``).

    Returns:
        The :class:`Layout`.
    """
    sc = config.scene
    spec = config.categories[category]

    # --- manipulated object and hand
    scale = float(rng.uniform(1.0 - sc.size_jitter, 1.0 + sc.size_jitter))
    mesh = object_mesh(spec["shape"], tuple(float(v) for v in spec["size"])).scaled(scale)
    object_start = np.array([*rng.uniform(-0.02, 0.02, size=2), 0.0])
    object_yaw = float(rng.uniform(0.0, 2 * math.pi))
    approach_yaw = float(rng.uniform(0.0, 2 * math.pi))
    color = _jitter_color(rng, spec["color"], sc.object_color_jitter)
    color2 = _jitter_color(rng, spec.get("color2", spec["color"]), sc.object_color_jitter)
    object_appearance = Appearance(color, spec.get("texture", "plain"), color2, float(spec.get("period", 0.02)) * scale)
    hand_color = _jitter_color(rng, sc.hand_colors[int(rng.integers(len(sc.hand_colors)))], sc.color_jitter)
    hand_scale = float(rng.uniform(*sc.hand_scale))
    finger_gains = np.concatenate([rng.uniform(0.8, 1.0, size=1), rng.uniform(0.85, 1.1, size=NUM_FINGERS - 1)])

    # --- camera, table, distractors and light, drawn in that order
    arm_side = approach_yaw + math.pi
    extrinsics, (azimuth0, elevation0, distance) = _sample_camera(config, rng, object_start, approach_yaw)
    parts, poses = _sample_table(config, rng)
    distractors = _place_distractors(config, rng, parts, poses, extrinsics, arm_side, azimuth0)
    lighting, light_info = _sample_lighting(config, rng)

    category_id = len(BASE_SEMANTIC_CLASSES) + list(config.categories).index(category)
    info = {
        "category": category,
        "category_id": category_id,
        "shape": spec["shape"],
        "texture": spec.get("texture", "plain"),
        "object_scale": round(scale, 4),
        "hand_scale": round(hand_scale, 4),
        "approach_yaw_deg": round(math.degrees(approach_yaw) % 360.0, 2),
        "camera_distance": round(distance, 4),
        "camera_elevation_deg": round(math.degrees(elevation0), 2),
        "distractors": distractors,
        "light": light_info,
    }
    return Layout(
        category=category, category_id=category_id, object_mesh=mesh, object_start=object_start,
        object_yaw=object_yaw, approach_yaw=approach_yaw, static_parts=parts, static_poses=np.stack(poses),
        object_appearance=object_appearance, hand_appearance=Appearance(hand_color), hand_scale=hand_scale,
        finger_gains=finger_gains, extrinsics=extrinsics, lighting=lighting, info=info,
    )


def _sample_camera(config: GeneratorConfig, rng: np.random.Generator, object_start: np.ndarray,
                   approach_yaw: float) -> tuple[np.ndarray, tuple[float, float, float]]:
    """World-to-camera extrinsics (T, 4, 4) beside the arm, looking between the object and the resting hand, and the
    first frame's (azimuth, elevation, distance)."""
    cam, num_frames = config.camera, config.num_frames
    arm_side = approach_yaw + math.pi
    side = 1.0 if rng.random() < 0.5 else -1.0
    azimuth0 = arm_side + side * math.radians(rng.uniform(*cam.side_deg))
    elevation0 = math.radians(rng.uniform(*cam.elevation_deg))
    distance = float(rng.uniform(*cam.distance))
    orbit = math.radians(rng.uniform(*cam.orbit_deg)) * (1.0 if rng.random() < 0.5 else -1.0)
    bob_phase = float(rng.uniform(0.0, 2 * math.pi))
    progress = np.linspace(-0.5, 0.5, num_frames)  # (T,)
    azimuth = azimuth0 + orbit * progress
    elevation = elevation0 + math.radians(cam.bob_deg) * np.sin(2 * math.pi * progress + bob_phase)
    target = object_start + np.array([-0.07 * math.cos(approach_yaw), -0.07 * math.sin(approach_yaw), 0.04])
    target = target + cam.shake * _smooth_noise(rng, num_frames, 3)  # (T, 3)
    eye = target + distance * np.stack(
        [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], axis=-1
    )
    extrinsics = look_at(eye, target)  # (T, 4, 4)
    return extrinsics, (azimuth0, elevation0, distance)


def _sample_table(config: GeneratorConfig, rng: np.random.Generator) -> tuple[list[Part], list[np.ndarray]]:
    """The table (top at z = 0), shifted and turned a little: the first static part and its pose."""
    sc = config.scene
    table_shift = rng.uniform(-0.1, 0.1, size=2)
    table_yaw = float(rng.uniform(-0.4, 0.4))
    table_color = _jitter_color(rng, sc.table_colors[int(rng.integers(len(sc.table_colors)))], sc.color_jitter)
    table = Part("table", Rectangle(*sc.table_size), LABEL["table"], Appearance(table_color))
    parts = [table]
    poses = [translation(np.array([*table_shift, 0.0])) @ rot_z(table_yaw)]
    return parts, poses


def _place_distractors(config: GeneratorConfig, rng: np.random.Generator, parts: list[Part], poses: list[np.ndarray],
                       extrinsics: np.ndarray, arm_side: float, azimuth0: float) -> list[dict]:
    """Distractors on a ring around the workspace, away from the arm's path and the line of sight, appended to
    ``parts`` and ``poses``; returns their shapes and sizes."""
    sc = config.scene
    count = int(rng.integers(sc.num_distractors[0], sc.num_distractors[1] + 1))
    placed: list[np.ndarray] = []
    distractors = []
    for d in range(count):
        shape = sc.distractor_shapes[int(rng.integers(len(sc.distractor_shapes)))]
        radius = float(rng.uniform(*sc.distractor_size))
        size = distractor_size(shape, radius, rng)
        d_color = rng.uniform(30.0, 230.0, size=3)
        candidates = rng.uniform(0.0, 2 * math.pi, size=24)
        ring = rng.uniform(*sc.distractor_radius, size=24)
        yaw = float(rng.uniform(0.0, 2 * math.pi))
        for angle, r in zip(candidates, ring, strict=True):
            position = np.array([r * math.cos(angle), r * math.sin(angle), 0.0])
            off_arm = abs(_wrap(angle - arm_side)) > math.radians(50)
            off_view = abs(_wrap(angle - azimuth0)) > math.radians(35)
            apart = all(np.linalg.norm(position - other) > 0.1 for other in placed)
            if off_arm and off_view and apart and _in_view(position, extrinsics[[0, -1]], config):
                break
        else:
            continue  # no free spot: fewer distractors
        placed.append(position)
        parts.append(Part(f"distractor{d}", object_mesh(shape, size), LABEL["distractor"], Appearance(d_color)))
        poses.append(translation(position) @ rot_z(yaw))
        distractors.append({"shape": shape, "size": list(size)})
    return distractors


def _sample_lighting(config: GeneratorConfig, rng: np.random.Generator) -> tuple[Lighting, dict]:
    """The light (direction, ambient, intensity, tint, per-frame flicker (T,), background) and its summary."""
    li, num_frames = config.lighting, config.num_frames
    light_azimuth = float(rng.uniform(0.0, 2 * math.pi))
    light_elevation = math.radians(rng.uniform(*li.elevation_deg))
    direction = np.array([math.cos(light_elevation) * math.cos(light_azimuth),
                          math.cos(light_elevation) * math.sin(light_azimuth), math.sin(light_elevation)])
    ambient = float(rng.uniform(*li.ambient))
    intensity = float(rng.uniform(*li.intensity))
    tint = 1.0 + rng.uniform(-li.tint, li.tint, size=3)
    flicker = rng.standard_normal(num_frames + 2)
    flicker = 1.0 + li.flicker * np.convolve(flicker, np.ones(3) / math.sqrt(3.0), mode="valid")  # (T,)
    wall = rng.uniform(40.0, 120.0) + rng.uniform(-15.0, 15.0, size=3)
    background = np.stack([wall * 0.8, wall * 1.15])  # darker at the top
    info = {"ambient": round(ambient, 4), "intensity": round(intensity, 4),
            "elevation_deg": round(math.degrees(light_elevation), 2)}
    return Lighting(direction, ambient, intensity, tint, flicker, background), info


def _in_view(point: np.ndarray, extrinsics: np.ndarray, config: GeneratorConfig, margin: float = 0.1) -> bool:
    """Whether ``point`` (world) projects inside the image, ``margin`` (fraction of the size) from the border."""
    camera = np.einsum("tij,j->ti", extrinsics[:, :3, :3], point) + extrinsics[:, :3, 3]  # (t, 3)
    if np.any(camera[:, 2] <= 0.05):
        return False
    k = np.asarray(config.intrinsics)
    u = k[0, 0] * camera[:, 0] / camera[:, 2] + k[0, 2]
    v = k[1, 1] * camera[:, 1] / camera[:, 2] + k[1, 2]
    mu, mv = margin * config.width, margin * config.height
    return bool(np.all((u >= mu) & (u <= config.width - 1 - mu) & (v >= mv) & (v <= config.height - 1 - mv)))


def _wrap(angle: float) -> float:
    """Angle in (−π, π]."""
    return (angle + math.pi) % (2 * math.pi) - math.pi
