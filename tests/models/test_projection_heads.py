"""Projection heads: shapes, unit norm, gradients."""

from __future__ import annotations

import pytest
import torch

from crossvideo_kedro.models.heads import ProjectionHead


@pytest.mark.parametrize("norm", ["batch", "layer"])
@pytest.mark.parametrize("shape", [(6, 20), (3, 5, 20)])
def test_unit_norm_embeddings_and_gradients(norm: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    head = ProjectionHead(20, 32, 8, norm=norm)  # type: ignore[arg-type]
    x = torch.randn(*shape, requires_grad=True)
    z = head(x)
    assert z.shape == (*shape[:-1], 8)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(shape[:-1]))
    (z * torch.randn(z.shape)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_batchnorm_statistics_cover_frames_too() -> None:
    """On (B, T, D) the BatchNorm sees B·T rows: a frame-level input equals the same rows fed as (B·T, D)."""
    torch.manual_seed(0)
    head = ProjectionHead(4, 8, 3)
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(head(x).reshape(10, 3), head(x.reshape(10, 4)))


def test_unknown_norm_rejected() -> None:
    with pytest.raises(ValueError, match="norm"):
        ProjectionHead(4, 8, 3, norm="group")  # type: ignore[arg-type]
