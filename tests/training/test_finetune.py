"""Downstream runs: windows, label fractions, prediction assembly, and every task x protocol on tiny data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossvideo_kedro.configs import FinetuneConfig, parse
from crossvideo_kedro.configs.model import ModelConfig
from crossvideo_kedro.training.downstream import run_downstream
from crossvideo_kedro.training.finetune import (
    assemble,
    event_clip_frames,
    make_event_clips,
    make_video_clips,
    make_windows,
    pick_label_fraction,
    scatter_frames,
    score,
    video_clip_frames,
    video_predictions,
)
from crossvideo_kedro.training.model import CrossVideoModel
from crossvideo_kedro.training.predict import load_task_model, predict_sequence, spec_dict
from crossvideo_kedro.training.tasks import project_points, sample_pixel_features
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
    params = {"steps": 3, "linear_steps": 3, "batch_size": 4, "sequence_batch": 2, "clip_frames": 4,
              "progress": False, "device": "cpu", "temporal": {"stages": 1, "layers": 3, "channels": 16},
              **overrides}
    return parse(FinetuneConfig, params, "finetune")


def test_windows_cover_every_frame_and_keep_labels():
    videos, _ = toy_videos(2)
    windows = make_windows(["s0", "s1"], videos, None, clip_frames=4)
    assert windows.points.shape == (6, 4, N, 3)  # starts 0, 4, 6 per sequence
    for i, name in enumerate(["s0", "s1"]):
        rows = windows.seq == i
        assert set(windows.frames[rows].ravel()) == set(range(NUM_FRAMES))
        np.testing.assert_array_equal(windows.frame_labels[rows].numpy(),
                                      videos[name]["frame_labels"][windows.frames[rows]])
    torch.testing.assert_close(windows.points.mean(dim=(1, 2)), torch.zeros(6, 3), atol=1e-5, rtol=0)


def test_event_clips_span_each_action_run():
    videos, _ = toy_videos(1)
    clips = make_event_clips(["s0"], videos, None, clip_frames=4)
    assert clips.frame_labels.tolist() == [0, 1, 2]
    assert clips.frames.tolist() == [[0, 0, 1, 1], [2, 3, 3, 4], [5, 6, 8, 9]]


def test_event_clips_are_phase_shifted_views_of_each_run_and_one_clip_is_the_plain_spread():
    np.testing.assert_array_equal(event_clip_frames(2, 32, 8), np.linspace(2, 31, 8).round()[None])
    clips = event_clip_frames(2, 32, 8, clips=4)  # spacing 29 / 7 frames: shifts -1.55, -0.52, 0.52, 1.55
    assert clips.shape == (4, 8) and clips.min() == 2 and clips.max() == 31
    assert len(np.unique(clips)) == 30 > len(np.unique(clips[:1]))  # four clips see every frame, one sees 8
    assert (np.diff(clips, axis=0) >= 0).all()  # clip j + 1 lies at or after clip j, frame by frame
    videos, _ = toy_videos(1)
    windows = make_event_clips(["s0"], videos, None, clip_frames=4, clips=2)
    assert windows.frame_labels.tolist() == [0, 0, 1, 1, 2, 2] and (windows.seq == 0).all()
    assert windows.frames.tolist()[4:] == [[5, 6, 7, 9], [5, 7, 8, 9]]  # 5 + (0, 4/3, 8/3, 4) -+ 1/3
    with pytest.raises(ValueError, match=r"finetune.event_clips must be an integer >= 1, got 0"):
        config(event_clips=0)


def test_event_times_as_a_fraction_run_from_0_to_1_over_every_event():
    videos, _ = toy_videos(1)  # events: frames [0, 2), [2, 5), [5, 10) at 7.5 fps
    seconds = make_event_clips(["s0"], videos, None, clip_frames=4)
    fraction = make_event_clips(["s0"], videos, None, clip_frames=4, times="fraction")
    torch.testing.assert_close(seconds.times[2], torch.tensor([0.0, 1.0, 3.0, 4.0]) / 7.5)
    torch.testing.assert_close(fraction.times[2], torch.tensor([0.0, 0.25, 0.75, 1.0]))
    torch.testing.assert_close(fraction.times[:, -1], torch.ones(3))  # every event ends at 1, whatever its length
    torch.testing.assert_close(fraction.points, seconds.points)
    with pytest.raises(ValueError, match=r"finetune.event_times must be one of .*'seconds', 'fraction'.*, got 'frames'"):
        config(event_times="frames")


def test_label_fractions_are_seeded_nested_in_size_and_never_empty():
    names = [f"s{i}" for i in range(20)]
    assert len(pick_label_fraction(names, 0.1, 0)) == 2
    assert pick_label_fraction(names, 0.1, 0) == pick_label_fraction(names, 0.1, 0)
    assert pick_label_fraction(names, 0.1, 0) != pick_label_fraction(names, 0.1, 1)
    assert pick_label_fraction(names, 0.5, (2, 0)) == pick_label_fraction(names, 0.5, (2, 0))  # a replicate
    assert pick_label_fraction(names, 0.5, (2, 0)) != pick_label_fraction(names, 0.5, (1, 0))
    assert len(pick_label_fraction(names, 0.01, 0)) == 1
    with pytest.raises(ValueError, match=r"label fraction must be in \(0, 1\]"):
        pick_label_fraction(names, 0.0, 0)


def test_assemble_averages_logits_of_overlapping_windows():
    videos, _ = toy_videos(1)
    windows = make_windows(["s0"], videos, None, clip_frames=4)  # windows at 0, 4, 6: frames 6, 7 overlap
    logits = torch.zeros(3, 4, N, 2)
    logits[1, :, :, 0] = 1.0  # window 4..7 says class 0
    logits[2, :, :, 1] = 3.0  # window 6..9 says class 1, more confidently
    pred = assemble("semantic_segmentation", windows, [logits], videos)["s0"]
    assert pred[:, 0].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1] and pred.shape == (NUM_FRAMES, N)


def test_window_features_go_back_to_their_sequence_frames_averaged():
    videos, _ = toy_videos(2)
    windows = make_windows(["s0", "s1"], videos, None, clip_frames=4)  # per sequence windows at 0, 4, 6
    feats = torch.from_numpy(windows.frames.astype(np.float32))[..., None] * 10  # (6, 4, 1): feature = 10 * frame
    feats[windows.seq == 1] += 1000
    feats[2, 0] += 6.0  # window at 6 says frame 6 is 66 (the window at 4 says 60): the average is 63
    out = scatter_frames(feats, windows, np.arange(len(windows)), np.array([0, 1]))  # (2, L, 1)
    expected = torch.arange(NUM_FRAMES, dtype=torch.float32) * 10
    expected0 = expected.clone()
    expected0[6] = 63.0
    torch.testing.assert_close(out[0, :, 0], expected0)
    torch.testing.assert_close(out[1, :, 0], expected + 1000)


@pytest.mark.parametrize("task", ["action_segmentation", "semantic_segmentation", "action_recognition"])
@pytest.mark.parametrize("protocol", ["full", "linear"])
def test_every_task_and_protocol_trains_and_scores(task, protocol):
    videos, _ = toy_videos()
    model_config = parse(ModelConfig, TINY_MODEL, "model")
    scores, preds, history, model = run_downstream(
        task, protocol, videos, None, ["s0", "s1", "s2", "s3"], ["s4", "s5"], 3, model_config, None, False,
        config(steps=4, linear_steps=4, val_every=2), seed=0, val_names=["s3"],
    )
    assert len(history) == 4 and history["val_loss"].notna().sum() == 2  # val loss every 2 steps
    assert np.isfinite(history["loss"]).all()
    if task == "action_segmentation":
        assert set(scores) == {"accuracy", "edit", "f1@10", "f1@25", "f1@50"}
        assert preds["s4"].shape == (NUM_FRAMES,)
    if task == "semantic_segmentation":
        assert preds["s5"].shape == (NUM_FRAMES, N) and {"miou", "point_accuracy", "iou_0", "iou_1"} <= set(scores)


def test_linear_probe_freezes_the_encoder_and_loads_pretrained_weights():
    videos, _ = toy_videos()
    model_config = parse(ModelConfig, TINY_MODEL, "model")
    torch.manual_seed(5)
    pretrained = CrossVideoModel(model_config, use_images=False, terms={"intra_video": 1.0}).encoder_state()
    _, _, _, model = run_downstream("action_segmentation", "linear", videos, None, ["s0", "s1"], ["s4"], 3,
                                    model_config, pretrained, False, config(), seed=0)
    for name, value in pretrained["point_encoder"].items():
        assert torch.equal(model.point_encoder.state_dict()[name], value), name
    _, _, _, tuned = run_downstream("action_segmentation", "full", videos, None, ["s0", "s1"], ["s4"], 3,
                                    model_config, pretrained, False, config(), seed=0)
    changed = [n for n, v in pretrained["point_encoder"].items()
               if not torch.equal(tuned.point_encoder.state_dict()[n], v)]
    assert changed  # full fine-tuning moves the encoder


def test_full_finetuning_learns_a_readable_action_over_whole_sequences():
    videos, _ = toy_videos(8)
    scores, preds, *_ = run_downstream("action_segmentation", "full", videos, None, [f"s{i}" for i in range(6)],
                                       ["s6", "s7"], 3, parse(ModelConfig, TINY_MODEL, "model"), None, False,
                                       config(steps=40, lr=3e-3), seed=0)
    assert scores["accuracy"] > 80  # chance is ~40% (majority class)
    assert preds["s6"].shape == (NUM_FRAMES,)


def test_a_random_encoder_trains_at_the_full_learning_rate():
    from crossvideo_kedro.training import finetune_train as finetune

    seen = {}
    real = finetune.build_optimizer

    def spy(groups, *args, **kwargs):
        seen["lrs"] = [g["lr"] for g in groups]
        return real(groups, *args, **kwargs)

    videos, _ = toy_videos()
    model_config = parse(ModelConfig, TINY_MODEL, "model")
    pretrained = CrossVideoModel(model_config, use_images=False, terms={"intra_video": 1.0}).encoder_state()
    finetune.build_optimizer = spy
    try:
        run_downstream("action_segmentation", "full", videos, None, ["s0"], ["s4"], 3, model_config, None, False,
                       config(steps=1, lr=1e-3, encoder_lr_ratio=0.5), seed=0)
        assert seen["lrs"] == [1e-3, 1e-3]  # scratch: no ratio
        run_downstream("action_segmentation", "full", videos, None, ["s0"], ["s4"], 3, model_config, pretrained,
                       False, config(steps=1, lr=1e-3, encoder_lr_ratio=0.5), seed=0)
        assert seen["lrs"] == [1e-3, 5e-4]  # pretrained: encoder at lr * ratio
    finally:
        finetune.build_optimizer = real


def test_fusion_uses_images():
    videos, images = toy_videos()
    _, _, _, model = run_downstream("action_recognition", "full", videos, images, ["s0", "s1"], ["s4"], 3,
                                    parse(ModelConfig, TINY_MODEL, "model"), None, True, config(steps=1), seed=0)
    assert model.image_encoder is not None and model.head.in_features == 32 + 32


K = np.array([[10.0, 0.0, 7.5], [0.0, 20.0, 3.5], [0.0, 0.0, 1.0]])  # 16 x 8 image, OpenCV centres


def test_a_point_projects_to_the_pixel_computed_by_hand():
    # (0.2, -0.05, 2.0): u = 10 * 0.2 / 2 + 7.5 = 8.5, v = 20 * -0.05 / 2 + 3.5 = 3.0
    uv = project_points(np.array([[0.2, -0.05, 2.0], [0.0, 0.0, 0.0]]), K)
    np.testing.assert_allclose(uv[0], [8.5, 3.0])
    assert (uv[1] < -1e5).all()  # z = 0 (padding) lands outside every image
    image = torch.zeros(1, 1, 8, 16)
    image[0, 0, 3, 8] = 1.0  # row 3, column 8 (centre (8, 3)) and its right neighbour (centre (9, 3))
    image[0, 0, 3, 9] = 3.0
    samples = sample_pixel_features(image, torch.tensor([[[8.0, 3.0], [8.5, 3.0], [9.0, 3.0], [-1e6, -1e6]]]),
                                    (8, 16))
    torch.testing.assert_close(samples[0, :, 0], torch.tensor([1.0, 2.0, 3.0, 0.0]))  # centres, halfway, outside
    coarse = torch.arange(8.0).reshape(1, 1, 2, 4)  # 2 x 4 map: pixel (9.5, 5.5) = centre of cell (1, 2)
    assert float(sample_pixel_features(coarse, torch.tensor([[[9.5, 5.5]]]), (8, 16))[0, 0, 0]) == 6.0


def test_per_point_fusion_samples_the_image_at_each_points_pixel():
    videos, images = toy_videos()
    for name in images:
        videos[name]["points"][..., 2] += 1.0  # in front of the camera
        images[name]["intrinsics"] = np.array([[10, 0, 7.5], [0, 10, 7.5], [0, 0, 1]], np.float32)
    model_config = parse(ModelConfig, TINY_MODEL, "model")
    scores, preds, _, model = run_downstream("semantic_segmentation", "full", videos, images, ["s0", "s1"], ["s4"],
                                             3, model_config, None, True, config(steps=2), seed=0)
    assert preds["s4"].shape == (NUM_FRAMES, N)
    assert model.head.in_features == model_config.decoder.dim + 32 + 8 + 16  # decoder, image frame, stem + last maps
    windows = make_windows(["s0"], videos, images, 4, project=True)
    expected = project_points(videos["s0"]["points"][windows.frames[0]], images["s0"]["intrinsics"])
    np.testing.assert_allclose(windows.uv[0].numpy(), expected, rtol=1e-5)
    del images["s4"]["intrinsics"]
    with pytest.raises(ValueError, match=r"image video 's4' has no 'intrinsics'.*re-run ingest"):
        run_downstream("semantic_segmentation", "full", videos, images, ["s0"], ["s4"], 3, model_config, None, True,
                       config(steps=1), seed=0)


@pytest.mark.parametrize("task", ["action_segmentation", "semantic_segmentation", "action_recognition"])
def test_predict_api_rebuilds_the_trained_model(task):
    videos, _ = toy_videos()
    model_config = parse(ModelConfig, TINY_MODEL, "model")
    _, preds, _, model = run_downstream(task, "full", videos, None, ["s0", "s1"], ["s4"], 3, model_config, None,
                                        False, config(steps=2), seed=0)
    
    saved = {"variant": "scratch", "model_config": model_config.model_dump(),
             "state_dicts": {task: model.state_dict()}, "specs": {task: spec_dict(model.spec)}}
    loaded = load_task_model(saved, task)
    video = {"points": videos["s4"]["points"], "timestamps": videos["s4"]["timestamps"]}  # no labels needed
    labels = predict_sequence(loaded, task, video)
    assert labels.shape == ((NUM_FRAMES, N) if task == "semantic_segmentation" else (NUM_FRAMES,))
    if task != "action_recognition":
        np.testing.assert_array_equal(labels, preds["s4"])  # the same predictions as in the study
    with pytest.raises(ValueError, match=r"holds no .* model; it has"):
        load_task_model(saved, "semantic_segmentation" if task != "semantic_segmentation" else "action_segmentation")
    with pytest.raises(ValueError, match=rf"holds no dancing model; it has \['{task}'\]"):
        load_task_model(saved, "dancing")  # an unknown task name is named with the tasks it holds


def test_bad_finetune_parameters_name_the_key():
    with pytest.raises(ValueError, match=r"finetune.batch_size must be (an integer )?>= 1, got 0"):
        config(batch_size=0)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['finetune.epochs'\]"):
        parse(FinetuneConfig, {"epochs": 3}, "finetune")
    with pytest.raises(ValueError, match=r"finetune.temporal.channels must be an integer >= 1"):
        config(temporal={"channels": 0})
    with pytest.raises(ValueError, match=r"finetune.amp must be one of \('auto', 'bf16', 'off'\) or true/false, got "
                                         r"'fp16'"):
        config(amp="fp16")


def test_low_label_runs_and_tasks_take_their_own_step_budget():
    """``low_label_steps`` replaces ``steps`` at label fractions <= ``low_label_fraction`` only; above it the tasks
    ``task_step_factor`` names take ``steps`` x their factor; null/{} keep one budget; bad values name the key."""
    c = config(steps=150, low_label_steps=60, low_label_fraction=0.25, task_step_factor={"semantic_segmentation": 2})
    assert [c.for_run("action_segmentation", f).steps for f in (0.1, 0.25, 0.5, 1.0)] == [60, 60, 150, 150]
    assert [c.for_run("semantic_segmentation", f).steps for f in (0.1, 0.25, 0.5, 1.0)] == [60, 60, 300, 300]
    assert c.for_run("action_segmentation", 0.1).lr == c.lr and c.for_run("action_segmentation", 1.0) is c
    assert config(steps=150).for_run("semantic_segmentation", 0.1).steps == 150
    short = config(steps=3, task_step_factor={"semantic_segmentation": 0.1})
    assert short.for_run("semantic_segmentation", 1.0).steps == 1
    with pytest.raises(ValueError, match=r"finetune.task_step_factor: unknown task 'segmentation'"):
        config(task_step_factor={"segmentation": 2})
    with pytest.raises(ValueError, match=r"task_step_factor.semantic_segmentation must be a number > 0, got 0"):
        config(task_step_factor={"semantic_segmentation": 0})
    with pytest.raises(ValueError, match=r"finetune.low_label_steps must be an integer >= 1 or null, got 0"):
        config(low_label_steps=0)
    with pytest.raises(ValueError, match=r"finetune.low_label_fraction must be in \(0, 1\], got 0"):
        config(low_label_fraction=0)


def test_shared_feature_cache_gives_the_same_results_and_is_filled_once():
    videos, _ = toy_videos()
    model_config = parse(ModelConfig, TINY_MODEL, "model")
    args = ("action_segmentation", "linear", videos, None, ["s0", "s1", "s2"], ["s4", "s5"], 3, model_config, None,
            False, config())
    plain, *_ = run_downstream(*args, seed=0)
    cache: dict = {}
    cached, *_ = run_downstream(*args, seed=0, cache=cache)
    assert cached == plain
    assert sorted(cache) == ["s0", "s1", "s2", "s4", "s5"]
    first = cache["s0"]["frame"]
    run_downstream("semantic_segmentation", "linear", videos, None, ["s0", "s3"], ["s4"], 3, model_config, None,
                   False, config(), seed=0, cache=cache)  # same encoder (same seed), same windows
    assert cache["s0"]["frame"] is first and "s3" in cache  # reused, and extended with the new sequence


def test_class_balance_weighs_rare_classes_up():
    from crossvideo_kedro.training.finetune_train import class_weights

    videos, _ = toy_videos(2)
    videos["s0"]["point_labels"][:, : N // 4] = 2  # classes 0 / 1 / 2 over 1/2, 1/4, 1/4 of s0's points
    videos["s0"]["point_labels"][:, N // 4 : N // 2] = 1
    videos["s1"]["point_labels"][:] = -1
    windows = make_windows(["s0", "s1"], videos, None, clip_frames=4)
    assert class_weights(windows, 4, config(), torch.device("cpu")) is None  # class_balance 0: plain CE
    weight = class_weights(windows, 4, config(class_balance=1.0), torch.device("cpu"))
    # frequencies 1/2, 1/4, 1/4 (class 3 absent): 1/f = 2, 4, 4 -> mean 1 over the present classes
    torch.testing.assert_close(weight, torch.tensor([0.6, 1.2, 1.2, 0.0]))


def test_a_batch_never_holds_one_sequence_twice_across_an_epoch_end():
    """3 sequences, 2 a step: step 2 tops the last sequence of epoch 1 up with epoch 2's permutation. Before, it
    could draw that sequence again; its second copy got no frame features (scatter_frames puts a sequence's windows
    in its first slot) and the step trained on zeros against real labels."""
    from crossvideo_kedro.training import finetune_train as finetune

    batches = []
    real = finetune.encode_sequences

    def spy(model, windows, seqs, *args, **kwargs):
        batches.append(np.asarray(seqs).tolist())
        return real(model, windows, seqs, *args, **kwargs)

    finetune.encode_sequences = spy
    try:
        videos, _ = toy_videos()
        run_downstream("action_segmentation", "full", videos, None, ["s0", "s1", "s2"], ["s4"], 3,
                       parse(ModelConfig, TINY_MODEL, "model"), None, False, config(steps=12), seed=0)
    finally:
        finetune.encode_sequences = real
    training = batches[:12]  # then prediction
    assert all(len(b) == 2 and b[0] != b[1] for b in training), training
    # every epoch of 3 still shows each sequence once: 12 steps x 2 = 24 draws = 8 of each
    assert np.bincount(np.concatenate(training), minlength=3).tolist() == [8, 8, 8]


def test_augmentation_moves_whole_sequences_in_training_only_and_is_seeded(monkeypatch):
    """``finetune.augment``: one transform per sequence for action segmentation (its windows feed one MS-TCN input),
    one per window otherwise; never at prediction time, never in the linear protocol; same seed, same numbers."""
    from crossvideo_kedro.augment import WindowAugment

    calls = []
    real = WindowAugment.__call__

    def spy(self, points, groups, generator):
        calls.append((points.shape[0], np.asarray(groups).copy()))
        return real(self, points, groups, generator)

    monkeypatch.setattr(WindowAugment, "__call__", spy)
    videos, _ = toy_videos()
    model_config = parse(ModelConfig, TINY_MODEL, "model")
    augment = {"rotation_deg": 15.0, "scale": [0.9, 1.1], "translation": 0.05, "jitter_std": 0.002}
    args = (videos, None, ["s0", "s1", "s2"], ["s4"], 3, model_config, None, False)
    *_, first, _ = run_downstream("action_segmentation", "full", *args, config(steps=2, augment=augment), seed=0)
    assert len(calls) == 2  # one call per training step, none while predicting s4
    for rows, groups in calls:
        assert rows == 2 * 3 and len(np.unique(groups)) == 2  # 2 sequences of 3 windows each, one id per sequence
    *_, again, _ = run_downstream("action_segmentation", "full", *args, config(steps=2, augment=augment), seed=0)
    *_, plain, _ = run_downstream("action_segmentation", "full", *args, config(steps=2), seed=0)
    assert again["loss"].tolist() == first["loss"].tolist()  # the histories: same seed, same transforms
    assert plain["loss"].tolist() != first["loss"].tolist()
    calls.clear()
    run_downstream("semantic_segmentation", "full", *args, config(steps=1, augment=augment), seed=0)
    assert len(calls) == 1 and len(np.unique(calls[0][1])) == calls[0][0] == 4  # batch_size windows, one id each
    calls.clear()
    run_downstream("action_segmentation", "linear", *args, config(augment=augment), seed=0)
    assert calls == []  # frozen features are computed once: the linear probe is not augmented


@pytest.mark.parametrize("task", ["action_segmentation", "semantic_segmentation"])
def test_the_step_the_benchmark_times_is_the_step_that_trains(task):
    """``benchmarks/bench_finetune.py`` calls :meth:`FinetuneTrainer.step`; stepping a trainer by hand gives the
    losses of :func:`train_task_model`, so the timed step is the trained one."""
    from crossvideo_kedro.training.finetune import RunSpec, build_task_model, make_task_windows
    from crossvideo_kedro.training.finetune_train import FinetuneTrainer, train_task_model

    videos, _ = toy_videos()
    cfg = config(steps=4, augment={"rotation_deg": 15.0, "jitter_std": 0.002})
    train = make_task_windows(task, ["s0", "s1", "s2"], videos, None, cfg.clip_frames, fusion=False)
    spec = RunSpec(task, "full", 3, False, cfg.clip_frames, dict(cfg.temporal))
    losses = []
    for by_hand in (False, True):
        torch.manual_seed(0)
        model = build_task_model(spec, parse(ModelConfig, TINY_MODEL, "model"))
        if by_hand:
            trainer = FinetuneTrainer.build(model, task, "full", train, cfg, seed=5, device=torch.device("cpu"))
            losses.append([float(trainer.step(trainer.next_batch()).loss) for _ in range(cfg.steps)])
        else:
            history = train_task_model(model, task, "full", train, cfg, 5, torch.device("cpu"), desc="")
            losses.append(history["loss"].tolist())
    assert len(losses[0]) == 4 and losses[0] == losses[1]
    assert losses[0][0] != losses[0][-1]  # it trains


def test_video_clips_cover_each_run_at_the_stride_and_end_at_its_end():
    np.testing.assert_array_equal(video_clip_frames(2, 9, 4, 2), [[2, 3, 4, 5], [4, 5, 6, 7], [5, 6, 7, 8]])
    np.testing.assert_array_equal(video_clip_frames(0, 2, 4, 1), [[0, 1, 1, 1]])  # shorter than a clip: repeated
    videos, _ = toy_videos(2)  # runs per sequence: label 0 frames 0-1, 1 frames 2-4, 2 frames 5-9
    clips = make_video_clips(["s0", "s1"], videos, None, clip_frames=3, stride=1)
    assert clips.frame_labels.tolist() == [0, 1, 2, 2, 2] * 2 and clips.video.tolist() == [0, 1, 2, 2, 2,
                                                                                           3, 4, 5, 5, 5]
    assert clips.frames[:5].tolist() == [[0, 1, 1], [2, 3, 4], [5, 6, 7], [6, 7, 8], [7, 8, 9]]
    rows = torch.tensor([6, 3])
    eager = videos["s1"]["points"][clips.frames[6]], videos["s0"]["points"][clips.frames[3]]
    torch.testing.assert_close(clips.points[rows], torch.from_numpy(np.stack([p - p.mean(axis=(0, 1)) for p in eager])))
    np.testing.assert_allclose(clips.times[2].numpy(), [0, 1 / 7.5, 2 / 7.5], rtol=1e-6)


def test_a_video_is_the_argmax_of_its_clips_mean_scores_not_their_vote():
    windows = make_video_clips(["s0"], toy_videos(1)[0], None, clip_frames=4, stride=1)  # videos 0, 1, 2
    logits = torch.full((len(windows), 3), 0.0)
    logits[:, 0] = 1.0  # every clip says class 0 ...
    last = np.flatnonzero(windows.video == 2)
    logits[last[0], 2] = 20.0  # ... except one clip of video 2, so sure of class 2 that the mean follows it
    out = video_predictions(logits, windows)
    assert out["video_pred"].tolist() == [0, 0, 2] and out["video_gt"].tolist() == [0, 1, 2]
    scores = score("action_recognition", {"pred": logits.argmax(-1).numpy(), "gt": windows.frame_labels.numpy(),
                                          **out}, {}, 3, ())
    assert scores["video_accuracy"] == pytest.approx(200 / 3)
    assert scores["clip_accuracy"] == pytest.approx(100 * (1 + 0 + 1) / len(windows))  # video 0: 1 clip


def single_label_videos(count: int, seed: int = 0) -> dict:
    """Single-label videos of 12 frames: a blob moving up (label 0) or down (label 1), as benchmarks have them."""
    rng = np.random.default_rng(seed)
    videos = {}
    for i in range(count):
        label = i % 2
        points = rng.normal(0, 0.05, (12, N, 3)).astype(np.float32)
        points[:, : N // 2, 1] += (0.06 if label == 0 else -0.06) * np.arange(12)[:, None]
        videos[f"v{i}"] = {"points": points, "point_labels": np.zeros((12, N), np.int16),
                           "frame_labels": np.full(12, label, np.int16),
                           "timestamps": (np.arange(12) / 15).astype(np.float32)}
    return videos


@pytest.mark.parametrize("protocol", ["full", "linear"])
def test_video_recognition_trains_on_random_clips_and_scores_videos(protocol):
    videos = single_label_videos(12)
    scores, preds, history, _ = run_downstream(
        "action_recognition", protocol, videos, None, [f"v{i}" for i in range(8)], [f"v{i}" for i in range(8, 12)],
        2, parse(ModelConfig, TINY_MODEL, "pretrain.model"), None, False,
        config(steps=30, linear_steps=30, lr=3e-3, clip_frames=4, recognition="video", recognition_stride=2),
        seed=0)
    assert set(scores) == {"clip_accuracy", "video_accuracy"} and len(preds["video_pred"]) == 4
    assert len(preds["pred"]) == 4 * 5  # starts 0, 2, 4, 6, 8 in each 12-frame video
    assert len(history) == 30 and np.isfinite(history["loss"]).all()
    if protocol == "full":
        assert scores["video_accuracy"] == 100 and scores["clip_accuracy"] > 80  # chance: 50 %


def test_video_recognition_parameters_are_checked():
    with pytest.raises(ValueError, match="finetune.recognition must be one of"):
        config(recognition="clip")
    with pytest.raises(ValueError, match="finetune.recognition_stride must be an integer >= 1"):
        config(recognition_stride=0)
