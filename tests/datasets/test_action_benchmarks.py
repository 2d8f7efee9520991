"""Real action benchmarks as ingest's raw source and split: both forms, on tiny files written from the formats, and
the shipped environments' catalog entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from kedro.config import OmegaConfigLoader
from kedro.io import AbstractDataset, DatasetError

from crossvideo_kedro.datasets import ActionBenchmarkDataset
from crossvideo_kedro.datasets.action_benchmarks import class_names
from crossvideo_kedro.framework.build_parameters import CONFIG_LOADER_ARGS
from crossvideo_kedro.pipelines.ingest.nodes import build_sequence_index, ingest_sequences
from crossvideo_kedro.preprocess import IngestConfig, ingest_point_sequence

PROJECT_ROOT = Path(__file__).parents[2]


def write_bin(path: Path, depth: np.ndarray) -> None:
    """An MSR-Action3D ``.bin``: three little-endian uint32 (frames, width, height), then the depth values."""
    frames, height, width = depth.shape
    np.concatenate([[frames, width, height], depth.ravel()]).astype("<u4").tofile(path)


def write_utd(folder: Path, action: int, subject: int, trial: int, frames: int) -> None:
    """A (240, 320, T) depth video whose frame t has t + 1 pixels at depth 1000 + action mm."""
    depth = np.zeros((240, 320, frames), dtype=np.uint16)
    for t in range(frames):
        depth[100, 100 : 101 + t, t] = 1000 + action
    scipy.io.savemat(folder / f"a{action}_s{subject}_t{trial}_depth.mat", {"d_depth": depth})


@pytest.fixture
def utd(tmp_path: Path) -> Path:
    for subject in (1, 2):
        for action in range(1, 6):
            write_utd(tmp_path, action, subject, 1, frames=action)  # action a has a frames
    return tmp_path


def test_videos_form_one_sequence_per_video_in_metres(utd: Path) -> None:
    dataset = ActionBenchmarkDataset(str(utd), "utd_mhad")
    loaders = dataset.load()
    assert sorted(loaders) == sorted(f"a{a}_s{s}_t1_depth" for a in range(1, 6) for s in (1, 2))
    seq = loaders["a3_s2_t1_depth"]()
    assert seq.points.shape == (3, 3, 3) and seq.fps == 30.0 and seq.source == "utd_mhad"
    assert np.isnan(seq.points[0, 1:]).all() and np.isfinite(seq.points[2]).all()  # frame t has t + 1 points
    np.testing.assert_allclose(seq.points[2, :, 2], 1.003)  # 1003 mm
    np.testing.assert_array_equal(seq.frame_labels, [2, 2, 2])
    assert seq.action_classes == class_names("utd_mhad") and seq.action_classes[2] == "a03"
    split = ActionBenchmarkDataset(str(utd), "utd_mhad", output="split").load()
    assert split["a3_s1_t1_depth"] == "train" and split["a3_s2_t1_depth"] == "test"


def test_concatenated_form_groups_a_subject_and_trial_in_a_seeded_order(utd: Path) -> None:
    dataset = ActionBenchmarkDataset(str(utd), "utd_mhad", form="concatenated", group_size=4, seed=3)
    loaders = dataset.load()
    assert sorted(loaders) == ["s1_t1_g0", "s1_t1_g1", "s2_t1_g0", "s2_t1_g1"]  # 5 videos: 4 + the remaining 1
    first, rest = loaders["s1_t1_g0"](), loaders["s1_t1_g1"]()
    videos = first.meta["videos"] + rest.meta["videos"]
    assert sorted(videos) == sorted(f"a{a}_s1_t1_depth" for a in range(1, 6)) and len(rest.meta["videos"]) == 1
    actions = [int(v.split("_")[0][1:]) for v in first.meta["videos"]]
    # action a has a frames, labelled a - 1: the labels change exactly at the clip boundaries
    np.testing.assert_array_equal(first.frame_labels, np.repeat(np.array(actions) - 1, actions))
    np.testing.assert_allclose(np.nanmax(first.points[:, :, 2], axis=1), np.repeat(1 + np.array(actions) / 1000,
                                                                                  actions), rtol=1e-6)
    again = ActionBenchmarkDataset(str(utd), "utd_mhad", form="concatenated", group_size=4, seed=3).load()
    assert again["s1_t1_g0"]().meta["videos"] == first.meta["videos"]  # same seed, same order
    orders = {tuple(ActionBenchmarkDataset(str(utd), "utd_mhad", form="concatenated", seed=s).load()["s1_t1_g0"]()
                    .meta["videos"]) for s in range(6)}
    assert len(orders) > 1  # the seed changes the order
    sampled = ingest_point_sequence(first, IngestConfig(num_points=2, min_points=1, target_fps=None))
    assert sampled["points"].shape == (sum(actions), 2, 3) and np.isfinite(sampled["points"]).all()  # NaN: padding
    np.testing.assert_array_equal(sampled["frame_labels"], first.frame_labels)
    split = ActionBenchmarkDataset(str(utd), "utd_mhad", form="concatenated", output="split").load()
    assert split == {"s1_t1_g0": "train", "s1_t1_g1": "train", "s2_t1_g0": "test", "s2_t1_g1": "test"}


def test_msr_bin_through_ingest_with_its_split(tmp_path: Path) -> None:
    depth = np.zeros((3, 8, 8), dtype=np.uint32)
    depth[:, 2:6, 2:6] = 2000
    for subject in (1, 6):
        write_bin(tmp_path / f"a02_s{subject:02d}_e01_sdepth.bin", depth)
    raw = ActionBenchmarkDataset(str(tmp_path), "msr_action3d", protocol="first_five").load()
    split = ActionBenchmarkDataset(str(tmp_path), "msr_action3d", protocol="first_five", output="split").load()
    params = {"num_points": 8, "min_points": 8, "target_fps": None, "split": "file"}
    videos, _, table, classes, skipped = ingest_sequences(raw, {}, params, split)
    index = build_sequence_index(table, split, skipped, params)
    assert dict(zip(index["sequence"], index["split"], strict=True)) == {"a02_s01_e01_sdepth": "train",
                                                                          "a02_s06_e01_sdepth": "test"}
    video = videos["a02_s01_e01_sdepth"]
    assert video["points"].shape == (3, 8, 3) and classes["action"][1] == "a02"
    np.testing.assert_allclose(video["points"][..., 2], 2.0)
    np.testing.assert_array_equal(video["frame_labels"], [1, 1, 1])


def test_bad_options_and_missing_folder_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="benchmark must be one of"):
        ActionBenchmarkDataset(str(tmp_path), "msr")
    with pytest.raises(ValueError, match="utd_mhad has one protocol"):
        ActionBenchmarkDataset(str(tmp_path), "utd_mhad", protocol="odd")
    with pytest.raises(DatasetError, match="does not exist"):
        ActionBenchmarkDataset(str(tmp_path / "nowhere"), "ntu60").load()
    with pytest.raises(DatasetError, match="no MSR-Action3D files"):
        ActionBenchmarkDataset(str(tmp_path), "msr_action3d").load()


@pytest.mark.parametrize(("env", "benchmark", "form"), [("msr_action3d", "msr_action3d", "videos"),
                                                         ("ntu60", "ntu60", "videos"),
                                                         ("utd_mhad", "utd_mhad", "videos"),
                                                         ("utd_mhad_segmentation", "utd_mhad", "concatenated")])
def test_environments_read_the_benchmark_and_its_split(env: str, benchmark: str, form: str) -> None:
    loader = OmegaConfigLoader(conf_source=str(PROJECT_ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)
    catalog, params = loader["catalog"], loader["parameters"]
    raw = AbstractDataset.from_config("raw_sequences", dict(catalog["raw_sequences"]))
    split = AbstractDataset.from_config("split_file", dict(catalog["split_file"]))
    assert raw._describe()["benchmark"] == split._describe()["benchmark"] == benchmark
    assert (raw._describe()["form"], raw._describe()["output"], split._describe()["output"]) == (form, "sequences",
                                                                                               "split")
    assert params["ingest"]["split"] == "file" and params["pretrain"]["seeds"] == [0, 1, 2]
    assert params["pretrain"]["loss"]["weights"]["cross_video"] == 0.0  # depth only: intra-modal terms
    assert params["pretrain"]["model"]["point"]["num_points"] == params["ingest"]["num_points"]
    assert params["evaluate"]["include"] == ["scratch", "pretrained_intra"]
    assert {r["protocol"] for r in params["evaluate"]["runs"]} == {"full", "linear"}
