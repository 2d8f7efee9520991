"""Nodes of the pretrain pipeline: what retrieval says when it cannot be measured."""

from __future__ import annotations

import logging

import pandas as pd

from crossvideo_kedro.pipelines.pretrain.nodes import evaluate_retrieval

ENCODERS = {"runs": [{"pretrain_seed": 0, "image_encoder": None}]}


def _index(splits: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"sequence": [f"s{i}" for i in range(len(splits))], "split": splits})


def test_retrieval_without_a_val_split_names_the_missing_split(caplog):
    with caplog.at_level(logging.WARNING):
        result = evaluate_retrieval(ENCODERS, {}, {"s0": {}, "s1": {}}, _index(["train", "test"]), {})
    assert result["defined"] is False
    assert "no sequence is in split 'val' (retrieval_splits)" in caplog.text
    assert "splits present: test, train" in caplog.text


def test_retrieval_with_val_sequences_but_no_images_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        evaluate_retrieval(ENCODERS, {}, {"s0": {}}, _index(["train", "val"]), {})
    assert "no held-out sequence (split 'val') has an image video" in caplog.text


def test_retrieval_of_a_dense_model_reports_point_to_pixel_top1_beside_video_and_frame():
    from crossvideo_kedro.clip_pool import ClipPool
    from crossvideo_kedro.training.pretrain import pretrain
    from tests.training.pretrain_worker import tiny_augment, tiny_config
    from tests.training.test_pixel_link import generated_videos

    points, images, _ = generated_videos(num_sequences=3, num_frames=8, num_points=32)
    pool = ClipPool.from_videos(points, points, images, need_images=True)
    loss = {"weights": {"cross_frame": 1.0, "cross_dense": 1.0}, "dense": {"locations": 4, "mask_radius": 1.5}}
    model, _ = pretrain(pool, tiny_augment(), tiny_config(steps=2, loss=loss), seed=0)
    encoders = {"runs": [{"pretrain_seed": 0, **model.encoder_state()}]}
    index = pd.DataFrame({"sequence": sorted(points), "split": ["val"] * len(points)})
    params = {"loss": loss, "model": tiny_config().model, "embed_clip_frames": 4, "progress": False}
    result = evaluate_retrieval(encoders, points, images, index, params)
    pixel = result["pixel"]
    assert result["defined"] and "frame" in result
    assert pixel["num_tokens"] > 0.8 * 3 * 8 * 4  # 3 sequences x 8 frames x 4 tokens, a few occluded or outside
    assert 0 <= pixel["top1"] <= 100 and 0 < pixel["chance_top1"] < 100
    assert pixel["top1_min"] == pixel["top1_max"] == pixel["top1"]  # one seed
