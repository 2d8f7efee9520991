"""Point 4D convolution steps and the point cloud video encoder."""

from __future__ import annotations

import pytest
import torch

from crossvideo_kedro._open3d import ml_ops
from crossvideo_kedro.models.point4d import P4Conv, PointVideoEncoder, gather_frames, temporal_window
from crossvideo_kedro.models.presets import PointEncoderConfig


def _clip(seed: int, B: int = 2, T: int = 4, N: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, T, N, 3, generator=g) * torch.tensor([0.6, 0.6, 0.2])  # (B, T, N, 3), a small tabletop


def _tiny_cfg(**overrides: object) -> PointEncoderConfig:
    base = dict(num_points=64, num_anchors=8, radius=0.15, k=8, dim=32, depth=1, heads=4, conv_channels=(16,))
    return PointEncoderConfig.from_dict({**base, **overrides})


def test_temporal_window_replicates_ends() -> None:
    frames, offsets = temporal_window(4, 3)
    assert frames.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]
    assert offsets.tolist() == [-1.0, 0.0, 1.0]
    frames5, _ = temporal_window(3, 5)
    assert frames5.tolist() == [[0, 0, 0, 1, 2], [0, 0, 1, 2, 2], [0, 1, 2, 2, 2]]


def test_gather_frames_matches_loop() -> None:
    B, T, N, C, A, K = 2, 3, 10, 4, 2, 5
    g = torch.Generator().manual_seed(0)
    values = torch.randn(B, T, N, C, generator=g)
    frames, _ = temporal_window(T, 3)
    idx = torch.randint(0, N, (B, T, 3, A, K), generator=g)
    out = gather_frames(values, frames, idx)
    assert out.shape == (B, T, 3, A, K, C)
    for b in range(B):
        for t in range(T):
            for o in range(3):
                assert torch.equal(out[b, t, o], values[b, frames[t, o]][idx[b, t, o]])


def test_p4conv_shapes_and_anchors_are_frame_points() -> None:
    conv = P4Conv(0, (16, 24), num_anchors=8, radius=0.15, k=8)
    points = _clip(0)
    anchor_xyz, feats = conv(points)
    assert anchor_xyz.shape == (2, 4, 8, 3)
    assert feats.shape == (2, 4, 8, 24)
    assert torch.isfinite(feats).all()
    # every anchor is a point of its own frame, and the first anchor is point 0 (FPS start)
    is_point = (anchor_xyz[:, :, :, None, :] == points[:, :, None, :, :]).all(-1).any(-1)  # (B, T, A)
    assert is_point.all()
    assert torch.equal(anchor_xyz[:, :, 0], points[:, :, 0])


def test_p4conv_with_input_features() -> None:
    conv = P4Conv(5, (16,), num_anchors=8, radius=0.15, k=4, temporal_pool="sum", norm="layer")
    points = _clip(1)
    feats = torch.randn(2, 4, 64, 5, requires_grad=True)
    _, out = conv(points, feats)
    assert out.shape == (2, 4, 8, 16)
    out.square().sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="input channels"):
        conv(points)


def test_p4conv_translation_invariant_features() -> None:
    torch.manual_seed(0)
    conv = P4Conv(0, (16, 24), num_anchors=8, radius=0.15, k=8).eval()
    points = _clip(2)
    shift = torch.tensor([0.25, -0.5, 1.0])
    xyz_a, feats_a = conv(points)
    xyz_b, feats_b = conv(points + shift)
    torch.testing.assert_close(xyz_b, xyz_a + shift)
    torch.testing.assert_close(feats_b, feats_a, atol=1e-5, rtol=1e-5)


def test_p4conv_ignores_content_of_empty_balls() -> None:
    """Anchors of frame 0 find nothing in frame 1 (10 m away): whatever frame 1 holds, frame 0's features agree."""
    torch.manual_seed(0)
    conv = P4Conv(0, (16,), num_anchors=8, radius=0.15, k=8, temporal_pool="sum").eval()
    a = _clip(3, B=1, T=2)
    b = a.clone()
    a[:, 1] += 10.0
    b[:, 1] = _clip(4, B=1, T=1)[:, 0] - 10.0
    _, fa = conv(a)
    _, fb = conv(b)
    torch.testing.assert_close(fa[:, 0], fb[:, 0], atol=0, rtol=0)
    # and it does see frame 1 when frame 1 is near: the features differ then
    c = a.clone()
    c[:, 1] = a[:, 0] + 0.01
    _, fc = conv(c)
    assert (fc[:, 0] - fa[:, 0]).abs().max() > 1e-3


