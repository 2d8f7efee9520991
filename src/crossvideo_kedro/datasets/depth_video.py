"""What the real action-recognition readers share: depth video -> per-frame points, the record, a read-only dataset."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io.core import AbstractDataset, DatasetError

from crossvideo_kedro.errors import DataError


@dataclass
class ActionVideo:
    """One labelled depth video as points: ``points[t]`` is (N_t, 3) float32 in millimetres (x right, y down, z depth).

    ``ids`` holds the identifiers parsed from the file name (``subject``, ``trial``, ``camera``, ...).
    """

    name: str
    points: list[np.ndarray]
    label: int
    subject: int
    split: str
    ids: dict[str, int] = field(default_factory=dict)


def matching_entries(folder: Path | str, pattern: re.Pattern[str], what: str, *, dirs: bool = False,
                     key: Callable[[Path], Any] | None = None) -> list[Path]:
    """The entries of ``folder`` whose whole name matches ``pattern`` (folders only with ``dirs``), sorted by
    ``key`` (default: the path); raises ``DataError`` naming ``folder`` when it is missing, not a folder, or holds
    no ``what``."""
    if not Path(folder).is_dir():
        raise DataError(f"{folder}: not a folder (expected one holding {what})")
    entries = [p for p in Path(folder).iterdir() if pattern.fullmatch(p.name) and (p.is_dir() or not dirs)]
    if not entries:
        raise DataError(f"{folder}: no {what}")
    return sorted(entries, key=key)


def depth_to_points(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> list[np.ndarray]:
    """Back-project a depth video (T, H, W) in mm through a pinhole; pixels of depth 0 are dropped.

    Returns T arrays (N_t, 3) float32: ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``, ``z`` = depth.
    """
    if depth.ndim != 3:
        raise DataError(f"depth video must be (T, H, W), got shape {depth.shape}")
    t, v, u = np.nonzero(depth > 0)
    z = depth[t, v, u].astype(np.float32)
    points = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1).astype(np.float32)
    counts = np.bincount(t, minlength=depth.shape[0])
    return np.split(points, np.cumsum(counts)[:-1])


class ActionVideoFolderDataset(AbstractDataset[None, dict[str, ActionVideo]]):
    """A read-only folder of one-video files; ``load`` returns ``{name: ActionVideo}``; ``save`` raises.

    Subclasses set ``read_folder``: a function ``(folder, **options) -> list[ActionVideo]``.
    """

    read_folder: Callable[..., list[ActionVideo]]

    def __init__(self, path: str, metadata: dict[str, Any] | None = None, **options: Any) -> None:
        self._path = Path(path)
        self._options = options
        self.metadata = metadata

    def load(self) -> dict[str, ActionVideo]:
        if not self._path.is_dir():
            raise DatasetError(f"{type(self).__name__}: folder {self._path} does not exist")
        try:
            return {video.name: video for video in type(self).read_folder(self._path, **self._options)}
        except DataError as error:
            raise DatasetError(str(error)) from error

    def save(self, data: Any) -> None:
        """Not supported."""
        raise DatasetError(f"{type(self).__name__} is read-only ({self._path})")

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), **self._options}

    def _exists(self) -> bool:
        return self._path.is_dir()
