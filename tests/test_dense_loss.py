"""The dense point-to-pixel InfoNCE against a per-token loop, closed forms, masks, projection and a shortcut check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crossvideo_kedro.geometry.backproject import backproject_pixels
from crossvideo_kedro.losses import (
    DensePixelLoss,
    PointPixelInfoNCE,
    SameLocationPixelInfoNCE,
    project_points,
    to_feature_map,
)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def bilinear(image: torch.Tensor, u: float, v: float) -> torch.Tensor:
    """Feature at (u, v) (centres at integers), interpolated by hand, borders clamped."""
    _, h, w = image.shape
    u, v = min(max(u, 0.0), w - 1.0), min(max(v, 0.0), h - 1.0)
    u0, v0 = min(int(math.floor(u)), w - 2) if w > 1 else 0, min(int(math.floor(v)), h - 2) if h > 1 else 0
    a, b = u - u0, v - v0
    return ((1 - a) * (1 - b) * image[:, v0, u0] + a * (1 - b) * image[:, v0, u0 + 1]
            + (1 - a) * b * image[:, v0 + 1, u0] + a * b * image[:, v0 + 1, u0 + 1])


def dense_loop(points, image, frame, uv, valid, tau, radius) -> float:
    """PPKT per token: −log exp(s_mm) / (exp(s_mm) + Σ_{n ∈ N(m)} exp(s_mn)), averaged over valid tokens."""
    image = image.double()
    ids = [m for m in range(len(points)) if valid[m]]
    z = {m: F.normalize(points[m].double(), dim=0) for m in ids}
    y = {m: F.normalize(bilinear(image[int(frame[m])], float(uv[m, 0]), float(uv[m, 1])), dim=0) for m in ids}
    total = 0.0
    for m in ids:
        pos = math.exp(float(z[m] @ y[m]) / tau)
        den = pos
        for n in ids:
            same_frame = int(frame[n]) == int(frame[m])
            close = math.dist(uv[n].tolist(), uv[m].tolist()) <= radius
            if n != m and not (same_frame and close):
                den += math.exp(float(z[m] @ y[n]) / tau)
        total += -math.log(pos / den)
    return total / len(ids)


def same_location_loop(points, image, uv, valid, tau, groups=None) -> float:
    """Per token (v, b, t, l): −log softmax over the clips c allowed as candidates of s = ẑ · y_c(p) / τ at c = b,
    with y_c(p) clip c's map (same view, same slot), normalised cell by cell, read at the token's own position p."""
    V, B, T, L, _ = points.shape
    total, count = 0.0, 0
    for v in range(V):
        for b in range(B):
            for t in range(T):
                for l in range(L):
                    if not valid[v, b, t, l]:
                        continue
                    z = F.normalize(points[v, b, t, l].double(), dim=0)
                    u, w = float(uv[v, b, t, l, 0]), float(uv[v, b, t, l, 1])
                    scores = {}
                    for c in range(B):
                        if c != b and groups is not None and int(groups[c]) == int(groups[b]):
                            continue
                        y = bilinear(F.normalize(image[v, c, t].double(), dim=0), u, w)
                        scores[c] = float(z @ y) / tau
                    top = max(scores.values())
                    total += -(scores[b] - top - math.log(sum(math.exp(s - top) for s in scores.values())))
                    count += 1
    return total / count


def batch(M, D, frames=3, h=5, w=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    points = torch.randn(M, D, generator=g)
    image = torch.randn(frames, D, h, w, generator=g)
    frame = torch.randint(0, frames, (M,), generator=g)
    uv = torch.rand(M, 2, generator=g) * torch.tensor([w - 1.0, h - 1.0])
    valid = torch.rand(M, generator=g) > 0.2
    valid[0] = True
    return points, image, frame, uv, valid


@pytest.mark.parametrize("M, D", [(6, 4), (17, 8), (40, 16)])
@pytest.mark.parametrize("tau", [0.07, 0.5])
@pytest.mark.parametrize("radius", [0.0, 1.5])
def test_dense_loss_matches_the_per_token_loop(M, D, tau, radius):
    args = batch(M, D, seed=M)
    loss = PointPixelInfoNCE(temperature=tau, mask_radius=radius)(*args)
    assert float(loss) == pytest.approx(dense_loop(*args, tau, radius), rel=1e-5, abs=1e-6)


def test_nearest_sampling_reads_the_cell_that_holds_the_projection():
    image = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    uv = torch.tensor([[0.4, 0.4], [2.6, 1.2], [4.49, 3.49]])
    got = PointPixelInfoNCE(sampling="nearest").sample(image, torch.tensor([0, 1, 1]), uv)
    expected = torch.stack([image[0, :, 0, 0], image[1, :, 1, 3], image[1, :, 3, 4]])
    assert torch.equal(got, expected)


@pytest.mark.parametrize("M, tau", [(5, 0.1), (12, 0.3)])
def test_identical_features_give_log_of_one_plus_the_negatives(M, tau):
    D = 4
    points = torch.ones(M, D)
    image = torch.ones(M, D, 3, 3)
    frame = torch.arange(M)  # every token in its own frame: none masked
    uv = torch.ones(M, 2)
    loss = PointPixelInfoNCE(temperature=tau, mask_radius=5.0)(points, image, frame, uv, torch.ones(M, dtype=bool))
    assert float(loss) == pytest.approx(math.log(M), rel=1e-6)
    frame = torch.zeros(M, dtype=torch.long)  # one frame, one pixel: every negative is masked
    loss = PointPixelInfoNCE(temperature=tau, mask_radius=0.0)(points, image[:1], frame, uv, torch.ones(M, dtype=bool))
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_a_masked_negative_does_not_count_and_an_unmasked_one_does():
    """Token 1's pixel is one cell from token 0's in the same frame (masked); token 2's is far (a negative)."""
    D = 6
    points, image = randn(3, D, seed=1), randn(1, D, 4, 12, seed=2)
    frame = torch.zeros(3, dtype=torch.long)
    uv = torch.tensor([[1.0, 1.0], [2.0, 1.0], [9.0, 2.0]])
    valid = torch.ones(3, dtype=bool)
    loss = PointPixelInfoNCE(mask_radius=1.0)
    base = loss.token_losses(points, image, frame, uv, valid)  # (3,)
    near, far = image.clone(), image.clone()
    near[0, :, 1, 2] = randn(D, seed=3) * 5  # token 1's positive: a masked negative of token 0
    far[0, :, 2, 9] = randn(D, seed=3) * 5  # token 2's positive: an unmasked negative of token 0
    after_near = loss.token_losses(points, near, frame, uv, valid)
    after_far = loss.token_losses(points, far, frame, uv, valid)
    assert float(after_near[0]) == pytest.approx(float(base[0]), rel=1e-6)  # masked: token 0 does not see it
    assert float(after_near[1]) != pytest.approx(float(base[1]), rel=1e-3)  # token 1's own positive moved
    assert float(after_far[0]) != pytest.approx(float(base[0]), rel=1e-3)  # unmasked: it counts
    assert float(loss(points, image, frame, uv, valid)) == pytest.approx(float(base.mean()), rel=1e-6)


