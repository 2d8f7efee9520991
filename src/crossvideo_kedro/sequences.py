"""In-memory forms of a sequence, shared by the readers, the generator and the ingest nodes.

Two kinds of sources feed ``ingest``:

* :class:`RawSequence` — an RGB-D video (HOI4D raw layout, generic RGB-D frame folders, the built-in generator):
  depth maps and optional colour/label images, intrinsics, action events.
* :class:`PointSequence` — an already back-projected point cloud video (HOI4D's preprocessed HDF5 benchmarks).

Shape letters: T frames, H×W image, N points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class DataError(ValueError):
    """Input data that does not meet its contract. The message names the file (and frame) and what was expected."""


@dataclass(frozen=True)
class Event:
    """One action event of a sequence, times in seconds from the first frame (end exclusive)."""

    name: str
    start: float
    end: float


@dataclass
class RawSequence:
    """One RGB-D video, decoded.

    Attributes:
        name: Sequence name, unique within a source (a safe file name: no path separators).
        depth: float32 (T, H, W) depth in metres; 0 where the sensor gave no depth.
        intrinsics: float64 (3, 3) pinhole K of the depth/colour camera (colour and depth are aligned).
        fps: Frame rate of the stored frames.
        color: uint8 (T, H, W, 3) RGB, or ``None`` for depth-only sources.
        labels: int16 (T, H, W) per-pixel semantic ids (−1 unknown), or ``None``.
        events: Action events (may be empty); frame t lies at time t / fps.
        action_classes: Names of the action classes (index = id), or ``None`` when unknown.
        semantic_classes: Names of the semantic classes (index = id), or ``None`` when unknown.
        source: Name of the source the sequence came from (``generated``, ``hoi4d``, ``seven_scenes`` …).
        meta: Free-form extra information (generator version and seed, file paths …), JSON-serialisable.
    """

    name: str
    depth: np.ndarray
    intrinsics: np.ndarray
    fps: float
    color: np.ndarray | None = None
    labels: np.ndarray | None = None
    events: list[Event] = field(default_factory=list)
    action_classes: list[str] | None = None
    semantic_classes: list[str] | None = None
    source: str = "unknown"
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.depth.shape[0])

    def validate(self, where: str | None = None) -> RawSequence:
        """Check shapes, dtypes and cross-modal lengths; raise :class:`DataError` naming ``where`` otherwise."""
        where = where or self.name
        if self.depth.ndim != 3 or self.depth.shape[0] == 0:
            raise DataError(f"{where}: depth must be (T, H, W) with T > 0, got shape {self.depth.shape}")
        num_frames, height, width = self.depth.shape
        if self.intrinsics.shape != (3, 3) or not np.all(np.isfinite(self.intrinsics)):
            raise DataError(f"{where}: intrinsics must be a finite 3x3 matrix, got shape {self.intrinsics.shape}")
        if not self.fps > 0:
            raise DataError(f"{where}: fps must be > 0, got {self.fps}")
        if self.color is not None and self.color.shape != (num_frames, height, width, 3):
            raise DataError(
                f"{where}: colour video {self.color.shape} does not match depth video {self.depth.shape} "
                f"(expected ({num_frames}, {height}, {width}, 3))"
            )
        if self.labels is not None and self.labels.shape != (num_frames, height, width):
            raise DataError(
                f"{where}: label video {self.labels.shape} does not match depth video {self.depth.shape}"
            )
        duration = num_frames / self.fps
        for event in self.events:
            if not (0 <= event.start < event.end <= duration + 1e-6):
                raise DataError(
                    f"{where}: event {event.name!r} [{event.start}, {event.end}) s lies outside the video "
                    f"[0, {duration:.3f}) s or is empty"
                )
            if self.action_classes is not None and event.name not in self.action_classes:
                raise DataError(
                    f"{where}: event {event.name!r} is not in the action class list {self.action_classes}"
                )
        return self


@dataclass
class PointSequence:
    """One point cloud video that a source ships already back-projected (e.g. HOI4D's HDF5 benchmarks).

    Attributes:
        name: Sequence name (a safe file name).
        points: float32 (T, N, 3) xyz in metres.
        point_labels: int16 (T, N) semantic ids (−1 unknown), or ``None``.
        frame_labels: int16 (T,) action ids (−1 unknown), or ``None``.
        fps: Frame rate.
        action_classes / semantic_classes: class names, or ``None``.
        source: Source name.
    """

    name: str
    points: np.ndarray
    fps: float
    point_labels: np.ndarray | None = None
    frame_labels: np.ndarray | None = None
    action_classes: list[str] | None = None
    semantic_classes: list[str] | None = None
    source: str = "unknown"
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])
