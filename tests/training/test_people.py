"""Recognition of person-like depth videos across subjects of other heights and distances (docs/real-people.md)."""

from __future__ import annotations

import numpy as np

from crossvideo_kedro.configs import FinetuneConfig, IngestConfig, ModelConfig, parse
from crossvideo_kedro.preprocess import ingest_point_sequence
from crossvideo_kedro.sequences import PointSequence
from crossvideo_kedro.training.downstream import run_downstream
from tests.training.pretrain_worker import TINY_MODEL

FRAMES, BODY, ARM = 12, 48, 16


def person_video(action: int, height: float, distance: float, rng: np.random.Generator) -> np.ndarray:
    """(T, P, 3) metres, camera frame (y down): a box body and one arm that rises sideways (action 0) or reaches
    towards the camera (action 1) over the video."""
    body = rng.uniform(-0.5, 0.5, (FRAMES, BODY, 3)) * np.array([0.4, height, 0.25])  # (T, B, 3)
    angle = np.linspace(0.0, np.pi * 0.9, FRAMES)[:, None]  # (T, 1) from hanging down to nearly up
    along = np.linspace(0.1, 1.0, ARM)[None] * 0.4 * height  # (1, M) along the arm
    down, out = np.cos(angle) * along, np.sin(angle) * along  # (T, M)
    shoulder = np.array([0.2, -0.3 * height, 0.0])
    side = [out, down, np.zeros_like(out)] if action == 0 else [np.zeros_like(out), down, -out]
    arm = shoulder + np.stack(side, axis=-1)  # (T, M, 3)
    points = np.concatenate([body, arm], axis=1) + rng.normal(0, 0.01, (FRAMES, BODY + ARM, 3))
    return (points + np.array([0.0, 0.0, distance])).astype(np.float32)


def subject_videos(height: float, distance: float, count: int, seed: int, normalise: str) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    config = parse(IngestConfig, {"num_points": 32, "sampling": "random", "normalise": normalise}, "ingest")
    videos = {}
    for i in range(count):
        action = i % 2
        seq = PointSequence(f"h{height}_{i:02d}", person_video(action, height, distance, rng), fps=15.0,
                            frame_labels=np.full(FRAMES, action, dtype=np.int16))
        videos[seq.name] = ingest_point_sequence(seq, config)
    return videos


def test_a_small_person_trained_model_recognises_a_tall_far_person_with_unit_scale_inputs():
    train = subject_videos(1.5, 2.5, 8, seed=0, normalise="sequence")
    test = subject_videos(1.9, 3.5, 6, seed=1, normalise="sequence")
    config = parse(FinetuneConfig, {"steps": 60, "batch_size": 8, "clip_frames": 4, "event_clips": 3, "lr": 3e-3,
                                       "progress": False, "device": "cpu", "amp": "off"}, "finetune")
    model = parse(ModelConfig, {**TINY_MODEL, "point": {**TINY_MODEL["point"], "radius": 0.3}}, "pretrain.model")
    scores, predictions, history, _ = run_downstream("action_recognition", "full", {**train, **test}, None,
                                                     sorted(train), sorted(test), 2, model, None, False, config, 0)
    assert len(predictions["gt"]) == 6  # one clip per test video, whatever event_clips is for training
    assert history["loss"].tail(5).mean() < 0.2 * history["loss"].head(5).mean()
    assert scores["clip_accuracy"] >= 5 / 6 * 100  # chance: 50 %
