"""The project's own storage datasets: npz partitions and torch checkpoints, versioned and atomic."""

import numpy as np
import pytest
import torch
from kedro.io.core import DatasetError, Version

from crossvideo_kedro.atomic import atomic_path
from crossvideo_kedro.datasets.checkpoint import TorchCheckpointDataset
from crossvideo_kedro.datasets.npz import NpzPartitionsDataset


def test_npz_partitions_round_trip_lazily(tmp_path):
    ds = NpzPartitionsDataset(path=str(tmp_path / "videos"))
    data = {"seq_a": {"points": np.arange(6, dtype=np.float32).reshape(1, 2, 3)}, "seq_b": {"x": np.int16([1, -1])}}
    ds.save(data)
    loaded = ds.load()
    assert sorted(loaded) == ["seq_a", "seq_b"] and callable(loaded["seq_a"])
    np.testing.assert_array_equal(loaded["seq_a"]()["points"], data["seq_a"]["points"])
    assert loaded["seq_b"]()["x"].dtype == np.int16


def test_npz_partitions_are_versioned_and_never_overwritten(tmp_path):
    first = NpzPartitionsDataset(path=str(tmp_path / "v"), version=Version(None, "2026-01-01T00.00.00.000Z"))
    first.save({"a": {"x": np.zeros(2)}})
    second = NpzPartitionsDataset(path=str(tmp_path / "v"), version=Version(None, "2026-01-02T00.00.00.000Z"))
    second.save({"a": {"x": np.ones(2)}})
    latest = NpzPartitionsDataset(path=str(tmp_path / "v"), version=Version(None, None))
    np.testing.assert_array_equal(latest.load()["a"]()["x"], np.ones(2))
    pinned = NpzPartitionsDataset(path=str(tmp_path / "v"), version=Version("2026-01-01T00.00.00.000Z", None))
    np.testing.assert_array_equal(pinned.load()["a"]()["x"], np.zeros(2))
    with pytest.raises(DatasetError, match="must not exist"):
        NpzPartitionsDataset(path=str(tmp_path / "v"), version=Version(None, "2026-01-01T00.00.00.000Z")).save({})


def test_failed_save_leaves_nothing_and_keeps_earlier_versions(tmp_path):
    NpzPartitionsDataset(path=str(tmp_path / "v"), version=Version(None, "2026-01-01T00.00.00.000Z")).save(
        {"a": {"x": np.zeros(2)}}
    )

    def broken():
        raise RuntimeError("writer died")

    ds = NpzPartitionsDataset(path=str(tmp_path / "v"), version=Version(None, "2026-01-02T00.00.00.000Z"))
    with pytest.raises(DatasetError, match="writer died"):
        ds.save({"a": {"x": np.ones(2)}, "b": broken})
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["2026-01-01T00.00.00.000Z"]
    latest = NpzPartitionsDataset(path=str(tmp_path / "v"), version=Version(None, None))
    np.testing.assert_array_equal(latest.load()["a"]()["x"], np.zeros(2))


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", "x/../../y"])
def test_partition_names_never_escape_their_folder(tmp_path, name):
    with pytest.raises(DatasetError, match="is not allowed"):
        NpzPartitionsDataset(path=str(tmp_path / "v")).save({name: {"x": np.zeros(1)}})
    assert not (tmp_path / "v").exists()


def test_pickled_npz_is_refused(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    np.savez(folder / "evil.npz", obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetError, match="evil.npz: not a readable .npz file"):
        NpzPartitionsDataset(path=str(folder)).load()["evil"]()


def test_corrupt_npz_names_the_file(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DatasetError, match="bad.npz: not a readable .npz file"):
        NpzPartitionsDataset(path=str(folder)).load()["bad"]()


def test_torch_checkpoint_round_trip_with_weights_only(tmp_path):
    ds = TorchCheckpointDataset(filepath=str(tmp_path / "m.pt"), version=Version(None, None))
    state = {"weights": torch.arange(4.0), "config": {"dim": 8, "names": ["a", "b"]}}
    ds.save(state)
    loaded = TorchCheckpointDataset(filepath=str(tmp_path / "m.pt"), version=Version(None, None)).load()
    assert torch.equal(loaded["weights"], state["weights"]) and loaded["config"] == state["config"]


class Payload:  # an arbitrary class: unpickling it would execute code paths the file chooses
    pass


def test_torch_checkpoint_refuses_arbitrary_objects(tmp_path):
    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(DatasetError, match="evil.pt: not a readable torch checkpoint"):
        TorchCheckpointDataset(filepath=str(tmp_path / "evil.pt")).load()


def test_atomic_file_write_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