def test_the_mask_is_per_frame():
    """The same pixel in another frame is a negative: only same-frame neighbours are masked."""
    D = 6
    points, image = randn(2, D, seed=4), randn(2, D, 4, 6, seed=5)
    uv = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    valid = torch.ones(2, dtype=bool)
    loss = PointPixelInfoNCE(mask_radius=2.0)
    same = loss.token_losses(points, image, torch.tensor([0, 0]), uv, valid)
    other = loss.token_losses(points, image, torch.tensor([0, 1]), uv, valid)
    assert same.tolist() == pytest.approx([0.0, 0.0], abs=1e-7)  # the only negative is masked
    assert float(other.min()) > 0.0


def test_invalid_tokens_do_not_count():
    points, image, frame, uv, valid = batch(20, 8, seed=7)
    loss = PointPixelInfoNCE(mask_radius=1.0)
    base = loss(points, image, frame, uv, valid)
    junk = points.clone()
    junk[~valid] = randn(int((~valid).sum()), 8, seed=8) * 100
    uv_junk = uv.clone()
    uv_junk[~valid] = 1e6  # e.g. behind the camera or far outside the image
    assert float(loss(junk, image, frame, uv_junk, valid)) == pytest.approx(float(base), rel=1e-6)
    assert float(base) == pytest.approx(float(loss(points[valid], image, frame[valid], uv[valid],
                                                   torch.ones(int(valid.sum()), dtype=bool))), rel=1e-6)


