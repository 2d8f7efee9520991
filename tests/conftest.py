"""Shared fixtures: tiny in-memory sequences with known geometry."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from crossvideo_kedro.sequences import Event, RawSequence

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def plane_sequence(name: str = "seq_a", frames: int = 6, height: int = 12, width: int = 16, fps: float = 10.0,
                   z: float = 1.0, with_color: bool = True) -> RawSequence:
    """A camera looking at a fronto-parallel plane at depth ``z``; left half label 1, right half label 2."""
    depth = np.full((frames, height, width), z, dtype=np.float32)
    labels = np.ones((frames, height, width), dtype=np.int16)
    labels[..., width // 2:] = 2
    color = np.zeros((frames, height, width, 3), dtype=np.uint8)
    color[..., 0] = np.arange(width, dtype=np.uint8)[None, None] * 10  # red encodes the column
    color[..., 1] = np.arange(frames, dtype=np.uint8)[:, None, None] * 20  # green encodes the frame
    k = np.array([[20.0, 0, (width - 1) / 2], [0, 20.0, (height - 1) / 2], [0, 0, 1]])
    duration = frames / fps
    return RawSequence(
        name=name, depth=depth, intrinsics=k, fps=fps, color=color if with_color else None, labels=labels,
        events=[Event("reach", 0.0, duration / 2), Event("grasp", duration / 2, duration)],
        action_classes=["rest", "reach", "grasp"], semantic_classes=["background", "left", "right"],
        source="test", meta={"depth_files": [f"{name}/align_depth/{i:05d}.png" for i in range(frames)]},
    )


@pytest.fixture
def plane() -> RawSequence:
    return plane_sequence()
