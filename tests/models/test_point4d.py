"""Point 4D convolution steps and the point cloud video encoder."""

from __future__ import annotations

import pytest
import torch

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro._open3d import ml_ops
from crossvideo_kedro.models import point4d
from crossvideo_kedro.models.point4d import P4Conv, PointVideoEncoder, gather_frames, temporal_window
from crossvideo_kedro.configs.model import PointEncoderConfig


def _clip(seed: int, B: int = 2, T: int = 4, N: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, T, N, 3, generator=g) * torch.tensor([0.6, 0.6, 0.2])  # (B, T, N, 3), a small tabletop


def _tiny_cfg(**overrides: object) -> PointEncoderConfig:
    base = dict(num_points=64, num_anchors=8, radius=0.15, k=8, dim=32, depth=1, heads=4, conv_channels=(16,))
    return parse(PointEncoderConfig, {**base, **overrides}, "point")


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


def _per_anchor_reference(conv: P4Conv, points: torch.Tensor) -> torch.Tensor:
    """P4Conv straight from its definition, one (clip, frame, anchor) at a time: the tube around the anchor in each
    frame of the kernel -> MLP per neighbour -> max over neighbours -> max over the valid kernel frames -> norm."""
    B, T, N, _ = points.shape
    frames, offsets = temporal_window(T, conv.temporal_kernel)
    anchor_idx = point4d.sample_anchors(points, conv.num_anchors, "torch")
    r2 = torch.tensor(conv.radius, dtype=torch.float32) ** 2
    out = torch.empty(B, T, conv.num_anchors, conv.out_channels)
    for b in range(B):
        for t in range(T):
            for a in range(conv.num_anchors):
                anchor = points[b, t, anchor_idx[b, t, a]]
                pooled = []
                for o in range(conv.temporal_kernel):
                    cloud = points[b, frames[t, o]]
                    inside = torch.nonzero(((cloud - anchor) ** 2).sum(-1) < r2).flatten()[: conv.k]
                    if len(inside) == 0:
                        continue  # an empty ball: this kernel frame is left out of the pooling
                    idx = torch.cat([inside, inside[:1].repeat(conv.k - len(inside))])  # pad with the first
                    disp = torch.cat([cloud[idx] - anchor, offsets[o].expand(conv.k, 1)], dim=-1)  # (K, 4)
                    pooled.append(conv.out_proj(conv.mlp(disp)).amax(dim=0))  # (D,)
                out[b, t, a] = torch.stack(pooled).amax(dim=0)
    return torch.relu(conv.out_norm(out))


