import numpy as np
import pytest
import torch

from crossvideo_kedro.configs import AugmentConfig, parse
from crossvideo_kedro.augment import (
    WindowAugment,
    augment_images,
    augment_points,
    cover_starts,
    rotation_about_axis,
    sample_view_frames,
    window_frames,
)


def cfg(**overrides) -> AugmentConfig:
    base = {"clip_frames": 4, "clip_span": 8}
    return parse(AugmentConfig, {**base, **overrides}, "augment")


def video(frames=20, n=32, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "points": rng.normal(size=(frames, n, 3)).astype(np.float32) + [0, 0, 1.0],
        "timestamps": (np.arange(frames) / 15).astype(np.float32),
    }


def test_windows_cover_the_sequence():
    assert cover_starts(10, 4).tolist() == [0, 4, 6]
    frames = window_frames(cover_starts(10, 4), 4, 10)
    assert set(frames.ravel()) == set(range(10))
    assert window_frames(np.array([0]), 4, 2).tolist() == [[0, 1, 1, 1]]


def test_view_frames_stay_inside_the_clip_span_with_drawn_steps():
    rng = np.random.default_rng(0)
    frames = sample_view_frames(rng, np.full(200, 40), np.full(200, 100), cfg(frame_steps=[1, 2]))
    assert frames.shape == (200, 2, 4)
    assert frames.min() >= 40 and frames.max() < 48
    steps = np.diff(frames, axis=-1)
    assert ((steps == 1) | (steps == 2)).all() and (steps == steps[..., :1]).all()  # one rate per view
    assert {1, 2} <= set(np.unique(steps[..., 0])) and {1, 2} <= set(np.unique(steps[:, 1, 0]))
    short = sample_view_frames(rng, np.zeros(50, int), np.full(50, 5), cfg())
    assert short.max() == 4  # past the end of a short sequence the last frame repeats


@pytest.mark.parametrize("steps", [[1], [1, 2], [1, 3], [1, 4], [2, 3], [1, 2, 3]])
@pytest.mark.parametrize("min_overlap", [0.5, 0.75, 1.0])
def test_views_always_share_at_least_min_overlap_of_their_frames(steps, min_overlap):
    """Over many draws, whatever frame_steps are configured, no view pair shares fewer than ⌈min_overlap·T⌉ frames."""
    T = 8
    config = parse(AugmentConfig, {"clip_frames": T, "clip_span": (T - 1) * max(steps) + 1 + 3,
                                   "frame_steps": steps, "min_overlap": min_overlap}, "augment")
    frames = sample_view_frames(np.random.default_rng(1), np.zeros(3000, int), np.full(3000, 1000), config)
    shared = np.array([len(set(a) & set(b)) for a, b in zip(frames[:, 0], frames[:, 1], strict=True)])
    assert shared.min() >= int(np.ceil(min_overlap * T))
    if min_overlap < 1 and len(steps) > 1:  # and the views still differ (rates and offsets are drawn)
        assert (frames[:, 0] != frames[:, 1]).any(axis=1).mean() > 0.3


def test_rotation_matrices_are_rotations_about_the_axis():
    rot = rotation_about_axis(np.array([0.3, -1.0]), axis=1)
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0)
    np.testing.assert_allclose(rot[:, 1], [[0, 1, 0], [0, 1, 0]])  # the up axis is fixed


