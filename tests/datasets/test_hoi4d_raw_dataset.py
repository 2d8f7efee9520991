"""HOI4DRawDataset: save → load round trip, atomic/versioned saves, real-HOI4D options and every bad-input error."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError, Version
from PIL import Image

from crossvideo_kedro.datasets import HOI4DRawDataset, hoi4d_raw
from crossvideo_kedro.sequences import DataError, Event, RawSequence

# Expected values shared with the fixtures (tests/datasets/conftest.py make_sequence / write_real_hoi4d_sequence).
K = [[50.0, 0.0, 7.5], [0.0, 50.0, 5.5], [0.0, 0.0, 1.0]]
ACTIONS = ["reach", "grasp", "carry"]
PALETTE = {"#000000": 0, "#800000": 1, "#008000": 2}

Factory = Callable[..., RawSequence]


def _saved(tmp_path: Path, factory: Factory, **kwargs) -> tuple[Path, dict[str, RawSequence]]:
    sequences = {"seq_a": factory("seq_a", seed=1, **kwargs), "seq_b": factory("seq_b", seed=2, frames=4, **kwargs)}
    root = tmp_path / "raw"
    HOI4DRawDataset(str(root)).save(sequences)
    return root, sequences


def _load_one(root: Path, name: str, **kwargs) -> RawSequence:
    return HOI4DRawDataset(str(root), **kwargs).load()[name]()


# ------------------------------------------------------------------------------------------------ round trip
def test_round_trip_keeps_labels_intrinsics_events_and_depth(tmp_path: Path, sequence_factory: Factory) -> None:
    root, sequences = _saved(tmp_path, sequence_factory)
    loaders = HOI4DRawDataset(str(root)).load()
    assert list(loaders) == ["seq_a", "seq_b"]
    assert all(callable(loader) for loader in loaders.values())
    for name, original in sequences.items():
        loaded = loaders[name]()
        assert loaded.name == name and loaded.num_frames == original.num_frames
        np.testing.assert_array_equal(loaded.labels, original.labels)
        assert loaded.labels.dtype == np.int16 and (loaded.labels == -1).any()
        np.testing.assert_array_equal(loaded.intrinsics, original.intrinsics)
        assert loaded.events == original.events
        assert np.abs(loaded.depth - original.depth).max() <= 0.0005 + 1e-6  # within 1 mm (0.5 mm: rounding)
        np.testing.assert_array_equal(loaded.depth == 0, original.depth == 0)
        assert loaded.depth.dtype == np.float32
        assert np.abs(loaded.color.astype(int) - original.color).max() <= 6  # JPEG q95 of a smooth image
        assert loaded.fps == original.fps and loaded.source == "generated"
        assert loaded.action_classes == ACTIONS and loaded.semantic_classes == original.semantic_classes
        assert loaded.meta["generator"] == original.meta["generator"] and loaded.meta["note"] == "kept"
        assert loaded.meta["depth_files"] == [str(root / name / "align_depth" / f"{t:05d}.png") for t in
                                              range(original.num_frames)]
        assert all(Path(p).is_file() for p in loaded.meta["color_files"] + loaded.meta["depth_files"])


def test_saved_layout_and_files(tmp_path: Path, sequence_factory: Factory) -> None:
    root, sequences = _saved(tmp_path, sequence_factory)
    folder = root / "seq_b"
    assert sorted(p.name for p in (folder / "align_rgb").iterdir()) == [f"{t:05d}.jpg" for t in range(4)]
    depth = Image.open(folder / "align_depth" / "00002.png")
    assert depth.mode == "I;16"
    np.testing.assert_array_equal(np.asarray(depth), np.rint(sequences["seq_b"].depth[2] / 0.001).astype(np.uint16))
    mask = np.asarray(Image.open(folder / "2Dseg" / "mask" / "00001.png"))
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, np.where(sequences["seq_b"].labels[1] < 0, 255, sequences["seq_b"].labels[1]))
    action = json.loads((folder / "action" / "color.json").read_text())
    assert action["info"]["duration"] == pytest.approx(4 / 10.0)
    assert [e["event"] for e in action["events"]] == ["reach", "grasp"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["intrinsics"] == K and meta["fps"] == 10.0 and meta["mask_format"] == "id"
    assert meta["depth_scale"] == 0.001 and meta["action_classes"] == ACTIONS and meta["source"] == "generated"
    assert meta["generator"] == {"version": "test", "seed": 2}
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_depth_only_sequence_without_labels(tmp_path: Path, sequence_factory: Factory) -> None:
    root = tmp_path / "raw"
    HOI4DRawDataset(str(root)).save({"d": sequence_factory("d", with_color=False, with_labels=False)})
    loaded = _load_one(root, "d")
    assert loaded.color is None and loaded.labels is None and loaded.meta["color_files"] == []


def test_load_is_lazy(tmp_path: Path, sequence_factory: Factory) -> None:
    root, _ = _saved(tmp_path, sequence_factory)
    (root / "seq_a" / "align_rgb" / "00003.jpg").write_bytes(b"broken")
    loaders = HOI4DRawDataset(str(root)).load()  # nothing is decoded yet
    assert loaders["seq_b"]().num_frames == 4
    expected = r"seq_a/align_rgb/00003\.jpg: colour frame is not a readable image.*\(frame 3\)"
    with pytest.raises(DataError, match=expected):
        loaders["seq_a"]()


def test_kedro_catalog_with_versioning(tmp_path: Path, sequence_factory: Factory) -> None:
    catalog = DataCatalog.from_config({
        "raw_sequences": {
            "type": "crossvideo_kedro.datasets.HOI4DRawDataset", "path": str(tmp_path / "generated"), "versioned": True,
        }
    })
    catalog.save("raw_sequences", {"seq_a": sequence_factory("seq_a")})
    versions = list((tmp_path / "generated").iterdir())
    assert len(versions) == 1 and (versions[0] / "generated" / "seq_a" / "meta.json").is_file()
    assert catalog.load("raw_sequences")["seq_a"]().num_frames == 6


# ------------------------------------------------------------------------------------------------ atomic saves
def test_versioned_failed_save_keeps_the_earlier_version(
    tmp_path: Path, sequence_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "generated")
    HOI4DRawDataset(path, version=Version(None, "2026-01-01T00.00.00.000Z")).save({"seq_a": sequence_factory("seq_a")})
    calls = []
    real_writer = hoi4d_raw.write_depth_raw

    def failing_writer(file: Path, raw: np.ndarray) -> None:
        calls.append(file)
        if len(calls) == 3:
            raise OSError("disk full")
        real_writer(file, raw)

    monkeypatch.setattr(hoi4d_raw, "write_depth_raw", failing_writer)
    dataset = HOI4DRawDataset(path, version=Version(None, "2026-01-02T00.00.00.000Z"))
    with pytest.raises(DatasetError, match="disk full"):
        dataset.save({"seq_a": sequence_factory("seq_a", seed=5), "seq_b": sequence_factory("seq_b")})
    assert len(calls) >= 3
    assert [p.name for p in (tmp_path / "generated").iterdir()] == ["2026-01-01T00.00.00.000Z"]  # no partial version
    loaded = HOI4DRawDataset(path, version=Version(None, None)).load()
    assert list(loaded) == ["seq_a"]
    np.testing.assert_array_equal(loaded["seq_a"]().labels, sequence_factory("seq_a").labels)


def test_versioned_saves_add_versions_and_load_the_newest(tmp_path: Path, sequence_factory: Factory) -> None:
    path = str(tmp_path / "generated")
    HOI4DRawDataset(path, version=Version(None, "2026-01-01T00.00.00.000Z")).save({"old": sequence_factory("old")})
    HOI4DRawDataset(path, version=Version(None, "2026-01-02T00.00.00.000Z")).save({"new": sequence_factory("new")})
    assert list(HOI4DRawDataset(path, version=Version(None, None)).load()) == ["new"]
    assert list(HOI4DRawDataset(path, version=Version("2026-01-01T00.00.00.000Z", None)).load()) == ["old"]


def test_invalid_sequence_is_rejected_before_anything_is_written(tmp_path: Path, sequence_factory: Factory) -> None:
    bad = sequence_factory("bad")
    bad.color = bad.color[:-1]  # one colour frame short
    root = tmp_path / "raw"
    expected = r"Cannot save sequence 'bad': .*colour video \(5, 12, 16, 3\) does not match"
    with pytest.raises(DatasetError, match=expected):
        HOI4DRawDataset(str(root)).save({"good": sequence_factory("good"), "bad": bad})
    assert not root.exists() and list(tmp_path.iterdir()) == []


def test_failure_midway_without_versioning_leaves_nothing(
    tmp_path: Path, sequence_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    too_deep = sequence_factory("b")
    too_deep.depth[2, 3, 3] = 70.0  # 70 m does not fit a uint16 mm PNG
    root = tmp_path / "raw"
    with pytest.raises(DatasetError, match=r"sequence 'b': depth up to 70\.000 m does not fit a uint16 PNG"):
        HOI4DRawDataset(str(root)).save({"a": sequence_factory("a"), "b": too_deep})
    assert list(tmp_path.iterdir()) == []


def test_lazy_save_writes_the_same_files_one_sequence_at_a_time(
    tmp_path: Path, sequence_factory: Factory
) -> None:
    root, sequences = _saved(tmp_path / "eager", sequence_factory)
    lazy_root = tmp_path / "lazy" / "raw"
    called = []

    def loader(name: str) -> Callable[[], RawSequence]:
        def load() -> RawSequence:
            # the sequence before this one is completely written when this one is rendered: one in memory at once
            written = [p for p in lazy_root.parent.rglob("*") if p.is_file() and "seq_a" in p.parts]
            called.append((name, len(written)))
            return sequences[name]
        return load

    HOI4DRawDataset(str(lazy_root)).save({name: loader(name) for name in sequences})
    files_a = [p for p in (root / "seq_a").rglob("*") if p.is_file()]
    assert len(files_a) > 3 * sequences["seq_a"].num_frames  # depth, colour and mask frames + json
    assert called == [("seq_a", 0), ("seq_b", len(files_a))]
    eager = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert eager == sorted(p.relative_to(lazy_root) for p in lazy_root.rglob("*") if p.is_file())
    for file in eager:
        assert (root / file).read_bytes() == (lazy_root / file).read_bytes()


def test_a_lazy_sequence_that_fails_validation_leaves_nothing(tmp_path: Path, sequence_factory: Factory) -> None:
    bad = sequence_factory("bad")
    bad.color = bad.color[:-1]
    root = tmp_path / "raw"
    with pytest.raises(DatasetError, match=r"Cannot save sequence 'bad': .*colour video \(5, 12, 16, 3\)"):
        HOI4DRawDataset(str(root)).save({"good": lambda: sequence_factory("good"), "bad": lambda: bad})
    with pytest.raises(DatasetError, match=r"Sequence 'odd' is a int, expected a RawSequence"):
        HOI4DRawDataset(str(root)).save({"odd": lambda: 3})
    assert list(tmp_path.iterdir()) == []


def test_unversioned_save_refuses_to_overwrite(tmp_path: Path, sequence_factory: Factory) -> None:
    root, _ = _saved(tmp_path, sequence_factory)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    with pytest.raises(DatasetError, match=r"Refusing to overwrite .*raw: it already exists and is not empty"):
        HOI4DRawDataset(str(root)).save({"seq_c": sequence_factory("seq_c")})
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    HOI4DRawDataset(str(empty)).save({"x": sequence_factory("x")})  # an empty folder holds nothing to lose
    assert (empty / "x" / "meta.json").is_file()


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", "x y", "a..b", "..seq", "_x"])
def test_unsafe_names_are_rejected(tmp_path: Path, sequence_factory: Factory, name: str) -> None:
    with pytest.raises(DatasetError, match="is not allowed"):
        HOI4DRawDataset(str(tmp_path / "raw")).save({name: sequence_factory()})
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_non_sequences(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="expected a RawSequence"):
        HOI4DRawDataset(str(tmp_path / "raw")).save({"a": np.zeros(3)})
    with pytest.raises(DatasetError, match="non-empty dict"):
        HOI4DRawDataset(str(tmp_path / "raw")).save({})


# ------------------------------------------------------------------------------------------------ real HOI4D
def test_real_hoi4d_layout(real_hoi4d_root: Path) -> None:
    dataset = HOI4DRawDataset(
        str(real_hoi4d_root),
        action_classes=["reach", "grasp"],
        intrinsics_pattern="{root}/camera_params/{camera}/intrin.npy",
        mask_format="color",
        mask_palette=PALETTE,
    )
    loaders = dataset.load()
    assert list(loaders) == ["ZY20210800001__H1__C1__N01__S10__s01__T1", "ZY20210800002__H1__C1__N01__S10__s01__T2"]
    first, second = (loader() for loader in loaders.values())
    assert first.fps == 15.0 and first.source == "hoi4d" and first.num_frames == 5
    assert first.intrinsics[0, 0] == pytest.approx(100.0) and second.intrinsics[0, 0] == pytest.approx(150.0)
    np.testing.assert_allclose(first.depth[:, 1, 1], [0.5, 0.6, 0.7, 0.8, 0.9], atol=1e-6)
    assert (first.depth[:, 0, 0] == 0).all()
    assert first.labels[0, 3, 2] == 0 and first.labels[0, 3, 7] == 1 and first.labels[0, 0, 0] == 2
    assert first.labels[0, -1, -1] == -1
    assert first.events == [Event("reach", 0.0, 5 / 30), Event("grasp", 5 / 30, 5 / 15)]
    assert first.meta["relative_path"] == "ZY20210800001/H1/C1/N01/S10/s01/T1"


def test_catalog_arguments_override_meta_json(tmp_path: Path, sequence_factory: Factory, real_hoi4d_root: Path) -> None:
    k = [[300.0, 0, 5], [0, 300.0, 4], [0, 0, 1]]
    loaders = HOI4DRawDataset(str(real_hoi4d_root), intrinsics=k, fps=5.0, mask_palette=PALETTE).load()
    loaded = next(iter(loaders.values()))()
    np.testing.assert_array_equal(loaded.intrinsics, k)
    assert loaded.fps == 5.0 and loaded.labels[0, 3, 7] == 1  # auto: an RGB mask is read through the palette
    root, _ = _saved(tmp_path, sequence_factory)
    generated = _load_one(root, "seq_a")  # nothing in the catalog: meta.json describes its own sequence
    np.testing.assert_array_equal(generated.intrinsics, K)
    assert generated.fps == 10.0 and generated.action_classes == ACTIONS and generated.source == "generated"
    overridden = _load_one(root, "seq_a", intrinsics=k, fps=5.0, action_classes=["reach", "grasp", "x"],
                           source="hoi4d")  # catalog arguments win over meta.json
    np.testing.assert_array_equal(overridden.intrinsics, k)
    assert overridden.fps == 5.0 and overridden.action_classes == ["reach", "grasp", "x"]
    assert overridden.source == "hoi4d"


def test_rescale_event_times(real_hoi4d_root: Path) -> None:
    sequence = real_hoi4d_root / "ZY20210800001" / "H1" / "C1" / "N01" / "S10" / "s01" / "T1"
    (sequence / "action" / "color.json").write_text(json.dumps({
        "info": {"duration": 1 / 6}, "events": [{"id": 0, "event": "reach", "startTime": 0.0, "endTime": 1 / 6}],
    }))
    options = {"intrinsics": K, "mask_palette": PALETTE}
    loaded = HOI4DRawDataset(str(sequence), rescale_event_times=True, **options).load()["T1"]()
    assert loaded.events[0].end == pytest.approx(5 / 15)  # a 1/6 s clock stretched onto the 1/3 s video
    assert HOI4DRawDataset(str(sequence), **options).load()["T1"]().events[0].end == pytest.approx(1 / 6)


# ------------------------------------------------------------------------------------------------ bad input
@pytest.fixture
def one_real(tmp_path: Path, spec: SimpleNamespace) -> tuple[Path, dict]:
    folder = tmp_path / "cam" / "T1"
    spec.write_real_sequence(folder)
    return folder, {"intrinsics": K, "mask_palette": PALETTE, "action_classes": ["reach", "grasp"]}


def _load_error(tmp_path: Path, options: dict, match: str) -> None:
    loaders = HOI4DRawDataset(str(tmp_path), **options).load()
    with pytest.raises(DataError, match=match):
        loaders["cam__T1"]()


def test_gap_in_numbering_names_the_missing_file(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    folder, options = one_real
    (folder / "align_depth" / "00002.png").unlink()
    _load_error(tmp_path, options, r"align_depth/00002\.png: frame 2 is missing \(found 4 frames numbered 0\.\.4")


def test_extra_colour_frame_is_named(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    folder, options = one_real
    shutil.copy(folder / "align_rgb" / "00004.jpg", folder / "align_rgb" / "00005.jpg")
    expected = r"align_rgb: 6 colour frames but 5 depth frames; .*align_rgb/00005\.jpg has no depth frame 5"
    _load_error(tmp_path, options, expected)


def test_missing_mask_frame_is_named(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    folder, options = one_real
    (folder / "2Dseg" / "mask" / "00001.png").unlink()
    expected = r"2Dseg/mask: 4 label mask frames but 5 depth frames; .* lacks the label mask frame for .*00001\.png"
    _load_error(tmp_path, options, expected)


def test_truncated_colour_frame(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    folder, options = one_real
    frame = folder / "align_rgb" / "00003.jpg"
    frame.write_bytes(frame.read_bytes()[:200])
    _load_error(tmp_path, options, r"align_rgb/00003\.jpg: colour frame is truncated or corrupt .*\(frame 3\)")


def test_depth_of_wrong_dtype_and_size(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    folder, options = one_real
    Image.fromarray(np.zeros((8, 10), dtype=np.uint8)).save(folder / "align_depth" / "00001.png")
    _load_error(tmp_path, options, r"align_depth/00001\.png: depth frame has PIL mode 'L' \(uint8.*uint16.*\(frame 1\)")
    Image.fromarray(np.zeros((8, 11), dtype=np.uint16)).save(folder / "align_depth" / "00001.png")
    _load_error(tmp_path, options, r"align_depth/00001\.png: depth frame is 11x8 \(WxH\), expected 10x8 .*\(frame 1\)")


def test_colour_of_another_size_than_depth(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    folder, options = one_real
    for t in range(5):
        Image.fromarray(np.zeros((4, 5, 3), dtype=np.uint8)).save(folder / "align_rgb" / f"{t:05d}.jpg")
    _load_error(tmp_path, options, r"align_rgb/00000\.jpg: colour frame is 5x4 \(WxH\) but depth frame .* is 10x8")


def test_intrinsics_file_of_wrong_shape(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    _, options = one_real
    np.save(tmp_path / "intrin.npy", np.eye(3)[:2])
    options = {**options, "intrinsics": None, "intrinsics_pattern": "{root}/intrin.npy"}
    _load_error(tmp_path, options, r"intrin\.npy: intrinsics must be a 3x3 matrix, got shape \(2, 3\)")
    options["intrinsics_pattern"] = "{root}/{camera}.npy"
    _load_error(tmp_path, options, r"cam\.npy: intrinsics file does not exist")
    with pytest.raises(DataError, match=r"intrinsics must be a 3x3 matrix, got shape \(2, 2\)"):
        HOI4DRawDataset(str(tmp_path), intrinsics=[[1, 0], [0, 1]])
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['cam'\]"):
        HOI4DRawDataset(str(tmp_path), intrinsics_pattern="{root}/{cam}.npy")


def test_no_intrinsics_at_all(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    _, options = one_real
    _load_error(tmp_path, {**options, "intrinsics": None}, r"T1: no intrinsics \(no meta\.json with 'intrinsics'")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{broken", r"action/color\.json: action annotation is not valid JSON"),
        ({"events": [{"event": "reach", "startTime": 0.0}]}, r"color\.json: events\[0\] lacks key\(s\) \['endTime'\]"),
        ({"events": [{"event": "reach", "startTime": 0.1, "endTime": 9.0}]},
         r"color\.json: event 0 'reach' \[0\.1, 9\.0\) s lies outside the video \[0, 0\.333\] s"),
        ({"events": [{"event": "dance", "startTime": 0.0, "endTime": 0.1}]},
         r"color\.json: event 0 'dance' is not in the action class list \['reach', 'grasp'\]"),
    ],
)
def test_malformed_action_file(tmp_path: Path, one_real: tuple[Path, dict], content: object, match: str) -> None:
    folder, options = one_real
    (folder / "action" / "color.json").write_text(content if isinstance(content, str) else json.dumps(content))
    _load_error(tmp_path, options, match)


def test_malformed_meta_json(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    folder, options = one_real
    (folder / "meta.json").write_text(json.dumps({"fps": 0}))
    _load_error(tmp_path, options, r"T1/meta\.json: 'fps' must be a number > 0, got 0")
    (folder / "meta.json").write_text(json.dumps({"intrinsics": [1, 2, 3]}))
    _load_error(tmp_path, options, r"T1/meta\.json: 'intrinsics': intrinsics must be a 3x3 matrix, got shape \(3,\)")


def test_missing_or_empty_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"HOI4D raw folder .*nowhere does not exist"):
        HOI4DRawDataset(str(tmp_path / "nowhere")).load()
    assert not HOI4DRawDataset(str(tmp_path / "nowhere")).exists()
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"empty: no sequence found \(no directory containing 'align_depth/'\)"):
        HOI4DRawDataset(str(tmp_path / "empty")).load()
    with pytest.raises(DataError, match=r"align_depth: no depth frames"):
        (tmp_path / "empty" / "x" / "align_depth").mkdir()
        HOI4DRawDataset(str(tmp_path / "empty"), intrinsics=K).load()["x"]()


def test_constructor_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mask_format must be"):
        HOI4DRawDataset(str(tmp_path), mask_format="rgb")
    with pytest.raises(ValueError, match="needs a mask_palette"):
        HOI4DRawDataset(str(tmp_path), mask_format="color")
    with pytest.raises(ValueError, match="is not a colour '#rrggbb'"):
        HOI4DRawDataset(str(tmp_path), mask_palette={"red": 1})


def test_fixture_constants_match(spec: SimpleNamespace) -> None:
    assert (spec.K, spec.ACTIONS, spec.PALETTE) == (K, ACTIONS, PALETTE)


# ------------------------------------------------------------------------------------------------ metadata
def _depth_only_source(tmp_path: Path, spec: SimpleNamespace) -> Path:
    """A converted depth-only dataset: root meta.json (classes, depth unit), per-sequence intrinsics.npy, no colour."""
    root = tmp_path / "depth_actions"
    for name in ("S01_A01", "S02_A01"):
        spec.write_real_sequence(root / name)
        shutil.rmtree(root / name / "align_rgb")
        shutil.rmtree(root / name / "2Dseg")
        k = np.asarray(K)
        k[0, 0] *= 2 if name == "S02_A01" else 1
        np.save(root / name / "intrinsics.npy", k)
    (root / "meta.json").write_text(json.dumps({"classes": ["grasp", "reach"], "depth_unit_m": 0.002, "fps": 15}))
    return root


def test_root_meta_json_and_per_sequence_intrinsics_are_read(tmp_path: Path, spec: SimpleNamespace) -> None:
    loaders = HOI4DRawDataset(str(_depth_only_source(tmp_path, spec))).load()
    first, second = loaders["S01_A01"](), loaders["S02_A01"]()
    assert first.action_classes == ["grasp", "reach"] and first.fps == 15.0 and first.color is None
    np.testing.assert_allclose(first.depth[:, 1, 1], [1.0, 1.2, 1.4, 1.6, 1.8], atol=1e-6)  # raw 500.. x 2 mm
    assert first.intrinsics[0, 0] == 50.0 and second.intrinsics[0, 0] == 100.0  # each sequence its own K
    overridden = HOI4DRawDataset(str(tmp_path / "depth_actions"), depth_scale=0.001,
                                 action_classes=["reach", "grasp", "x"]).load()["S01_A01"]()
    np.testing.assert_allclose(overridden.depth[0, 1, 1], 0.5, atol=1e-6)  # catalog arguments win
    assert overridden.action_classes == ["reach", "grasp", "x"]


def test_conflicting_meta_aliases_are_refused(tmp_path: Path, spec: SimpleNamespace) -> None:
    root = _depth_only_source(tmp_path, spec)
    (root / "meta.json").write_text(json.dumps({"depth_unit_m": 0.002, "depth_scale": 0.001}))
    with pytest.raises(DatasetError, match=r"meta\.json: 'depth_unit_m' and 'depth_scale' say different things"):
        HOI4DRawDataset(str(root)).load()


# ------------------------------------------------------------------------------------------------ read-only
def test_real_raw_data_is_never_written(tmp_path: Path, spec: SimpleNamespace, sequence_factory: Factory) -> None:
    root = _depth_only_source(tmp_path, spec)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    with pytest.raises(DatasetError, match=r"Refusing to save into .*depth_actions: it holds .*S01_A01, a sequence "
                                           r"our generator did not write"):
        HOI4DRawDataset(str(root), version=Version(None, None)).save({"seq_x": sequence_factory("seq_x")})
    with pytest.raises(DatasetError, match="the catalog entry is read_only"):
        HOI4DRawDataset(str(tmp_path / "fresh"), read_only=True).save({"seq_x": sequence_factory("seq_x")})
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before and not (tmp_path / "fresh").exists()
    # the project's own generated folder takes new versions as before
    generated = HOI4DRawDataset(str(tmp_path / "generated"), version=Version(None, "v1"))
    generated.save({"seq_a": sequence_factory("seq_a")})
    HOI4DRawDataset(str(tmp_path / "generated"), version=Version(None, "v2")).save({"seq_a": sequence_factory("seq_a")})
    assert sorted(p.name for p in (tmp_path / "generated").iterdir()) == ["v1", "v2"]


def test_an_empty_pool_saves_and_loads_as_empty(tmp_path: Path) -> None:
    dataset = HOI4DRawDataset(str(tmp_path / "pool"), allow_empty=True, version=Version(None, None))
    assert dataset.load() == {}  # nothing generated yet
    HOI4DRawDataset(str(tmp_path / "pool"), allow_empty=True, version=Version(None, "v1")).save({})
    assert HOI4DRawDataset(str(tmp_path / "pool"), allow_empty=True, version=Version(None, None)).load() == {}
    with pytest.raises(DatasetError, match="saves a non-empty dict"):
        HOI4DRawDataset(str(tmp_path / "other")).save({})


# ------------------------------------------------------------------------------------------------ links and names
def test_links_leaving_the_source_are_refused_or_allowed(tmp_path: Path, spec: SimpleNamespace,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    outside = tmp_path / "outside"
    spec.write_real_sequence(outside / "T9")
    root = tmp_path / "src"
    spec.write_real_sequence(root / "cam" / "T1")
    spec.write_real_sequence(root / "cam" / "T2")
    frame = root / "cam" / "T1" / "align_depth" / "00003.png"
    frame.unlink()
    frame.symlink_to(outside / "T9" / "align_depth" / "00003.png")  # a frame linked out of the source
    shutil.rmtree(root / "cam" / "T2" / "align_rgb")
    (root / "cam" / "T2" / "align_rgb").symlink_to(outside / "T9" / "align_rgb")  # a colour folder linked out
    (root / "cam" / "T3").symlink_to(outside / "T9")  # a whole sequence linked out
    (root / "cam" / "T4").symlink_to(root / "cam" / "T1")  # a second path to T1: read once
    (root / "cam2").symlink_to(root / "cam")  # a link inside the source is followed (but T1/T2 are read once)
    (root / "more").mkdir()
    (root / "more" / "T5").symlink_to(outside / "T9")
    (root / "..seq").mkdir()
    options = {"intrinsics": K, "mask_palette": PALETTE, "action_classes": ["reach", "grasp"]}
    with caplog.at_level("INFO"):
        loaders = HOI4DRawDataset(str(root), **options).load()
    assert sorted(loaders) == ["cam__T1", "cam__T2"]
    assert "T3: a link to" in caplog.text and "T5: a link to" in caplog.text
    assert "outside the source root" in caplog.text
    assert "T4: the same folder as" in caplog.text
    assert "Skipped hidden folder" in caplog.text and "..seq" in caplog.text
    for name, file in (("cam__T1", r"align_depth/00003\.png"), ("cam__T2", r"align_rgb/00000\.jpg")):
        with pytest.raises(DataError, match=file + r": resolves to .*outside the source root.*allow_external_links"):
            loaders[name].open()
    allowed = HOI4DRawDataset(str(root), allow_external_links=True, **options).load()
    assert sorted(allowed) == ["cam__T1", "cam__T2", "cam__T3"]  # more/T5 is cam/T3's folder again: read once
    assert allowed["cam__T2"]().color is not None


def test_readers_name_folders_as_writers_accept(tmp_path: Path, spec: SimpleNamespace,
                                                sequence_factory: Factory) -> None:
    root = tmp_path / "src"
    spec.write_real_sequence(root / "a..b")
    options = {"intrinsics": K, "mask_palette": PALETTE, "action_classes": ["reach", "grasp"]}
    loaders = HOI4DRawDataset(str(root), **options).load()
    assert list(loaders) == ["a_b"]
    sequence = loaders["a_b"]()
    sequence.source = "generated"
    HOI4DRawDataset(str(tmp_path / "copy")).save({name: sequence for name in loaders})  # the writer takes the name


def test_overlapping_events_are_refused(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    folder, options = one_real
    (folder / "action" / "color.json").write_text(json.dumps({"events": [
        {"event": "reach", "startTime": 0.0, "endTime": 0.2}, {"event": "grasp", "startTime": 0.1, "endTime": 0.3}]}))
    _load_error(tmp_path, options, r"color\.json: events 'reach' \[0\.0, 0\.2\) s and 'grasp' \[0\.1, 0\.3\) s overlap")


def test_implausible_intrinsics_in_a_camera_file(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    _, options = one_real
    for k, match in (([[1e30, 0, 5], [0, 1e30, 4], [0, 0, 1]], r"fx = 1e\+30 px is implausible for 10x8 images"),
                     ([[50.0, 0, 1e30], [0, 50.0, 4], [0, 0, 1]], r"cx = 1e\+30 px lies far outside the 10x8 image")):
        _load_error(tmp_path, {**options, "intrinsics": k}, match)


def test_open_decodes_only_the_frames_asked_for(tmp_path: Path, one_real: tuple[Path, dict]) -> None:
    folder, options = one_real
    (folder / "align_rgb" / "00004.jpg").write_bytes(b"")  # a zero-byte frame the chunk never touches
    lazy = HOI4DRawDataset(str(tmp_path), **options).load()["cam__T1"].open()
    assert (lazy.num_frames, lazy.height, lazy.width, lazy.has_color, lazy.has_labels) == (5, 8, 10, True, True)
    chunk = lazy.read(np.array([1, 2]))
    assert chunk.depth.shape == (2, 8, 10) and chunk.color.shape == (2, 8, 10, 3) and chunk.labels.shape == (2, 8, 10)
    np.testing.assert_allclose(chunk.depth[:, 1, 1], [0.6, 0.7], atol=1e-6)
    with pytest.raises(DataError, match=r"align_rgb/00004\.jpg: colour frame .*\(frame 4\)"):
        lazy.read(np.array([3, 4]))  # the frame number in the message is the video's, not the chunk's
