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


def test_depth_only_env_with_a_split_file_runs_ingest_from_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A converted depth-only dataset (root meta.json with classes and depth unit, per-sequence
    intrinsics.npy, room-scale depth, split.csv) goes through ingest with the shipped env and no code."""
    import json  # noqa: PLC0415

    from kedro.io import DataCatalog  # noqa: PLC0415
    from kedro.runner import SequentialRunner  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    from crossvideo_kedro.pipelines.ingest import create_pipeline  # noqa: PLC0415

    root = tmp_path / "data" / "01_raw" / "depth_actions"
    names = [f"S{s:02d}_A{a:02d}" for s in (1, 2, 3) for a in (1, 2)]
    for i, name in enumerate(names):
        (root / name / "align_depth").mkdir(parents=True)
        for t in range(8):
            depth = np.full((24, 32), 2400 + 100 * (t % 4), dtype=np.uint16)  # a person 2.4-2.7 m away
            depth[:4] = 0
            Image.fromarray(depth).save(root / name / "align_depth" / f"{t:05d}.png")
        np.save(root / name / "intrinsics.npy", [[30.0 + i, 0, 15.5], [0, 30.0 + i, 11.5], [0, 0, 1]])
        (root / name / "action").mkdir()
        (root / name / "action" / "color.json").write_text(json.dumps(
            {"events": [{"event": "wave", "startTime": 0.0, "endTime": 0.2}, {"event": "sit", "startTime": 0.2,
                                                                               "endTime": 8 / 30}]}))
    (root / "meta.json").write_text(json.dumps({"classes": ["sit", "wave"], "depth_unit_m": 0.001, "fps": 30}))
    (root / "split.csv").write_text("sequence,split,subject\n" + "".join(
        f"{n},{'test' if n.startswith('S03') else 'val' if n == 'S02_A02' else 'train'},{n[1:3]}\n" for n in names))
    loader = OmegaConfigLoader(conf_source=str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="depth_actions",
                               merge_strategy={"parameters": "soft"})
    catalog_config = {k: v for k, v in loader["catalog"].items() if k in ("raw_sequences", "unlabelled_sequences",
                                                                            "split_file")}
    params = {**loader["parameters"]["ingest"], "num_points": 32, "image_size": [8, 8]}
    assert (params["min_depth"], params["max_depth"], params["split"]) == (0.5, 4.5, "file")
    monkeypatch.chdir(tmp_path)  # the env's paths are relative to the project root
    catalog = DataCatalog.from_config(catalog_config)
    catalog["params:ingest"] = params
    SequentialRunner().run(create_pipeline().only_nodes("ingest_sequences", "build_sequence_index"), catalog)
    index = catalog.load("sequence_index")
    splits = dict(zip(index["sequence"], index["split"], strict=True))
    assert splits == {n: "test" if n.startswith("S03") else "val" if n == "S02_A02" else "train" for n in names}
    assert not index["has_images"].any() and index["has_frame_labels"].all()
    assert (index["source"] == "depth_actions").all()
