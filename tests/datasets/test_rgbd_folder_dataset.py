"""RGBDFolderDataset on the real 7-Scenes and RealSense samples, and on small folders with every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DatasetError
from PIL import Image

from crossvideo_kedro.datasets import RGBDFolderDataset
from crossvideo_kedro.datasets.rgbd_folder import FramePattern
from crossvideo_kedro.sequences import DataError

SEVEN_SCENES = {
    "depth_pattern": "frame-{index:06d}.depth.png",
    "color_pattern": "frame-{index:06d}.color.jpg",
    "intrinsics": "camera-intrinsics.txt",
    "invalid_depth": [0, 65535],
    "fps": 30.0,
}
REALSENSE = {
    "depth_pattern": "data/depth/{index:06d}.png",
    "color_pattern": "data/color/{index:06d}.png",
    "intrinsics": "data/cam_params_realsense.json",
}


def _sample(shared_data: Path, name: str) -> Path:
    folder = shared_data / name
    if not folder.is_dir():
        pytest.skip(f"real sample {folder} not present")
    return folder


# ------------------------------------------------------------------------------------------------ real samples
def test_seven_scenes_kitchen(shared_data: Path) -> None:
    folder = _sample(shared_data, "7scenes_kitchen")
    loaders = RGBDFolderDataset(str(folder), frame_step=10, source="seven_scenes", **SEVEN_SCENES).load()
    assert list(loaders) == ["7scenes_kitchen"]
    sequence = loaders["7scenes_kitchen"]()
    np.testing.assert_array_equal(sequence.intrinsics, [[585, 0, 320], [0, 585, 240], [0, 0, 1]])
    assert sequence.depth.shape == (30, 480, 640) and sequence.color.shape == (30, 480, 640, 3)
    assert sequence.depth.dtype == np.float32 and sequence.color.dtype == np.uint8
    assert sequence.fps == pytest.approx(3.0)  # 30 fps, every 10th frame
    assert sequence.meta["frame_indices"] == list(range(0, 300, 10))
    assert sequence.meta["depth_files"][1].endswith("frame-000010.depth.png")
    valid = sequence.depth > 0
    assert 0.8 < valid.mean() < 0.97  # Kinect v1 kitchen: ~90 % of pixels have depth
    assert 0.4 < sequence.depth[valid].min() and sequence.depth.max() < 5.0  # metres, 65535 dropped
    assert 1.0 < np.median(sequence.depth[valid]) < 3.0
    assert sequence.source == "seven_scenes" and sequence.events == [] and sequence.labels is None


def test_realsense_d435(shared_data: Path) -> None:
    folder = _sample(shared_data, "realsense_d435")
    sequence = RGBDFolderDataset(str(folder), **REALSENSE).load()["realsense_d435"]()
    np.testing.assert_allclose(
        sequence.intrinsics, [[617.25, 0, 317.3921203613281], [0, 617.5486450195312, 245.98019409179688], [0, 0, 1]]
    )
    assert sequence.depth.shape == (10, 480, 640) and sequence.color.shape == (10, 480, 640, 3)
    valid = sequence.depth > 0
    assert 0.85 < valid.mean() < 0.99
    assert 0.1 < sequence.depth[valid].min() and sequence.depth.max() < 10.0
    assert 0.5 < np.median(sequence.depth[valid]) < 3.0
    assert sequence.color.mean() > 20  # a real image, not black


def test_depth_only_configuration(shared_data: Path) -> None:
    folder = _sample(shared_data, "7scenes_kitchen")
    options = {**SEVEN_SCENES, "color_pattern": None}
    sequence = RGBDFolderDataset(str(folder), max_frames=4, sequence_name="kitchen/depth", **options).load()
    assert list(sequence) == ["kitchen__depth"]
    loaded = sequence["kitchen__depth"]()
    assert loaded.color is None and loaded.depth.shape == (4, 480, 640) and loaded.meta["color_files"] == []


# ------------------------------------------------------------------------------------------------ small folders
def _folder(tmp_path: Path, frames: int = 6, start: int = 0) -> Path:
    for i in range(start, start + frames):
        raw = np.full((4, 5), 1000 + i, dtype=np.uint16)
        raw[0, 0] = 65535
        Image.fromarray(raw).save(tmp_path / f"d{i:03d}.png")
        Image.fromarray(np.full((4, 5, 3), i, dtype=np.uint8)).save(tmp_path / f"c{i:03d}.png")
    np.savetxt(tmp_path / "k.txt", [[10, 0, 2], [0, 10, 1.5], [0, 0, 1]])
    return tmp_path


OPTIONS = {"depth_pattern": "d{index:03d}.png", "color_pattern": "c{index:03d}.png", "intrinsics": "k.txt"}


def test_subsampling_and_invalid_values(tmp_path: Path) -> None:
    folder = _folder(tmp_path, frames=7, start=1)
    sequence = RGBDFolderDataset(str(folder), frame_step=2, max_frames=3, invalid_depth=(65535,), fps=30,
                                 **OPTIONS).load()[folder.name]()
    assert sequence.meta["frame_indices"] == [1, 3, 5] and sequence.fps == 15.0
    np.testing.assert_allclose(sequence.depth[:, 1, 1], [1.001, 1.003, 1.005], atol=1e-6)
    assert (sequence.depth[:, 0, 0] == 0).all()
    np.testing.assert_array_equal(sequence.color[:, 0, 0, 0], [1, 3, 5])


def test_inline_and_npy_intrinsics(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    k = [[20.0, 0, 2], [0, 20.0, 1.5], [0, 0, 1]]
    options = {**OPTIONS, "intrinsics": k}
    np.testing.assert_array_equal(RGBDFolderDataset(str(folder), **options).load()[folder.name]().intrinsics, k)
    np.save(folder / "k.npy", k)
    options["intrinsics"] = str(folder / "k.npy")  # absolute
    np.testing.assert_array_equal(RGBDFolderDataset(str(folder), **options).load()[folder.name]().intrinsics, k)


def test_json_intrinsics_of_another_image_size(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    k = np.array([[10, 0, 2], [0, 10, 1.5], [0, 0, 1]])
    (folder / "k.json").write_text(json.dumps({"width": 640, "height": 480, "intrinsic_matrix": k.T.ravel().tolist()}))
    loaders = RGBDFolderDataset(str(folder), **{**OPTIONS, "intrinsics": "k.json"}).load()
    with pytest.raises(DataError, match=r"k\.json: intrinsics are for 640x480 images but the depth frames .* are 5x4"):
        loaders[folder.name]()


def test_intrinsics_of_wrong_shape_name_the_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    np.savetxt(folder / "k.txt", np.eye(4))
    with pytest.raises(DataError, match=r"k\.txt: intrinsics must be a 3x3 matrix, got shape \(4, 4\)"):
        RGBDFolderDataset(str(folder), **OPTIONS).load()[folder.name]()


def test_gap_and_count_mismatch(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "c005.png").unlink()
    expected = r"5 colour frames but 6 depth frames; .* lacks the colour frame for .*d005\.png"
    with pytest.raises(DataError, match=expected):
        RGBDFolderDataset(str(folder), **OPTIONS).load()[folder.name]()
    (folder / "d005.png").unlink()
    (folder / "d002.png").unlink()
    with pytest.raises(DataError, match=r"d002\.png: frame 2 is missing \(found 4 frames numbered 0\.\.4"):
        RGBDFolderDataset(str(folder), **OPTIONS).load()[folder.name]()


def test_corrupt_and_wrong_dtype_frames(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "c003.png").write_bytes((folder / "c003.png").read_bytes()[:30])
    loaders = RGBDFolderDataset(str(folder), **OPTIONS).load()
    expected = r"c003\.png: colour frame is (truncated or corrupt|not a readable image).*\(frame 3\)"
    with pytest.raises(DataError, match=expected):
        loaders[folder.name]()
    Image.fromarray(np.zeros((4, 5), dtype=np.uint8)).save(folder / "d004.png")
    with pytest.raises(DataError, match=r"d004\.png: depth frame has PIL mode 'L' \(uint8.*\(frame 4\)"):
        RGBDFolderDataset(str(folder), **{**OPTIONS, "color_pattern": None}).load()[folder.name]()


def test_missing_path_and_no_frames(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"RGB-D folder .*nowhere does not exist"):
        RGBDFolderDataset(str(tmp_path / "nowhere"), **OPTIONS).load()
    with pytest.raises(DatasetError, match=r"no depth frames match 'd\{index:03d\}\.png'"):
        RGBDFolderDataset(str(tmp_path), **OPTIONS).load()
    with pytest.raises(DatasetError, match=r"sub: folder of frame pattern 'sub/\{index\}\.png' does not exist"):
        RGBDFolderDataset(str(tmp_path), **{**OPTIONS, "depth_pattern": "sub/{index}.png"}).load()


def test_read_only(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="read-only"):
        RGBDFolderDataset(str(tmp_path), **OPTIONS).save({})


def test_frame_patterns() -> None:
    pattern = FramePattern("data/depth/frame-{index:06d}.depth.png")
    assert pattern.folder == "data/depth"
    assert pattern.regex == r"frame\-(\d{6,})\.depth\.png"
    assert FramePattern("{index}.png").regex == r"(\d+)\.png"
    for bad, message in [
        ("frame.png", "exactly one"),
        ("{index}_{index}.png", "exactly one"),
        ("{frame}.png", "only field allowed"),
        ("{index:.2f}.png", "not an integer format"),
        ("{index}/x.png", "folder part must be literal"),
    ]:
        with pytest.raises(ValueError, match=message):
            FramePattern(bad)


def test_frames_linked_out_of_the_capture_are_refused(tmp_path: Path) -> None:
    (tmp_path / "capture").mkdir()
    folder = _folder(tmp_path / "capture")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "c002.png").rename(elsewhere / "c002.png")
    (folder / "c002.png").symlink_to(elsewhere / "c002.png")
    dataset = RGBDFolderDataset(str(folder), **OPTIONS)
    with pytest.raises(DataError, match=r"c002\.png: resolves to .*elsewhere/c002\.png, outside the capture folder"):
        dataset.load()["capture"]()
    allowed = RGBDFolderDataset(str(folder), allow_external_links=True, **OPTIONS).load()["capture"]()
    assert allowed.color[2, 0, 0, 0] == 2


def test_open_streams_and_checks_the_camera_against_the_frames(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    lazy = RGBDFolderDataset(str(folder), **OPTIONS).load()[folder.name].open()
    assert (lazy.num_frames, lazy.height, lazy.width, lazy.has_color) == (6, 4, 5, True)
    np.testing.assert_array_equal(lazy.read(np.array([4, 5])).color[:, 0, 0, 0], [4, 5])
    np.savetxt(folder / "k.txt", [[1e-30, 0, 2], [0, 1e-30, 1.5], [0, 0, 1]])
    with pytest.raises(DataError, match=r"fx = 1e-30 px is implausible for 5x4 images"):
        RGBDFolderDataset(str(folder), **OPTIONS).load()[folder.name].open()


def test_implausible_intrinsics_name_the_intrinsics_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    np.savetxt(folder / "k.txt", [[10, 0, 50], [0, 10, 1.5], [0, 0, 1]])  # principal point far outside 5x4
    with pytest.raises(DataError, match=r"k\.txt \(intrinsics of .*\): "):
        RGBDFolderDataset(str(folder), **OPTIONS).load()[folder.name]()
