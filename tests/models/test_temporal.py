"""MS-TCN head: receptive field as designed, masking, the smoothing loss, and it learns a task that needs context."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossvideo_kedro.configs import TemporalConfig, parse
from crossvideo_kedro.models.temporal import MultiStageTCN, smoothing_loss, temporal_loss


def _model(stages: int, layers: int, dim: int = 4, classes: int = 3) -> MultiStageTCN:
    torch.manual_seed(0)
    return MultiStageTCN(dim, classes, TemporalConfig(stages=stages, layers=layers, channels=8, dropout=0.0)).eval()


@pytest.mark.parametrize(("stages", "layers", "expected"), [(1, 3, 15), (1, 5, 63), (2, 3, 29), (2, 5, 125)])
def test_receptive_field_is_what_the_config_says(stages, layers, expected):
    config = TemporalConfig(stages=stages, layers=layers)
    assert config.receptive_field == expected
    model = _model(stages, layers).double()  # float64: the edge of the field is reached through one path only
    L, centre = 200, 100
    x = torch.randn(1, L, 4, dtype=torch.float64)
    bumped = x.clone()
    bumped[0, centre] += 10.0
    with torch.no_grad():
        changed = (model(bumped)[-1, 0] - model(x)[-1, 0]).abs().amax(-1) > 0  # (L,)
    reach = (expected - 1) // 2
    assert changed[centre - reach] and changed[centre + reach]  # the edges of the field see the bump ...
    assert not changed[: centre - reach].any() and not changed[centre + reach + 1 :].any()  # ... nothing beyond


def test_padding_does_not_change_a_sequences_logits():
    model = _model(2, 3)
    short = torch.randn(1, 20, 4)
    batch = torch.cat([torch.cat([short, torch.randn(1, 12, 4)], 1), torch.randn(1, 32, 4)])
    mask = torch.ones(2, 32, dtype=torch.bool)
    mask[0, 20:] = False
    with torch.no_grad():
        alone = model(short)[:, 0]
        padded = model(batch, mask)[:, 0, :20]
    torch.testing.assert_close(padded, alone)


def test_smoothing_loss_by_hand():
    # two frames, two classes: log p differs by log(0.9/0.5) and log(0.1/0.5) -> mean of squares
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]))
    valid = torch.ones(1, 2, dtype=torch.bool)
    expected = (np.log(0.9 / 0.5) ** 2 + np.log(0.1 / 0.5) ** 2) / 2
    assert float(smoothing_loss(logits, valid, clamp=4.0)) == pytest.approx(expected, rel=1e-5)
    assert float(smoothing_loss(logits, valid, clamp=0.5)) == pytest.approx(0.25, rel=1e-5)  # both clamped
    assert float(smoothing_loss(logits, torch.tensor([[True, False]]), clamp=4.0)) == 0.0  # no valid pair


def _context_task(count: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Segments of 6-14 frames; only a segment's first frame says its class (one-hot), the rest are zeros.

    A per-frame classifier cannot label the inner frames (≈ chance); a model that sees ≥ 14 frames back can.
    """
    xs, ys = [], []
    for _ in range(count):
        x, y = np.zeros((60, 3), np.float32), np.zeros(60, np.int64)
        t = 0
        while t < 60:
            length, label = rng.integers(6, 15), rng.integers(3)
            x[t, label] = 1.0
            y[t : t + length] = label
            t += length
        xs.append(x)
        ys.append(y)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


@pytest.fixture
def one_thread():
    """Small convolutions run ~100x slower with 2 threads on a busy 2-core machine: use one, then restore."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_mstcn_learns_a_task_that_needs_temporal_context(one_thread):
    rng = np.random.default_rng(0)
    x, y = _context_task(64, rng)
    x_test, y_test = _context_task(16, rng)
    torch.manual_seed(0)
    config = TemporalConfig(stages=2, layers=4, channels=32, dropout=0.0, smoothing_weight=0.15)
    model = MultiStageTCN(3, 3, config)
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    valid = torch.ones(y.shape, dtype=torch.bool)
    for _ in range(150):
        loss = temporal_loss(model(x), y, valid, config, ignore_index=-100)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x_test)[-1].argmax(-1) == y_test).float().mean())
    first_frames = float((x_test.sum(-1) > 0).float().mean())
    assert first_frames < 0.15  # a per-frame classifier could get at most ~ this + chance on the rest
    assert accuracy > 0.9


def test_bad_temporal_parameters_are_named():
    with pytest.raises(ValueError, match=r"finetune.temporal.layers must be an integer >= 1"):
        parse(TemporalConfig, {"layers": 0}, "finetune.temporal")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['finetune.temporal.stage'\]"):
        parse(TemporalConfig, {"stage": 2}, "finetune.temporal")
