"""Sequence-level temporal model for action segmentation: MS-TCN (Farha & Gall, CVPR 2019), in plain torch.

A stage is a 1×1 convolution into ``channels``, ``layers`` dilated residual layers (kernel 3, dilation 2^i, ReLU,
1×1 convolution, dropout, residual) and a 1×1 convolution to class logits. Stage 1 reads the frame features; every
later stage refines the softmax of the previous one. One stage with L layers sees
``receptive_field = 1 + 2·(2^L − 1) = 2^(L+1) − 1`` frames (each layer i adds 2·2^i); later stages add the same
again minus one.

Padded frames (sequences of different lengths in one batch) are masked out of every layer, as in MS-TCN, so a
sequence's logits do not depend on what it is batched with.

Loss (MS-TCN eq. 1–3): per-frame cross-entropy on every stage's logits + ``smoothing_weight`` × the truncated MSE
between the log-probabilities of consecutive frames, ``mean(min(|Δ log p|, τ)²)`` with τ = ``smoothing_clamp``
(the target of the previous frame is detached).
Shape letters: B sequences, L frames, D feature width, F channels, C classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossvideo_kedro.configs.finetune import TemporalConfig


class DilatedResidualLayer(nn.Module):
    """x + Dropout(Conv1×1(ReLU(DilatedConv3(x)))), masked. Shape: x (B, F, L), mask (B, 1, L) → (B, F, L)."""

    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilated = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.pointwise = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.dropout(self.pointwise(torch.relu(self.dilated(x))))  # (B, F, L)
        return (x + out) * mask


class Stage(nn.Module):
    """One MS-TCN stage. Shape: x (B, D_in, L), mask (B, 1, L) → logits (B, C, L)."""

    def __init__(self, in_dim: int, channels: int, num_classes: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.inp = nn.Conv1d(in_dim, channels, 1)
        self.layers = nn.ModuleList(DilatedResidualLayer(channels, 2**i, dropout) for i in range(layers))
        self.out = nn.Conv1d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.inp(x) * mask  # (B, F, L)
        for layer in self.layers:
            x = layer(x, mask)
        return self.out(x) * mask  # (B, C, L)


class MultiStageTCN(nn.Module):
    """MS-TCN over per-frame features of whole sequences.

    Shape:
        x: (B, L, D) frame features; mask: bool (B, L), True on real frames (None: all real).
        Returns logits of every stage, (S, B, L, C); the last stage is the prediction.
    """

    def __init__(self, in_dim: int, num_classes: int, config: TemporalConfig) -> None:
        super().__init__()
        self.config = config
        self.stages = nn.ModuleList(
            Stage(in_dim if s == 0 else num_classes, config.channels, num_classes, config.layers, config.dropout)
            for s in range(config.stages)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, L, _ = x.shape
        m = (torch.ones(B, L, dtype=torch.bool, device=x.device) if mask is None else mask)[:, None].to(x.dtype)
        h = x.transpose(1, 2) * m  # (B, D, L)
        outputs = []
        for s, stage in enumerate(self.stages):
            h = stage(h if s == 0 else torch.softmax(h, dim=1) * m, m)  # (B, C, L)
            outputs.append(h)
        return torch.stack(outputs).transpose(2, 3)  # (S, B, L, C)


def smoothing_loss(logits: torch.Tensor, valid: torch.Tensor, clamp: float) -> torch.Tensor:
    """MS-TCN truncated MSE: mean over consecutive valid frame pairs of min(|log p_t − log p_{t−1}|, τ)².

    Shape:
        logits: (B, L, C); valid: bool (B, L) (frames that exist; labels are not needed). Returns a scalar.
    """
    logp = F.log_softmax(logits, dim=-1)  # (B, L, C)
    diff = (logp[:, 1:] - logp[:, :-1].detach()).abs().clamp(max=clamp) ** 2  # (B, L-1, C)
    pair = valid[:, 1:] & valid[:, :-1]  # (B, L-1)
    if not pair.any():
        return logits.sum() * 0.0
    return diff[pair].mean()


def temporal_loss(stage_logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, config: TemporalConfig,
                  ignore_index: int) -> torch.Tensor:
    """Σ over stages of per-frame cross-entropy + λ · smoothing (MS-TCN eq. 3).

    Shape:
        stage_logits: (S, B, L, C); target: long (B, L) (``ignore_index`` where unknown or padded);
        valid: bool (B, L) real frames.
    """
    total = stage_logits.new_zeros(())
    for logits in stage_logits:  # S is a handful of stages
        total = total + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                        ignore_index=ignore_index)
        if config.smoothing_weight > 0:
            total = total + config.smoothing_weight * smoothing_loss(logits, valid, config.smoothing_clamp)
    return total
