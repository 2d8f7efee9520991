"""The conf environments for real data: Kedro's config loader reads them and their raw_sequences load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import AbstractDataset

from crossvideo_kedro.datasets import HOI4DRawDataset, RGBDFolderDataset

PROJECT_ROOT = Path(__file__).parents[2]


def _raw_sequences(env: str) -> dict:
    loader = OmegaConfigLoader(conf_source=str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env)
    return dict(loader["catalog"]["raw_sequences"])


@pytest.mark.parametrize(
    ("env", "sample", "frames", "fx"),
    [("seven_scenes", "7scenes_kitchen", 3, 585.0), ("realsense_d435", "realsense_d435", 3, 617.25)],
)
def test_real_data_envs_load(
    env: str, sample: str, frames: int, fx: float, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (shared_data / sample).is_dir():
        pytest.skip(f"real sample {sample} not present")
    config = _raw_sequences(env)
    assert config["path"].startswith("../shared/data/") and "versioned" not in config  # env replaces base's entry
    monkeypatch.chdir(PROJECT_ROOT)  # Kedro runs in the project root; the paths are relative to it
    dataset = AbstractDataset.from_config("raw_sequences", {**config, "max_frames": frames})
    assert isinstance(dataset, RGBDFolderDataset)
    (name, loader), = dataset.load().items()
    sequence = loader()
    assert name == config["sequence_name"] and sequence.source == config["source"]
    assert sequence.depth.shape == (frames, 480, 640) and sequence.intrinsics[0, 0] == pytest.approx(fx)
    assert sequence.fps == pytest.approx(config["fps"] / config.get("frame_step", 1))
    assert 0.8 < float(np.mean(sequence.depth > 0)) < 0.99


def test_hoi4d_env_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _raw_sequences("hoi4d")
    monkeypatch.chdir(tmp_path)  # no HOI4D here: the entry must still build, and report that nothing exists
    dataset = AbstractDataset.from_config("raw_sequences", config)
    assert isinstance(dataset, HOI4DRawDataset) and not dataset.exists()
    assert config["intrinsics_pattern"].endswith("camera_params/{camera}/intrin.npy")
    assert config["mask_format"] == "color" and config["mask_palette"]["#800000"] == 1
