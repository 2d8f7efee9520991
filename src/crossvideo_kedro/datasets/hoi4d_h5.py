"""HOI4D's preprocessed 4D benchmarks (PPTr/C2P HDF5 files) as a read-only, lazy Kedro dataset.

Schemas (N clips, T frames, P points per frame)::

    action_segmentation     pcd (N, T, P, 3) float  center (N, T, 3)  label (N, T) int        T=150, P=2048, 19 classes
    semantic_segmentation   pcd (N, T, P, 3) float  center (N, T, 3)  semantic (N, T, P) int  T=300, P=8192, ids 0..48

Files are several GB: ``load()`` only reads the header (keys, shapes, dtypes); each loader reads one clip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
from kedro.io import AbstractDataset, DatasetError

from crossvideo_kedro.datasets.images import safe_name
from crossvideo_kedro.sequences import DataError, PointSequence

logger = logging.getLogger(__name__)

Task = Literal["action_segmentation", "semantic_segmentation"]
#: Per task: label key, its shape letters (after N), and which PointSequence field it fills.
_LABELS: dict[str, tuple[str, str, str]] = {
    "action_segmentation": ("label", "T", "frame_labels"),
    "semantic_segmentation": ("semantic", "T P", "point_labels"),
}


class HOI4DH5Dataset(AbstractDataset[None, dict[str, Callable[[], PointSequence]]]):
    """One HOI4D benchmark HDF5 file → ``{f"{stem}_{i:05d}": loader}``, each loader reading clip ``i`` only.

    Example catalog entry::

        hoi4d_action_train1:
          type: crossvideo_kedro.datasets.HOI4DH5Dataset
          filepath: data/01_raw/hoi4d_h5/train1.h5
          task: action_segmentation
          fps: 7.5
    """

    def __init__(
        self,
        filepath: str,
        task: Task,
        fps: float = 15.0,
        action_classes: Sequence[str] | None = None,
        semantic_classes: Sequence[str] | None = None,
        source: str = "hoi4d_h5",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            filepath: The ``.h5`` file.
            task: ``"action_segmentation"`` (per-frame ``label``) or ``"semantic_segmentation"`` (per-point
                ``semantic``).
            fps: Frame rate of the stored clips.
            action_classes: Action class names (index = id); labels must lie below their count.
            semantic_classes: Semantic class names (index = id); labels must lie below their count.
            source: Source name recorded on the sequences.
            metadata: Free-form metadata, ignored by the dataset.
        """
        if task not in _LABELS:
            raise ValueError(f"task must be one of {sorted(_LABELS)}, got {task!r}")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self._filepath = Path(filepath)
        self._task = task
        self._fps = float(fps)
        self._action_classes = list(action_classes) if action_classes is not None else None
        self._semantic_classes = list(semantic_classes) if semantic_classes is not None else None
        self._source = source
        self.metadata = metadata

    def load(self) -> dict[str, Callable[[], PointSequence]]:
        """Check the file's keys, ranks and leading dimensions; return one lazy loader per clip.

        Raises:
            DatasetError: Missing file; DataError (wrapped) for a missing key or a wrong shape, naming the file,
                the key and the expected shape.
        """
        if not self._filepath.is_file():
            raise DatasetError(f"HOI4D HDF5 file {self._filepath} does not exist")
        try:
            num_clips = self._check_schema()
        except DataError as error:
            raise DatasetError(str(error)) from error
        stem = safe_name(self._filepath.stem)
        return {f"{stem}_{i:05d}": partial(self._load_clip, i, f"{stem}_{i:05d}") for i in range(num_clips)}

    def save(self, data: Any) -> None:
        """Not supported."""
        raise DatasetError(f"{type(self).__name__} is read-only ({self._filepath})")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "task": self._task, "fps": self._fps, "source": self._source}

    def _exists(self) -> bool:
        return self._filepath.is_file()

    # ------------------------------------------------------------------------------------------------ reading
    def _open(self) -> h5py.File:
        try:
            return h5py.File(self._filepath, "r")
        except OSError as error:
            raise DataError(f"{self._filepath}: cannot open as HDF5 ({error})") from error

    def _check_schema(self) -> int:
        """Validate shapes without reading data; return N."""
        label_key, label_dims, _ = _LABELS[self._task]
        with self._open() as h5:
            pcd = _dataset(h5, "pcd", self._filepath, "(N, T, P, 3)")
            if pcd.ndim != 4 or pcd.shape[3] != 3:
                raise DataError(f"{self._filepath}: key 'pcd' has shape {pcd.shape}, expected (N, T, P, 3)")
            if pcd.dtype.kind != "f":
                raise DataError(f"{self._filepath}: key 'pcd' has dtype {pcd.dtype}, expected floating point")
            num_clips, num_frames, num_points, _ = pcd.shape
            sizes = {"N": num_clips, "T": num_frames, "P": num_points}
            expected = {
                "center": ((num_clips, num_frames, 3), "(N, T, 3)"),
                label_key: (
                    tuple(sizes[d] for d in ("N", *label_dims.split())),
                    f"(N, {', '.join(label_dims.split())})",
                ),
            }
            for key, (shape, letters) in expected.items():
                dataset = _dataset(h5, key, self._filepath, letters)
                if dataset.shape != shape:
                    raise DataError(
                        f"{self._filepath}: key '{key}' has shape {dataset.shape}, expected {letters} = {shape} "
                        f"to match 'pcd' {pcd.shape}"
                    )
            if h5[label_key].dtype.kind not in "iuf":
                dtype = h5[label_key].dtype
                raise DataError(f"{self._filepath}: key '{label_key}' has dtype {dtype}, expected integer ids")
        logger.info(
            "%s: %d %s clips of %d frames x %d points", self._filepath, num_clips, self._task, num_frames, num_points
        )
        return num_clips

    def _load_clip(self, index: int, name: str) -> PointSequence:
        """Read clip ``index`` only (three hyperslab reads)."""
        label_key, _, field = _LABELS[self._task]
        with self._open() as h5:
            points = np.asarray(h5["pcd"][index], dtype=np.float32)  # (T, P, 3)
            center = np.asarray(h5["center"][index], dtype=np.float32)  # (T, 3)
            raw_labels = np.asarray(h5[label_key][index])  # (T,) or (T, P)
        where = f"{self._filepath}: clip {index}, key '{label_key}'"
        labels = _ids(raw_labels, self._class_count(), where)
        if not np.all(np.isfinite(points)):
            raise DataError(f"{self._filepath}: clip {index}, key 'pcd' holds non-finite coordinates")
        return PointSequence(
            name=name,
            points=points,
            fps=self._fps,
            frame_labels=labels if field == "frame_labels" else None,
            point_labels=labels if field == "point_labels" else None,
            action_classes=self._action_classes,
            semantic_classes=self._semantic_classes,
            source=self._source,
            meta={"file": str(self._filepath), "clip": index, "task": self._task, "center": center.tolist()},
        )

    def _class_count(self) -> int | None:
        classes = self._action_classes if self._task == "action_segmentation" else self._semantic_classes
        return len(classes) if classes is not None else None


def _dataset(h5: h5py.File, key: str, path: Path, letters: str) -> h5py.Dataset:
    if key not in h5 or not isinstance(h5[key], h5py.Dataset):
        raise DataError(
            f"{path}: missing key '{key}' (expected a dataset of shape {letters}); keys: {sorted(h5.keys())}"
        )
    return h5[key]


def _ids(raw: np.ndarray, num_classes: int | None, where: str) -> np.ndarray:
    """Class ids as int16, checked to be integral and inside ``0..num_classes-1`` (−1 allowed for unknown)."""
    if raw.dtype.kind == "f" and not np.array_equal(raw, np.rint(raw)):
        raise DataError(f"{where}: labels are not integral")
    low, high = (int(raw.min()), int(raw.max())) if raw.size else (0, 0)
    limit = num_classes if num_classes is not None else np.iinfo(np.int16).max + 1
    if low < -1 or high >= limit:
        raise DataError(f"{where}: label ids span {low}..{high}, expected -1..{limit - 1}")
    return raw.astype(np.int16)
