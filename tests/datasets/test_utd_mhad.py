"""UTD-MHAD reader: a tiny .mat written with scipy, and real files of subjects 1-4 when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from crossvideo_kedro.datasets.utd_mhad import UTDMHADDataset, read_utd_mhad, read_video
from crossvideo_kedro.errors import DataError


def test_tiny_mat_back_projects_with_kinect_intrinsics(tmp_path: Path) -> None:
    depth = np.zeros((240, 320, 2), dtype=np.uint16)
    depth[120, 160, 0] = 1000  # the principal point: x = y = 0
    depth[0, 0, 1] = 2856  # x = -160 * 2856 / 285.6 = -1600, y = -120 * 10 = -1200
    scipy.io.savemat(tmp_path / "a27_s2_t3_depth.mat", {"d_depth": depth})
    scipy.io.savemat(tmp_path / "a3_s1_t1_depth.mat", {"d_depth": depth[..., :1]})

    videos = read_utd_mhad(tmp_path)
    assert [(v.name, v.label, v.subject, v.split, v.ids) for v in videos] == [
        ("a3_s1_t1_depth", 2, 1, "train", {"trial": 1}),
        ("a27_s2_t3_depth", 26, 2, "test", {"trial": 3}),
    ]
    np.testing.assert_allclose(videos[1].points[0], [[0, 0, 1000]])
    np.testing.assert_allclose(videos[1].points[1], [[-1600, -1200, 2856]], rtol=1e-6)


def test_wrong_variable_names_the_file(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "a1_s1_t1_depth.mat", {"depth": np.zeros((2, 2, 2), dtype=np.uint16)})
    with pytest.raises(DataError, match=r"a1_s1_t1_depth\.mat: expected an integer d_depth.*got no d_depth"):
        read_utd_mhad(tmp_path)


def test_real_file(shared_data: Path) -> None:
    folder = shared_data / "utd_mhad_s1-4"
    if not (folder / "a1_s1_t1_depth.mat").is_file():
        pytest.skip(f"UTD-MHAD samples not found in {folder}")
    video = read_video(folder / "a1_s1_t1_depth.mat")
    assert (video.label, video.subject, video.split, len(video.points)) == (0, 1, "train", 48)
    z = np.concatenate(video.points)[:, 2]
    assert 0 < z.min() and z.max() <= 3201  # millimetres of a person a few metres from a Kinect
    assert all(len(p) > 1000 for p in video.points)
    dataset = UTDMHADDataset(path=str(folder))
    assert dataset._exists()


@pytest.mark.parametrize("reader", ["utd_mhad", "msr_action3d", "ntu"])
def test_a_missing_folder_is_a_data_error_naming_it(tmp_path: Path, reader: str) -> None:
    from crossvideo_kedro.datasets.msr_action3d import read_msr_action3d
    from crossvideo_kedro.datasets.ntu import read_ntu

    read = {"utd_mhad": read_utd_mhad, "msr_action3d": read_msr_action3d, "ntu": read_ntu}[reader]
    missing = tmp_path / "not_there"
    with pytest.raises(DataError, match=r"not_there: not a folder"):
        read(missing)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(DataError, match=r"a_file: not a folder"):
        read(tmp_path / "a_file")
