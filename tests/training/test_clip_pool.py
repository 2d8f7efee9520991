"""The pretraining pool: fresh, seeded views; distinct sequences per batch; times that carry no identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crossvideo_kedro.configs import AugmentConfig, LossConfig, parse
from crossvideo_kedro.clip_pool import ClipPool
from crossvideo_kedro.losses import CrossVideoLoss

T, N = 8, 16


def pool(num_sequences=24, num_frames=45, images=True, seed=0) -> ClipPool:
    videos, frames = {}, {}
    for s in range(num_sequences):
        rng = np.random.default_rng([seed, s])
        n = num_frames + s % 5  # sequences of different lengths
        videos[f"seq{s:02d}"] = {"points": rng.normal(0, 0.3, (n, N, 3)).astype(np.float32),
                                 "timestamps": (np.arange(n) / 7.5).astype(np.float32)}
        frames[f"seq{s:02d}"] = {"frames": rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8)}
    return ClipPool.from_videos(videos, videos, frames if images else None, need_images=images)


CONFIG = parse(AugmentConfig, {"clip_frames": T, "clip_span": 16, "frame_steps": [1, 2]}, "augment")


def test_batches_are_fresh_per_step_and_identical_for_the_same_step():
    p = pool()
    a = p.sample(np.random.default_rng([0, 0, 5]), 8, CONFIG)
    b = p.sample(np.random.default_rng([0, 0, 5]), 8, CONFIG)
    c = p.sample(np.random.default_rng([0, 0, 6]), 8, CONFIG)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["points"], c["points"])
    assert a["points"].shape == (16, T, N, 3) and a["images"].shape == (16, T, 8, 8, 3)
    assert a["times"].shape == a["keys"].shape == (16, T) and a["sequence"].shape == (16,)


def test_keys_address_the_right_frames_and_views_start_at_time_zero():
    p = pool(images=False)
    batch = p.sample(np.random.default_rng(3), 8, CONFIG)
    np.testing.assert_array_equal(batch["times"][:, 0], 0.0)  # every view starts at 0 at its own first frame
    seq = batch["sequence"]
    local = batch["keys"] - p.offsets[seq][:, None]
    assert (local >= 0).all() and (local < p.lengths[seq][:, None]).all()  # keys stay inside their sequence
    np.testing.assert_allclose(batch["times"], p.timestamps[batch["keys"]] - p.timestamps[batch["keys"][:, :1]])
    np.testing.assert_array_equal(seq[:8], seq[8:])  # rows b and B + b are the two views of one clip


def test_a_batch_never_holds_two_clips_of_one_sequence():
    """No false negatives at video level: a batch draws its B clips from B distinct sequences."""
    p = pool(num_sequences=12)
    for step in range(200):
        seq = p.sample(np.random.default_rng([0, 0, step]), 12, CONFIG)["sequence"][:12]
        assert len(set(seq.tolist())) == 12
    with pytest.raises(ValueError, match="batch of 13 distinct sequences from a pool of 12"):
        p.sample(np.random.default_rng(0), 13, CONFIG)


def test_clip_starts_reach_the_last_frames():
    p = pool(num_sequences=4, images=False)
    last = np.zeros(4, dtype=bool)
    for step in range(1000):
        batch = p.sample(np.random.default_rng([1, 0, step]), 4, CONFIG)
        seq = batch["sequence"]
        np.logical_or.at(last, seq, (batch["keys"] == (p.offsets + p.lengths - 1)[seq][:, None]).any(axis=1))
    assert last.all()  # every sequence's final frame appears in some clip


def test_image_terms_need_images_for_every_pool_sequence():
    videos = {"a": {"points": np.zeros((20, N, 3), np.float32), "timestamps": np.arange(20, dtype=np.float32)}}
    with pytest.raises(ValueError, match=r"sequences \['a'\] have no image video .* set those weights to 0"):
        ClipPool.from_videos(["a"], videos, {}, need_images=True)
    with pytest.raises(ValueError, match="pretraining pool is empty"):
        ClipPool.from_videos([], videos, {}, need_images=False)


def _time_only_embeddings(times: np.ndarray, dim: int = 64) -> torch.Tensor:
    """An embedding that is nothing but a one-hot of the (quantised) time input, as a model could learn it."""
    bins = np.rint(np.asarray(times) * 7.5).astype(np.int64)  # frame steps since the view's first frame
    return F.one_hot(torch.from_numpy(bins).clamp(max=dim - 1), dim).float() * 10


def _frame_terms(batch: dict, point: torch.Tensor, image: torch.Tensor, B: int) -> dict[str, float]:
    loss = CrossVideoLoss(parse(LossConfig, {"weights": {"intra_frame": 1.0, "cross_frame": 1.0}, "temperatures": 0.1},
                               "pretrain.loss"))
    keys = torch.from_numpy(batch["keys"]).reshape(2, B, T)
    out = {"point_frame": point.reshape(2, B, T, -1), "image_frame": image.reshape(2, B, T, -1),
           "point_times": keys, "image_times": keys, "groups": torch.from_numpy(batch["sequence"][:B])}
    return {k: float(v) for k, v in loss(out)[1].items()}


def test_time_alone_cannot_beat_random_embeddings_on_any_frame_term():
    """The shortcut test: embeddings built from the time input alone do no better than random ones.

    With times counted from the clip start (the old behaviour) the same embedding drops far below random: that is
    the shortcut the per-view times remove, and this test would catch it coming back.
    """
    p, B = pool(), 16
    rng = torch.Generator().manual_seed(0)
    time_only, random, clip_start = [], [], []
    for step in range(30):
        batch = p.sample(np.random.default_rng([0, 0, step]), B, CONFIG)
        t = _time_only_embeddings(batch["times"])
        time_only.append(_frame_terms(batch, t, t, B))
        noise = torch.randn(2 * B * T, 64, generator=rng)
        random.append(_frame_terms(batch, noise, torch.randn(2 * B * T, 64, generator=rng), B))
        seq = batch["sequence"]
        local = batch["keys"] - p.offsets[seq][:, None]
        start = np.minimum(local[:B, :1], local[B:, :1])  # old: seconds from the clip start, shared by both views
        old = _time_only_embeddings((local - np.concatenate([start, start])) / 7.5)
        clip_start.append(_frame_terms(batch, old, old, B))
    for term in ("intra_frame", "cross_frame"):
        ours = np.mean([r[term] for r in time_only])
        chance = np.mean([r[term] for r in random])
        leaky = np.mean([r[term] for r in clip_start])
        assert ours >= chance - 0.05, (term, ours, chance)
        assert leaky < chance - 1.0, (term, leaky, chance)  # the old times were a shortcut
