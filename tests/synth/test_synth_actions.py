"""Action grammar and motion primitives, without rendering."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.synth import GeneratorConfig
from crossvideo_kedro.synth.actions import (
    MotionContext,
    initial_state,
    plan_events,
    plan_motion,
    sample_plan,
)
from crossvideo_kedro.synth.hand import hand_meshes, hand_part_poses
from crossvideo_kedro.synth.transforms import invert


def _motion(config: GeneratorConfig, seed: int):
    rng = np.random.default_rng(seed)
    plan = sample_plan(config, rng)
    ctx = MotionContext(motion=config.motion, centre=np.zeros(2), grasp_z=0.12, approach_yaw=0.3)
    start = initial_state(rng, ctx, np.array([0.01, -0.01, 0.0]), 0.2)
    return plan, plan_motion(plan, list(config.action_classes), start, ctx, rng)


@pytest.mark.parametrize("fps", [15.0, 7.0])
def test_plan_fills_the_video_with_back_to_back_events(fps):
    config = parse(GeneratorConfig, {"num_frames": 97, "fps": fps}, "generate")
    for seed in range(5):
        plan = sample_plan(config, np.random.default_rng(seed))
        assert sum(frames for _, frames in plan) == 97 and all(frames >= 1 for _, frames in plan)
        events = plan_events(plan, fps)
        assert events[0].start == 0.0 and events[-1].end == pytest.approx(97 / fps)
        assert all(a.end == b.start for a, b in zip(events, events[1:]))
        # every frame time t / fps lies in exactly one event
        times = np.arange(97) / fps
        inside = np.array([[e.start <= t < e.end for e in events] for t in times])
        assert (inside.sum(axis=1) == 1).all()


def test_plan_follows_the_grammar_and_reaches_every_action():
    config = GeneratorConfig()
    seen = set()
    for seed in range(6):
        plan = sample_plan(config, np.random.default_rng(seed))
        names = [name for name, _ in plan]
        assert names[0] == config.start_action
        for a, b in zip(names, names[1:]):
            assert b in config.grammar[a], f"{a} -> {b} is not in the grammar"
        seen.update(names)
    assert seen == set(config.action_classes)


def test_durations_come_from_the_configured_ranges():
    config = parse(GeneratorConfig, {"num_frames": 2000}, "generate")
    plan = sample_plan(config, np.random.default_rng(3))
    for name, frames in plan[:-1]:  # the last one may be cut by the end of the video
        lo, hi = config.durations[name]
        assert round(lo * config.fps) <= frames <= round(hi * config.fps)


def _segments(plan, name):
    start = 0
    for action, frames in plan:
        if action == name:
            yield slice(start, start + frames)
        start += frames


def test_object_moves_only_while_grasped_and_rigidly_with_the_hand():
    config = parse(GeneratorConfig, {"num_frames": 400}, "generate")
    plan, motion = _motion(config, seed=1)
    names = {name for name, _ in plan}
    assert {"lift", "carry", "place"} <= names or {"push"} <= names or {"rotate"} <= names
    object_xyz = motion.object_pose[:, :3, 3]
    relative = invert(motion.hand_pose) @ motion.object_pose  # (T, 4, 4) object in the hand frame
    for name in ("rest", "reach", "grasp", "release", "retract"):
        for frames in _segments(plan, name):
            still = object_xyz[frames]
            np.testing.assert_allclose(still, np.broadcast_to(still[0], still.shape))
            np.testing.assert_allclose(object_xyz[frames][:, 2], 0.0, atol=1e-9)  # on the table
    for name in ("lift", "carry", "place", "push", "rotate"):
        for frames in _segments(plan, name):
            rel = relative[frames]
            # the grip is rigid up to the hand tremor (a few mm of translation, no rotation)
            np.testing.assert_allclose(rel[:, :3, :3], rel[:1, :3, :3].repeat(len(rel), 0), atol=1e-9)
            assert np.abs(rel[:, :3, 3] - rel[:1, :3, 3]).max() < 2 * config.motion.tremor
            if name in ("push", "rotate"):  # slides on the table
                np.testing.assert_allclose(object_xyz[frames][:, 2], 0.0, atol=1e-9)


def test_primitives_are_distinguishable_by_their_geometry():
    config = parse(GeneratorConfig, {"num_frames": 1500}, "generate")
    plan, motion = _motion(config, seed=2)
    obj = motion.object_pose[:, :3, 3]
    flex = motion.flexion
    checked = set()
    for (name, frames), start in zip(plan, np.cumsum([0] + [f for _, f in plan])):
        if frames < 4 or start + frames >= len(flex):
            continue
        first, last = start, start + frames  # last = first frame of the next action (its end state)
        if name == "grasp":
            assert flex[last] > flex[first] + 0.3  # fingers close
        elif name == "release":
            assert flex[last] < flex[first] - 0.3  # fingers open
        elif name == "lift":
            assert obj[last, 2] - obj[first, 2] >= config.motion.lift_height[0] - 1e-6  # object goes up
        elif name == "place":
            assert obj[last, 2] == pytest.approx(0.0, abs=1e-6) and obj[first, 2] > 0.05  # back on the table
        elif name in ("carry", "push"):
            assert np.linalg.norm(obj[last, :2] - obj[first, :2]) > 0.02  # object slides
            assert obj[last, 2] > 0.05 if name == "carry" else obj[last, 2] == pytest.approx(0.0, abs=1e-6)
        elif name == "rotate":
            yaw = np.arctan2(motion.object_pose[:, 1, 0], motion.object_pose[:, 0, 0])
            turn = abs((yaw[last] - yaw[first] + math.pi) % (2 * math.pi) - math.pi)
            assert turn >= math.radians(config.motion.rotate_deg[0]) - 1e-6
            np.testing.assert_allclose(obj[last], obj[first], atol=2 * config.motion.tremor)  # spins in place
        elif name == "retract":  # the empty hand moves away from the object
            away = np.linalg.norm(motion.hand_pose[:, :2, 3] - obj[:, :2], axis=1)
            assert away[last] > away[first] + 0.1
        else:
            continue
        checked.add(name)
    assert checked >= {"grasp", "release", "retract"} and len(checked) >= 6


def test_fingers_curl_under_the_palm_as_flexion_grows():
    poses = hand_part_poses(np.eye(4)[None].repeat(3, 0), np.array([0.0, 0.5, 1.0]), np.ones(5))
    names, meshes = hand_meshes()
    assert poses.shape == (3, len(meshes), 4, 4)
    tip = names.index("finger2_segment2")  # middle finger, distal segment
    tip_z = poses[:, tip, 2, 3]
    tip_x = poses[:, tip, 0, 3]
    assert tip_z[0] > tip_z[1] > tip_z[2]  # curls down (palm faces −z)
    assert tip_x[0] > tip_x[2]  # and back toward the palm
