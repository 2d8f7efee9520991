"""Precision helpers: amp resolution, autocast, and a bf16 training step that matches fp32 and is deterministic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from crossvideo_kedro.configs.base import parse
from crossvideo_kedro.losses import NTXentLoss
from crossvideo_kedro.models.heads import ProjectionHead
from crossvideo_kedro.models.image import ImageVideoEncoder
from crossvideo_kedro.models.point4d import PointVideoEncoder
from crossvideo_kedro.configs.model import ImageEncoderConfig, PointEncoderConfig
from crossvideo_kedro.training import precision
from crossvideo_kedro.training.precision import autocast, cpu_has_bf16_matmul, maybe_compile, resolve_amp

CPU = torch.device("cpu")


def test_cpu_bf16_detection_reads_the_cpu_flags(tmp_path) -> None:
    with_bf16 = tmp_path / "bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    without = tmp_path / "plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    amx = tmp_path / "amx"
    amx.write_text("flags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    if torch.backends.mkldnn.is_available():
        assert cpu_has_bf16_matmul(str(with_bf16)) and cpu_has_bf16_matmul(str(amx))
    assert not cpu_has_bf16_matmul(str(without))


def test_resolve_amp_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    for off in ("off", False, None):
        assert resolve_amp(off, CPU) is None
    assert resolve_amp("bf16", CPU) is torch.bfloat16
    for has in (True, False):
        monkeypatch.setattr(precision, "cpu_has_bf16_matmul", lambda has=has: has)
        expected = torch.bfloat16 if has else None
        assert resolve_amp("auto", CPU) is expected
        assert resolve_amp(True, "cpu") is expected  # true means "where it pays", like auto
    with pytest.raises(ValueError, match="amp must be one of"):
        resolve_amp("fp16", CPU)


def test_autocast_context() -> None:
    layer = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with autocast(CPU, None):
        assert layer(x).dtype == torch.float32
    with autocast(CPU, torch.bfloat16):
        assert layer(x).dtype == torch.bfloat16
    assert layer(x).dtype == torch.float32
    assert layer.weight.dtype == torch.float32  # parameters stay fp32


def test_maybe_compile_off_returns_the_module() -> None:
    layer = nn.Linear(2, 2)
    assert maybe_compile(layer, False) is layer


# ----------------------------------------------------------------------------------------- a real training step


def _models(seed: int) -> nn.ModuleDict:
    torch.manual_seed(seed)
    point = parse(PointEncoderConfig, dict(num_points=64, num_anchors=8, radius=0.2, k=8, dim=32, depth=1,
                                              heads=4, conv_channels=(16,), tube_chunk_rows=128), "point")
    image = parse(ImageEncoderConfig, dict(image_size=16, channels=(8, 16), dim=32, depth=1, heads=4), "image")
    return nn.ModuleDict({"point": PointVideoEncoder(point), "image": ImageVideoEncoder(image),
                          "point_head": ProjectionHead(32, 64, 16), "image_head": ProjectionHead(32, 64, 16)})


def _batch(step: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(100 + step)
    points = torch.rand(2, 4, 4, 64, 3, generator=g) * torch.tensor([0.6, 0.6, 0.2])  # (views, B, T, N, 3)
    times = torch.arange(4.0).expand(4, 4) / 7.5  # (B, T)
    images = torch.randn(4, 4, 3, 16, 16, generator=g)  # (B, T, 3, H, W)
    return points, times, images


def _loss(models: nn.ModuleDict, step: int, dtype: torch.dtype | None) -> torch.Tensor:
    """NT-Xent between the two point views plus point<->image NT-Xent, the encoders under ``autocast``."""
    points, times, images = _batch(step)
    with autocast(CPU, dtype):
        views = [models["point_head"](models["point"](p, times)["video"]) for p in points]  # 2 x (B, E)
        image = models["image_head"](models["image"](images, times)["video"])  # (B, E)
    views, image = [v.float() for v in views], image.float()
    loss = NTXentLoss(0.1)
    return loss(views[0], views[1]) + loss((views[0] + views[1]) / 2, image)


def _train(dtype: torch.dtype | None, steps: int = 3, seed: int = 0) -> nn.ModuleDict:
    models = _models(seed)
    optimizer = torch.optim.AdamW(models.parameters(), lr=1e-3)
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        _loss(models, step, dtype).backward()
        optimizer.step()
    return models


def _grads(models: nn.ModuleDict, step: int, dtype: torch.dtype | None) -> tuple[float, dict[str, torch.Tensor]]:
    models.zero_grad(set_to_none=True)
    loss = _loss(models, step, dtype)
    loss.backward()
    return float(loss.detach()), {key: torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None])
                                  for key, m in models.items()}


def test_bf16_step_matches_fp32_loss_and_gradients() -> None:
    """The same weights and batch under bf16 autocast vs fp32.

    Tolerance (stated, measured at initialisation where clips are least distinguishable, so the worst case): loss
    within 5 %; each module's gradient (one vector per encoder / head) at cosine > 0.9 to the fp32 gradient with a
    norm within 25 % — and bf16 moves the gradient less than drawing another batch does (fp32 gradients of two
    batches), i.e. bf16 error stays below minibatch noise.
    """
    models = _models(0)
    loss32, g32 = _grads(models, 0, None)
    loss16, g16 = _grads(models, 0, torch.bfloat16)
    _, other_batch = _grads(models, 1, None)
    assert abs(loss16 - loss32) <= 0.05 * abs(loss32)
    cos = lambda a, b: float(torch.nn.functional.cosine_similarity(a, b, dim=0))  # noqa: E731
    for key in models:
        assert cos(g16[key], g32[key]) > 0.9, key
        assert abs(float(g16[key].norm() / g32[key].norm()) - 1) < 0.25, key
        assert cos(g16[key], g32[key]) > cos(other_batch[key], g32[key]), key


@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["fp32", "bf16"])
def test_training_is_deterministic_in_each_precision(dtype: torch.dtype | None) -> None:
    first, second = _train(dtype), _train(dtype)
    for (name, p), q in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    other_seed = _train(dtype, seed=1)
    assert not torch.equal(first["point"].pos_embed[0].weight, other_seed["point"].pos_embed[0].weight)