def test_p4conv_matches_per_anchor_loop() -> None:
    torch.manual_seed(0)
    conv = P4Conv(0, (16, 24), num_anchors=6, radius=0.2, k=8, norm="layer", neighbor_backend="torch",
                  chunk_rows=64).eval()
    points = _clip(13, B=2, T=3, N=40)
    with torch.no_grad():
        _, feats = conv(points)
        expected = _per_anchor_reference(conv, points)
    torch.testing.assert_close(feats, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_chunked_tube_mlp_gives_the_same_outputs_and_gradients(norm: str) -> None:
    """Chunking the tube MLP's last layer + max is a pure speed choice: fp32 outputs are bit-identical, gradients
    equal up to the order in which the chunks' weight gradients are summed (the hidden layers, and their norms'
    statistics, always see every neighbour at once)."""
    torch.manual_seed(0)
    whole = P4Conv(0, (16, 32), num_anchors=8, radius=0.15, k=8, norm=norm, chunk_rows=0)
    chunked = P4Conv(0, (16, 32), num_anchors=8, radius=0.15, k=8, norm=norm, chunk_rows=40)  # 5 groups/chunk
    chunked.load_state_dict(whole.state_dict())
    points = _clip(14, B=2, T=4, N=64)
    g = torch.randn(2, 4, 8, 32, generator=torch.Generator().manual_seed(1))
    outs = []
    for conv in (whole, chunked):
        _, feats = conv(points)
        (feats * g).sum().backward()
        outs.append(feats)
    assert torch.equal(outs[0], outs[1])
    for (name, p), q in zip(whole.named_parameters(), chunked.parameters(), strict=True):
        scale = float(p.grad.abs().max())  # summation order differs: compare against the gradient's scale
        torch.testing.assert_close(q.grad, p.grad, atol=1e-5 * scale, rtol=0, msg=name)


def test_linear_max_over_neighbors_matches_autograd_with_ties() -> None:
    """Against ``linear(...).max(dim).values`` under autograd, with duplicated neighbours (ball-query padding makes
    exact ties): same values and gradients, each channel's gradient on one neighbour, an uneven last chunk."""
    g = torch.Generator().manual_seed(2)
    h = torch.randn(7, 5, 6, generator=g)
    h[:, 3:] = h[:, :1]  # rows 3, 4 repeat row 0, as padded balls do
    weight = torch.randn(4, 6, generator=g)
    grad_out = torch.randn(7, 4, generator=g)
    results = []
    for chunk_rows in (0, 10):  # 10 rows = 2 groups per chunk: chunks of 2, 2, 2, 1
        hh, ww = h.clone().requires_grad_(), weight.clone().requires_grad_()
        out = point4d.linear_max_over_neighbors(hh, ww, chunk_rows)
        (out * grad_out).sum().backward()
        results.append((out, hh.grad, ww.grad))
    (o0, gh0, gw0), (o1, gh1, gw1) = results
    assert torch.equal(o0, o1)
    torch.testing.assert_close(gh1, gh0, atol=1e-6, rtol=0)
    torch.testing.assert_close(gw1, gw0, atol=1e-5, rtol=1e-5)
    # each (group, channel) sends its gradient to exactly one neighbour, even among exact ties
    torch.testing.assert_close(gh1.sum(dim=1), grad_out @ weight, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        assert torch.equal(point4d.linear_max_over_neighbors(h, weight, 10), o0)
    with pytest.raises(ValueError, match="chunk_rows"):
        P4Conv(0, (8,), num_anchors=4, radius=0.1, k=4, chunk_rows=-1)


def _packed_max(x: torch.Tensor, buffer_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    g, K, D = x.shape
    out, idx = torch.empty(g, D, dtype=x.dtype), torch.empty(g, D, dtype=torch.long)
    point4d._MaxOverK(buffer_rows, K, D, x.dtype, x.device)(x, out, idx)
    return out, idx


def test_bf16_packed_max_finds_the_max_and_a_winning_neighbour() -> None:
    """The bf16 path packs the neighbour's rank under each product's bits and takes one amax: the values are
    exactly torch.max's, every index points at a neighbour whose product is that max (ties included: rows 3, 4
    copy row 0, products of both signs; a group whose neighbours are all 0), the same neighbour as torch.max where
    the maximum is unique, and a chunk smaller than the buffer works."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(40, 6, 16, generator=g).bfloat16()
    x[:, 3:5] = x[:, :1]  # exact ties, positive and negative
    x[0, :, 0] = 0.0
    ref_out, ref_idx = torch.max(x, dim=1)
    for rows in (40, 7):
        out, idx = _packed_max(x[:rows], buffer_rows=64)
        assert torch.equal(out, ref_out[:rows])
        assert torch.equal(x[:rows].gather(1, idx[:, None])[:, 0], out)  # a winning neighbour
    unique = (x == ref_out[:, None]).sum(1) == 1
    assert unique.sum() > 300
    assert torch.equal(idx[unique[:7]], ref_idx[:7][unique[:7]])
    _, idx = _packed_max(x, buffer_rows=40)
    assert torch.equal(idx[unique], ref_idx[unique])


def test_chunking_and_the_packed_max_are_for_cpus_only() -> None:
    """On a CPU chunks hold ``chunk_rows // K`` groups and bf16 takes the packed max; on a GPU (here: the meta
    device, which has no CPU cache either) all groups form one chunk and torch.max runs."""
    assert point4d.chunk_groups(torch.device("cpu"), 4096, 16, 24576) == 256
    assert point4d.chunk_groups(torch.device("cpu"), 8, 16, 24576) == 1
    assert point4d.chunk_groups(torch.device("meta"), 4096, 16, 24576) == 24576
    assert point4d._MaxOverK(8, 4, 2, torch.bfloat16, torch.device("cpu")).packed
    assert not point4d._MaxOverK(8, 4, 2, torch.bfloat16, torch.device("meta")).packed
    assert not point4d._MaxOverK(8, 4, 2, torch.float32, torch.device("cpu")).packed


def test_bf16_linear_max_gradients_match_autograd() -> None:
    """bf16 chunked tube layer vs ``linear(...).max(dim)`` under autograd in bf16, with padded-ball duplicates
    (rows 5-7 copy row 0): identical values; each group's input gradient summed over its neighbours and the weight
    gradient within bf16 rounding (a tie between distinct rows may pick the other, equally valid, neighbour)."""
    g = torch.Generator().manual_seed(6)
    h = torch.randn(50, 8, 12, generator=g)
    h[:, 5:] = h[:, :1]
    weight = torch.randn(16, 12, generator=g)
    grad_out = torch.randn(50, 16, generator=g)
    results = []
    for chunk_rows in (0, 56):  # 7 groups a chunk: chunks of 7 ... 7, 1
        hh = h.bfloat16().requires_grad_()
        ww = weight.bfloat16().requires_grad_()
        out = point4d.linear_max_over_neighbors(hh, ww, chunk_rows)
        (out.float() * grad_out).sum().backward()
        results.append((out, hh.grad.float(), ww.grad.float()))
    (o0, gh0, gw0), (o1, gh1, gw1) = results
    assert torch.equal(o0, o1)
    torch.testing.assert_close(gh1.sum(dim=1), gh0.sum(dim=1), atol=0.05, rtol=0.02)
    torch.testing.assert_close(gw1, gw0, atol=0.02 * float(gw0.abs().max()), rtol=0.02)


def test_bf16_math_attention_matches_fp32_sdpa() -> None:
    """Under CPU bf16 autocast attention takes the explicit two-matmul path; it computes the same attention."""
    from crossvideo_kedro.models.point4d import Attention  # noqa: PLC0415

    torch.manual_seed(0)
    attn = Attention(32, 4).eval()
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        ref = attn(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = attn(x)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), ref, atol=3e-2, rtol=3e-2)
