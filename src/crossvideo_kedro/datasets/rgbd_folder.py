"""Generic RGB-D frame folders (7-Scenes, RealSense captures, …) as a read-only Kedro dataset, one sequence each."""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from crossvideo_kedro.datasets.images import (
    as_intrinsics,
    check_numbering,
    check_same_frames,
    io_workers,
    numbered_files,
    read_color,
    read_depth,
    is_safe_name,
    read_depth_raw,
    read_intrinsics,
    read_stack,
    refuse_outside,
    safe_name,
)
from crossvideo_kedro.datasets.hoi4d_raw import SequenceLoader
from crossvideo_kedro.sequences import SEQUENCE_NAME_RULE, DataError, FrameChunk, LazyRawSequence, RawSequence

logger = logging.getLogger(__name__)


class FramePattern:
    """A file pattern with one ``{index}`` field, e.g. ``"frame-{index:06d}.depth.png"`` or ``"depth/{index}.png"``.

    The folder part (before the last ``/``) must be literal; the file name part becomes a regex whose group is the
    frame number.
    """

    def __init__(self, pattern: str) -> None:
        """Parse ``pattern``; raise ``ValueError`` unless it has exactly one ``{index}`` field, in the file name."""
        self.pattern = pattern
        folder, _, name = pattern.rpartition("/")
        if "{" in folder or "}" in folder:
            raise ValueError(
                f"frame pattern {pattern!r}: the folder part must be literal, only the name may hold {{index}}"
            )
        self.folder = folder
        self.regex = _name_regex(pattern, name)

    def file(self, root: Path, index: int) -> Path:
        """The file that holds frame ``index``."""
        return root / self.pattern.format(index=index)

    def list(self, root: Path) -> dict[int, Path]:
        """``{frame number: file}`` for the matching files under ``root``.

        Raises:
            DataError: The pattern's folder does not exist.
        """
        folder = root / self.folder
        if not folder.is_dir():
            raise DataError(f"{folder}: folder of frame pattern {self.pattern!r} does not exist")
        return numbered_files(folder, self.regex)


def _name_regex(pattern: str, name: str) -> str:
    parts, fields = [], 0
    for literal, field, spec, conversion in string.Formatter().parse(name):
        parts.append(re.escape(literal))
        if field is None:
            continue
        if field != "index" or conversion:
            raise ValueError(f"frame pattern {pattern!r}: the only field allowed is {{index}}, got {{{field}}}")
        spec_match = re.fullmatch(r"(0?)(\d*)d?", spec or "")
        if spec_match is None:
            raise ValueError(f"frame pattern {pattern!r}: format spec {spec!r} is not an integer format like '06d'")
        zero_padded, width = spec_match.groups()
        parts.append(rf"(\d{{{int(width)},}})" if zero_padded and width else r"(\d+)")
        fields += 1
    if fields != 1:
        raise ValueError(f"frame pattern {pattern!r} must hold exactly one {{index}} field, found {fields}")
    return "".join(parts)