def test_no_valid_token_is_a_zero_with_a_graph():
    points, image, frame, uv, _ = batch(6, 4)
    points.requires_grad_(True)
    loss = PointPixelInfoNCE()(points, image, frame, uv, torch.zeros(6, dtype=bool))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.equal(points.grad, torch.zeros_like(points))


def test_gradients_reach_points_and_image_and_alignment_lowers_the_loss():
    points, image, frame, uv, valid = batch(30, 8, seed=9)
    points.requires_grad_(True), image.requires_grad_(True)
    loss = PointPixelInfoNCE()
    value = loss(points, image, frame, uv, valid)
    value.backward()
    assert points.grad[valid].abs().sum() > 0 and image.grad.abs().sum() > 0
    aligned = loss.sample(image.detach(), frame, uv)  # each token's point feature = its own pixel feature
    assert float(loss(aligned, image.detach(), frame, uv, valid)) < float(value.detach()) - 1.0


@pytest.mark.parametrize("kwargs, match", [
    ({"temperature": 0}, "temperature"), ({"mask_radius": -1}, "mask_radius"), ({"sampling": "cubic"}, "sampling"),
])
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PointPixelInfoNCE(**kwargs)


def test_bad_shapes_and_frames_are_refused():
    points, image, frame, uv, valid = batch(6, 4, frames=2)
    loss = PointPixelInfoNCE()
    with pytest.raises(ValueError, match="image must be"):
        loss(points, image[:, :3], frame, uv, valid)
    with pytest.raises(ValueError, match="uv"):
        loss(points, image, frame, uv[:, :1], valid)
    with pytest.raises(ValueError, match="frame indices"):
        loss(points, image, frame + 2, uv, valid)


# ---------------------------------------------------------------- projection

K = np.array([[50.0, 0.0, 31.5], [0.0, 48.0, 23.5], [0.0, 0.0, 1.0]])


def test_back_projected_depth_projects_back_onto_its_own_pixels():
    H, W = 48, 64
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 4.0, size=(1, H, W)).astype(np.float32)
    pixels = np.arange(H * W)[None, :]
    points = backproject_pixels(depth, pixels, K)[0]  # (H·W, 3)
    uv, valid = project_points(torch.from_numpy(points), torch.from_numpy(K), (H, W))
    source = np.stack([pixels[0] % W, pixels[0] // W], axis=1)
    assert bool(valid.all())
    assert np.abs(uv.numpy() - source).max() < 1.0
    assert np.abs(uv.numpy() - source).max() < 1e-3  # float32 round trip, far inside the pixel


def test_points_behind_the_camera_or_outside_the_image_are_invalid():
    points = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [10.0, 0.0, 1.0], [0.0, -5.0, 1.0]])
    uv, valid = project_points(points, torch.from_numpy(K), (48, 64))
    assert valid.tolist() == [True, False, False, False, False]
    assert uv[0].tolist() == pytest.approx([31.5, 23.5])


def test_feature_map_coordinates_follow_the_resize_convention():
    uv = torch.tensor([[-0.5, -0.5], [63.5, 47.5], [31.5, 23.5], [4.0, 4.0]])
    got = to_feature_map(uv, (48, 64), (6, 8))  # stride 8
    assert got.flatten().tolist() == pytest.approx([-0.5, -0.5, 7.5, 5.5, 3.5, 2.5, 0.0625, 0.0625])


# ---------------------------------------------------------------- shortcut: position alone


