"""MSR-Action3D reader on files written from the published format description (no real file is used)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError

from crossvideo_kedro.datasets.msr_action3d import MSRAction3DDataset, read_bin, read_msr_action3d
from crossvideo_kedro.errors import DataError


def write_bin(path: Path, depth: np.ndarray) -> None:
    frames, height, width = depth.shape
    np.concatenate([[frames, width, height], depth.ravel()]).astype("<u4").tofile(path)


def test_bin_header_order_and_back_projection(tmp_path: Path) -> None:
    depth = np.zeros((2, 4, 6), dtype=np.uint32)  # width 6 != height 4: a swapped header would fail
    depth[0, 1, 5] = 1400
    depth[1, 3, 0] = 2800
    depth[1, 0, 3] = 560
    write_bin(tmp_path / "a03_s02_e01_sdepth.bin", depth)
    np.testing.assert_array_equal(read_bin(tmp_path / "a03_s02_e01_sdepth.bin"), depth)

    (video,) = read_msr_action3d(tmp_path)
    assert (video.name, video.label, video.subject, video.split, video.ids) == (
        "a03_s02_e01_sdepth", 2, 2, "train", {"episode": 1}
    )
    # x = (u - W/2) z / 280, y = (v - H/2) z / 280
    np.testing.assert_allclose(video.points[0], [[(5 - 3) * 5.0, (1 - 2) * 5.0, 1400]])
    np.testing.assert_allclose(video.points[1], [[0, -2 * 2.0, 560], [-3 * 10.0, 1 * 10.0, 2800]])


def test_npz_and_protocols(tmp_path: Path) -> None:
    frames = np.empty(2, dtype=object)
    frames[:] = [np.ones((4, 3)), np.zeros((2, 3))]
    for subject in (6, 7):
        np.savez_compressed(tmp_path / f"a20_s{subject:02d}_e03_sdepth.npz", point_clouds=frames)
    (tmp_path / "notes.txt").write_text("ignored")

    first_five = read_msr_action3d(tmp_path)
    assert [(v.label, v.subject, v.split) for v in first_five] == [(19, 6, "test"), (19, 7, "test")]
    assert [p.shape for p in first_five[0].points] == [(4, 3), (2, 3)]
    assert [v.split for v in read_msr_action3d(tmp_path, protocol="odd")] == ["test", "train"]


def test_npz_with_equal_point_counts_is_a_plain_array(tmp_path: Path) -> None:
    """Frames of equal N_t are saved by NumPy as one (T, N, 3) float array instead of an object array."""
    np.savez_compressed(tmp_path / "a02_s01_e01_sdepth.npz", point_clouds=np.arange(12.0).reshape(2, 2, 3))
    (video,) = read_msr_action3d(tmp_path)
    assert [p.dtype for p in video.points] == [np.float32, np.float32]
    np.testing.assert_array_equal(video.points[1], [[6, 7, 8], [9, 10, 11]])


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a01_s01_e01_sdepth.bin"
    np.asarray([3, 4, 4, 7], dtype="<u4").tofile(path)
    with pytest.raises(DataError, match=r"a01_s01_e01_sdepth\.bin: header says 3 frames of 4x4"):
        read_msr_action3d(tmp_path)
    with pytest.raises(DataError, match="no MSR-Action3D files"):
        read_msr_action3d(tmp_path / "..")


def test_kedro_dataset_loads_by_name_and_is_read_only(tmp_path: Path) -> None:
    write_bin(tmp_path / "a01_s09_e02_sdepth.bin", np.full((3, 2, 2), 1000, dtype=np.uint32))
    dataset = MSRAction3DDataset(path=str(tmp_path), protocol="odd")
    videos = dataset.load()
    assert list(videos) == ["a01_s09_e02_sdepth"] and videos["a01_s09_e02_sdepth"].split == "train"
    assert [len(p) for p in videos["a01_s09_e02_sdepth"].points] == [4, 4, 4]
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save({})
    with pytest.raises(DatasetError, match="does not exist"):
        MSRAction3DDataset(path=str(tmp_path / "missing")).load()
