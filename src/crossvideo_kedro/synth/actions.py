"""Action grammar and motion primitives: what the hand and the object do, frame by frame.

:func:`sample_plan` walks the grammar (config data) from the start action, drawing each action's duration, until the
video is full. :func:`plan_motion` turns the plan into trajectories: every action is a motion primitive that moves a
key state (palm position and yaw, finger flexion, object position and yaw) to a new key state, with minimum-jerk
timing. While the object is grasped (``lift``, ``carry``, ``place``, ``push``, ``rotate``) it is rigidly attached to
the hand, so the two move together. The primitives differ in what a point cloud can see: direction and height of the
motion, whether the object moves with the hand, and whether the fingers open or close.

World frame: ``z`` up, table top at ``z = 0``, workspace centre at the origin.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from crossvideo_kedro.sequences import Event
from crossvideo_kedro.synth.config import PRIMITIVE_STATES, GeneratorConfig, MotionConfig
from crossvideo_kedro.synth.transforms import invert, rot_y, rot_z, translation

HAND_PITCH_DEG = 12.0  # the hand tilts fingers-down by this much
OPEN_FLEX = 0.03  # flexion of the open hand (reach, release)
GRIP_BACK = 0.02  # palm centre sits this far behind the object's axis when grasping (fingers wrap the front)
PALM_CLEARANCE = 0.004  # gap between the palm and the object's top when grasping
RELEASE_RISE = 0.012  # the palm lifts this much while the fingers open


@dataclass(frozen=True)
class KeyState:
    """Hand and object at an event boundary.

    Attributes:
        hand: (3,) palm centre, world metres.
        yaw: Palm yaw about world z, radians (hand x axis = fingers direction).
        flex: Finger flexion in [0, 1].
        obj: (3,) object base (bottom centre), world metres.
        obj_yaw: Object yaw about world z, radians.
    """

    hand: np.ndarray
    yaw: float
    flex: float
    obj: np.ndarray
    obj_yaw: float


@dataclass(frozen=True)
class MotionContext:
    """What the primitives need to know about the scene.

    Attributes:
        motion: Motion amplitudes from the config.
        centre: (2,) workspace centre (xy) that carried/pushed objects stay near.
        grasp_z: Palm centre height when grasping the object standing on the table.
        approach_yaw: Yaw the hand keeps while reaching (radians).
    """

    motion: MotionConfig
    centre: np.ndarray
    grasp_z: float
    approach_yaw: float


@dataclass(frozen=True)
class Step:
    """One primitive's result: the end state and how to get there.

    Attributes:
        end: Key state at the end of the action.
        pivot: (2,) xy the hand orbits about (rotate), or ``None`` for straight-line motion.
        pos_window: Fraction of the action over which the hand moves (start, end).
        flex_window: Fraction of the action over which the fingers move (start, end).
    """

    end: KeyState
    pivot: np.ndarray | None = None
    pos_window: tuple[float, float] = (0.0, 1.0)
    flex_window: tuple[float, float] = (0.0, 1.0)


@dataclass(frozen=True)
class Motion:
    """Per-frame trajectories of one sequence.

    Attributes:
        hand_pose: (T, 4, 4) hand frame → world.
        flexion: (T,) finger flexion.
        object_pose: (T, 4, 4) object frame → world (object frame: base centre, z up).
        action: (T,) action id per frame (index into ``action_classes``).
    """

    hand_pose: np.ndarray
    flexion: np.ndarray
    object_pose: np.ndarray
    action: np.ndarray


# ---------------------------------------------------------------------------------------------------- grammar
def sample_plan(config: GeneratorConfig, rng: np.random.Generator) -> list[tuple[str, int]]:
    """Walk the grammar until ``num_frames`` frames are filled.

    Durations are drawn uniformly from ``durations[action]`` (seconds), rounded to whole frames (at least one); the
    last action is cut at the end of the video.

    Returns:
        ``[(action, num_frames), …]`` with the frame counts summing to ``config.num_frames``.
    """
    plan: list[tuple[str, int]] = []
    filled, action = 0, config.start_action
    while filled < config.num_frames:
        lo, hi = config.durations[action]
        frames = max(1, round(rng.uniform(lo, hi) * config.fps))
        frames = min(frames, config.num_frames - filled)
        plan.append((action, frames))
        filled += frames
        successors = config.grammar[action]
        action = successors[int(rng.integers(len(successors)))]
    return plan


def plan_events(plan: list[tuple[str, int]], fps: float) -> list[Event]:
    """Back-to-back events (seconds, end exclusive) of a plan; boundaries fall on frame times k / fps."""
    events, start = [], 0
    for action, frames in plan:
        events.append(Event(action, start / fps, (start + frames) / fps))
        start += frames
    return events


# ---------------------------------------------------------------------------------------------------- primitives
def _toward(yaw: float) -> np.ndarray:
    return np.array([math.cos(yaw), math.sin(yaw), 0.0])


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _slide_target(current: np.ndarray, distance: float, angle: float, ctx: MotionContext) -> np.ndarray:
    """Object xy after sliding ``distance`` toward ``angle``, turned back toward the centre if it would leave."""
    radius = ctx.motion.workspace_radius
    target = current[:2] + distance * np.array([math.cos(angle), math.sin(angle)])
    if np.linalg.norm(target - ctx.centre) > radius:
        home = ctx.centre - current[:2]
        inward = math.atan2(home[1], home[0]) + 0.5 * math.sin(angle)  # toward the centre, ±30°
        target = current[:2] + distance * np.array([math.cos(inward), math.sin(inward)])
        offset = target - ctx.centre
        norm = float(np.linalg.norm(offset))
        if norm > radius:
            target = ctx.centre + offset * (radius / norm)
    return target


def _rest(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    drift = rng.uniform(-0.008, 0.008, size=3)
    return Step(replace(s, hand=s.hand + drift))


def _reach(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    yaw = ctx.approach_yaw
    hand = s.obj - GRIP_BACK * _toward(yaw)
    hand[2] = ctx.grasp_z + _uniform(rng, ctx.motion.pregrasp_height)
    return Step(replace(s, hand=hand, yaw=yaw, flex=OPEN_FLEX), flex_window=(0.0, 0.7))


def _grasp(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    hand = s.hand.copy()
    hand[2] = ctx.grasp_z
    flex = _uniform(rng, ctx.motion.grip_flex)
    return Step(replace(s, hand=hand, flex=flex), pos_window=(0.0, 0.6), flex_window=(0.35, 1.0))


def _lift(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    rise = np.array([0.0, 0.0, _uniform(rng, ctx.motion.lift_height)])
    return Step(replace(s, hand=s.hand + rise, obj=s.obj + rise))


def _slide(s: KeyState, distance: float, angle: float, ctx: MotionContext) -> Step:
    target = _slide_target(s.obj, distance, angle, ctx)
    shift = np.array([target[0] - s.obj[0], target[1] - s.obj[1], 0.0])
    return Step(replace(s, hand=s.hand + shift, obj=s.obj + shift))


def _carry(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    distance = _uniform(rng, ctx.motion.carry_distance)
    return _slide(s, distance, float(rng.uniform(-math.pi, math.pi)), ctx)


def _push(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    distance = _uniform(rng, ctx.motion.push_distance)
    # mostly forward (along the fingers), ±60°
    return _slide(s, distance, s.yaw + float(rng.uniform(-1.0, 1.0)) * math.pi / 3, ctx)


def _place(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    drop = s.hand[2] - ctx.grasp_z
    return Step(replace(s, hand=s.hand - [0.0, 0.0, drop], obj=s.obj - [0.0, 0.0, drop]))


def _rotate(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    angle = math.radians(_uniform(rng, ctx.motion.rotate_deg)) * (1.0 if rng.random() < 0.5 else -1.0)
    pivot = s.obj[:2].copy()
    offset = rot_z(angle)[:3, :3] @ (s.hand - np.array([pivot[0], pivot[1], s.hand[2]]))
    hand = np.array([pivot[0] + offset[0], pivot[1] + offset[1], s.hand[2]])
    return Step(replace(s, hand=hand, yaw=s.yaw + angle, obj_yaw=s.obj_yaw + angle), pivot=pivot)


def _release(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    return Step(replace(s, hand=s.hand + [0.0, 0.0, RELEASE_RISE], flex=OPEN_FLEX), pos_window=(0.3, 1.0),
                flex_window=(0.0, 0.8))


def _retract(s: KeyState, rng: np.random.Generator, ctx: MotionContext) -> Step:
    hand = s.obj - _uniform(rng, ctx.motion.rest_distance) * _toward(s.yaw)
    hand[2] = _uniform(rng, ctx.motion.rest_height)
    return Step(replace(s, hand=hand, flex=_uniform(rng, ctx.motion.rest_flex)), flex_window=(0.2, 1.0))


PRIMITIVES: dict[str, Callable[[KeyState, np.random.Generator, MotionContext], Step]] = {
    "rest": _rest,
    "reach": _reach,
    "grasp": _grasp,
    "lift": _lift,
    "carry": _carry,
    "place": _place,
    "push": _push,
    "rotate": _rotate,
    "release": _release,
    "retract": _retract,
}
assert set(PRIMITIVES) == set(PRIMITIVE_STATES)


def is_attached(action: str) -> bool:
    """Whether the object moves rigidly with the hand during ``action``."""
    before, after = PRIMITIVE_STATES[action]
    return before != "free" and after != "free"


# ---------------------------------------------------------------------------------------------------- trajectories
def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk profile 10τ³ − 15τ⁴ + 6τ⁵ (0 → 1 with zero velocity and acceleration at both ends)."""
    tau = np.clip(tau, 0.0, 1.0)
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


