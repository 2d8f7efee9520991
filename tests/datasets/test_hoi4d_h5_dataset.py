"""HOI4DH5Dataset: lazy one-clip reads of the PPTr/C2P schema, and errors naming file, key and expected shape."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
from kedro.io import DatasetError

from crossvideo_kedro.datasets import HOI4DH5Dataset
from crossvideo_kedro.sequences import DataError, PointSequence


def test_action_segmentation_clips(tmp_path: Path, spec: SimpleNamespace) -> None:
    path = tmp_path / "train1.h5"
    arrays = spec.write_h5(path, "action_segmentation")
    classes = [f"a{i}" for i in range(19)]
    loaders = HOI4DH5Dataset(str(path), task="action_segmentation", fps=7.5, action_classes=classes).load()
    assert list(loaders) == ["train1_00000", "train1_00001", "train1_00002"]
    clip = loaders["train1_00001"]()
    assert isinstance(clip, PointSequence) and clip.name == "train1_00001"
    assert clip.points.dtype == np.float32 and clip.points.shape == (6, 64, 3)
    np.testing.assert_array_equal(clip.points, arrays["pcd"][1])
    assert clip.frame_labels.dtype == np.int16
    np.testing.assert_array_equal(clip.frame_labels, arrays["label"][1])
    assert clip.point_labels is None and clip.fps == 7.5 and clip.action_classes == classes
    assert clip.source == "hoi4d_h5" and clip.meta["clip"] == 1
    np.testing.assert_allclose(clip.meta["center"], arrays["center"][1])


def test_semantic_segmentation_clips(tmp_path: Path, spec: SimpleNamespace) -> None:
    path = tmp_path / "test_seg.h5"
    arrays = spec.write_h5(path, "semantic_segmentation", clips=2, frames=5, points=32)
    clip = HOI4DH5Dataset(str(path), task="semantic_segmentation").load()["test_seg_00001"]()
    assert clip.points.shape == (5, 32, 3) and clip.point_labels.shape == (5, 32)
    assert clip.point_labels.dtype == np.int16 and clip.frame_labels is None
    np.testing.assert_array_equal(clip.point_labels, arrays["semantic"][1])


def test_reads_only_the_requested_clip(tmp_path: Path, spec: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.h5"
    spec.write_h5(path, "action_segmentation", clips=4)
    reads = []
    original = h5py.Dataset.__getitem__

    def spy(self: h5py.Dataset, key: object) -> np.ndarray:
        reads.append((self.name, key))
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    loaders = HOI4DH5Dataset(str(path), task="action_segmentation").load()
    assert reads == []  # load() reads shapes only
    loaders["big_00002"]()
    assert sorted(reads) == [("/center", 2), ("/label", 2), ("/pcd", 2)]


@pytest.mark.parametrize(
    ("task", "drop", "override", "match"),
    [
        ("action_segmentation", "label", None,
         r"bad\.h5: missing key 'label' \(expected a dataset of shape \(N, T\)\)"),
        ("semantic_segmentation", "semantic", None, r"bad\.h5: missing key 'semantic' \(expected .* \(N, T, P\)\)"),
        ("action_segmentation", "pcd", None,
         r"bad\.h5: missing key 'pcd' \(expected a dataset of shape \(N, T, P, 3\)\)"),
        ("action_segmentation", None, {"pcd": np.zeros((3, 6, 64), np.float32)},
         r"bad\.h5: key 'pcd' has shape \(3, 6, 64\), expected \(N, T, P, 3\)"),
        ("action_segmentation", None, {"label": np.zeros((3, 5), np.int64)},
         r"bad\.h5: key 'label' has shape \(3, 5\), expected \(N, T\) = \(3, 6\) to match 'pcd' \(3, 6, 64, 3\)"),
        ("action_segmentation", None, {"center": np.zeros((2, 6, 3), np.float32)},
         r"bad\.h5: key 'center' has shape \(2, 6, 3\), expected \(N, T, 3\) = \(3, 6, 3\)"),
        ("semantic_segmentation", None, {"semantic": np.zeros((3, 6, 63), np.int64)},
         r"bad\.h5: key 'semantic' has shape \(3, 6, 63\), expected \(N, T, P\) = \(3, 6, 64\)"),
        ("action_segmentation", None, {"pcd": np.zeros((3, 6, 64, 3), np.int32)},
         r"bad\.h5: key 'pcd' has dtype int32, expected floating point"),
    ],
)
def test_schema_errors(
    tmp_path: Path, spec: SimpleNamespace, task: str, drop: str | None, override: dict | None, match: str
) -> None:
    path = tmp_path / "bad.h5"
    spec.write_h5(path, task, drop=drop, override=override)
    with pytest.raises(DatasetError, match=match):
        HOI4DH5Dataset(str(path), task=task).load()


def test_labels_outside_the_class_list(tmp_path: Path, spec: SimpleNamespace) -> None:
    path = tmp_path / "ids.h5"
    spec.write_h5(path, "action_segmentation", override={"label": np.full((3, 6), 19, np.int64)})
    loaders = HOI4DH5Dataset(str(path), task="action_segmentation", action_classes=[f"a{i}" for i in range(19)]).load()
    with pytest.raises(DataError, match=r"ids\.h5: clip 0, key 'label': label ids span 19\.\.19, expected -1\.\.18"):
        loaders["ids_00000"]()


def test_missing_and_non_hdf5_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"HOI4D HDF5 file .*none\.h5 does not exist"):
        HOI4DH5Dataset(str(tmp_path / "none.h5"), task="action_segmentation").load()
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(DatasetError, match=r"text\.h5: cannot open as HDF5"):
        HOI4DH5Dataset(str(tmp_path / "text.h5"), task="action_segmentation").load()
    with pytest.raises(ValueError, match="task must be one of"):
        HOI4DH5Dataset(str(tmp_path / "x.h5"), task="detection")
    with pytest.raises(DatasetError, match="read-only"):
        HOI4DH5Dataset(str(tmp_path / "x.h5"), task="action_segmentation").save({})