def test_geometric_augmentation_magnitudes():
    rng = np.random.default_rng(1)
    points = np.random.default_rng(2).normal(size=(50, 2, 3, 64, 3))
    geo = cfg(geometric={"rotation_deg": 0, "scale": [1, 1], "translation": 0.0, "jitter_std": 0.0,
                         "dropout": 0.0}).geometric
    same = augment_points(rng, points, geo, np.zeros((50, 2), bool))
    np.testing.assert_allclose(same, points, atol=1e-6)
    mirrored = augment_points(rng, points, geo, np.ones((50, 2), bool))
    np.testing.assert_allclose(mirrored[..., 0], -points[..., 0], atol=1e-6)
    rotated = augment_points(rng, points, cfg(geometric={"rotation_deg": 30, "scale": [1, 1], "translation": 0.0,
                                                         "jitter_std": 0, "dropout": 0}).geometric,
                             np.zeros((50, 2), bool))
    np.testing.assert_allclose(np.linalg.norm(rotated, axis=-1), np.linalg.norm(points, axis=-1), rtol=1e-5)
    np.testing.assert_allclose(rotated[..., 1], points[..., 1], atol=1e-6)  # rotation about y keeps y
    shifted = augment_points(rng, points, cfg(geometric={"rotation_deg": 0, "scale": [1, 1], "translation": 0.05,
                                                         "jitter_std": 0, "dropout": 0}).geometric,
                             np.zeros((50, 2), bool))
    delta = shifted - points
    assert np.abs(delta).max() <= 0.05 + 1e-6
    np.testing.assert_allclose(delta, delta[:, :, :1, :1].repeat(3, 2).repeat(64, 3), atol=1e-6)  # one per view


def test_point_dropout_replaces_points_by_kept_ones():
    points = np.arange(2 * 2 * 1 * 100 * 3, dtype=np.float64).reshape(2, 2, 1, 100, 3)
    geo = cfg(geometric={"rotation_deg": 0, "scale": [1, 1], "translation": 0, "jitter_std": 0,
                         "dropout": 0.3}).geometric
    out = augment_points(np.random.default_rng(0), points, geo, np.zeros((2, 2), bool))
    assert out.shape == points.shape
    for p in range(2):
        for v in range(2):
            rows = {tuple(r) for r in points[p, v, 0]}
            kept = [tuple(r) for r in out[p, v, 0]]
            assert set(kept) <= rows
            assert 55 <= len(set(kept)) <= 85  # about 30% dropped


def test_image_augmentation_flip_crop_and_jitter():
    rng = np.random.default_rng(0)
    frames = np.zeros((4, 2, 3, 16, 16, 3), dtype=np.uint8)
    frames[..., :8, :] = 200  # left half bright
    image = cfg(image={"crop_scale": [1, 1], "brightness": 0, "contrast": 0, "saturation": 0,
                       "flip_prob": 0.5}).image
    out, flip, _ = augment_images(rng, frames, image)
    assert out.shape == frames.shape and out.dtype == np.uint8 and flip.any() and not flip.all()
    left = out[..., :, :8, :].mean(axis=(2, 3, 4, 5))
    right = out[..., :, 8:, :].mean(axis=(2, 3, 4, 5))
    assert (left[~flip] > right[~flip] + 150).all()
    assert (right[flip] > left[flip] + 150).all()  # flipped views have the bright half on the right


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"clip_span": 6}, r"augment.clip_span must be >= \(clip_frames - 1\) \* max\(frame_steps\) \+ 1 = 7"),
        ({"min_overlap": 0}, r"augment.min_overlap must be a fraction in \(0, 1\]"),
        ({"frame_steps": []}, r"augment.frame_steps must be a non-empty list"),
        ({"geometric": {"dropout": 1.0}}, r"augment.geometric.dropout must be (in \[0, 1\)|>= 0 and < 1)"),
        ({"geometric": {"rotaton_deg": 1}}, r"unknown parameter\(s\) \['augment.geometric.rotaton_deg'\]"),
        ({"image": {"crop_scale": [0.5, 1.5]}}, r"augment.image.crop_scale must be"),
        ({"splits": ["holdout"]}, r"augment.splits must be a non-empty subset"),
        ({"pairs_per_clip": 4}, r"unknown parameter\(s\) \['augment.pairs_per_clip'\]"),
    ],
)
def test_bad_parameters_name_the_key(override, message):
    with pytest.raises(ValueError, match=message):
        cfg(**override)


