"""NTU RGB+D masked-depth reader on tiny PNG folders written from the published layout (no real file is used)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError
from PIL import Image

from crossvideo_kedro.datasets.ntu import NTUDepthDataset, parse_name, read_ntu
from crossvideo_kedro.errors import DataError


def write_video(root: Path, name: str, depth: np.ndarray) -> None:
    (root / name).mkdir(parents=True)
    for t, frame in enumerate(depth):
        Image.fromarray(frame.astype(np.uint16)).save(root / name / f"MDepth-{t + 1:08d}.png")


def test_parse_name() -> None:
    assert parse_name("S017C003P020R002A060") == {
        "setup": 17, "camera": 3, "subject": 20, "replication": 2, "action": 60
    }
    with pytest.raises(DataError, match="not an NTU RGB\\+D video name"):
        parse_name("S1C1P1R1A1")


def test_frames_points_and_both_protocols(tmp_path: Path) -> None:
    depth = np.zeros((3, 4, 6), dtype=np.uint16)
    depth[0, 2, 3] = 700  # the principal point (W/2, H/2): x = y = 0
    depth[1, 0, 0] = 2800  # x = -3 * 10, y = -2 * 10
    depth[2, 3, 5] = 65000  # full uint16 range survives the PNG
    write_video(tmp_path, "S001C001P001R001A001", depth)  # training subject, test camera
    write_video(tmp_path, "S001C002P003R002A043", depth[:1])  # test subject, training camera
    (tmp_path / "readme.txt").write_text("ignored")

    subject = read_ntu(tmp_path)
    assert [(v.label, v.subject, v.split, len(v.points)) for v in subject] == [(0, 1, "train", 3), (42, 3, "test", 1)]
    np.testing.assert_allclose(subject[0].points[0], [[0, 0, 700]])
    np.testing.assert_allclose(subject[0].points[1], [[-30, -20, 2800]])
    np.testing.assert_allclose(subject[0].points[2][:, 2], [65000])
    assert [v.split for v in read_ntu(tmp_path, protocol="cross_view")] == ["test", "train"]
    assert subject[1].ids["camera"] == 2 and subject[1].ids["replication"] == 2


def test_frames_of_different_sizes_name_the_file(tmp_path: Path) -> None:
    write_video(tmp_path, "S001C001P001R001A001", np.ones((1, 4, 6)))
    Image.fromarray(np.ones((5, 6), dtype=np.uint16)).save(tmp_path / "S001C001P001R001A001" / "MDepth-00000009.png")
    with pytest.raises(DataError, match="MDepth-00000009"):
        read_ntu(tmp_path)
    with pytest.raises(DatasetError, match="MDepth-00000009"):
        NTUDepthDataset(path=str(tmp_path)).load()
    with pytest.raises(DataError, match="protocol 'cross_setup'"):
        read_ntu(tmp_path, protocol="cross_setup")
