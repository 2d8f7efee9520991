"""Frame and camera-file readers: values, and an error naming the file for every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossvideo_kedro.datasets.images import (
    check_numbering,
    check_same_frames,
    is_safe_name,
    read_color,
    read_depth,
    read_intrinsics,
    read_mask,
    read_stack,
    safe_name,
)
from crossvideo_kedro.sequences import DataError


def _save(path: Path, array: np.ndarray, **kwargs) -> Path:
    Image.fromarray(array).save(path, **kwargs)
    return path


def test_read_depth_scales_and_drops_invalid_values(tmp_path: Path) -> None:
    raw = np.array([[0, 1000, 2500], [65535, 800, 1]], dtype=np.uint16)
    path = _save(tmp_path / "d.png", raw)
    depth = read_depth(path, depth_scale=0.001, invalid=(0, 65535))
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, [[0.0, 1.0, 2.5], [0.0, 0.8, 0.001]], atol=1e-7)
    assert read_depth(path, depth_scale=0.0001, invalid=(0,))[1, 0] == pytest.approx(6.5535)


def test_read_depth_rejects_8bit_and_rgb(tmp_path: Path) -> None:
    path = _save(tmp_path / "d8.png", np.zeros((4, 5), dtype=np.uint8))
    expected = r"d8\.png: depth frame has PIL mode 'L' \(uint8.*expected a single-channel uint16"
    with pytest.raises(DataError, match=expected):
        read_depth(path)
    path = _save(tmp_path / "rgb.png", np.zeros((4, 5, 3), dtype=np.uint8))
    with pytest.raises(DataError, match=r"rgb\.png: depth frame has PIL mode 'RGB'"):
        read_depth(path)


def test_wrong_size_names_file_and_expected_size(tmp_path: Path) -> None:
    path = _save(tmp_path / "d.png", np.zeros((4, 5), dtype=np.uint16))
    with pytest.raises(DataError, match=r"d\.png: depth frame is 5x4 \(WxH\), expected 6x4 like the first frame"):
        read_depth(path, expected_hw=(4, 6))


def test_missing_truncated_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jpg: colour frame file does not exist"):
        read_color(tmp_path / "nope.jpg")
    rgb = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    full = _save(tmp_path / "full.jpg", rgb, quality=90).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"cut\.jpg: colour frame is truncated or corrupt"):
        read_color(tmp_path / "cut.jpg")
    png = _save(tmp_path / "full.png", np.arange(4096, dtype=np.uint16).reshape(64, 64)).read_bytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) - 40])
    with pytest.raises(DataError, match=r"cut\.png: depth frame is truncated or corrupt"):
        read_depth(tmp_path / "cut.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=r"junk\.png: label mask is not a readable image"):
        read_mask(tmp_path / "junk.png")


def test_read_color_returns_rgb_uint8(tmp_path: Path) -> None:
    rgb = np.zeros((6, 8, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 50
    out = read_color(_save(tmp_path / "c.png", rgb))
    assert out.dtype == np.uint8 and out.shape == (6, 8, 3)
    np.testing.assert_array_equal(out, rgb)


def test_id_and_colour_masks(tmp_path: Path) -> None:
    ids = np.array([[0, 1, 255], [2, 254, 3]], dtype=np.uint8)
    path = _save(tmp_path / "id.png", ids)
    expected = [[0, 1, -1], [2, 254, 3]]
    np.testing.assert_array_equal(read_mask(path, "id"), expected)
    np.testing.assert_array_equal(read_mask(path, "auto"), expected)
    assert read_mask(path).dtype == np.int16

    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 1] = (128, 0, 0)
    rgb[1, 2] = (0, 128, 0)
    rgb[1, 0] = (9, 9, 9)  # not in the palette
    path = _save(tmp_path / "colour.png", rgb)
    palette = {"#000000": 0, "#800000": 1, "#008000": 2}
    labels = read_mask(path, "color", palette)
    np.testing.assert_array_equal(labels, [[0, 1, 0], [-1, 0, 2]])
    np.testing.assert_array_equal(read_mask(path, "auto", palette), labels)
    with pytest.raises(DataError, match=r"colour\.png: label mask is a colour mask \(mode 'RGB'\) but no mask_palette"):
        read_mask(path, "auto")
    with pytest.raises(DataError, match=r"colour\.png: id label mask has PIL mode 'RGB'"):
        read_mask(path, "id")


def test_intrinsics_files(tmp_path: Path) -> None:
    k = np.array([[585.0, 0, 320], [0, 585, 240], [0, 0, 1]])
    np.savetxt(tmp_path / "k.txt", k)
    np.save(tmp_path / "k.npy", k)
    column_major = {"width": 640, "height": 480, "intrinsic_matrix": k.T.reshape(-1).tolist()}
    (tmp_path / "k.json").write_text(json.dumps(column_major))
    for name in ("k.txt", "k.npy"):
        matrix, size = read_intrinsics(tmp_path / name)
        np.testing.assert_array_equal(matrix, k)
        assert size is None
    matrix, size = read_intrinsics(tmp_path / "k.json")
    np.testing.assert_array_equal(matrix, k)
    assert size == (480, 640)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.txt", "1 2 3\n4 5 6\n", r"bad\.txt: intrinsics must be a 3x3 matrix, got shape \(2, 3\)"),
        ("bad.npy", np.eye(4), r"bad\.npy: intrinsics must be a 3x3 matrix, got shape \(4, 4\)"),
        ("bad.json", {"intrinsic_matrix": [1, 2, 3]}, r"bad\.json: 'intrinsic_matrix' must hold 9 values"),
        ("nokey.json", {"K": [1]}, r"nokey\.json: expected a JSON object with key 'intrinsic_matrix'"),
        ("flip.txt", "500 0 1\n0 500 1\n1 1 1\n", r"flip\.txt: intrinsics are not a pinhole K"),
        ("text.txt", "a b c\n", r"text\.txt: cannot read intrinsics, expected a 3x3 matrix"),
    ],
)
def test_bad_intrinsics_name_the_file(tmp_path: Path, name: str, content: object, message: str) -> None:
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, dict):
        path.write_text(json.dumps(content))
    else:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_intrinsics(path)
    with pytest.raises(DataError, match=r"missing\.txt: intrinsics file does not exist"):
        read_intrinsics(tmp_path / "missing.txt")


def test_read_stack_names_the_frame_of_a_bad_file(tmp_path: Path) -> None:
    paths = [_save(tmp_path / f"{i}.png", np.full((3, 4), i, dtype=np.uint16)) for i in range(12)]
    stack = read_stack(paths, read_depth)
    assert stack.shape == (12, 3, 4)
    np.testing.assert_allclose(stack[:, 0, 0], np.arange(12) * 0.001, atol=1e-7)
    _save(paths[9], np.zeros((3, 5), dtype=np.uint16))
    expected = r"9\.png: depth frame is 5x3 \(WxH\), expected 4x3 like the first frame \(frame 9\)"
    with pytest.raises(DataError, match=expected):
        read_stack(paths, read_depth)


def test_numbering_and_pairing_checks() -> None:
    check_numbering([0, 1, 2], lambda i: f"d/{i:05d}.png", start=0)
    with pytest.raises(DataError, match=r"d/00002\.png: frame 2 is missing"):
        check_numbering([0, 1, 3, 4], lambda i: f"d/{i:05d}.png", start=0)
    with pytest.raises(DataError, match=r"d/00000\.png: frame 0 is missing"):
        check_numbering([1, 2], lambda i: f"d/{i:05d}.png", start=0)
    depth = {0: Path("d/0.png"), 1: Path("d/1.png")}
    with pytest.raises(DataError, match=r"3 colour frames but 2 depth frames; c/2\.jpg has no depth frame 2"):
        check_same_frames(depth, {**depth, 2: Path("c/2.jpg")}, "depth", "colour", Path("c"))
    with pytest.raises(DataError, match=r"1 colour frames but 2 depth frames; c lacks the colour frame for d/1\.png"):
        check_same_frames(depth, {0: Path("c/0.jpg")}, "depth", "colour", Path("c"))


def test_safe_names() -> None:
    assert safe_name("ZY2021/H1/C1") == "ZY2021__H1__C1"
    for hostile in ("../../etc", "..", "/abs/path", "a\\b", ".hidden"):
        name = safe_name(hostile)
        assert is_safe_name(name) and "/" not in name and "\\" not in name and not name.startswith("."), name
    assert is_safe_name("seq_01.a-b") and not is_safe_name("../x") and not is_safe_name("a/b")
    assert not is_safe_name(".hidden") and not is_safe_name("")


@pytest.mark.parametrize("folder", ["a..b", "..seq", "_x", "ZY2021/H1/../T1", "x y", "-dash", "ok.name"])
def test_one_name_rule_for_readers_and_writers(folder: str) -> None:
    from kedro.io import DatasetError  # noqa: PLC0415

    from crossvideo_kedro.datasets.npz import check_partition_name  # noqa: PLC0415
    from crossvideo_kedro.sequences import is_valid_sequence_name  # noqa: PLC0415

    name = safe_name(folder)
    assert is_valid_sequence_name(name) and check_partition_name(name) == name  # a name read can be written
    if folder != name:  # the folder's own name breaks the rule: every writer refuses it
        assert not is_valid_sequence_name(folder)
        with pytest.raises(DatasetError, match="is not allowed"):
            check_partition_name(folder)