def test_p4conv_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="temporal_pool"):
        P4Conv(0, (8,), num_anchors=4, radius=0.1, k=4, temporal_pool="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="temporal_kernel"):
        P4Conv(0, (8,), num_anchors=4, radius=0.1, k=4, temporal_kernel=2)
    conv = P4Conv(0, (8,), num_anchors=16, radius=0.1, k=4)
    with pytest.raises(ValueError, match="num_anchors"):
        conv(torch.rand(1, 2, 8, 3))


def test_encoder_forward_backward_every_parameter_gets_gradient() -> None:
    torch.manual_seed(0)
    enc = PointVideoEncoder(_tiny_cfg())
    out = enc(_clip(5), times=torch.linspace(0, 0.2, 4).expand(2, 4))
    assert out["anchor_xyz"].shape == (2, 4, 8, 3)
    assert out["anchor_features"].shape == (2, 4, 8, 32)
    assert out["frame"].shape == (2, 4, 32)
    assert out["video"].shape == (2, 32)
    assert enc.feature_dim == 32
    for value in out.values():
        assert torch.isfinite(value).all()
    g = torch.Generator().manual_seed(1)
    loss = sum((out[key] * torch.randn(out[key].shape, generator=g)).sum() for key in ("frame", "video"))
    loss.backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_encoder_frame_and_video_pooling() -> None:
    torch.manual_seed(0)
    enc = PointVideoEncoder(_tiny_cfg(video_pool="max")).eval()
    out = enc(_clip(6))
    torch.testing.assert_close(out["frame"], out["anchor_features"].amax(dim=2))
    torch.testing.assert_close(out["video"], out["frame"].amax(dim=1))


def test_encoder_permutation_invariant_within_frame() -> None:
    """FPS starts at point 0 and ball query keeps the first K in index order, so invariance holds for permutations
    that keep point 0 first, with K >= N (every ball keeps all its points) and BatchNorm in eval mode."""
    torch.manual_seed(0)
    enc = PointVideoEncoder(_tiny_cfg(k=64)).eval()
    points = _clip(7)
    g = torch.Generator().manual_seed(8)
    perm = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(63, generator=g)])
    out_a = enc(points)
    out_b = enc(points[:, :, perm])
    for key in ("anchor_xyz", "anchor_features", "frame", "video"):
        torch.testing.assert_close(out_b[key], out_a[key], atol=1e-5, rtol=1e-5)


def test_encoder_translation_changes_output_only_through_position_embedding() -> None:
    torch.manual_seed(0)
    enc = PointVideoEncoder(_tiny_cfg()).eval()
    points, shift = _clip(9), torch.tensor([0.3, 0.1, -0.7])
    assert (enc(points + shift)["video"] - enc(points)["video"]).abs().max() > 1e-4
    with torch.no_grad():
        enc.pos_embed[-1].weight.zero_()
        enc.pos_embed[-1].bias.zero_()
    torch.testing.assert_close(enc(points + shift)["video"], enc(points)["video"], atol=1e-5, rtol=1e-5)


def test_encoder_uses_times() -> None:
    torch.manual_seed(0)
    enc = PointVideoEncoder(_tiny_cfg()).eval()
    points = _clip(10)
    default = enc(points)["frame"]
    torch.testing.assert_close(enc(points, torch.arange(4.0).expand(2, 4))["frame"], default)
    assert (enc(points, 0.5 * torch.arange(4.0).expand(2, 4))["frame"] - default).abs().max() > 1e-4


@pytest.mark.skipif(ml_ops() is None, reason="open3d.ml.torch.ops unavailable")
def test_encoder_backends_give_identical_outputs() -> None:
    torch.manual_seed(0)
    enc_o3d = PointVideoEncoder(_tiny_cfg(neighbor_backend="open3d")).eval()
    enc_torch = PointVideoEncoder(_tiny_cfg(neighbor_backend="torch")).eval()
    enc_torch.load_state_dict(enc_o3d.state_dict())
    points = _clip(11)
    out_a, out_b = enc_o3d(points), enc_torch(points)
    for key in out_a:
        assert torch.equal(out_a[key], out_b[key]), key


def test_encoder_head_api() -> None:
    torch.manual_seed(0)
    enc = PointVideoEncoder(_tiny_cfg())
    feats = enc.forward_features(_clip(12))
    assert torch.equal(enc.forward_head(feats), feats["video"])  # Identity head by default
    enc.reset_head(5, level="frame")
    assert enc.forward_head(feats).shape == (2, 4, 5)
    with pytest.raises(ValueError, match="level"):
        enc.reset_head(5, level="anchor")  # type: ignore[arg-type]
