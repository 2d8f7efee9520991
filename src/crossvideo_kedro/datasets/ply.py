"""Point cloud frames as ``.ply`` files (binary little-endian: x y z float, red green blue uchar, label int), one
file per frame in a versioned folder, so Open3D (``open3d.io.read_point_cloud`` / ``open3d.t.io``), MeshLab and
CloudCompare open them. Written into a temporary folder renamed into place (nothing partial is ever visible)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from crossvideo_kedro.atomic import atomic_path
from crossvideo_kedro.partitions import materialise
from crossvideo_kedro.datasets.npz import check_partition_name

Arrays = dict[str, np.ndarray]
VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"),
                   ("label", "<i4")])
PLY_TYPES = {"float": "<f4", "uchar": "u1", "int": "<i4"}


def ply_bytes(points: np.ndarray, colors: np.ndarray, labels: np.ndarray) -> bytes:
    """One binary PLY file.

    Shape:
        points: (N, 3) float; colors: (N, 3) uint8; labels: (N,) int.
    """
    if points.ndim != 2 or points.shape[1] != 3 or colors.shape != points.shape or labels.shape != points.shape[:1]:
        raise DatasetError(f"a PLY frame needs points (N, 3), colors (N, 3), labels (N,); got {points.shape}, "
                           f"{colors.shape}, {labels.shape}")
    vertices = np.empty(len(points), dtype=VERTEX)
    for k, axis in enumerate("xyz"):
        vertices[axis] = points[:, k]
    for k, channel in enumerate(("red", "green", "blue")):
        vertices[channel] = colors[:, k]
    vertices["label"] = labels
    header = ["ply", "format binary_little_endian 1.0", "comment crossvideo-kedro predicted labels",
              f"element vertex {len(points)}"]
    header += ["property float x", "property float y", "property float z", "property uchar red",
               "property uchar green", "property uchar blue", "property int label"]
    return ("\n".join([*header, "end_header"]) + "\n").encode("ascii") + vertices.tobytes()


def read_ply(path: Path) -> Arrays:
    """Read a PLY file written by :func:`ply_bytes` → ``points`` (N, 3), ``colors`` (N, 3), ``labels`` (N,)."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise DatasetError(f"{path}: not a PLY file")
    lines = data[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in lines:
        raise DatasetError(f"{path}: only binary little-endian PLY files written by this project are read")
    count = next(int(line.split()[-1]) for line in lines if line.startswith("element vertex"))
    fields = [(line.split()[2], PLY_TYPES[line.split()[1]]) for line in lines if line.startswith("property")]
    vertices = np.frombuffer(data, dtype=np.dtype(fields), count=count, offset=end + len(b"end_header\n"))
    return {"points": np.stack([vertices[a] for a in "xyz"], axis=1),
            "colors": np.stack([vertices[c] for c in ("red", "green", "blue")], axis=1),
            "labels": vertices["label"].astype(np.int32)}


class PointCloudFramesDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Callable[[], Arrays]]]):
    """A folder of ``<name>.ply`` point cloud frames; ``save({name: {"points", "colors", "labels"}})``,
    ``load()`` → ``{name: loader}``.

    Example catalog entry::

        predicted_point_clouds:
          type: crossvideo_kedro.datasets.ply.PointCloudFramesDataset
          path: data/07_model_output/predicted_point_clouds
          versioned: true
    """

    def __init__(self, path: str, version: Version | None = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath=PurePosixPath(path), version=version)
        self.metadata = metadata

    def load(self) -> dict[str, Callable[[], Arrays]]:
        folder = Path(self._get_load_path())
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such folder of .ply frames")
        return {file.stem: (lambda file=file: read_ply(file)) for file in sorted(folder.glob("*.ply"))}

    def save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"PointCloudFramesDataset expects a dict of frames, got {type(data).__name__}")
        names = [check_partition_name(name) for name in data]
        try:
            with atomic_path(Path(self._get_save_path()), directory=True) as tmp:
                for name in names:
                    frame = materialise(data[name])
                    (tmp / f"{name}.ply").write_bytes(ply_bytes(frame["points"], frame["colors"], frame["labels"]))
        except FileExistsError as error:
            raise DatasetError(str(error)) from error

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_dir()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "version": self._version}
