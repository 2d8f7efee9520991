"""The ingest pipeline end to end on an in-memory catalog."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import ParquetDataset

from crossvideo_kedro.datasets.npz import NpzPartitionsDataset

from crossvideo_kedro.pipelines.ingest import create_pipeline
from crossvideo_kedro.sequences import DataError
from tests.conftest import plane_sequence

PARAMS = {"num_points": 24, "image_size": [8, 8], "split": {"train": 0.5, "val": 0.25, "test": 0.25}, "seed": 3}


def run(raw: dict, folder: Path, unlabelled: dict | None = None, split_file: dict | None = None,
        **params) -> DataCatalog:
    """Run ingest with the project's real dataset classes under ``folder`` (the runner releases memory datasets)."""
    catalog = DataCatalog(
        datasets={
            "raw_sequences": MemoryDataset(raw),
            "unlabelled_sequences": MemoryDataset(unlabelled or {}),
            "split_file": MemoryDataset(split_file or {}),
            "ingest_skipped": JSONDataset(filepath=str(folder / "skipped.json")),
            "params:ingest": MemoryDataset({**PARAMS, **params}),
            "point_cloud_videos": NpzPartitionsDataset(path=str(folder / "points")),
            "image_videos": NpzPartitionsDataset(path=str(folder / "images")),
            "sequence_index": ParquetDataset(filepath=str(folder / "index.parquet")),
            "class_names": JSONDataset(filepath=str(folder / "classes.json")),
            "ingest_preview_plot": MatplotlibDataset(filepath=str(folder / "preview.png")),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def lazy(seq):
    return lambda: seq


def test_ingest_pipeline_builds_the_contracts(tmp_path):
    raw = {f"s{i}": lazy(plane_sequence(f"s{i}", frames=5 + i, with_color=i != 3)) for i in range(4)}
    catalog = run(raw, tmp_path)
    index: pd.DataFrame = catalog.load("sequence_index")
    assert list(index.columns) == ["sequence", "source", "split", "num_frames", "num_points", "has_images",
                                   "has_frame_labels", "has_point_labels"]
    assert index["sequence"].tolist() == ["s0", "s1", "s2", "s3"]
    assert index["num_frames"].tolist() == [5, 6, 7, 8]
    assert index["has_images"].tolist() == [True, True, True, False]
    assert sorted(index["split"]) == ["test", "train", "train", "val"]
    videos = catalog.load("point_cloud_videos")
    assert videos["s2"]()["points"].shape == (7, 24, 3)
    images = catalog.load("image_videos")
    assert sorted(images) == ["s0", "s1", "s2"]  # the depth-only sequence has no image video
    assert catalog.load("class_names") == {"action": ["rest", "reach", "grasp"],
                                           "semantic": ["background", "left", "right"]}
    assert (tmp_path / "preview.png").stat().st_size > 10_000  # a figure was drawn


def test_ingest_error_names_the_sequence_file_and_frame(tmp_path):
    bad = plane_sequence("broken")
    bad.depth[2] = 0
    with pytest.raises(DataError, match=r"broken/align_depth/00002.png \(frame 2\) has no valid depth"):
        run({"good": lazy(plane_sequence("good")), "broken": lazy(bad)}, tmp_path)
    assert not (tmp_path / "points").exists()  # nothing half-written


def test_same_parameters_give_the_same_numbers(tmp_path):
    raw = {f"s{i}": lazy(plane_sequence(f"s{i}")) for i in range(2)}
    a = run(raw, tmp_path / "a").load("point_cloud_videos")["s1"]()
    b = run(raw, tmp_path / "b").load("point_cloud_videos")["s1"]()
    np.testing.assert_array_equal(a["points"], b["points"])