# ------------------------------------------------------------------------------- fine-tuning augmentation


def _windows(count: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(0, 0.2, (count, 3, 16, 3)).astype(np.float32))


def test_window_augment_is_seeded_and_moves_a_group_as_one_rigid_scaled_body():
    points = _windows()
    rigid = WindowAugment(rotation_deg=30.0, scale=(1.0, 1.0), translation=0.1, jitter_std=0.0)
    groups = np.array([7, 7, 3, 3])
    out = rigid(points, groups, torch.Generator().manual_seed(0))
    again = rigid(points, groups, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, again, rtol=0, atol=0)  # same generator state -> same transforms
    assert not torch.allclose(out, rigid(points, groups, torch.Generator().manual_seed(1)))
    # rotation about the up axis (camera y) + translation: y only shifts, distances within a window are kept
    flat_in, flat_out = points.reshape(4, -1, 3), out.reshape(4, -1, 3)
    exact = {"compute_mode": "donot_use_mm_for_euclid_dist"}
    torch.testing.assert_close(torch.cdist(flat_out, flat_out, **exact), torch.cdist(flat_in, flat_in, **exact),
                               atol=1e-5, rtol=0)
    dy = flat_out[..., 1] - flat_in[..., 1]
    torch.testing.assert_close(dy, dy[:, :1].expand_as(dy), atol=1e-6, rtol=0)
    # windows of one group share the transform: solving out = p @ M + b from window 0 predicts window 1 exactly
    for a, b in ((0, 1), (2, 3)):
        design = torch.cat([flat_in[a], torch.ones(len(flat_in[a]), 1)], dim=1).double()
        solution = torch.linalg.lstsq(design, flat_out[a].double()).solution
        predicted = torch.cat([flat_in[b], torch.ones(len(flat_in[b]), 1)], dim=1).double() @ solution
        torch.testing.assert_close(predicted.float(), flat_out[b], atol=1e-5, rtol=0)
    # ... and different groups do not
    design = torch.cat([flat_in[0], torch.ones(len(flat_in[0]), 1)], dim=1).double()
    solution = torch.linalg.lstsq(design, flat_out[0].double()).solution
    other = torch.cat([flat_in[2], torch.ones(len(flat_in[2]), 1)], dim=1).double() @ solution
    assert (other.float() - flat_out[2]).abs().max() > 1e-3


def test_window_augment_scale_jitter_and_bad_parameters():
    points = _windows(64, seed=1)
    scaled = WindowAugment(rotation_deg=0.0, scale=(2.0, 2.0), translation=0.0, jitter_std=0.0)
    torch.testing.assert_close(scaled(points, np.arange(64), torch.Generator()), 2 * points)
    noisy = WindowAugment(rotation_deg=0.0, scale=(1.0, 1.0), translation=0.0, jitter_std=0.01)
    noise = noisy(points, np.arange(64), torch.Generator().manual_seed(0)) - points
    assert abs(float(noise.std()) - 0.01) < 5e-4 and float(noise.abs().max()) <= 0.05 + 1e-6  # clipped at 5 std
    with pytest.raises(ValueError, match=r"finetune.augment.scale must be \[lo, hi\] with 0 < lo <= hi, got \[1.1, 0.9"):
        parse(WindowAugment, {"scale": [1.1, 0.9]}, "finetune.augment")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['finetune.augment.dropout'\]"):
        parse(WindowAugment, {"dropout": 0.1}, "finetune.augment")
    with pytest.raises(ValueError, match=r"finetune.augment.up_axis must be 0, 1 or 2, got 3"):
        parse(WindowAugment, {"up_axis": 3}, "finetune.augment")
    with pytest.raises(ValueError, match=r"finetune.augment.jitter_std must be >= 0, got -1.0"):
        parse(WindowAugment, {"jitter_std": -1.0}, "finetune.augment")
