"""Feature propagation from anchors to every point."""

from __future__ import annotations

import torch

from crossvideo_kedro.models.decoder import PointDecoder, interpolate_features
from crossvideo_kedro.configs.model import DecoderConfig


def test_interpolation_reproduces_anchor_features_exactly_at_anchors() -> None:
    g = torch.Generator().manual_seed(0)
    B, T, N, A, D = 2, 3, 50, 6, 5
    points = torch.rand(B, T, N, 3, generator=g)
    anchor_idx = torch.stack([torch.randperm(N, generator=g)[:A] for _ in range(B * T)]).reshape(B, T, A)
    anchor_xyz = torch.gather(points, 2, anchor_idx[..., None].expand(-1, -1, -1, 3))
    anchor_features = torch.randn(B, T, A, D, generator=g)
    out = interpolate_features(points, anchor_xyz, anchor_features)
    assert out.shape == (B, T, N, D)
    at_anchors = torch.gather(out, 2, anchor_idx[..., None].expand(-1, -1, -1, D))
    assert torch.equal(at_anchors, anchor_features)


def test_interpolation_inverse_squared_distance_weights_by_hand() -> None:
    anchor_xyz = torch.tensor([[[[0.0, 0, 0], [2, 0, 0], [0, 4, 0], [50, 0, 0]]]])  # (1, 1, 4, 3)
    anchor_features = torch.tensor([[[[1.0], [10.0], [100.0], [1000.0]]]])
    points = torch.tensor([[[[1.0, 0, 0], [0, 2, 0]]]])  # (1, 1, 2, 3)
    out = interpolate_features(points, anchor_xyz, anchor_features, num_neighbors=3)
    # point (1,0,0): d² = 1, 1, 17 ; point (0,2,0): d² = 4, 8, 4
    w1 = torch.tensor([1.0, 1.0, 1 / 17])
    w2 = torch.tensor([1 / 4, 1 / 8, 1 / 4])
    f = torch.tensor([1.0, 10.0, 100.0])
    expected = torch.stack([(w1 * f).sum() / w1.sum(), (w2 * f).sum() / w2.sum()])
    torch.testing.assert_close(out[0, 0, :, 0], expected)


def test_interpolation_stays_within_each_frame() -> None:
    g = torch.Generator().manual_seed(1)
    points = torch.rand(1, 2, 20, 3, generator=g)
    anchor_xyz = torch.rand(1, 2, 4, 3, generator=g)
    feats = torch.randn(1, 2, 4, 3, generator=g)
    out = interpolate_features(points, anchor_xyz, feats)
    moved_xyz, moved_feats = anchor_xyz.clone(), feats.clone()
    moved_xyz[:, 1] += 5.0
    moved_feats[:, 1] *= -3.0
    out_moved = interpolate_features(points, moved_xyz, moved_feats)
    assert torch.equal(out_moved[:, 0], out[:, 0])
    assert not torch.allclose(out_moved[:, 1], out[:, 1])


def test_decoder_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    cfg = DecoderConfig(num_neighbors=3, xyz_dim=8, hidden_dim=16, dim=12, norm="batch")
    dec = PointDecoder(cfg, in_dim=10)
    g = torch.Generator().manual_seed(2)
    points = torch.rand(2, 3, 40, 3, generator=g)
    anchor_xyz = points[:, :, :5]
    anchor_features = torch.randn(2, 3, 5, 10, generator=g, requires_grad=True)
    out = dec(points, anchor_xyz, anchor_features)
    assert out.shape == (2, 3, 40, 12)
    assert dec.feature_dim == 12
    assert torch.isfinite(out).all()
    (out * torch.randn(out.shape, generator=g)).sum().backward()
    assert anchor_features.grad is not None and anchor_features.grad.abs().sum() > 0
    for name, p in dec.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_local_geometry_sees_the_shape_around_a_point_not_where_it_is() -> None:
    from crossvideo_kedro.models.decoder import LocalGeometry, nearest_offsets

    g = torch.Generator().manual_seed(3)
    points = torch.rand(2, 2, 30, 3, generator=g)
    offsets = nearest_offsets(points, 4)
    assert offsets.shape == (2, 2, 30, 4, 3)
    assert torch.equal(offsets[..., 0, :], torch.zeros(2, 2, 30, 3))  # the point itself comes first
    local = LocalGeometry(k=4, dim=8, norm="layer")
    moved = local(points + torch.tensor([0.3, -0.2, 1.0]))  # a translated frame: same neighbourhoods
    torch.testing.assert_close(moved, local(points), atol=1e-5, rtol=0)
    assert not torch.allclose(local(points * 1.5), local(points), atol=1e-3)  # a larger shape is another shape


def test_the_local_branch_learns_a_label_that_only_the_neighbourhood_shows() -> None:
    """Each frame holds tight clusters (label 1) and isolated points (label 0) at random places, so neither the
    point's position nor the (uninformative) anchor features tell them apart: only its own neighbourhood does.
    With ``local_k`` the decoder learns it; without, it stays near the 50 % it gets from the majority class."""

    def frames(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        F = 16
        centres = torch.rand(F, 4, 1, 3, generator=g)
        clusters = (centres + 0.01 * torch.randn(F, 4, 8, 3, generator=g)).reshape(F, 32, 3)
        isolated = torch.rand(F, 32, 3, generator=g)
        points = torch.cat([clusters, isolated], dim=1)[None]  # (1, F, 64, 3)
        labels = torch.cat([torch.ones(F, 32), torch.zeros(F, 32)], dim=1).long()[None]
        return points, labels

    def accuracy(local_k: int) -> float:
        torch.manual_seed(0)
        cfg = DecoderConfig(xyz_dim=8, hidden_dim=32, dim=16, local_k=local_k, local_dim=16)
        dec, head = PointDecoder(cfg, in_dim=4), torch.nn.Linear(16, 2)
        opt = torch.optim.Adam([*dec.parameters(), *head.parameters()], lr=1e-2)
        for step in range(60):
            points, labels = frames(step)
            anchors = torch.zeros(*points.shape[:2], 4, 4)  # anchor features that carry nothing
            loss = torch.nn.functional.cross_entropy(head(dec(points, points[:, :, :4], anchors)).reshape(-1, 2),
                                                     labels.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        points, labels = frames(1000)
        with torch.no_grad():
            pred = head(dec(points, points[:, :, :4], torch.zeros(*points.shape[:2], 4, 4))).argmax(-1)
        return float((pred == labels).float().mean())

    assert accuracy(local_k=8) > 0.95
    assert accuracy(local_k=0) < 0.75