def _windowed(tau: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    start, end = window
    return min_jerk((tau - start) / max(end - start, 1e-9))


def hand_matrix(position: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(..., 3) palm positions and (...) yaws → (..., 4, 4) hand → world (with the fixed fingers-down pitch)."""
    yaw = np.asarray(yaw, dtype=np.float64)
    pitch = np.full(yaw.shape, math.radians(HAND_PITCH_DEG))
    return translation(position) @ rot_z(yaw) @ rot_y(pitch)


def object_matrix(position: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(..., 3) object base positions and (...) yaws → (..., 4, 4) object → world."""
    return translation(position) @ rot_z(np.asarray(yaw, dtype=np.float64))


def initial_state(rng: np.random.Generator, ctx: MotionContext, obj: np.ndarray, obj_yaw: float) -> KeyState:
    """The hand at rest beside the object, approaching along ``ctx.approach_yaw``."""
    hand = obj - _uniform(rng, ctx.motion.rest_distance) * _toward(ctx.approach_yaw)
    hand[2] = _uniform(rng, ctx.motion.rest_height)
    return KeyState(hand=hand, yaw=ctx.approach_yaw, flex=_uniform(rng, ctx.motion.rest_flex), obj=obj.copy(),
                    obj_yaw=obj_yaw)


def plan_motion(plan: list[tuple[str, int]], action_classes: list[str], start: KeyState, ctx: MotionContext,
                rng: np.random.Generator) -> Motion:
    """Run the primitives of ``plan`` from ``start`` and sample every frame.

    Frame k of an action of n frames sits at τ = k / n (so its last frame is just short of the end state, which is
    the first frame of the next action); hand and fingers follow minimum-jerk profiles within their windows.

    Args:
        plan: ``[(action, frames), …]`` from :func:`sample_plan`.
        action_classes: Class names (action ids = index).
        start: Key state at frame 0.
        ctx: Scene facts for the primitives.
        rng: Random generator (a fixed number of draws per action).

    Returns:
        The per-frame :class:`Motion` (T = Σ frames).
    """
    num_frames = sum(frames for _, frames in plan)
    tremor = _tremor(rng, num_frames, ctx.motion.tremor)  # (T, 3)
    hands, yaws, flexes, objs, ids = [], [], [], [], []
    state, first = start, 0
    for action, frames in plan:
        step = PRIMITIVES[action](state, rng, ctx)
        end = step.end
        tau = np.arange(frames, dtype=np.float64) / frames  # (n,)
        sp = _windowed(tau, step.pos_window)[:, None]  # (n, 1)
        sf = _windowed(tau, step.flex_window)
        yaw = state.yaw + sp[:, 0] * (end.yaw - state.yaw)  # (n,)
        if step.pivot is not None:  # orbit the pivot: hand xy rotates with the yaw
            pivot = np.array([step.pivot[0], step.pivot[1], 0.0])
            offset = state.hand - pivot
            turn = rot_z(yaw - state.yaw)[:, :3, :3] @ offset  # (n, 3)
            hand = pivot + turn
            hand[:, 2] = state.hand[2] + sp[:, 0] * (end.hand[2] - state.hand[2])
        else:
            hand = state.hand + sp * (end.hand - state.hand)  # (n, 3)
        shake = tremor[first : first + frames]  # (n, 3)
        flex = state.flex + sf * (end.flex - state.flex)
        if is_attached(action):  # object rigidly follows the hand (and its tremor, but stays on the table)
            relative = invert(hand_matrix(state.hand, state.yaw)) @ object_matrix(state.obj, state.obj_yaw)
            obj_pose = hand_matrix(hand, yaw) @ relative  # (n, 4, 4)
            on_table = PRIMITIVE_STATES[action] == ("held", "held")
            obj_pose[:, :3, 3] += shake * ([1.0, 1.0, 0.0] if on_table else 1.0)
        else:
            obj_pose = np.broadcast_to(object_matrix(state.obj, state.obj_yaw), (frames, 4, 4))
        hands.append(hand + shake)
        yaws.append(yaw)
        flexes.append(flex)
        objs.append(obj_pose)
        ids.append(np.full(frames, action_classes.index(action), dtype=np.int16))
        state, first = end, first + frames
    hand_pose = hand_matrix(np.concatenate(hands), np.concatenate(yaws))
    return Motion(hand_pose=hand_pose, flexion=np.concatenate(flexes), object_pose=np.concatenate(objs),
                  action=np.concatenate(ids))


def _tremor(rng: np.random.Generator, num_frames: int, amplitude: float) -> np.ndarray:
    """(T, 3) smooth small offsets: two sinusoids per axis with random frequency (in frames) and phase."""
    t = np.arange(num_frames, dtype=np.float64)[:, None, None]  # (T, 1, 1)
    period = rng.uniform(8.0, 30.0, size=(1, 2, 3))
    phase = rng.uniform(0.0, 2 * math.pi, size=(1, 2, 3))
    return amplitude * 0.5 * np.sin(2 * math.pi * t / period + phase).sum(axis=1)