def _augment(points: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The views' augmentation: rotation about the up axis (±15°), per-axis scale 0.9–1.1, translation ±5 cm."""
    angle = np.deg2rad(15.0) * rng.uniform(-1, 1)
    c, s = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    scale = torch.from_numpy(rng.uniform(0.9, 1.1, 3)).float()
    return (points @ rot.T) * scale + torch.from_numpy(rng.uniform(-0.05, 0.05, 3)).float()


H_IMG, W_IMG, H_MAP, W_MAP, FRAMES, TOKENS, DIM = 48, 64, 6, 8, 4, 64, 16


def _scenes(seeds: range) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per scene: the augmented xyz the point encoder sees (with a 1 appended), frame, feature-map uv, valid."""
    k, out = torch.from_numpy(K).float(), []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        depth = rng.uniform(1.0, 3.0, (FRAMES, H_IMG, W_IMG)).astype(np.float32)
        pixels = rng.integers(0, H_IMG * W_IMG, (FRAMES, TOKENS // FRAMES))
        points = torch.from_numpy(backproject_pixels(depth, pixels, K)).reshape(TOKENS, 3)
        uv, valid = project_points(points, k, (H_IMG, W_IMG))
        seen = torch.cat([_augment(points, rng), torch.ones(TOKENS, 1)], dim=1)  # (M, 4)
        frame = torch.arange(FRAMES).repeat_interleave(TOKENS // FRAMES)
        out.append((seen, frame, to_feature_map(uv, (H_IMG, W_IMG), (H_MAP, W_MAP)), valid))
    return out


def _position_image(to_image: torch.Tensor) -> torch.Tensor:
    """(F, D, h, w) image features from the cell position alone: [u'/w, v'/h, 1] through a fixed linear map."""
    rows, cols = torch.meshgrid(torch.arange(H_MAP), torch.arange(W_MAP), indexing="ij")
    cells = torch.stack([cols / W_MAP, rows / H_MAP, torch.ones(H_MAP, W_MAP)], dim=-1)  # (h, w, 3)
    return (cells @ to_image).permute(2, 0, 1)[None].expand(FRAMES, -1, -1, -1)


def test_random_position_encoders_do_no_better_than_random_point_features():
    """The shortcut test, untrained: image features from the pixel position and point features from the augmented
    xyz alone, each through a fixed random linear map, against random point features; means over scenes and maps.
    """
    loss, scenes, gaps = PointPixelInfoNCE(mask_radius=1.0), _scenes(range(20)), []
    for map_seed in range(8):
        g = torch.Generator().manual_seed(map_seed)
        image, to_point = _position_image(torch.randn(3, DIM, generator=g)), torch.randn(4, DIM, generator=g)
        for seen, frame, uv, valid in scenes:
            position = loss(seen @ to_point, image, frame, uv, valid)
            random = loss(torch.randn(TOKENS, DIM, generator=g), image, frame, uv, valid)
            gaps.append(float(position - random))
    assert np.mean(gaps) >= -0.05, np.mean(gaps)


def test_position_alone_is_a_shortcut_the_views_augmentation_does_not_remove():
    """A linear point encoder of the augmented xyz alone, fitted on some scenes, beats chance on others.

    The views' augmentation moves a point by about a cell, not across the image, so the pixel a point projects to
    stays predictable from its coordinates and this loss rewards encoding position (docs/objectives.md). The test
    pins that property: a change that removes the shortcut makes it fail, and the docs must then change with it.
    """
    loss = PointPixelInfoNCE(mask_radius=1.0)
    g = torch.Generator().manual_seed(0)
    image = _position_image(torch.randn(3, DIM, generator=g))
    train, held_out = _scenes(range(40)), _scenes(range(40, 60))
    targets = torch.cat([loss.sample(image, frame, uv) for _, frame, uv, _ in train])  # (40·M, D) positives
    to_point = torch.linalg.lstsq(torch.cat([seen for seen, *_ in train]), targets).solution  # (4, D)
    fitted, shuffled = [], []
    for seen, frame, uv, valid in held_out:
        z = seen @ to_point
        fitted.append(float(loss(z, image, frame, uv, valid)))
        shuffled.append(float(loss(z[torch.randperm(TOKENS, generator=g)], image, frame, uv, valid)))
    assert np.mean(fitted) < np.mean(shuffled) - 0.5, (np.mean(fitted), np.mean(shuffled))


@pytest.mark.parametrize("sampling", ["bilinear", "nearest"])
def test_sampling_equals_torch_grid_sample(sampling):
    """The gathered sampling is grid_sample with align_corners=False and border padding, inside and outside the map."""
    image = randn(3, 5, 4, 6, seed=11)
    frame = torch.tensor([0, 1, 2, 2, 1, 0])
    uv = torch.tensor([[0.3, 0.7], [4.9, 2.2], [5.0, 3.0], [-0.4, 1.5], [6.3, -0.2], [2.2, 1.1]])
    got = PointPixelInfoNCE(sampling=sampling).sample(image, frame, uv)
    grid = torch.stack([(2 * uv[:, 0] + 1) / 6 - 1, (2 * uv[:, 1] + 1) / 4 - 1], dim=-1)[:, None, None, :]
    expected = F.grid_sample(image[frame], grid, mode=sampling, padding_mode="border", align_corners=False)
    torch.testing.assert_close(got, expected[:, :, 0, 0])


# ---------------------------------------------------------------- same-location negatives (the wired term)


def slot_batch(V=2, B=4, T=3, L=5, D=6, h=4, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    points = torch.randn(V, B, T, L, D, generator=g)
    image = torch.randn(V, B, T, D, h, w, generator=g)
    uv = torch.rand(V, B, T, L, 2, generator=g) * torch.tensor([w + 1.0, h + 1.0]) - 1.0  # some past the border
    valid = torch.rand(V, B, T, L, generator=g) > 0.25
    return points, image, uv, valid


@pytest.mark.parametrize("shape", [(1, 2, 1, 3, 4), (2, 4, 3, 5, 6), (2, 5, 2, 4, 8)])
@pytest.mark.parametrize("tau", [0.07, 0.5])
@pytest.mark.parametrize("grouped", [False, True])
def test_same_location_loss_matches_the_per_token_loop(shape, tau, grouped):
    V, B, T, L, D = shape
    points, image, uv, valid = slot_batch(V, B, T, L, D, seed=B * 10 + L)
    groups = torch.arange(B) // 2 if grouped else None  # clips 0 and 1 share a sequence: not each other's negatives
    if grouped and B == 2:
        groups = torch.tensor([0, 1])
    got = SameLocationPixelInfoNCE(tau)(points, image, uv, valid, groups)
    assert float(got) == pytest.approx(same_location_loop(points, image, uv, valid, tau, groups), rel=1e-5)


def test_same_location_loss_of_a_position_only_image_is_log_of_the_clips_whatever_the_points():
    """Every candidate is read at the token's own position: a map that is the same for every clip gives log(B)."""
    points, image, uv, valid = slot_batch(B=6, seed=3)
    shared = image[:, :1].expand_as(image)  # (V, B, T, D, h, w): one map per view and slot, the same for all clips
    loss = SameLocationPixelInfoNCE(0.1)
    assert float(loss(points, shared, uv, valid)) == pytest.approx(math.log(6), rel=1e-6)
    aligned = loss.logits(points, shared, uv)  # the best possible point features change nothing
    assert float(aligned.std()) > 0


def test_dense_wrapper_picks_the_negatives_and_refuses_unknown_ones():
    points, image, uv, valid = slot_batch(seed=5)
    same = DensePixelLoss(0.2, "same_location")(points, image, uv, valid)
    assert float(same) == pytest.approx(float(SameLocationPixelInfoNCE(0.2)(points, image, uv, valid)), rel=1e-6)
    V, B, T, L, D = points.shape
    batch_loss = DensePixelLoss(0.2, "batch", mask_radius=1.0)(points, image, uv, valid)
    frame = torch.arange(V * B * T).repeat_interleave(L)
    expected = PointPixelInfoNCE(0.2, 1.0)(points.reshape(-1, D), image.reshape(-1, D, 4, 5), frame,
                                            uv.reshape(-1, 2), valid.reshape(-1))
    assert float(batch_loss) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError, match="negatives"):
        DensePixelLoss(negatives="other")


