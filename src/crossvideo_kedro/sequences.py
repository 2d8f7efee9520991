"""In-memory forms of a sequence, shared by the readers, the generator and the ingest nodes.

Two kinds of sources feed ``ingest``:

* :class:`RawSequence` — an RGB-D video (HOI4D raw layout, generic RGB-D frame folders, the built-in generator):
  depth maps and optional colour/label images, intrinsics, action events.
* :class:`PointSequence` — an already back-projected point cloud video (HOI4D's preprocessed HDF5 benchmarks).

Shape letters: T frames, H×W image, N points.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from crossvideo_kedro.errors import DataError
from crossvideo_kedro.geometry.camera import check_intrinsics


#: Values of ``sequence_index.split``. ``unlabelled`` sequences feed pretraining only (docs/design.md §8).
SPLITS = ("train", "val", "test", "unlabelled")

#: The one rule for sequence names, shared by every reader and writer: a plain file name of letters, digits,
#: ``_``, ``-`` and ``.``, starting with a letter or digit, never containing ``..`` (so ``..seq`` and ``a..b`` are
#: refused everywhere, at read time as at write time).
SEQUENCE_NAME_RULE = "letters, digits, '_', '-' and '.', starting with a letter or digit, no '..', no '/'"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _intrinsics_where(meta: dict, where: str) -> str:
    """How an intrinsics error names its source: the file (``meta["intrinsics_file"]``) a reader took K from."""
    source = meta.get("intrinsics_file")
    return f"{source} (intrinsics of {where})" if source else f"{where}: intrinsics"


def is_valid_sequence_name(name: object) -> bool:
    """Whether ``name`` meets :data:`SEQUENCE_NAME_RULE` (a file name that cannot escape its folder)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None and ".." not in name


def check_sequence_name(name: object, where: str) -> str:
    """Return ``name`` if valid, else raise :class:`DataError` naming ``where`` and the rule."""
    if not is_valid_sequence_name(name):
        raise DataError(f"{where}: sequence name {name!r} is not allowed ({SEQUENCE_NAME_RULE})")
    return str(name)


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

        check_intrinsics(self.intrinsics, (height, width), _intrinsics_where(self.meta, where))
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
        check_event_list(self.events, num_frames / self.fps, self.action_classes, where)
        return self


def check_event_list(events: list[Event], duration: float, action_classes: list[str] | None, where: str) -> None:
    """Events must be non-empty, inside ``[0, duration]`` s, name a known class and never overlap.

    Back-to-back events (one ends where the next starts) are fine; an overlap would give a frame two labels.
    """
    for i, event in enumerate(events):
        if not (0 <= event.start < event.end <= duration + 1e-6):
            raise DataError(
                f"{where}: event {i} {event.name!r} [{event.start}, {event.end}) s lies outside the video "
                f"[0, {duration:.3f}] s or is empty"
            )
        if action_classes is not None and event.name not in action_classes:
            raise DataError(f"{where}: event {i} {event.name!r} is not in the action class list {list(action_classes)}")
    ordered = sorted(events, key=lambda e: (e.start, e.end))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.start < before.end - 1e-6:
            raise DataError(
                f"{where}: events {before.name!r} [{before.start}, {before.end}) s and {after.name!r} "
                f"[{after.start}, {after.end}) s overlap; expected at most one action per moment"
            )


@dataclass
class FrameChunk:
    """Decoded frames of a :class:`LazyRawSequence`: depth (t, H, W) m, color (t, H, W, 3) u8, labels (t, H, W)."""

    depth: np.ndarray
    color: np.ndarray | None = None
    labels: np.ndarray | None = None


@dataclass
class LazyRawSequence:
    """An RGB-D video whose header is known and whose frames are decoded on demand, a chunk at a time.

    This is what lets ``ingest`` stream a sequence of any length with bounded memory. The attributes mean what they
    mean on :class:`RawSequence`; ``height``/``width`` are the frames' size (the first depth frame's).

    Attributes:
        read: ``read(frames)`` with int (t,) stored-frame indices → :class:`FrameChunk` of those frames, checked
            (sizes, dtypes), raising :class:`DataError` naming the file and frame.
    """

    name: str
    num_frames: int
    height: int
    width: int
    intrinsics: np.ndarray
    fps: float
    read: Callable[[np.ndarray], FrameChunk]
    has_color: bool = False
    has_labels: bool = False
    events: list[Event] = field(default_factory=list)
    action_classes: list[str] | None = None
    semantic_classes: list[str] | None = None
    source: str = "unknown"
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_sequence(cls, seq: RawSequence) -> LazyRawSequence:
        """A lazy view of an in-memory sequence (frames are sliced, not copied up front)."""
        seq.validate()

        def read(frames: np.ndarray) -> FrameChunk:
            return FrameChunk(
                depth=seq.depth[frames],
                color=seq.color[frames] if seq.color is not None else None,
                labels=seq.labels[frames] if seq.labels is not None else None,
            )

        _, height, width = seq.depth.shape
        return cls(name=seq.name, num_frames=seq.num_frames, height=height, width=width,
                   intrinsics=np.asarray(seq.intrinsics, dtype=np.float64), fps=float(seq.fps), read=read,
                   has_color=seq.color is not None, has_labels=seq.labels is not None, events=list(seq.events),
                   action_classes=seq.action_classes, semantic_classes=seq.semantic_classes, source=seq.source,
                   meta=dict(seq.meta))

    def validate(self, where: str | None = None) -> LazyRawSequence:
        """The header checks of :meth:`RawSequence.validate` (intrinsics, fps, events); frames are checked on read."""
        where = where or self.name
        if self.num_frames <= 0:
            raise DataError(f"{where}: the sequence has no frames")
        if not self.fps > 0:
            raise DataError(f"{where}: fps must be > 0, got {self.fps}")
        from crossvideo_kedro.geometry.camera import check_intrinsics  # noqa: PLC0415

        check_intrinsics(self.intrinsics, (self.height, self.width), _intrinsics_where(self.meta, where))
        check_event_list(self.events, self.num_frames / self.fps, self.action_classes, where)
        return self

    def load(self) -> RawSequence:
        """Decode every frame into a :class:`RawSequence` (memory grows with the length: prefer chunks)."""
        chunk = self.read(np.arange(self.num_frames))
        return RawSequence(name=self.name, depth=chunk.depth, intrinsics=self.intrinsics, fps=self.fps,
                           color=chunk.color, labels=chunk.labels, events=list(self.events),
                           action_classes=self.action_classes, semantic_classes=self.semantic_classes,
                           source=self.source, meta=dict(self.meta)).validate()


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