class RGBDFolderDataset(AbstractDataset[None, dict[str, Callable[[], RawSequence]]]):
    """One folder of numbered RGB-D frames → ``{name: loader}`` with one lazily decoded :class:`RawSequence`.

    Frames are found by turning the patterns into regexes, sorted by number and checked for gaps; colour and depth
    must hold the same frame numbers. ``frame_step``/``max_frames`` subsample on read (the sequence's ``fps`` becomes
    ``fps / frame_step``). Raw depth values listed in ``invalid_depth`` become 0 m. ``loader()`` decodes every frame;
    ``loader.open()`` gives a :class:`LazyRawSequence` that decodes chunks on demand (what ``ingest`` streams).
    Frame files that resolve outside ``path`` (links) are refused unless ``allow_external_links``.

    Example (7-Scenes)::

        raw_sequences:
          type: crossvideo_kedro.datasets.RGBDFolderDataset
          path: ../shared/data/7scenes_kitchen
          depth_pattern: "frame-{index:06d}.depth.png"
          color_pattern: "frame-{index:06d}.color.jpg"
          intrinsics: camera-intrinsics.txt
          invalid_depth: [0, 65535]
          fps: 30.0
    """

    def __init__(  # noqa: PLR0913 - mirrors the catalog options
        self,
        path: str,
        depth_pattern: str,
        color_pattern: str | None = None,
        *,
        intrinsics: Sequence[Sequence[float]] | str,
        depth_scale: float = 0.001,
        invalid_depth: Sequence[int] = (0,),
        fps: float = 30.0,
        sequence_name: str | None = None,
        source: str = "rgbd",
        max_frames: int | None = None,
        frame_step: int = 1,
        allow_external_links: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            path: Folder of the capture.
            depth_pattern: Depth frame files relative to ``path``, with ``{index}`` (e.g. ``"depth/{index:06d}.png"``).
            color_pattern: Colour frame files, or ``None`` for a depth-only sequence (``color`` is ``None``).
            intrinsics: 3×3 K as a nested list, or a file: ``.txt`` (3×3 whitespace), ``.npy`` or ``.json``
                (Open3D/RealSense ``intrinsic_matrix``, column-major). A relative file path is looked up inside
                ``path`` first, then relative to the working directory (the Kedro project root).
            depth_scale: Metres per raw depth unit.
            invalid_depth: Raw values meaning "no depth" (7-Scenes: 0 and 65535); they become 0 m.
            fps: Frame rate of the capture (before ``frame_step``).
            sequence_name: Name of the sequence; default: the folder's name (made file-name safe).
            source: Source name recorded on the sequence.
            max_frames: Keep at most this many frames (after ``frame_step``); ``None``: all.
            frame_step: Keep every ``frame_step``-th frame.
            allow_external_links: Accept frame files that are links resolving outside ``path``.
            metadata: Free-form metadata, ignored by the dataset.
        """
        if frame_step < 1 or (max_frames is not None and max_frames < 1):
            raise ValueError(f"frame_step and max_frames must be >= 1, got {frame_step}, {max_frames}")
        if not fps > 0 or not depth_scale > 0:
            raise ValueError(f"fps and depth_scale must be > 0, got fps={fps}, depth_scale={depth_scale}")
        self._path = Path(path)
        self._depth = FramePattern(depth_pattern)
        self._color = FramePattern(color_pattern) if color_pattern else None
        if not isinstance(intrinsics, str | Path):
            as_intrinsics(intrinsics, f"{type(self).__name__}(intrinsics=...)")  # fail at construction
        self._intrinsics = intrinsics
        self._depth_scale = float(depth_scale)
        self._invalid = tuple(int(v) for v in invalid_depth)
        self._fps = float(fps)
        self._name = safe_name(sequence_name or self._path.resolve().name)
        if not is_safe_name(self._name):
            raise ValueError(f"sequence_name {self._name!r} is not allowed ({SEQUENCE_NAME_RULE})")
        self._allow_external_links = bool(allow_external_links)
        self._source = source
        self._max_frames = max_frames
        self._frame_step = int(frame_step)
        self.metadata = metadata

    def load(self) -> dict[str, SequenceLoader]:
        """Check the folder and return ``{name: loader}``.

        Raises:
            DatasetError: The folder does not exist or holds no depth frame matching ``depth_pattern``.
        """
        if not self._path.is_dir():
            raise DatasetError(f"RGB-D folder {self._path} does not exist (or is not a directory)")
        try:
            found = self._depth.list(self._path)
        except DataError as error:
            raise DatasetError(str(error)) from error
        if not found:
            raise DatasetError(f"{self._path}: no depth frames match {self._depth.pattern!r}")
        return {self._name: SequenceLoader(self._open_sequence)}

    def save(self, data: Any) -> None:
        """Not supported."""
        raise DatasetError(f"{type(self).__name__} is read-only ({self._path})")

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._path),
            "depth_pattern": self._depth.pattern,
            "color_pattern": self._color.pattern if self._color else None,
            "fps": self._fps,
            "frame_step": self._frame_step,
            "max_frames": self._max_frames,
        }

    def _exists(self) -> bool:
        return self._path.is_dir()

    # ------------------------------------------------------------------------------------------------ reading
    def _open_sequence(self) -> LazyRawSequence:
        """The (subsampled) frame lists and the camera, checked; frames decoded on demand."""
        depth_files, color_files, indices = self._frame_files()
        self._contained(*depth_files, *color_files)
        intrinsics, size = self._read_intrinsics()
        height, width = read_depth_raw(depth_files[0]).shape
        if size is not None and (height, width) != size:
            raise DataError(
                f"{self._intrinsics_file()}: intrinsics are for {size[1]}x{size[0]} images but the depth frames "
                f"({depth_files[0]}) are {width}x{height}"
            )
        read_depth_frame = partial(read_depth, depth_scale=self._depth_scale, invalid=self._invalid)

        def read(frames: np.ndarray) -> FrameChunk:
            frames = np.asarray(frames, dtype=np.int64)
            with ThreadPoolExecutor(io_workers()) as pool:
                depth = read_stack([depth_files[i] for i in frames], read_depth_frame, pool, (height, width), frames)
                color = (read_stack([color_files[i] for i in frames], read_color, pool, None, frames)
                         if color_files else None)
            if color is not None and color.shape[1:3] != depth.shape[1:]:
                first = int(frames[0])
                raise DataError(
                    f"{color_files[first]}: colour frame is {color.shape[2]}x{color.shape[1]} but depth frame "
                    f"{depth_files[first]} is {depth.shape[2]}x{depth.shape[1]} (WxH)"
                )
            return FrameChunk(depth=depth, color=color)

        sequence = LazyRawSequence(
            name=self._name,
            num_frames=len(depth_files),
            height=int(height),
            width=int(width),
            intrinsics=intrinsics,
            fps=self._fps / self._frame_step,
            read=read,
            has_color=bool(color_files),
            source=self._source,
            meta={
                "path": str(self._path),
                "intrinsics_file": str(self._intrinsics_file() or f"{type(self).__name__}(intrinsics=...)"),
                "depth_files": [str(p) for p in depth_files],
                "color_files": [str(p) for p in color_files],
                "frame_indices": indices,
                "frame_step": self._frame_step,
            },
        )
        logger.info("Opened %s: %d frames %dx%d from %s", self._name, sequence.num_frames, width, height, self._path)
        return sequence.validate(where=str(self._path))

    def _contained(self, *paths: Path) -> None:
        if not self._allow_external_links:
            refuse_outside(paths, self._path, "capture folder")

    def _frame_files(self) -> tuple[list[Path], list[Path], list[int]]:
        """Depth and colour files of the kept frames, and the kept frame numbers."""
        depth = self._depth.list(self._path)
        if not depth:
            raise DataError(f"{self._path / self._depth.folder}: no depth frames match {self._depth.pattern!r}")
        indices = sorted(depth)
        check_numbering(indices, lambda i: str(self._depth.file(self._path, i)))
        color: dict[int, Path] = {}
        if self._color is not None:
            color = self._color.list(self._path)
            check_same_frames(depth, color, "depth", "colour", self._path / self._color.folder)
        kept = indices[:: self._frame_step][: self._max_frames]
        return [depth[i] for i in kept], [color[i] for i in kept if color], kept

    def _intrinsics_file(self) -> Path | None:
        """The intrinsics file (relative paths: inside ``path`` first, else the working directory), or ``None``."""
        if not isinstance(self._intrinsics, str | Path):
            return None
        path = Path(self._intrinsics)
        if not path.is_absolute() and (self._path / path).is_file():
            return self._path / path
        return path

    def _read_intrinsics(self) -> tuple[np.ndarray, tuple[int, int] | None]:
        """K (3, 3) and, when the file states it, the image size (H, W)."""
        path = self._intrinsics_file()
        if path is None:
            return as_intrinsics(self._intrinsics, f"{type(self).__name__}(intrinsics=...)"), None
        return read_intrinsics(path)
