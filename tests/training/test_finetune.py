"""Downstream runs: windows, label fractions, prediction assembly, and every task x protocol on tiny data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossvideo_kedro.models.presets import ModelConfig
from crossvideo_kedro.training.finetune import (
    FinetuneConfig,
    assemble,
    make_event_clips,
    make_windows,
    pick_label_fraction,
    run_downstream,
)
from crossvideo_kedro.training.model import CrossVideoModel
from tests.training.pretrain_worker import TINY_MODEL

NUM_FRAMES, N = 10, 32


def toy_videos(count: int = 6, seed: int = 0) -> tuple[dict, dict]:
    """Point videos whose action is readable from geometry: a blob moving up (label 1) or down (label 2)."""
    rng = np.random.default_rng(seed)
    videos, images = {}, {}
    for i in range(count):
        t = np.arange(NUM_FRAMES)
        labels = np.where(t < NUM_FRAMES // 2, 1, 2).astype(np.int16)
        labels[:2] = 0
        height = np.cumsum(np.where(labels == 2, -0.05, 0.05))
        points = rng.normal(0, 0.05, (NUM_FRAMES, N, 3)).astype(np.float32)
        points[:, : N // 2, 1] += height[:, None]  # the moving half
        point_labels = np.zeros((NUM_FRAMES, N), np.int16)
        point_labels[:, : N // 2] = 1
        videos[f"s{i}"] = {"points": points, "point_labels": point_labels, "frame_labels": labels,
                           "timestamps": (t / 7.5).astype(np.float32)}
        images[f"s{i}"] = {"frames": rng.integers(0, 255, (NUM_FRAMES, 16, 16, 3), dtype=np.uint8)}
    return videos, images


def config(**overrides) -> FinetuneConfig:
    params = {"epochs": 3, "linear_epochs": 3, "batch_size": 4, "clip_frames": 4, "progress": False,
              "device": "cpu", "temporal_kernel": 3, **overrides}
    return FinetuneConfig.from_dict(params)


def test_windows_cover_every_frame_and_keep_labels():
    videos, _ = toy_videos(2)
    windows = make_windows(["s0", "s1"], videos, None, clip_frames=4)
    assert windows.points.shape == (6, 4, N, 3)  # starts 0, 4, 6 per sequence
    for i, name in enumerate(["s0", "s1"]):
        rows = windows.seq == i
        assert set(windows.frames[rows].ravel()) == set(range(NUM_FRAMES))
        np.testing.assert_array_equal(windows.frame_labels[rows].numpy(), videos[name]["frame_labels"][windows.frames[rows]])
    torch.testing.assert_close(windows.points.mean(dim=(1, 2)), torch.zeros(6, 3), atol=1e-5, rtol=0)


def test_event_clips_span_each_action_run():
    videos, _ = toy_videos(1)
    clips = make_event_clips(["s0"], videos, None, clip_frames=4)
    assert clips.frame_labels.tolist() == [0, 1, 2]
    assert clips.frames.tolist() == [[0, 0, 1, 1], [2, 3, 3, 4], [5, 6, 8, 9]]


def test_label_fractions_are_seeded_nested_in_size_and_never_empty():
    names = [f"s{i}" for i in range(20)]
    assert len(pick_label_fraction(names, 0.1, 0)) == 2
    assert pick_label_fraction(names, 0.1, 0) == pick_label_fraction(names, 0.1, 0)
    assert pick_label_fraction(names, 0.1, 0) != pick_label_fraction(names, 0.1, 1)
    assert len(pick_label_fraction(names, 0.01, 0)) == 1
    with pytest.raises(ValueError, match=r"label fraction must be in \(0, 1\]"):
        pick_label_fraction(names, 0.0, 0)


def test_assemble_averages_logits_of_overlapping_windows():
    videos, _ = toy_videos(1)
    windows = make_windows(["s0"], videos, None, clip_frames=4)  # windows at 0, 4, 6: frames 6, 7 overlap
    logits = torch.zeros(3, 4, 2)
    logits[1, :, 0] = 1.0  # window 4..7 says class 0
    logits[2, :, 1] = 3.0  # window 6..9 says class 1, more confidently
    pred = assemble("action_segmentation", windows, [logits], videos)["s0"]
    assert pred.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize("task", ["action_segmentation", "semantic_segmentation", "action_recognition"])
@pytest.mark.parametrize("protocol", ["full", "linear"])
def test_every_task_and_protocol_trains_and_scores(task, protocol):
    videos, _ = toy_videos()
    model_config = ModelConfig.from_dict(TINY_MODEL)
    scores, preds, history, model = run_downstream(
        task, protocol, videos, None, ["s0", "s1", "s2", "s3"], ["s4", "s5"], 3, model_config, None, False,
        config(epochs=4, linear_epochs=4), seed=0,
    )
    key = {"action_segmentation": "accuracy", "semantic_segmentation": "miou",
           "action_recognition": "clip_accuracy"}[task]
    assert 0 <= scores[key] <= 100 and len(history) == 4
    if task == "action_segmentation":
        assert set(scores) == {"accuracy", "edit", "f1@10", "f1@25", "f1@50"}
        assert preds["s4"].shape == (NUM_FRAMES,)
    if task == "semantic_segmentation":
        assert preds["s5"].shape == (NUM_FRAMES, N) and {"miou", "point_accuracy", "iou_0", "iou_1"} <= set(scores)


def test_linear_probe_freezes_the_encoder_and_loads_pretrained_weights():
    videos, _ = toy_videos()
    model_config = ModelConfig.from_dict(TINY_MODEL)
    torch.manual_seed(5)
    pretrained = CrossVideoModel(model_config, use_images=False, terms={"intra_video": 1.0}).encoder_state()
    _, _, _, model = run_downstream("action_segmentation", "linear", videos, None, ["s0", "s1"], ["s4"], 3,
                                    model_config, pretrained, False, config(), seed=0)
    for name, value in pretrained["point_encoder"].items():
        assert torch.equal(model.point_encoder.state_dict()[name], value), name
    _, _, _, tuned = run_downstream("action_segmentation", "full", videos, None, ["s0", "s1"], ["s4"], 3,
                                    model_config, pretrained, False, config(), seed=0)
    changed = [n for n, v in pretrained["point_encoder"].items() if not torch.equal(tuned.point_encoder.state_dict()[n], v)]
    assert changed  # full fine-tuning moves the encoder


def test_full_finetuning_learns_a_readable_action():
    videos, _ = toy_videos(8)
    scores, *_ = run_downstream("action_segmentation", "full", videos, None, [f"s{i}" for i in range(6)],
                                ["s6", "s7"], 3, ModelConfig.from_dict(TINY_MODEL), None, False,
                                config(epochs=30, lr=3e-3), seed=0)
    assert scores["accuracy"] > 70  # chance is ~40% (majority class)


def test_fusion_uses_images():
    videos, images = toy_videos()
    _, _, _, model = run_downstream("action_recognition", "full", videos, images, ["s0", "s1"], ["s4"], 3,
                                    ModelConfig.from_dict(TINY_MODEL), None, True, config(epochs=1), seed=0)
    assert model.image_encoder is not None and model.head.in_features == 32 + 32


def test_bad_finetune_parameters_name_the_key():
    with pytest.raises(ValueError, match=r"finetune.batch_size must be >= 1, got 0"):
        config(batch_size=0)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['finetune.epoch'\]"):
        FinetuneConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="protocol must be one of"):
        run_downstream("action_segmentation", "probe", *toy_videos(), ["s0"], ["s1"], 3,
                       ModelConfig.from_dict(TINY_MODEL), None, False, config(), 0)


def test_shared_feature_cache_gives_the_same_results_and_is_filled_once():
    videos, _ = toy_videos()
    model_config = ModelConfig.from_dict(TINY_MODEL)
    args = ("action_segmentation", "linear", videos, None, ["s0", "s1", "s2"], ["s4", "s5"], 3, model_config, None,
            False, config())
    plain, *_ = run_downstream(*args, seed=0)
    cache: dict = {}
    cached, *_ = run_downstream(*args, seed=0, cache=cache)
    assert cached == plain
    assert sorted(cache) == ["s0", "s1", "s2", "s4", "s5"]
    first = cache["s0"]["frame"]
    run_downstream("semantic_segmentation", "linear", videos, None, ["s0", "s3"], ["s4"], 3, model_config, None,
                   False, config(), seed=0, cache=cache)
    assert cache["s0"]["frame"] is first and "s3" in cache  # reused, and extended with the new sequence
