"""The training loops under ``device: cuda``: the same code runs, learns, and agrees with the CPU.

Skipped where no CUDA device is present (CI, the 2-core development machines). On a GPU machine run
``bash benchmarks/device_check.sh`` (these tests, then the benchmarks on CUDA); docs/performance.md (*On a GPU*)
holds the figures of the last such run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossvideo_kedro.models import point4d
from crossvideo_kedro.configs import ModelConfig, parse
from crossvideo_kedro.training.downstream import run_downstream
from crossvideo_kedro.training.pretrain import pretrain
from tests.training.pretrain_worker import TINY_MODEL, tiny_augment, tiny_config, tiny_pool
from tests.training.test_finetune import config as finetune_config
from tests.training.test_finetune import toy_videos

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _first_steps(device: str, amp: str | bool, steps: int = 24):
    return pretrain(tiny_pool(), tiny_augment(), tiny_config(steps=steps, device=device, amp=amp), seed=0)


def test_pretraining_on_cuda_learns_and_its_first_loss_is_the_cpus():
    """Same seed -> same initial weights and views on both devices: the first loss (before any update) agrees to
    fp32 rounding; the CUDA run then learns like the CPU test (last losses < 0.8 x first)."""
    model, cuda = _first_steps("cuda", False)
    _, cpu = _first_steps("cpu", False, steps=1)
    assert next(model.parameters()).device.type == "cuda"
    assert cuda["loss"].iloc[0] == pytest.approx(cpu["loss"].iloc[0], rel=1e-4)
    assert np.isfinite(cuda["loss"]).all()
    assert cuda["loss"].iloc[-4:].mean() < 0.8 * cuda["loss"].iloc[:4].mean()


def test_amp_auto_on_cuda_is_bf16_and_learns_like_fp32():
    """``amp: auto`` on a bf16-capable GPU: first loss within 5 % of fp32 (the CPU test's tolerance), loss falls."""
    _, fp32 = _first_steps("cuda", False)
    _, bf16 = _first_steps("cuda", "auto")
    assert torch.cuda.is_bf16_supported()
    assert abs(bf16["loss"].iloc[0] - fp32["loss"].iloc[0]) <= 0.05 * fp32["loss"].iloc[0]
    assert bf16["loss"].iloc[-4:].mean() < 0.8 * bf16["loss"].iloc[:4].mean()


def test_cuda_pretraining_is_reproducible_to_float_rounding():
    """Two runs with the same parameters. CUDA's atomic adds (the gathers' backward) sum in a varying order, so
    weights agree to rounding, not bit for bit; the figure is printed (``pytest -s``) for docs/performance.md."""
    a, _ = _first_steps("cuda", False, steps=8)
    b, _ = _first_steps("cuda", False, steps=8)
    worst = max(float((x.float() - y.float()).abs().max()) for x, y in
                zip(a.state_dict().values(), b.state_dict().values(), strict=True) if x.is_floating_point())
    identical = all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    print(f"\ncuda pretraining, same parameters twice: bit-identical={identical}, largest weight difference "
          f"{worst:.2e}")
    assert worst < 1e-3


@pytest.mark.parametrize("task", ["action_segmentation", "semantic_segmentation"])
def test_full_finetuning_on_cuda_learns_the_toy_tasks(task):
    """The CPU test's learnable toy (a blob moving up or down; the moving half of the points is class 1)."""
    videos, images = toy_videos(8)
    for name in images:  # in front of a camera with known intrinsics, for the per-point image features
        videos[name]["points"][..., 2] += 1.0
        images[name]["intrinsics"] = np.array([[10, 0, 7.5], [0, 10, 7.5], [0, 0, 1]], np.float32)
    scores, preds, history, model = run_downstream(
        task, "full", videos, images, [f"s{i}" for i in range(6)], ["s6", "s7"], 3, parse(ModelConfig, TINY_MODEL, "model"),
        None, task == "semantic_segmentation", finetune_config(steps=40, lr=3e-3, device="cuda", amp="auto"), seed=0)
    assert next(model.parameters()).device.type == "cuda"
    assert np.isfinite(history["loss"]).all()
    if task == "action_segmentation":
        assert scores["accuracy"] > 80  # chance ~40 % (majority class)
    else:
        assert scores["miou"] > 60  # per-point fusion on CUDA: points projected into the image there


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_tube_layer_on_cuda_is_one_chunk_and_matches_autograd(dtype):
    """On the GPU the tube layer's max runs as one chunk with torch.max: values equal ``linear(...).max(dim)``,
    gradients equal autograd's (summed over each group's neighbours: padded-ball duplicates may split a tie)."""
    g = torch.Generator().manual_seed(6)
    h, weight, grad_out = torch.randn(300, 8, 12, generator=g), torch.randn(16, 12, generator=g), torch.randn(300, 16)
    h[:, 5:] = h[:, :1]
    results = []
    for chunk_rows in (0, 56):
        hh = h.to("cuda", dtype).requires_grad_()
        ww = weight.to("cuda", dtype).requires_grad_()
        out = point4d.linear_max_over_neighbors(hh, ww, chunk_rows)
        (out.float() * grad_out.cuda()).sum().backward()
        results.append((out, hh.grad.float(), ww.grad.float()))
    (o0, gh0, gw0), (o1, gh1, gw1) = results
    assert torch.equal(o0, o1)
    tol = 0.02 if dtype == torch.bfloat16 else 1e-5
    torch.testing.assert_close(gh1.sum(dim=1), gh0.sum(dim=1), atol=tol * 2.5, rtol=tol)
    torch.testing.assert_close(gw1, gw0, atol=tol * float(gw0.abs().max()), rtol=tol)
