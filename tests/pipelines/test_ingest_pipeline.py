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


# ------------------------------------------------------------------------------------------------ unlabelled pool
def _labelled(n: int = 8) -> dict:
    return {f"seq_{i:04d}": lazy(plane_sequence(f"seq_{i:04d}", frames=5)) for i in range(n)}


def _pool(n: int = 5) -> dict:
    pool = {}
    for i in range(n):
        seq = plane_sequence(f"pool_{i:04d}", frames=4)
        pool[seq.name] = lazy(seq)
    return pool


def test_pool_sequences_are_unlabelled_and_leave_the_labelled_split_alone(tmp_path):
    without = run(_labelled(), tmp_path / "a").load("sequence_index")
    catalog = run(_labelled(), tmp_path / "b", unlabelled=_pool())
    index = catalog.load("sequence_index")
    pool = index[index["sequence"].str.startswith("pool_")]
    assert len(index) == 13 and (pool["split"] == "unlabelled").all() and len(pool) == 5
    labelled = index[~index["sequence"].str.startswith("pool_")].reset_index(drop=True)
    pd.testing.assert_frame_equal(labelled, without)  # same sequences, same train/val/test as without a pool
    assert not pool["has_frame_labels"].any() and not pool["has_point_labels"].any()  # labels are dropped
    videos = catalog.load("point_cloud_videos")
    assert (videos["pool_0003"]()["frame_labels"] == -1).all() and (videos["pool_0003"]()["point_labels"] == -1).all()
    assert "pool_0000" in catalog.load("image_videos")


def test_pool_names_must_not_collide_with_labelled_ones(tmp_path):
    with pytest.raises(DataError, match=r"1 sequence name\(s\) are both in raw_sequences and in unlabelled_sequences: "
                                        r"\['seq_0001'\]"):
        run(_labelled(3), tmp_path, unlabelled={"seq_0001": lazy(plane_sequence("seq_0001"))})


def test_image_videos_carry_the_stored_frames_intrinsics_and_depth_only_has_no_images(tmp_path):
    raw = {"rgb": lazy(plane_sequence("rgb")), "depth": lazy(plane_sequence("depth", with_color=False))}
    catalog = run(raw, tmp_path)
    k = catalog.load("image_videos")["rgb"]()["intrinsics"]
    # 16x12 frames (fx 20, cx 7.5, cy 5.5) stored at 8x8: K scaled per axis, pixel centres at integers
    np.testing.assert_allclose(k, [[10.0, 0, 3.5], [0, 20 * 8 / 12, (5.5 + 0.5) * 8 / 12 - 0.5], [0, 0, 1]], rtol=1e-6)
    index = catalog.load("sequence_index").set_index("sequence")
    assert not index.loc["depth", "has_images"] and index.loc["rgb", "has_images"]
    assert "depth" not in catalog.load("image_videos")


# ------------------------------------------------------------------------------------------------ split files
def test_split_file_decides_the_split(tmp_path):
    split = {f"seq_{i:04d}": s for i, s in enumerate(["train"] * 4 + ["val", "test", "test", "unlabelled"])}
    index = run(_labelled(), tmp_path, split_file=split, split="file").load("sequence_index")
    assert dict(zip(index["sequence"], index["split"], strict=True)) == split


@pytest.mark.parametrize(
    ("split", "match"),
    [
        ({f"seq_{i:04d}": "train" for i in range(7)},
         r"1 sequence\(s\) of the raw source are not in the split file: \['seq_0007'\]"),
        ({**{f"seq_{i:04d}": "train" for i in range(8)}, "seq_0099": "test"},
         r"1 sequence\(s\) of the split file were not found in the raw source: \['seq_0099'\]"),
        ({f"seq_{i:04d}": "holdout" for i in range(8)}, r"split values must be one of"),
        ({}, r"ingest.split is 'file' but the catalog entry split_file is empty"),
    ],
)
def test_split_file_errors_are_clear(tmp_path, split, match):
    with pytest.raises(DataError, match=match):
        run(_labelled(), tmp_path, split_file=split, split="file")


