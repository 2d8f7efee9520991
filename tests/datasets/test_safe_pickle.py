"""The restricted object-array reader: real object arrays round-trip, pickles naming other globals never run."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from crossvideo_kedro.datasets.safe_pickle import load_npz_member
from crossvideo_kedro.errors import DataError


def _object_array(frames: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(frames), dtype=object)
    out[:] = frames
    return out


def test_object_array_of_frames_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.normal(size=(n, 3)).astype(np.float32) for n in (5, 7, 3)]
    path = tmp_path / "a01_s01_e01_sdepth.npz"
    np.savez(path, point_clouds=_object_array(frames), plain=np.arange(6, dtype=np.int32).reshape(2, 3))

    clouds = load_npz_member(path, "point_clouds")
    assert clouds.dtype == object and clouds.shape == (3,)
    for got, want in zip(clouds, frames, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(load_npz_member(path, "plain"), [[0, 1, 2], [3, 4, 5]])


def _npz_with_pickle(path: Path, payload: bytes) -> None:
    """An ``.npz`` whose object-array member is ``payload`` after a valid ``.npy`` header."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("point_clouds.npy", buffer.getvalue() + payload)


@pytest.mark.parametrize("module, name, pickled_as", [("os", "system", r"(posix|nt)\.system"), ("builtins", "exec", r"builtins\.exec")])
def test_pickle_naming_other_globals_is_refused_and_never_runs(
    tmp_path: Path, module: str, name: str, pickled_as: str
) -> None:
    marker = tmp_path / "pwned"
    command = f"touch {marker}" if name == "system" else f"open({str(marker)!r}, 'w').close()"

    class Evil:
        def __reduce__(self):
            return (getattr(__import__(module), name), (command,))

    path = tmp_path / "evil.npz"
    payload = pickle.dumps(Evil(), protocol=3)
    _npz_with_pickle(path, payload)
    with pytest.raises(DataError, match=rf"evil\.npz.*{pickled_as}.*not allowed"):
        load_npz_member(path, "point_clouds")
    assert not marker.exists()
    pickle.loads(payload)  # the payload is live: an ordinary unpickler does run it
    assert marker.exists()


def test_missing_key_and_corrupt_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, other=np.zeros(2))
    with pytest.raises(DataError, match=r"x\.npz.*no array 'point_clouds'.*other"):
        load_npz_member(path, "point_clouds")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"broken\.npz"):
        load_npz_member(broken, "point_clouds")


def test_numpy_1_module_name_is_accepted(tmp_path: Path) -> None:
    """Files written by NumPy 1.x name ``numpy.core.multiarray``; protocol 3 spells globals as plain text."""
    array = _object_array([np.arange(6, dtype=np.float64).reshape(2, 3)])
    payload = pickle.dumps(array, protocol=3)
    assert b"numpy._core.multiarray" in payload
    path = tmp_path / "old.npz"
    _npz_with_pickle(path, payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    (frame,) = load_npz_member(path, "point_clouds")
    np.testing.assert_array_equal(frame, [[0, 1, 2], [3, 4, 5]])
