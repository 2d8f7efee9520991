"""An articulated right hand: palm, forearm and five fingers (four of 3 segments, a thumb of 2).

Hand frame: origin at the palm centre, ``x`` forward (along the fingers), ``y`` to the thumb side, ``z`` out of the
back of the hand (the palm faces ``−z``). A single continuous flexion ``f ∈ [0, 1]`` (0 open, 1 fist) drives every
joint: joint ``j`` of a finger bends by ``f · gain · max_angle[j]`` about its local ``y`` axis, which curls the finger
toward ``−z`` (under the palm). Dimensions are an adult hand's, in metres, times a per-sequence scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossvideo_kedro.synth.shapes import Mesh, box_mesh, segment_mesh
from crossvideo_kedro.synth.transforms import rot_y, rot_z, translation


@dataclass(frozen=True)
class Finger:
    """One finger: base on the palm, segment lengths/radii, joint limits.

    Attributes:
        base: (x, y, z) of the first joint in the hand frame.
        yaw_deg: Direction of the finger in the palm plane (0 = +x); for the thumb also its downward pitch.
        spread_deg: Extra yaw when the hand is fully open (fingers fan out), shrinking to 0 as it closes.
        lengths: Segment lengths, proximal first.
        radius: Segment radius.
        max_deg: Flexion of each joint at f = 1.
        pitch_deg: Downward tilt of the finger's base direction.
        oppose_deg: Yaw toward the palm centre at f = 1 (thumb opposition).
    """

    base: tuple[float, float, float]
    yaw_deg: float
    spread_deg: float
    lengths: tuple[float, ...]
    radius: float
    max_deg: tuple[float, ...]
    pitch_deg: float = 0.0
    oppose_deg: float = 0.0


PALM_SIZE = (0.09, 0.085, 0.028)  # x (length), y (width), z (thickness)
FOREARM = {"length": 0.2, "radius": 0.025, "elevation_deg": 20.0}  # leaves the wrist backwards and upwards
OPEN_EXTENSION_DEG = -6.0  # joint angle at f = 0 (slightly hyper-extended)

FINGERS: tuple[Finger, ...] = (
    Finger((-0.008, 0.042, -0.010), 35.0, 15.0, (0.035, 0.028), 0.0095, (25.0, 40.0), 15.0, 35.0),  # thumb
    Finger((0.045, 0.030, 0.0), 6.0, 6.0, (0.040, 0.025, 0.020), 0.0085, (75.0, 95.0, 65.0)),  # index
    Finger((0.045, 0.010, 0.0), 0.0, 0.0, (0.045, 0.028, 0.021), 0.0090, (75.0, 95.0, 65.0)),  # middle
    Finger((0.045, -0.010, 0.0), -5.0, -5.0, (0.042, 0.026, 0.020), 0.0085, (75.0, 95.0, 65.0)),  # ring
    Finger((0.042, -0.031, 0.0), -11.0, -10.0, (0.033, 0.021, 0.018), 0.0075, (75.0, 95.0, 65.0)),  # little
)
NUM_FINGERS = len(FINGERS)


def hand_meshes(scale: float = 1.0) -> tuple[list[str], list[Mesh]]:
    """Names and local meshes of the hand's rigid parts, in the order :func:`hand_part_poses` returns them.

    Args:
        scale: Uniform size factor.

    Returns:
        ``(names, meshes)`` with P = 2 + Σ segments = 16 parts: palm, forearm, then finger segments.
    """
    names = ["palm", "forearm"]
    meshes = [
        box_mesh(tuple(s * scale for s in PALM_SIZE)),
        segment_mesh(FOREARM["length"] * scale, FOREARM["radius"] * scale, resolution=10, cap=False),
    ]
    for f, finger in enumerate(FINGERS):
        for s, length in enumerate(finger.lengths):
            names.append(f"finger{f}_segment{s}")
            meshes.append(segment_mesh(round(length * scale, 6), round(finger.radius * scale, 6)))
    return names, meshes


def hand_part_poses(hand_pose: np.ndarray, flexion: np.ndarray, gains: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Forward kinematics: world poses of every hand part, for every frame.

    Args:
        hand_pose: (T, 4, 4) hand frame → world.
        flexion: (T,) flexion in [0, 1].
        gains: (5,) per-finger flexion factor (thumb first), so fingers do not move in lockstep.
        scale: The hand's size factor (as given to :func:`hand_meshes`).

    Returns:
        (T, P, 4, 4) part → world, P = 16 in :func:`hand_meshes` order.
    """
    num_frames = hand_pose.shape[0]
    flexion = np.clip(np.asarray(flexion, dtype=np.float64), 0.0, 1.0)  # (T,)
    forearm = translation(np.array([-PALM_SIZE[0] * scale / 2 + 0.005, 0.0, 0.004 * scale]))
    # the forearm mesh runs along +x: turn it to point backwards (yaw 180°) and tilt it up
    forearm = forearm @ rot_z(np.pi) @ rot_y(np.radians(-FOREARM["elevation_deg"]))
    poses = [hand_pose, hand_pose @ forearm]
    for f, finger in enumerate(FINGERS):
        bend = flexion * gains[f]  # (T,)
        yaw = np.radians(finger.yaw_deg + finger.spread_deg * (1.0 - bend) - finger.oppose_deg * bend)
        base = translation(np.asarray(finger.base) * scale) @ rot_z(yaw) @ rot_y(np.radians(finger.pitch_deg))
        current = hand_pose @ base  # (T, 4, 4)
        for s, length in enumerate(finger.lengths):
            angle = np.radians(OPEN_EXTENSION_DEG + bend * finger.max_deg[s])  # (T,)
            current = current @ rot_y(angle)
            poses.append(current)
            current = current @ translation(np.array([length * scale, 0.0, 0.0]))
    out = np.stack(poses, axis=1)  # (T, P, 4, 4)
    assert out.shape[:2] == (num_frames, 2 + sum(len(f.lengths) for f in FINGERS))
    return out