def test_a_split_file_typo_is_refused_before_any_sequence_is_read(tmp_path):
    opened = []

    def counting(name: str):
        def load():
            opened.append(name)
            return plane_sequence(name, frames=5)
        return load

    raw = {f"seq_{i:04d}": counting(f"seq_{i:04d}") for i in range(8)}
    split = {**{f"seq_{i:04d}": "train" for i in range(6)}, "seq_0070": "test", "seq_0O07": "val"}  # typos
    with pytest.raises(DataError) as error:
        run(raw, tmp_path, split_file=split, split="file")
    message = str(error.value)
    assert "2 sequence(s) of the raw source are not in the split file: ['seq_0006', 'seq_0007']" in message
    assert "2 sequence(s) of the split file were not found in the raw source: ['seq_0070', 'seq_0O07']" in message
    assert opened == []  # nothing was back-projected


def test_split_file_with_fractions_is_refused(tmp_path):
    with pytest.raises(DataError, match="split_file holds a split, but ingest.split gives fractions"):
        run(_labelled(), tmp_path, split_file={f"seq_{i:04d}": "train" for i in range(8)})


# ------------------------------------------------------------------------------------------------ bad sequences
def _two_bad() -> dict:
    raw = _labelled(6)
    empty, short = plane_sequence("seq_0002"), plane_sequence("seq_0004")
    empty.depth[1] = 0.0
    short.color = short.color[:3]
    raw["seq_0002"], raw["seq_0004"] = lazy(empty), lazy(short)
    return raw


def test_every_bad_sequence_is_reported_at_once(tmp_path):
    with pytest.raises(DataError, match=r"(?s)2 of 6 sequences could not be ingested:\n  - seq_0002: .*00001.png "
                                        r"\(frame 1\) has no valid depth.*\n  - seq_0004: .*colour video"):
        run(_two_bad(), tmp_path)
    assert not (tmp_path / "points").exists()


def test_skipped_sequences_are_left_out_and_listed(tmp_path):
    catalog = run(_two_bad(), tmp_path, on_error="skip")
    assert catalog.load("sequence_index")["sequence"].tolist() == ["seq_0000", "seq_0001", "seq_0003", "seq_0005"]
    skipped = catalog.load("ingest_skipped")
    assert [s["sequence"] for s in skipped] == ["seq_0002", "seq_0004"]
    assert "has no valid depth" in skipped[0]["error"] and skipped[0]["labelled"] is True


def test_bad_files_in_two_of_sixteen_real_sequences_are_all_named(tmp_path):
    """A zero-byte depth PNG and a truncated JPG on disk; both named, the 14 others fine."""
    from crossvideo_kedro.datasets import HOI4DRawDataset  # noqa: PLC0415
    from crossvideo_kedro.pipelines.ingest.nodes import ingest_sequences  # noqa: PLC0415
    from tests.datasets.conftest import K, PALETTE, write_real_hoi4d_sequence  # noqa: PLC0415

    root = tmp_path / "raw"
    for i in range(16):
        write_real_hoi4d_sequence(root / f"s{i:02d}", height=12, width=16)
    (root / "s03" / "align_depth" / "00002.png").write_bytes(b"")
    jpg = root / "s11" / "align_rgb" / "00004.jpg"
    jpg.write_bytes(jpg.read_bytes()[:150])
    raw = HOI4DRawDataset(str(root), intrinsics=K, mask_palette=PALETTE, action_classes=["reach", "grasp"]).load()
    params = {**PARAMS, "min_points": 8, "max_depth": 3.0}
    with pytest.raises(DataError, match=r"(?s)2 of 16 sequences.*s03: .*s03/align_depth/00002\.png: depth frame is "
                                        r"not a readable image.*\(frame 2\).*s11: .*s11/align_rgb/00004\.jpg: colour "
                                        r"frame is truncated or corrupt"):
        ingest_sequences(raw, {}, params)
    videos, _, table, _, skipped = ingest_sequences(raw, {}, {**params, "on_error": "skip"})
    assert len(videos) == 14 and [s["sequence"] for s in skipped] == ["s03", "s11"]
