"""Configs fail loudly on bad keys; every preset builds and runs."""

from __future__ import annotations

import pytest
import torch

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.configs.model import (
    PRESETS,
    DecoderConfig,
    ImageEncoderConfig,
    ModelConfig,
    PointEncoderConfig,
)
from crossvideo_kedro.training.model import build_decoder, build_encoders, build_heads


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds(name: str) -> None:
    encoders = build_encoders(name)
    decoder = build_decoder(name)
    heads = build_heads(name)
    assert set(heads) == {"point_video", "point_frame", "image_video", "image_frame"}
    cfg = PRESETS[name]
    assert encoders["point"].feature_dim == cfg.point.dim
    assert encoders["image"].feature_dim == cfg.image.dim
    assert decoder.feature_dim == cfg.decoder.dim
    limits = {"small": (1e5, 1e6), "paper": (2e7, 8e7)}[name]
    assert limits[0] < _count(encoders["point"]) < limits[1]
    assert _count(encoders["image"]) > 0 and _count(decoder) > 0 and _count(heads) > 0


def test_small_preset_forward_backward_end_to_end() -> None:
    torch.manual_seed(0)
    cfg = PRESETS["small"]
    encoders, decoder, heads = build_encoders("small"), build_decoder("small"), build_heads("small")
    g = torch.Generator().manual_seed(0)
    B, T, N = 2, 3, cfg.point.num_points // 4
    points = torch.rand(B, T, N, 3, generator=g)
    frames = torch.randn(B, T, 3, cfg.image.image_size, cfg.image.image_size, generator=g)
    p, i = encoders["point"](points), encoders["image"](frames)
    seg = decoder(points, p["anchor_xyz"], p["anchor_features"])
    assert seg.shape == (B, T, N, cfg.decoder.dim)
    z = {
        "point_video": heads["point_video"](p["video"]), "point_frame": heads["point_frame"](p["frame"]),
        "image_video": heads["image_video"](i["video"]), "image_frame": heads["image_frame"](i["frame"]),
    }
    assert z["point_frame"].shape == z["image_frame"].shape == (B, T, cfg.head.out_dim)
    assert z["point_video"].shape == z["image_video"].shape == (B, cfg.head.out_dim)
    loss = sum((v * torch.randn(v.shape, generator=g)).sum() for v in [*z.values(), seg])
    assert torch.isfinite(loss)
    loss.backward()
    for group, module in (("enc", encoders), ("dec", decoder), ("head", heads)):
        for name, param in module.named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, f"{group}.{name}"


def test_paper_preset_tiny_forward() -> None:
    torch.manual_seed(0)
    encoders = build_encoders("paper").eval()
    cfg = PRESETS["paper"]
    with torch.no_grad():
        p = encoders["point"](torch.rand(1, 2, cfg.point.num_anchors * 2, 3))
        i = encoders["image"](torch.randn(1, 2, 3, 32, 32))
    assert p["anchor_features"].shape == (1, 2, cfg.point.num_anchors, 1024)
    assert p["video"].shape == (1, 1024) and i["frame"].shape == (1, 2, 512)
    assert torch.isfinite(p["video"]).all() and torch.isfinite(i["video"]).all()


def test_misspelt_key_is_named() -> None:
    with pytest.raises(ValueError, match=r"radus"):
        parse(PointEncoderConfig, {"radus": 0.1}, "point")
    with pytest.raises(ValueError, match=r"chanels"):
        parse(ImageEncoderConfig, {"chanels": [8]}, "image")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['model.pointt'\]"):
        parse(ModelConfig, {"pointt": {}}, "model")
    with pytest.raises(ValueError, match=r"'depht'"):
        parse(ModelConfig, {"preset": "small", "point": {"depht": 3}}, "model")


@pytest.mark.parametrize(
    ("cls", "d", "key"),
    [
        (PointEncoderConfig, {"temporal_pool": "mean"}, "point.temporal_pool"),
        (PointEncoderConfig, {"neighbor_backend": "cuda"}, "point.neighbor_backend"),
        (PointEncoderConfig, {"k": "16"}, "point.k"),
        (PointEncoderConfig, {"k": 0}, "point.k"),
        (PointEncoderConfig, {"radius": -0.1}, "point.radius"),
        (PointEncoderConfig, {"temporal_kernel": 2}, "point.temporal_kernel"),
        (PointEncoderConfig, {"num_anchors": 600}, "point.num_anchors"),
        (PointEncoderConfig, {"dim": 130}, "point.heads"),
        (PointEncoderConfig, {"dropout": 1.0}, "point.dropout"),
        (ImageEncoderConfig, {"channels": []}, "image.channels"),
        (ImageEncoderConfig, {"stem_pool": "yes"}, "image.stem_pool"),
        (ImageEncoderConfig, {"video_pool": "sum"}, "image.video_pool"),
        (ImageEncoderConfig, {"norm": "layer"}, "image.norm"),
        (DecoderConfig, {"norm": "group"}, "decoder.norm"),
        (DecoderConfig, {"num_neighbors": 0}, "decoder.num_neighbors"),
    ],
)
def test_invalid_value_is_named(cls: type, d: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        parse(cls, d, key.split(".")[0])


def test_overrides_and_lists() -> None:
    cfg = parse(ModelConfig, {"preset": "paper", "point": {"depth": 1, "conv_channels": [64]}, "head": None}, "model")
    assert cfg.point.depth == 1 and cfg.point.conv_channels == (64,)
    assert cfg.point.dim == PRESETS["paper"].point.dim
    assert cfg.image == PRESETS["paper"].image
    assert parse(ModelConfig, {}, "model") == PRESETS["small"]
    assert parse(ImageEncoderConfig, {"channels": [8, 16]}, "image").channels == (8, 16)
    with pytest.raises(ValueError, match="model.preset"):
        parse(ModelConfig, {"preset": "huge"}, "model")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_round_trip_through_a_plain_dict(name: str) -> None:
    """A checkpoint stores ``config.model_dump()`` (tuples may come back as lists): it rebuilds the same config."""
    plain = PRESETS[name].model_dump()
    plain["image"]["channels"] = list(plain["image"]["channels"])
    assert parse(ModelConfig, plain, "model") == PRESETS[name]
