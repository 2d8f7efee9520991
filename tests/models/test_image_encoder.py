"""Image video encoder: residual CNN per frame + temporal transformer."""

from __future__ import annotations

import pytest
import torch

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.models.image import ImageVideoEncoder
from crossvideo_kedro.configs.model import ImageEncoderConfig


def _cfg(**overrides: object) -> ImageEncoderConfig:
    return parse(ImageEncoderConfig, {"channels": [8, 16], "dim": 24, "depth": 1, "heads": 4, **overrides}, "image")


def test_shapes_gradients_and_finiteness() -> None:
    torch.manual_seed(0)
    enc = ImageVideoEncoder(_cfg())
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(2, 3, 3, 32, 32, generator=g)
    out = enc(frames)
    assert out["frame"].shape == (2, 3, 24)
    assert out["video"].shape == (2, 24)
    assert enc.feature_dim == 24
    assert all(torch.isfinite(v).all() for v in out.values())
    torch.testing.assert_close(out["video"], out["frame"].mean(dim=1))
    loss = sum((out[k] * torch.randn(out[k].shape, generator=g)).sum() for k in ("frame", "video"))
    loss.backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("size", "stem_pool", "blocks"), [(17, False, 1), (48, True, 2)])
def test_any_image_size(size: int, stem_pool: bool, blocks: int) -> None:
    enc = ImageVideoEncoder(_cfg(stem_pool=stem_pool, blocks_per_stage=blocks, video_pool="max")).eval()
    out = enc(torch.randn(1, 2, 3, size, size))
    assert out["frame"].shape == (1, 2, 24)
    torch.testing.assert_close(out["video"], out["frame"].amax(dim=1))


def test_frames_are_encoded_independently_before_the_temporal_model() -> None:
    torch.manual_seed(0)
    enc = ImageVideoEncoder(_cfg(depth=0)).eval()  # no temporal mixing: frame t only depends on image t and time t
    frames = torch.randn(1, 3, 3, 16, 16)
    changed = frames.clone()
    changed[:, 2] = torch.randn(3, 16, 16)
    a, b = enc(frames)["frame"], enc(changed)["frame"]
    torch.testing.assert_close(a[:, :2], b[:, :2])
    assert (a[:, 2] - b[:, 2]).abs().max() > 1e-4


def test_times_enter_the_embedding_and_channels_are_checked() -> None:
    torch.manual_seed(0)
    enc = ImageVideoEncoder(_cfg()).eval()
    frames = torch.randn(1, 3, 3, 16, 16)
    default = enc(frames)["frame"]
    torch.testing.assert_close(enc(frames, torch.arange(3.0)[None])["frame"], default)
    assert (enc(frames, 2 * torch.arange(3.0)[None])["frame"] - default).abs().max() > 1e-4
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        enc(torch.randn(1, 3, 1, 16, 16))