def _slot_scenes(seeds: range) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The scenes of :func:`_scenes` as the clips of one batch: xyz (1, B, T, L, 4), uv (1, B, T, L, 2), valid."""
    scenes = _scenes(seeds)
    per = TOKENS // FRAMES
    xyz = torch.stack([seen.reshape(FRAMES, per, 4) for seen, *_ in scenes])[None]
    uv = torch.stack([p.reshape(FRAMES, per, 2) for _, _, p, _ in scenes])[None]
    valid = torch.stack([v.reshape(FRAMES, per) for *_, v in scenes])[None]
    return xyz, uv, valid


def _fourier(xyz: torch.Tensor, seed: int) -> torch.Tensor:
    """Random Fourier features of the augmented xyz (bandwidth ~ a cell of the feature map at 1-3 m)."""
    g = torch.Generator().manual_seed(seed)
    freq, phase = torch.randn(3, DIM // 2, generator=g) * 8.0, torch.rand(DIM // 2, generator=g) * 2 * math.pi
    arg = xyz[..., :3] @ freq + phase
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)


def test_position_alone_does_not_lower_the_wired_dense_term():
    """The shortcut test of ``cross_dense`` (same-location negatives) under the views' augmentation.

    Image features from the cell position alone (a fixed linear map of [u'/w, v'/h, 1], as above), point features
    from the augmented xyz alone — a linear map fitted to the positives of other scenes, and random Fourier features
    — against random point features: none beats the random value, since every candidate is read at the same place.
    The same fitted map does beat chance with batch negatives (the PPKT form): position is a shortcut there.
    """
    g = torch.Generator().manual_seed(0)
    flat = _position_image(torch.randn(3, DIM, generator=g))[0]  # (D, h, w)
    train_xyz, train_uv, _ = _slot_scenes(range(40))
    xyz, uv, valid = _slot_scenes(range(40, 60))  # 20 held-out scenes = the 20 clips of one batch
    B = xyz.shape[1]
    image = flat[None, None, None].expand(1, B, FRAMES, -1, -1, -1)  # (1, B, T, D, h, w)
    targets = PointPixelInfoNCE().sample(flat[None], torch.zeros(train_uv[0].numel() // 2, dtype=torch.long),
                                         train_uv.reshape(-1, 2))  # (40·M, D) the positives of the fitting scenes
    to_point = torch.linalg.lstsq(train_xyz.reshape(-1, 4), targets).solution  # (4, D)
    loss, batch_loss = DensePixelLoss(0.1, "same_location"), DensePixelLoss(0.1, "batch", mask_radius=1.0)
    random = float(loss(torch.randn(*xyz.shape[:-1], DIM, generator=g), image, uv, valid))
    fitted = float(loss(xyz @ to_point, image, uv, valid))
    fourier = float(loss(_fourier(xyz, 1), image, uv, valid))
    assert random == pytest.approx(math.log(B), rel=1e-5)
    assert fitted >= random - 1e-4 and fourier >= random - 1e-4, (fitted, fourier, random)
    batch_fitted = float(batch_loss(xyz @ to_point, image, uv, valid))
    batch_shuffled = float(batch_loss((xyz @ to_point)[:, :, :, torch.randperm(xyz.shape[3], generator=g)],
                                      image, uv, valid))
    assert batch_fitted < batch_shuffled - 0.3, (batch_fitted, batch_shuffled)


@pytest.mark.parametrize("dense, message", [
    ({"negatives": "nearby"},
     r"pretrain.loss.dense.negatives must be one of \['same_location', 'batch'\], got 'nearby'"),
    ({"mask_radius": -1}, "pretrain.loss.dense.mask_radius must be >= 0, got -1"),
    ({"locations": 0}, "pretrain.loss.dense.locations must be an integer >= 1, got 0"),
    ({"dim": 2.5}, "pretrain.loss.dense.dim must be an integer, got 2.5"),
    ({"radius": 1}, r"unknown parameter\(s\) \['pretrain.loss.dense.radius'\] \('radius': did you mean 'mask_radius'"),
])
def test_bad_dense_settings_are_refused_by_the_loss_block(dense, message):
    from crossvideo_kedro.configs import PretrainConfig, parse

    with pytest.raises(ValueError, match=message):
        parse(PretrainConfig, {"loss": {"weights": {"cross_dense": 1.0}, "dense": dense}}, "pretrain")
