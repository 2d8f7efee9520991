"""A folder of ``.npz`` files, one per sequence: the storage of the intermediate contracts (docs/design.md §3)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version
from kedro_datasets._typing import TablePreview

from crossvideo_kedro.atomic import atomic_path
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.sequences import is_valid_sequence_name

Arrays = dict[str, np.ndarray]


def check_partition_name(name: str) -> str:
    """Return ``name`` if it is a safe partition (file) name, else raise: partitions never escape their folder.

    The rule is the one every reader and writer of sequences shares (:func:`~crossvideo_kedro.sequences.
    is_valid_sequence_name`).
    """
    if not is_valid_sequence_name(name):
        raise DatasetError(
            f"Partition name {name!r} is not allowed: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit, no path separators and no '..'"
        )
    return name


def read_npz(path: Path) -> Arrays:
    """Read every array of an ``.npz`` file into memory, without unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except FileNotFoundError as error:
        raise DatasetError(f"{path}: file not found") from error
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{path}: not a readable .npz file ({type(error).__name__}: {error})") from error


def npz_headers(path: Path) -> dict[str, str]:
    """``{array: "(shape) dtype"}`` of an ``.npz`` file from the array headers only (no data is read)."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as file:
                major, _ = np.lib.format.read_magic(file)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(file)
            out[member.removesuffix(".npy")] = f"{tuple(shape)} {dtype}"
    return out


class NpzPartitionsDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Callable[[], Arrays]]]):
    """A directory of ``<name>.npz`` files, loaded lazily like Kedro's ``PartitionedDataset``.

    ``load()`` returns ``{name: loader}``; calling a loader reads that file (``allow_pickle=False``).
    ``save()`` takes ``{name: arrays}`` (or ``{name: callable returning arrays}``, called at save time) and writes
    all files into a temporary folder that is renamed into place at the end, so a failed save leaves nothing and
    never touches earlier versions.

    Example catalog entry::

        point_cloud_videos:
          type: crossvideo_kedro.datasets.npz.NpzPartitionsDataset
          path: data/02_intermediate/point_cloud_videos
          versioned: true
    """

    def __init__(
        self,
        path: str,
        compress: bool = False,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath=PurePosixPath(path), version=version)
        self._compress = compress
        self.metadata = metadata

    def load(self) -> dict[str, Callable[[], Arrays]]:
        folder = Path(self._get_load_path())
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such folder of .npz partitions")
        files = sorted(folder.glob("*.npz"))
        return {file.stem: (lambda file=file: read_npz(file)) for file in files}

    def save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"NpzPartitionsDataset expects a dict of partitions, got {type(data).__name__}")
        names = [check_partition_name(name) for name in data]
        target = Path(self._get_save_path())
        writer = np.savez_compressed if self._compress else np.savez
        try:
            with atomic_path(target, directory=True) as tmp:
                for name in names:
                    arrays = materialise(data[name])
                    writer(tmp / f"{name}.npz", **arrays)
        except FileExistsError as error:
            raise DatasetError(str(error)) from error

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_dir()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "compress": self._compress, "version": self._version}

    def preview(self, nrows: int = 20) -> TablePreview:
        """kedro-viz table of the newest version: one row per partition (the first ``nrows``), its arrays' shapes."""
        files = sorted(Path(self._get_load_path()).glob("*.npz"))
        rows = {file.stem: npz_headers(file) for file in files[:nrows]}
        columns = list(dict.fromkeys(key for arrays in rows.values() for key in arrays))
        return TablePreview({"columns": ["partition", *columns],
                             "index": list(range(len(rows))),
                             "data": [[name, *(arrays.get(c, "") for c in columns)] for name, arrays in rows.items()]})
