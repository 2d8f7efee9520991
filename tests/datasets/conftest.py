"""Fixtures for the raw-source datasets: tiny sequences, HOI4D-style folders and HDF5 files with known values."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
from PIL import Image

from crossvideo_kedro.sequences import Event, RawSequence

SHARED_DATA = Path(__file__).parents[2] / ".." / "shared" / "data"
ACTIONS = ["reach", "grasp", "carry"]
SEMANTICS = ["background", "hand", "mug"]
K = [[50.0, 0.0, 7.5], [0.0, 50.0, 5.5], [0.0, 0.0, 1.0]]
#: Real HOI4D style colour masks: colours of HOI4D-Instructions' colour map, indices 0..2.
PALETTE = {"#000000": 0, "#800000": 1, "#008000": 2}


def make_sequence(
    name: str = "seq_a", frames: int = 6, height: int = 12, width: int = 16, fps: float = 10.0, seed: int = 0,
    with_color: bool = True, with_labels: bool = True,
) -> RawSequence:
    """A sequence with distinct per-pixel depth (0.4..2.0 m, a no-depth corner), labels −1..2 and two events."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.4, 2.0, (frames, height, width)).astype(np.float32)
    depth[:, :2, :2] = 0.0
    labels = rng.integers(-1, 3, (frames, height, width)).astype(np.int16)
    color = np.zeros((frames, height, width, 3), dtype=np.uint8)
    color[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, None]  # smooth: JPEG keeps it close
    color[..., 1] = np.linspace(0, 255, frames, dtype=np.uint8)[:, None, None]
    color[..., 2] = 128
    duration = frames / fps
    return RawSequence(
        name=name, depth=depth, intrinsics=np.asarray(K), fps=fps,
        color=color if with_color else None, labels=labels if with_labels else None,
        events=[Event("reach", 0.0, duration / 3), Event("grasp", duration / 3, duration)],
        action_classes=list(ACTIONS), semantic_classes=list(SEMANTICS), source="generated",
        meta={"generator": {"version": "test", "seed": seed}, "note": "kept"},
    )


@pytest.fixture
def sequence_factory() -> Callable[..., RawSequence]:
    return make_sequence


def write_real_hoi4d_sequence(
    folder: Path, frames: int = 5, height: int = 8, width: int = 10, action: dict | None = None
) -> None:
    """A sequence as real HOI4D ships it (after decoding): no meta.json, colour masks, markResult actions."""
    for sub in ("align_rgb", "align_depth", "2Dseg/mask", "action"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for t in range(frames):
        rgb = np.full((height, width, 3), 40 * t, dtype=np.uint8)
        Image.fromarray(rgb).save(folder / "align_rgb" / f"{t:05d}.jpg", quality=95)
        depth = np.full((height, width), 500 + 100 * t, dtype=np.uint16)
        depth[0, 0] = 0
        Image.fromarray(depth).save(folder / "align_depth" / f"{t:05d}.png")
        mask = np.zeros((height, width, 3), dtype=np.uint8)
        mask[:, width // 2 :] = (128, 0, 0)  # id 1
        mask[0, :] = (0, 128, 0)  # id 2
        mask[-1, -1] = (1, 2, 3)  # not in the palette → −1
        Image.fromarray(mask).save(folder / "2Dseg" / "mask" / f"{t:05d}.png")
    duration = frames / 15.0
    action = action or {
        "markResult": {"marks": [
            {"event": "reach", "hdTimeStart": 0.0, "hdTimeEnd": duration / 2},
            {"event": "grasp", "hdTimeStart": duration / 2, "hdTimeEnd": duration},
        ]}
    }
    (folder / "action" / "color.json").write_text(json.dumps(action))


@pytest.fixture
def real_hoi4d_root(tmp_path: Path) -> Path:
    """Two nested real-HOI4D-style sequences of two cameras, with camera_params/<camera>/intrin.npy."""
    root = tmp_path / "HOI4D_release"
    for camera, task in (("ZY20210800001", "T1"), ("ZY20210800002", "T2")):
        write_real_hoi4d_sequence(root / camera / "H1" / "C1" / "N01" / "S10" / "s01" / task)
        (root / "camera_params" / camera).mkdir(parents=True)
        k = np.asarray(K) * [[1.0 + int(camera[-1]), 1, 1], [1, 1, 1], [1, 1, 1]]  # fx differs per camera
        np.save(root / "camera_params" / camera / "intrin.npy", k)
    return root


def write_h5(
    path: Path, task: str = "action_segmentation", clips: int = 3, frames: int = 6, points: int = 64,
    drop: str | None = None, override: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """A small file in the PPTr/C2P schema; returns the arrays written (clip i holds values derived from i)."""
    rng = np.random.default_rng(7)
    arrays = {
        "pcd": rng.normal(size=(clips, frames, points, 3)).astype(np.float32),
        "center": rng.normal(size=(clips, frames, 3)).astype(np.float32),
    }
    if task == "action_segmentation":
        arrays["label"] = rng.integers(0, 19, (clips, frames)).astype(np.int64)
    else:
        arrays["semantic"] = rng.integers(0, 49, (clips, frames, points)).astype(np.int64)
    arrays.update(override or {})
    with h5py.File(path, "w") as h5:
        for key, value in arrays.items():
            if key != drop:
                h5.create_dataset(key, data=value, chunks=True)
    return arrays


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA}")
    return SHARED_DATA.resolve()


@pytest.fixture
def spec() -> SimpleNamespace:
    """The constants and writers of these fixtures, for tests that need the expected values."""
    return SimpleNamespace(
        K=K, PALETTE=PALETTE, ACTIONS=ACTIONS, write_real_sequence=write_real_hoi4d_sequence, write_h5=write_h5
    )
