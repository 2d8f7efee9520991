"""``generate`` (``conf/base/parameters_generate.yml``): the synthetic RGB-D generator.

Everything that defines *what* is generated — object categories (shape, size, colour, texture), the action grammar
and its duration ranges, camera, lighting and sensor ranges — is plain dict/list data here, so a YAML file can mirror
it one to one. ``parse(GeneratorConfig, params, "generate")`` is strict: an unknown key or a bad value raises
``ValueError`` naming the parameter (``generate.<group>.<key>``) and what is expected.

Ranges are ``[lo, hi]`` pairs; the generator draws one value uniformly per sequence.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from crossvideo_kedro.configs.base import Config, Int, Num, Str, UnknownKeys, expected

#: Semantic classes that every sequence has, before the object categories (ids = list index).
BASE_SEMANTIC_CLASSES: tuple[str, ...] = ("background", "table", "hand", "distractor")

#: Shapes the mesh factory knows, and the meaning of a category's ``size`` list for each (metres).
SHAPE_SIZES: dict[str, tuple[str, ...]] = {
    "box": ("size_x", "size_y", "size_z"),
    "cylinder": ("radius", "height"),
    "sphere": ("radius",),
    "cone": ("radius", "height"),
    "torus": ("radius", "tube_radius"),
}

#: Procedural textures: ``plain`` (``color`` only), ``stripes`` (horizontal bands along the object's up axis),
#: ``checker`` (3D checkerboard in object coordinates); the patterned ones alternate ``color`` and ``color2``.
TEXTURES: tuple[str, ...] = ("plain", "stripes", "checker")

#: Physical state before → after each motion primitive the generator implements: ``free`` (hand empty, object on
#: the table), ``held`` (object grasped, on the table), ``lifted`` (object grasped, in the air). The grammar may only
#: chain a → b when a's "after" state is b's "before" state.
PRIMITIVE_STATES: dict[str, tuple[str, str]] = {
    "rest": ("free", "free"),
    "reach": ("free", "free"),
    "grasp": ("free", "held"),
    "lift": ("held", "lifted"),
    "carry": ("lifted", "lifted"),
    "place": ("lifted", "held"),
    "push": ("held", "held"),
    "rotate": ("held", "held"),
    "release": ("held", "free"),
    "retract": ("free", "free"),
}


def _default_actions() -> list[str]:
    return ["rest", "reach", "grasp", "lift", "carry", "place", "release", "retract", "push", "rotate"]


def _default_grammar() -> dict[str, list[str]]:
    # action -> actions that may follow it (uniform choice). One cycle:
    # rest → reach → grasp → {lift → carry → place | push | rotate} → release → retract → rest → …
    return {
        "rest": ["reach"],
        "reach": ["grasp"],
        "grasp": ["lift", "push", "rotate"],
        "lift": ["carry"],
        "carry": ["place"],
        "place": ["release"],
        "push": ["release"],
        "rotate": ["release"],
        "release": ["retract"],
        "retract": ["rest"],
    }


def _default_durations() -> dict[str, list[float]]:
    # seconds, uniform in [min, max], rounded to whole frames (at least one frame)
    return {
        "rest": [0.4, 1.0],
        "reach": [0.6, 1.1],
        "grasp": [0.4, 0.7],
        "lift": [0.4, 0.7],
        "carry": [0.6, 1.2],
        "place": [0.4, 0.7],
        "release": [0.3, 0.5],
        "retract": [0.5, 0.9],
        "push": [0.6, 1.2],
        "rotate": [0.6, 1.2],
    }


def _default_categories() -> dict[str, dict[str, Any]]:
    # Distinct by design, so that geometry alone names the category: every category differs from every other in
    # shape or size (beyond SceneConfig.size_jitter), and each keeps a typical colour or texture. The twin label space
    # (shape twins told apart by appearance only) is conf/twins.
    red, blue, yellow, white = [200, 45, 40], [40, 80, 200], [225, 190, 40], [235, 235, 230]
    return {
        "mug": {"shape": "cylinder", "size": [0.045, 0.08], "color": red, "texture": "plain"},  # squat
        "jar": {"shape": "cylinder", "size": [0.058, 0.14], "color": red, "texture": "stripes", "color2": white,
                "period": 0.025},  # wide and tall
        "can": {"shape": "cylinder", "size": [0.03, 0.115], "color": blue, "texture": "plain"},  # slim
        "box": {"shape": "box", "size": [0.075, 0.075, 0.1], "color": [170, 130, 80], "texture": "plain"},
        "ball": {"shape": "sphere", "size": [0.055], "color": yellow, "texture": "plain"},  # large
        "apple": {"shape": "sphere", "size": [0.036], "color": [60, 170, 60], "texture": "plain"},  # small
        "cone": {"shape": "cone", "size": [0.045, 0.11], "color": [240, 120, 30], "texture": "plain"},
        "ring": {"shape": "torus", "size": [0.05, 0.018], "color": [150, 60, 170], "texture": "plain"},
    }



# ---------------------------------------------------------------------------------------------------- helpers
def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_range(value: Any, key: str, *, positive: bool = False, ordered: bool = True, integer: bool = False,
                 bounds: tuple[float, float] | None = None) -> None:
    """A ``[lo, hi]`` pair of numbers (``lo <= hi`` unless ``ordered`` is false)."""
    expected = "[lo, hi] with lo <= hi" if ordered else "a pair of numbers"
    if positive:
        expected += ", both > 0"
    if bounds is not None:
        expected += f", within [{bounds[0]}, {bounds[1]}]"
    if integer:
        expected += ", integers"
    ok = isinstance(value, list | tuple) and len(value) == 2 and all(_is_number(v) for v in value)
    if ok and integer:
        ok = all(isinstance(v, int) for v in value)
    if ok and ordered:
        ok = value[0] <= value[1]
    if ok and positive:
        ok = min(value) > 0
    if ok and bounds is not None:
        ok = bounds[0] <= min(value) and max(value) <= bounds[1]
    if not ok:
        raise ValueError(f"{key} must be {expected}, got {value!r}")


def _check_color(value: Any, key: str) -> None:
    ok = isinstance(value, list | tuple) and len(value) == 3
    ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    if not ok:
        raise ValueError(f"{key} must be an [r, g, b] colour with values in 0..255, got {value!r}")


def check_shape(shape: Any, size: Any, where: str) -> None:
    """Check a ``shape`` name and its ``size`` list (see :data:`SHAPE_SIZES`); raise ``ValueError`` naming ``where``."""
    if shape not in SHAPE_SIZES:
        raise ValueError(f"{where}.shape must be one of {sorted(SHAPE_SIZES)}, got {shape!r}")
    names = SHAPE_SIZES[shape]
    ok = isinstance(size, list | tuple) and len(size) == len(names) and all(_is_number(v) and v > 0 for v in size)
    if not ok:
        raise ValueError(f"{where}.size must be {list(names)} in metres (all > 0) for a {shape}, got {size!r}")
    if shape == "torus" and not size[1] < size[0]:
        raise ValueError(f"{where}.size must have tube_radius < radius for a torus, got {size!r}")


Pair = tuple[Num, Num]  # [lo, hi], checked by the class's ranges
Color = tuple[Num, ...]  # [r, g, b] in 0..255
Fraction = Annotated[Num, expected("in [0, 1]", ge=0, le=1)]


class _Pairs(Config):
    """A group whose ``[lo, hi]`` fields are checked against ``PAIRS`` (name -> ``_check_range`` options)."""

    PAIRS: ClassVar[dict[str, dict[str, Any]]] = {}

    @model_validator(mode="after")
    def _pairs(self) -> _Pairs:
        for name, options in self.PAIRS.items():
            _check_range(getattr(self, name), f".{name}", **options)
        return self


class CameraConfig(_Pairs):
    """Camera placement: looks at the workspace from above and beside the arm, drifting slowly."""

    distance: Pair = (0.40, 0.53)  # metres from the look-at point
    elevation_deg: Pair = (32.0, 55.0)  # above the table plane
    side_deg: Pair = (50.0, 140.0)  # azimuth from the arm's side (either way); 180 = facing the hand
    orbit_deg: Pair = (4.0, 15.0)  # total azimuth drift over the video (random sign)
    bob_deg: Num = Field(2.0, ge=0)  # amplitude of a slow elevation oscillation
    shake: Num = Field(0.002, ge=0)  # metres, smooth hand-held shake of the look-at point

    PAIRS: ClassVar[dict[str, dict[str, Any]]] = {
        "distance": {"positive": True}, "elevation_deg": {"bounds": (5.0, 89.0)},
        "side_deg": {"bounds": (0.0, 180.0)}, "orbit_deg": {"bounds": (0.0, 90.0)}}


class LightingConfig(_Pairs):
    """One directional light per sequence plus ambient, with mild per-frame flicker."""

    ambient: Pair = (0.25, 0.45)
    intensity: Pair = (0.55, 0.85)
    elevation_deg: Pair = (30.0, 80.0)  # light direction above the table (azimuth uniform)
    tint: Fraction = 0.08  # per-channel light colour factor uniform in [1 - tint, 1 + tint]
    flicker: Fraction = 0.03  # per-frame relative intensity std (smoothed over 3 frames)

    PAIRS: ClassVar[dict[str, dict[str, Any]]] = {
        "ambient": {"bounds": (0.0, 1.0)}, "intensity": {"bounds": (0.0, 2.0)},
        "elevation_deg": {"bounds": (0.0, 90.0)}}


class SensorConfig(_Pairs):
    """Depth-camera artefacts: noise, holes and range limits, plus colour noise."""

    depth_noise: Pair = (0.0008, 0.0025)  # std = a + b·z² metres (z in metres)
    dropout: Pair = (0.01, 0.05)  # per-sequence rate of random pixel dropout, uniform in range
    edge_dropout: Fraction = 0.5  # probability that a pixel at a depth discontinuity loses its depth
    edge_threshold: Num = Field(0.02, gt=0)  # metres; |Δz| to a 4-neighbour above this marks a discontinuity
    min_depth: Num = Field(0.2, ge=0)  # metres; nearer → 0 (no depth)
    max_depth: Num = expected("<= 65 m (uint16 millimetre PNGs)", default=1.5, le=65)  # metres; farther → 0
    color_noise: Num = Field(2.5, ge=0)  # std of per-pixel colour noise, 0–255 units

    PAIRS: ClassVar[dict[str, dict[str, Any]]] = {
        "depth_noise": {"ordered": False, "bounds": (0.0, 1.0)}, "dropout": {"bounds": (0.0, 0.9)}}

    @model_validator(mode="after")
    def _depth_range(self) -> SensorConfig:
        if not self.max_depth > self.min_depth:
            raise ValueError(f".max_depth must be > sensor.min_depth ({self.min_depth}), got {self.max_depth!r}")
        return self


class SceneConfig(_Pairs):
    """Table, distractors, hand appearance and per-sequence jitter."""

    num_distractors: Pair = (1, 3)  # uniform integer in [lo, hi]
    distractor_shapes: tuple[Str, ...] = ("box",)  # a shape only the larger box category shares
    distractor_size: Pair = (0.012, 0.018)  # metres, characteristic radius: smaller than any category
    distractor_radius: Pair = (0.17, 0.26)  # metres from the workspace centre
    table_size: Pair = (1.2, 0.9)  # metres (x, y); top at z = 0
    table_colors: tuple[Color, ...] = ((150, 111, 80), (120, 120, 125), (190, 170, 140), (95, 75, 60))
    hand_colors: tuple[Color, ...] = ((224, 172, 140), (198, 134, 98), (141, 85, 54), (240, 200, 170))
    color_jitter: Num = Field(12.0, ge=0)  # ± per channel (0–255) on table, hand and distractor colours
    object_color_jitter: Num = Field(6.0, ge=0)  # ± per channel on the manipulated object's colours
    size_jitter: Fraction = 0.08  # object scale uniform in [1 - j, 1 + j]
    hand_scale: Pair = (0.95, 1.1)

    PAIRS: ClassVar[dict[str, dict[str, Any]]] = {
        "num_distractors": {"integer": True, "bounds": (0, 16)}, "distractor_size": {"positive": True},
        "distractor_radius": {"positive": True}, "table_size": {"ordered": False, "positive": True},
        "hand_scale": {"positive": True}}

    @model_validator(mode="after")
    def _shapes_and_colors(self) -> SceneConfig:
        if not self.distractor_shapes:
            raise ValueError(f".distractor_shapes must be a non-empty list of {sorted(SHAPE_SIZES)}")
        for shape in self.distractor_shapes:
            if shape not in SHAPE_SIZES:
                raise ValueError(f".distractor_shapes must name shapes from {sorted(SHAPE_SIZES)}, got {shape!r}")
        for key in ("table_colors", "hand_colors"):
            if not getattr(self, key):
                raise ValueError(f".{key} must be a non-empty list of [r, g, b]")
            for i, color in enumerate(getattr(self, key)):
                _check_color(color, f".{key}[{i}]")
        return self


class MotionConfig(_Pairs):
    """Amplitudes of the motion primitives (metres, degrees, flexion in [0, 1])."""

    rest_distance: Pair = (0.17, 0.23)  # palm to object, horizontally, at rest
    rest_height: Pair = (0.10, 0.16)  # palm above the table at rest
    pregrasp_height: Pair = (0.04, 0.07)  # palm above its grasp height at the end of reach
    lift_height: Pair = (0.08, 0.14)
    carry_distance: Pair = (0.08, 0.15)
    push_distance: Pair = (0.05, 0.10)
    rotate_deg: Pair = (45.0, 100.0)  # random sign
    workspace_radius: Num = Field(0.1, gt=0)  # carry/push targets stay within this distance of the centre
    grip_flex: Pair = (0.55, 0.8)  # finger flexion when grasping (0 open, 1 fist)
    rest_flex: Pair = (0.15, 0.35)
    tremor: Num = Field(0.002, ge=0)  # metres, smooth hand tremor amplitude

    PAIRS: ClassVar[dict[str, dict[str, Any]]] = {
        **{key: {"positive": True} for key in ("rest_distance", "rest_height", "pregrasp_height", "lift_height",
                                               "carry_distance", "push_distance")},
        "rotate_deg": {"bounds": (0.0, 180.0)}, "grip_flex": {"bounds": (0.0, 1.0)},
        "rest_flex": {"bounds": (0.0, 1.0)}}


class UnlabelledPoolConfig(Config):
    """The unlabelled pretraining pool: more sequences of the same generator, its own seed, a lower frame rate.

    The pool is rendered directly at ``fps`` (ingest's target rate; capped at ``generate.fps``) for the same duration
    as a labelled sequence, so it costs ``fps / generate.fps`` of the frames. ``num_sequences: 0`` generates no pool.
    """

    num_sequences: Int = Field(256, ge=0)  # ~8x the 38 labelled training sequences of the default split
    seed: Int = Field(1, ge=0)  # the pool's own seed; pool streams use indices from POOL_FIRST_INDEX, so even with
    # generate.seed's value no pool sequence can repeat a labelled (val/test) one
    fps: Num = Field(7.5, gt=0)


#: Generator index of the first pool sequence: pool and labelled sequences never share a (seed, index) stream.
POOL_FIRST_INDEX = 1_000_000


class GeneratorConfig(Config):
    """Parameters of ``generate`` (key ``generate``).

    A sequence has a fixed ``num_frames`` at ``fps``; its events follow ``grammar`` from ``start_action`` with
    durations drawn from ``durations`` until the video is full (the last event is cut at the end).
    """

    seed: Int = Field(0, ge=0)  # all randomness: np.random.default_rng from (seed, sequence index)
    num_sequences: Int = Field(64, ge=1)
    num_frames: Int = Field(90, ge=2)  # frames per sequence (6 s at 15 fps)
    fps: Num = Field(15.0, gt=0)
    width: Int = Field(160, ge=16)
    height: Int = Field(120, ge=16)
    hfov_deg: Num = expected("in [10, 150] degrees", default=55.0, ge=10, le=150)  # horizontal field of view
    num_workers: Int = Field(2, ge=1)  # processes rendering sequences in parallel (1 = in this process)
    action_classes: list[Str] = Field(default_factory=_default_actions)
    start_action: Str = "rest"
    grammar: dict[Str, list[Str]] = Field(default_factory=_default_grammar)
    durations: dict[Str, list[Num]] = Field(default_factory=_default_durations)
    categories: dict[Str, dict[Str, Any]] = Field(default_factory=_default_categories)
    camera: CameraConfig = CameraConfig()
    lighting: LightingConfig = LightingConfig()
    sensor: SensorConfig = SensorConfig()
    scene: SceneConfig = SceneConfig()
    motion: MotionConfig = MotionConfig()
    unlabelled: UnlabelledPoolConfig = UnlabelledPoolConfig()

    # ------------------------------------------------------------------------------------------ derived values
    def pool_config(self) -> GeneratorConfig:
        """The generator of the unlabelled pool: this one with the pool's seed, count and frame rate.

        Every sequence keeps the labelled sequences' duration (``num_frames / fps`` seconds).
        """
        pool = self.unlabelled
        fps = min(pool.fps, self.fps)  # never above the labelled videos' rate
        frames = max(2, round(self.num_frames * fps / self.fps))
        return self.model_copy(update={
            "seed": pool.seed, "num_sequences": max(1, pool.num_sequences), "fps": fps, "num_frames": frames,
            "unlabelled": UnlabelledPoolConfig(num_sequences=0, seed=self.seed, fps=fps)})

    @property
    def semantic_classes(self) -> list[str]:
        """``background, table, hand, distractor`` then one class per object category (ids = index)."""
        return [*BASE_SEMANTIC_CLASSES, *self.categories]

    @property
    def fx(self) -> float:
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def intrinsics(self) -> list[list[float]]:
        """3×3 pinhole K (square pixels, principal point at the image centre, pixel centres at integers)."""
        f = self.fx
        return [[f, 0.0, (self.width - 1) / 2.0], [0.0, f, (self.height - 1) / 2.0], [0.0, 0.0, 1.0]]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict/list form (what ``parse`` accepts; what the YAML file mirrors)."""
        return _plain(self.model_dump())

    @model_validator(mode="after")
    def _consistent(self) -> GeneratorConfig:
        _validate_actions(self)
        _validate_categories(self)
        return self


# ---------------------------------------------------------------------------------------------------- rules
def _validate_actions(self: GeneratorConfig, prefix: str = "") -> None:
    actions = self.action_classes
    if not isinstance(actions, list | tuple) or not actions or not all(isinstance(a, str) for a in actions):
        raise ValueError(f"{prefix}.action_classes must be a non-empty list of names, got {actions!r}")
    if len(set(actions)) != len(actions):
        raise ValueError(f"{prefix}.action_classes must not repeat a name, got {actions!r}")
    unknown = [a for a in actions if a not in PRIMITIVE_STATES]
    if unknown:
        raise ValueError(f"{prefix}.action_classes names {unknown} with no motion primitive; "
                         f"expected names from {sorted(PRIMITIVE_STATES)}")
    if self.start_action not in actions:
        raise ValueError(f"{prefix}.start_action must be one of action_classes {list(actions)}, "
                         f"got {self.start_action!r}")
    if PRIMITIVE_STATES[self.start_action][0] != "free":
        raise ValueError(f"{prefix}.start_action must start with the hand empty (e.g. 'rest' or 'reach'), "
                         f"got {self.start_action!r}")
    grammar = self.grammar
    if not isinstance(grammar, dict):
        raise ValueError(f"{prefix}.grammar must be a mapping action -> list of next actions, got {grammar!r}")
    for action, successors in grammar.items():
        where = f"{prefix}.grammar.{action}"
        if action not in actions:
            raise ValueError(f"{where}: {action!r} is not in action_classes {list(actions)}")
        if not isinstance(successors, list | tuple) or not successors:
            raise ValueError(f"{where} must be a non-empty list of next actions, got {successors!r}")
        for nxt in successors:
            if nxt not in actions:
                raise ValueError(f"{where} names {nxt!r}, which is not in action_classes {list(actions)}")
            after, before = PRIMITIVE_STATES[action][1], PRIMITIVE_STATES[nxt][0]
            if after != before:
                raise ValueError(f"{where}: {action!r} ends with the object {after} but {nxt!r} needs it "
                                 f"{before}; allowed next actions start in state {after!r}")
    reachable, frontier = {self.start_action}, [self.start_action]
    while frontier:
        action = frontier.pop()
        if action not in grammar:
            raise ValueError(f"{prefix}.grammar has no entry for {action!r}, which the grammar reaches from "
                             f"{self.start_action!r}: every reachable action needs next actions")
        for nxt in grammar[action]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    if not isinstance(self.durations, dict):
        raise ValueError(f"{prefix}.durations must be a mapping action -> [min_s, max_s], got {self.durations!r}")
    for action in self.durations:
        if action not in actions:
            raise ValueError(f"{prefix}.durations.{action}: {action!r} is not in action_classes {list(actions)}")
    for action in sorted(reachable, key=list(actions).index):
        if action not in self.durations:
            raise ValueError(f"{prefix}.durations has no [min_s, max_s] for {action!r}")
        _check_range(self.durations[action], f"{prefix}.durations.{action}", positive=True)

def _validate_categories(self: GeneratorConfig, prefix: str = "") -> None:
    cats = self.categories
    if not isinstance(cats, dict) or not cats:
        raise ValueError(f"{prefix}.categories must be a non-empty mapping name -> "
                         f"{{shape, size, color, texture}}, got {cats!r}")
    clash = set(cats) & set(BASE_SEMANTIC_CLASSES)
    if clash:
        raise ValueError(f"{prefix}.categories must not reuse the names {sorted(clash)} "
                         f"(reserved semantic classes {list(BASE_SEMANTIC_CLASSES)})")
    if len(BASE_SEMANTIC_CLASSES) + len(cats) > 255:
        raise ValueError(f"{prefix}.categories: at most {255 - len(BASE_SEMANTIC_CLASSES)} categories "
                         "(label masks are 8-bit)")
    allowed = {"shape", "size", "color", "texture", "color2", "period"}
    for name, spec in cats.items():
        where = f"{prefix}.categories.{name}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"{prefix}.categories: names must be non-empty strings, got {name!r}")
        if not isinstance(spec, dict):
            raise ValueError(f"{where} must be a mapping {{shape, size, color, texture}}, got {spec!r}")
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise UnknownKeys([f"{where}.{k}" for k in unknown], sorted(allowed))
        check_shape(spec.get("shape"), spec.get("size"), where)
        _check_color(spec.get("color"), f"{where}.color")
        texture = spec.get("texture", "plain")
        if texture not in TEXTURES:
            raise ValueError(f"{where}.texture must be one of {list(TEXTURES)}, got {texture!r}")
        if texture != "plain":
            _check_color(spec.get("color2"), f"{where}.color2")
            period = spec.get("period", 0.02)
            if not (_is_number(period) and period > 0):
                raise ValueError(f"{where}.period must be > 0, got {period!r}")
