"""The point → pixel link of pretraining views on generated frames: projection, dropout and crop bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from crossvideo_kedro.configs import AugmentConfig, parse
from crossvideo_kedro.clip_pool import ClipPool
from crossvideo_kedro.geometry.backproject import backproject_pixels
from crossvideo_kedro.geometry.camera import scale_intrinsics
from crossvideo_kedro.geometry.pixel_link import follow_crop, nearest_per_pixel, project_frames
from crossvideo_kedro.preprocess import resize_frames
from crossvideo_kedro.synth import GeneratorConfig, generate_sequence

STORED_HW = (48, 64)


def generated_videos(num_sequences: int = 3, num_frames: int = 10, num_points: int = 64, seed: int = 0,
                     coordinates: bool = False) -> tuple[dict, dict, dict]:
    """Point and image videos of generated sequences, and each point's source pixel in the stored frames.

    Points are back-projected from valid depth pixels of the rendered (120 × 160) frames; image videos hold the
    frames resized to ``STORED_HW`` with the resized K. With ``coordinates`` each stored frame holds its own pixel
    coordinates ((4u, 4v, 0) as colours) instead of the render, so a view can be read back to where it came from.
    """
    config = GeneratorConfig(num_frames=num_frames, num_workers=1)
    points, images, sources = {}, {}, {}
    h, w = STORED_HW
    for index in range(num_sequences):
        seq = generate_sequence(config, index)
        H, W = seq.depth.shape[1:]
        rng = np.random.default_rng([seed, index])
        scores = rng.random(seq.depth.shape).reshape(num_frames, -1) + (seq.depth.reshape(num_frames, -1) > 0)
        pixels = np.argsort(-scores, axis=1)[:, :num_points]  # (T, N) random pixels with depth
        name = seq.name
        points[name] = {"points": backproject_pixels(seq.depth, pixels, seq.intrinsics),
                        "timestamps": (np.arange(num_frames) / seq.fps).astype(np.float32)}
        frames = resize_frames(seq.color, STORED_HW)
        if coordinates:
            grid = np.stack([*np.meshgrid(np.arange(w) * 4, np.arange(h) * 4), np.zeros((h, w), int)], axis=-1)
            frames = np.broadcast_to(grid.astype(np.uint8), frames.shape).copy()
        images[name] = {"frames": frames, "intrinsics": scale_intrinsics(seq.intrinsics, (H, W), STORED_HW)}
        rows, cols = np.divmod(pixels, W)
        sources[name] = np.stack([(cols + 0.5) * w / W - 0.5, (rows + 0.5) * h / H - 0.5], axis=-1)  # (T, N, 2)
    return points, images, sources


@pytest.fixture(scope="module")
def coordinate_videos():
    return generated_videos(coordinates=True)


def test_a_generated_point_projects_onto_its_source_pixel(coordinate_videos):
    points, images, sources = coordinate_videos
    for name in points:
        uv, valid = project_frames(points[name]["points"], images[name]["intrinsics"], STORED_HW)
        assert valid.mean() > 0.9  # a few share a stored pixel with a nearer point
        assert np.abs(uv - sources[name]).max() < 1e-2  # far inside one pixel, occluded or not


def test_the_nearest_point_of_a_pixel_is_the_one_kept():
    uv = np.array([[[3.1, 2.0], [2.8, 2.2], [5.0, 1.0], [3.0, 2.4]]], dtype=np.float32)
    depth = np.array([[2.0, 1.5, 3.0, 1.5]])
    kept = nearest_per_pixel(uv, depth, np.ones((1, 4), bool), (4, 8))
    assert kept.tolist() == [[False, True, True, True]]  # 0 hides behind 1 and 3 (same pixel, equal depth: both)


def test_the_crop_inverse_reads_back_the_source_pixel_of_grid_sample():
    theta = np.array([[0.8, 0.0, 0.1], [0.0, 0.8, -0.15]])
    uv = np.array([[10.0, 12.0], [62.0, 3.0]], dtype=np.float32)
    out, valid = follow_crop(uv, np.ones(2, bool), theta, STORED_HW)
    h, w = STORED_HW
    x_o = np.stack([(2 * out[:, 0] + 1) / w - 1, (2 * out[:, 1] + 1) / h - 1], axis=1)
    x_i = x_o @ theta[:, :2].T + theta[:, 2]
    np.testing.assert_allclose((((x_i + 1) * [w, h]) - 1) / 2, uv, atol=1e-4)
    assert valid.tolist() == [True, False]  # u = 62 lies right of the crop (it ends at u = 60.3)


@pytest.mark.parametrize("dropout, flip", [(0.0, 0.0), (0.3, 0.5), (0.5, 1.0)])
def test_after_dropout_and_crop_each_kept_point_lands_on_its_source_pixel(coordinate_videos, dropout, flip):
    """Read the augmented coordinate image at each valid point's followed pixel: within one stored pixel of the
    point's source pixel, for every slot, whatever dropout duplicated into it and however the view was cropped."""
    points, images, sources = coordinate_videos
    pool = ClipPool.from_videos(points, points, images, need_images=True)
    config = parse(AugmentConfig, {"clip_frames": 4, "clip_span": 8, "geometric": {"dropout": dropout},
                                      "image": {"crop_scale": [0.6, 0.9], "brightness": 0.0, "contrast": 0.0,
                                                "saturation": 0.0, "flip_prob": flip}}, "augment")
    batch = pool.sample(np.random.default_rng(7), 3, config, pixels=True)
    seq, local = batch["sequence"], batch["keys"] - pool.offsets[batch["sequence"]][:, None]  # (2B,), (2B, T)
    source = np.stack([sources[pool.names[s]][f] for s, f in zip(seq, local, strict=True)])  # (2B, T, N, 2)
    source = np.take_along_axis(source, batch["point_index"][..., None], axis=2)  # what each slot holds
    valid = batch["uv_valid"]
    assert valid.mean() > 0.3  # a crop of 0.6-0.9 of the side keeps 0.36-0.81 of the frame
    col = np.clip(np.floor(batch["uv"][..., 0] + 0.5), 0, STORED_HW[1] - 1).astype(int)
    row = np.clip(np.floor(batch["uv"][..., 1] + 0.5), 0, STORED_HW[0] - 1).astype(int)
    views = np.arange(len(seq))[:, None, None]
    read = batch["images"][views, np.arange(4)[None, :, None], row, col][..., :2] / 4.0  # (2B, T, N, 2)
    assert np.abs(read - source)[valid].max() <= 1.0
    if dropout > 0:
        assert (batch["point_index"] != np.arange(batch["point_index"].shape[-1])).any()


def test_the_link_without_intrinsics_is_refused_with_what_to_do(coordinate_videos):
    points, images, _ = coordinate_videos
    bare = {name: {"frames": video["frames"]} for name, video in images.items()}
    pool = ClipPool.from_videos(points, points, bare, need_images=True)
    config = parse(AugmentConfig, {"clip_frames": 4, "clip_span": 8}, "augment")
    with pytest.raises(ValueError, match="intrinsics.*cross_dense: 0"):
        pool.sample(np.random.default_rng(0), 2, config, pixels=True)
    assert "uv" not in pool.sample(np.random.default_rng(0), 2, config)  # the other terms need no intrinsics
