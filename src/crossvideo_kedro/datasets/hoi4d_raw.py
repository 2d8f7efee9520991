"""HOI4D's raw per-sequence layout (real, or written by the built-in generator) as a Kedro dataset.

Layout of one sequence (docs/design.md §2)::

    <sequence>/align_rgb/00000.jpg …       colour (optional: without it the sequence is depth-only)
    <sequence>/align_depth/00000.png …     uint16 depth, × depth_scale → metres, 0 = no depth
    <sequence>/2Dseg/mask/00000.png …      labels (optional; HOI4D cameras 2–4 use 2Dseg/shift_mask)
    <sequence>/action/color.json           action events (optional)
    <sequence>/meta.json                   written by our generator/saver (optional)
    <sequence>/intrinsics.npy|.txt|.json   per-sequence K (optional)
    <root>/meta.json                       one for the whole source (optional): classes, depth unit, fps, K

Every directory under ``path`` that holds ``align_depth/`` is a sequence (HOI4D nests
``ZY2021…/H*/C*/N*/S*/s*/T*``); its name is the relative path with ``/`` → ``__``, and must meet the project's one
name rule (:data:`crossvideo_kedro.sequences.SEQUENCE_NAME_RULE`). Hidden folders, folders whose name breaks the
rule and links that leave the root are skipped with a log line (links leaving the root: unless
``allow_external_links``); a frame, mask or camera file that resolves outside the root is refused.
"""

from __future__ import annotations

import json
import logging
import os
import string
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractVersionedDataset, DatasetError, Version

from crossvideo_kedro.atomic import atomic_path
from crossvideo_kedro.datasets.actions import check_events, events_to_json, read_action_json, rescale_events
from crossvideo_kedro.datasets.images import (
    as_intrinsics,
    check_numbering,
    check_same_frames,
    depth_to_raw,
    io_workers,
    labels_to_u8,
    numbered_files,
    palette_lookup,
    read_color,
    read_depth,
    read_depth_raw,
    read_intrinsics,
    read_mask,
    read_stack,
    refuse_outside,
    safe_name,
    write_color,
    write_depth_raw,
    write_mask_u8,
)
from crossvideo_kedro.sequences import (
    SEQUENCE_NAME_RULE,
    DataError,
    FrameChunk,
    LazyRawSequence,
    RawSequence,
    is_valid_sequence_name,
)

logger = logging.getLogger(__name__)

COLOR_DIR = "align_rgb"
DEPTH_DIR = "align_depth"
MASK_DIRS = ("2Dseg/mask", "2Dseg/shift_mask")
ACTION_FILE = "action/color.json"
META_FILE = "meta.json"
INTRINSICS_FILES = ("intrinsics.npy", "intrinsics.txt", "intrinsics.json")
_PATTERN_FIELDS = {"root", "camera", "sequence"}
#: meta.json keys → RawSequence fields. ``classes``/``depth_unit_m`` are the names converters commonly use.
_META_ALIASES = {"classes": "action_classes", "depth_unit_m": "depth_scale"}
_DEFAULT_FPS = 15.0
_DEFAULT_DEPTH_SCALE = 0.001
#: Keys of RawSequence.meta that describe where a loaded sequence came from; not written back by save.
_READER_KEYS = {"path", "relative_path", "depth_files", "color_files", "mask_files", "generator"}
_CHUNK = 16  # frames per write job


def _names_or_none(names: Sequence[str] | None) -> list[str] | None:
    return list(names) if names is not None else None


def _check_options(mask_format: str | None, mask_palette: Mapping[str, int] | None, fps: float | None,
                   depth_scale: float | None, intrinsics_pattern: str | None) -> None:
    """Refuse constructor options of :class:`HOI4DRawDataset` that can never load, naming the option."""
    if mask_format not in (None, "auto", "id", "color"):
        raise ValueError(f"mask_format must be 'auto', 'id' or 'color', got {mask_format!r}")
    if mask_format == "color" and not mask_palette:
        raise ValueError("mask_format 'color' needs a mask_palette {'#rrggbb': id}")
    for key, value in (("fps", fps), ("depth_scale", depth_scale)):
        if value is not None and not (isinstance(value, int | float) and value > 0):
            raise ValueError(f"{key} must be a number > 0 or null, got {value!r}")
    if intrinsics_pattern is not None:
        _check_pattern(intrinsics_pattern)


class HOI4DRawDataset(AbstractVersionedDataset[Mapping[str, RawSequence], dict[str, Callable[[], RawSequence]]]):
    """Folders of RGB-D sequences in HOI4D's raw layout; loads lazily, saves atomically.

    ``load()`` returns ``{sequence name: loader}`` like Kedro's ``PartitionedDataset``; each loader decodes one
    sequence and returns a validated :class:`RawSequence` (``meta["depth_files"]``/``["color_files"]`` list the
    frame files so later errors can name them).

    ``loader()`` decodes the whole sequence; ``loader.open()`` returns a :class:`LazyRawSequence` (header read,
    frames decoded chunk by chunk on demand), which is what ``ingest`` uses so memory stays flat.

    Metadata precedence (each field: the first that states it): **catalog argument** (a constructor argument
    given, not ``None``) → the sequence's ``meta.json`` → the source's ``<root>/meta.json`` → built-in default
    (fps 15, depth_scale 0.001, source "hoi4d"). ``meta.json`` fields: ``fps``, ``depth_scale`` (or
    ``depth_unit_m``: metres per raw unit), ``action_classes`` (or ``classes``), ``semantic_classes``,
    ``intrinsics`` (3×3), ``mask_format``, ``source``. Intrinsics: ``intrinsics`` → ``intrinsics_pattern`` →
    sequence ``meta.json`` → ``<sequence>/intrinsics.npy|.txt|.json`` → ``<root>/meta.json``.

    ``save({name: RawSequence})`` writes the same layout (JPEG q95 colour, uint16 PNG depth of
    ``round(depth / depth_scale)``, 8-bit id masks with 255 = unknown, ``color.json`` in the "events" form,
    ``meta.json``) into a hidden staging folder beside the target and renames it into place, so a failed save
    leaves nothing behind. Versioned, every save is a new ``<path>/<version>/<name>`` folder; unversioned, an
    existing non-empty ``path`` is never overwritten. Real data is read-only: ``save`` refuses when
    ``read_only`` is set, or when ``path`` already holds any sequence that our generator did not write (no
    ``generator`` in its ``meta.json``).

    Example catalog entry::

        raw_sequences:
          type: crossvideo_kedro.datasets.HOI4DRawDataset
          path: data/01_raw/generated
          versioned: true
    """

    def __init__(  # noqa: PLR0913 - mirrors the catalog options
        self,
        path: str,
        action_classes: Sequence[str] | None = None,
        semantic_classes: Sequence[str] | None = None,
        fps: float | None = None,
        intrinsics: Sequence[Sequence[float]] | None = None,
        intrinsics_pattern: str | None = None,
        mask_format: str | None = None,
        mask_palette: Mapping[str, int] | None = None,
        depth_scale: float | None = None,
        source: str | None = None,
        rescale_event_times: bool = False,
        allow_external_links: bool = False,
        read_only: bool = False,
        allow_empty: bool = False,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            path: Root folder of the sequences (with versioning: the folder holding the version folders).
            action_classes: Action class names (index = id); events must name one of them. ``None``: unknown.
            semantic_classes: Semantic class names (index = id), or ``None``.
            fps: Frame rate of the stored frames; ``None``: from ``meta.json``, else 15 (HOI4D's).
            intrinsics: 3×3 K for every sequence without ``meta.json`` intrinsics.
            intrinsics_pattern: File holding K (``.npy``, ``.txt`` or ``.json``), formatted with ``{root}`` (the
                load folder), ``{camera}`` (first component of the sequence's relative path, HOI4D:
                ``ZY20210800001``) and ``{sequence}`` (the relative path), e.g.
                ``"{root}/camera_params/{camera}/intrin.npy"``.
            mask_format: ``"id"``, ``"color"`` (real HOI4D; needs ``mask_palette``) or ``"auto"`` (by PNG mode;
                the default).
            mask_palette: ``{"#rrggbb": id}`` for colour masks; unlisted colours → −1.
            depth_scale: Metres per raw depth unit; ``None``: from ``meta.json``, else 0.001 (millimetres). Also
                the unit written by ``save``.
            source: Source name; ``None``: from ``meta.json``, else "hoi4d".
            rescale_event_times: When ``color.json`` states an ``info.duration`` different from the video's
                (T / fps), scale its event times onto the video (some real HOI4D files use a 10 s clock for 20 s
                videos). Off: times are taken as they are and must lie inside the video.
            allow_external_links: Follow links (folders, frames, camera files) that resolve outside ``path``.
                Off (default): such sequence folders are skipped with a warning, such files are refused.
            read_only: Refuse every ``save`` (set it on entries of real data).
            allow_empty: An empty source is fine (an optional unlabelled pool): ``save({})`` writes an empty
                folder and ``load()`` of an empty or missing folder returns ``{}``.
            version: Kedro version (``versioned: true`` in the catalog); ``None`` reads/writes ``path`` itself.
            metadata: Free-form metadata, ignored by the dataset.
        """
        super().__init__(filepath=PurePosixPath(path), version=version)
        _check_options(mask_format, mask_palette, fps, depth_scale, intrinsics_pattern)
        self._action_classes, self._semantic_classes = _names_or_none(action_classes), _names_or_none(semantic_classes)
        self._fps = float(fps) if fps is not None else None
        self._intrinsics = as_intrinsics(intrinsics, "HOI4DRawDataset(intrinsics=...)") if intrinsics else None
        self._intrinsics_pattern, self._mask_format = intrinsics_pattern, mask_format
        self._palette = palette_lookup(mask_palette) if mask_palette else None
        self._depth_scale = float(depth_scale) if depth_scale is not None else None
        self._source = source
        self._rescale_event_times, self._allow_external_links = bool(rescale_event_times), bool(allow_external_links)
        self._read_only, self._allow_empty = bool(read_only), bool(allow_empty)
        self.metadata = metadata

    # ------------------------------------------------------------------------------------------------ kedro API
    def load(self) -> dict[str, SequenceLoader]:
        """Discover the sequences under the load folder.

        Returns:
            ``{name: loader}``, sorted by name; ``loader()`` decodes and validates one sequence,
            ``loader.open()`` gives it lazily (:class:`LazyRawSequence`).

        Raises:
            DatasetError: The folder does not exist or holds no sequence.
        """
        try:
            root = Path(str(self._get_load_path()))
        except DatasetError:
            if self._allow_empty:
                logger.info("No version of %s yet: an empty source", self._filepath)
                return {}
            raise
        if not root.is_dir():
            if self._allow_empty:
                logger.info("%s does not exist: an empty source", root)
                return {}
            raise DatasetError(f"HOI4D raw folder {root} does not exist (or is not a directory)")
        try:
            root_meta = _read_meta(root / META_FILE) if not (root / DEPTH_DIR).is_dir() else {}
        except DataError as error:
            raise DatasetError(str(error)) from error
        loaders: dict[str, SequenceLoader] = {}
        for sequence_dir in find_sequences(root, "external" if self._allow_external_links else True):
            relative = sequence_dir.relative_to(root)
            name = safe_name(relative.as_posix() if relative.parts else root.name)  # meets the writers' name rule
            if name in loaders:
                raise DatasetError(f"{sequence_dir}: sequence name {name!r} is not unique under {root}")
            loaders[name] = SequenceLoader(partial(self._open_sequence, root, sequence_dir, name, root_meta))
        if not loaders and not self._allow_empty:
            raise DatasetError(f"{root}: no sequence found (no directory containing '{DEPTH_DIR}/')")
        logger.info("Found %d sequences under %s", len(loaders), root)
        return dict(sorted(loaders.items()))

    def save(self, data: Mapping[str, RawSequence]) -> None:
        """Write ``{name: RawSequence}`` in the raw layout, atomically.

        Raises:
            DatasetError: Bad input (the sequence's validation message), an unsafe name, an existing non-empty
                target without versioning, or a write failure (nothing is left behind).
        """
        sequences = self._checked_input(data)
        self._refuse_real_data()
        target = Path(str(self._get_save_path()))  # versioned: <path>/<version>/<name>, which must not exist
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # an empty folder holds nothing to lose
        elif target.exists():
            raise DatasetError(
                f"Refusing to overwrite {target}: it already exists and is not empty. Save to a new path, remove "
                "it first, or set 'versioned: true' so that every save gets a new version folder."
            )
        try:
            # Staged in a hidden folder beside the target and renamed into place; on error the staging folder
            # and any folder created for it (an empty version folder) are removed.
            with atomic_path(target, directory=True) as staging:
                staging.chmod(0o755)  # mkdtemp makes it private
                self._write_all(staging, sequences)
        except (DataError, OSError) as error:
            raise DatasetError(f"Failed to save {len(sequences)} sequences to {target}: {error}") from error
        logger.info("Saved %d sequences to %s", len(sequences), target)

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._filepath),
            "version": self._version,
            "fps": self._fps,
            "depth_scale": self._depth_scale,
            "mask_format": self._mask_format,
            "intrinsics": "inline" if self._intrinsics is not None else self._intrinsics_pattern,
            "source": self._source,
            "read_only": self._read_only,
        }

    def _exists(self) -> bool:
        root = Path(str(self._get_load_path()))
        return root.is_dir() and any(root.iterdir())

    # ------------------------------------------------------------------------------------------------ reading
    def _open_sequence(self, root: Path, sequence_dir: Path, name: str, root_meta: dict) -> LazyRawSequence:
        """Read one sequence's header (files, metadata, intrinsics, events, first depth frame); frames on demand."""
        meta = _read_meta(self._contained(sequence_dir / META_FILE, root))
        stated = {**root_meta, **meta}
        fps = _first(self._fps, stated.get("fps"), _DEFAULT_FPS)
        depth_scale = _first(self._depth_scale, stated.get("depth_scale"), _DEFAULT_DEPTH_SCALE)
        action_classes = _first(self._action_classes, stated.get("action_classes"))
        semantic_classes = _first(self._semantic_classes, stated.get("semantic_classes"))
        mask_format = _first(self._mask_format, stated.get("mask_format"), "auto")
        depth_files, color_files, mask_files = self._frame_files(sequence_dir)
        self._contained_all((*depth_files, *color_files, *mask_files), root)
        # The cheap checks first: a bad annotation or camera file fails before any frame is decoded.
        intrinsics, intrinsics_file = self._sequence_intrinsics(root, sequence_dir, meta, root_meta)
        events = self._read_events(self._contained(sequence_dir / ACTION_FILE, root), len(depth_files) / fps,
                                   action_classes)
        height, width = read_depth_raw(depth_files[0]).shape
        palette = self._palette
        read_depth_frame = partial(read_depth, depth_scale=depth_scale, invalid=(0,))
        read_mask_frame = partial(read_mask, fmt=mask_format, palette=palette)

        def read(frames: np.ndarray) -> FrameChunk:
            frames = np.asarray(frames, dtype=np.int64)
            with ThreadPoolExecutor(io_workers()) as pool:
                depth = read_stack([depth_files[i] for i in frames], read_depth_frame, pool, (height, width), frames)
                color = (read_stack([color_files[i] for i in frames], read_color, pool, None, frames)
                         if color_files else None)
                labels = (read_stack([mask_files[i] for i in frames], read_mask_frame, pool, None, frames)
                          if mask_files else None)
            first = int(frames[0])
            _check_matching_size(depth, color, labels, depth_files[first],
                                 color_files[first] if color_files else None, mask_files[first] if mask_files else None)
            return FrameChunk(depth=depth, color=color, labels=labels)

        sequence = LazyRawSequence(
            name=name,
            num_frames=len(depth_files),
            height=int(height),
            width=int(width),
            intrinsics=intrinsics,
            fps=float(fps),
            read=read,
            has_color=bool(color_files),
            has_labels=bool(mask_files),
            events=events,
            action_classes=action_classes,
            semantic_classes=semantic_classes,
            source=str(_first(self._source, stated.get("source"), "hoi4d")),
            meta={
                **meta.get("extra", {}),
                "generator": meta.get("generator"),
                "path": str(sequence_dir),
                "intrinsics_file": intrinsics_file,
                "relative_path": sequence_dir.relative_to(root).as_posix(),
                "depth_files": [str(p) for p in depth_files],
                "color_files": [str(p) for p in color_files],
                "mask_files": [str(p) for p in mask_files],
            },
        )
        return sequence.validate(where=str(sequence_dir))

    def _contained(self, path: Path, root: Path) -> Path:
        """``path`` itself, after checking that it does not resolve outside ``root`` (unless links may leave it)."""
        self._contained_all((path,), root)
        return path

    def _contained_all(self, paths: Sequence[Path], root: Path) -> None:
        if not self._allow_external_links:
            refuse_outside(paths, root, "source root")

    @staticmethod
    def _frame_files(sequence_dir: Path) -> tuple[list[Path], list[Path], list[Path]]:
        """Depth, colour and mask frame files, checked for gaps and for matching frame numbers."""
        depth_dir = sequence_dir / DEPTH_DIR
        depth = numbered_files(depth_dir, r"(\d+)\.png")
        if not depth:
            raise DataError(f"{depth_dir}: no depth frames (expected 00000.png, 00001.png, …)")
        indices = sorted(depth)
        check_numbering(indices, lambda i: str(depth_dir / f"{i:05d}.png"), start=0)
        color: dict[int, Path] = {}
        color_dir = sequence_dir / COLOR_DIR
        if color_dir.is_dir():
            color = numbered_files(color_dir, r"(\d+)\.(?:jpg|jpeg|png)")
            check_same_frames(depth, color, "depth", "colour", color_dir)
        mask: dict[int, Path] = {}
        mask_dir = next((sequence_dir / d for d in MASK_DIRS if (sequence_dir / d).is_dir()), None)
        if mask_dir is not None:
            mask = numbered_files(mask_dir, r"(\d+)\.png")
            check_same_frames(depth, mask, "depth", "label mask", mask_dir)
        return [depth[i] for i in indices], [color[i] for i in indices if color], [mask[i] for i in indices if mask]

    def _sequence_intrinsics(self, root: Path, sequence_dir: Path, meta: dict,
                             root_meta: dict) -> tuple[np.ndarray, str]:
        """K (3, 3) and where it was read (a file, a file's key, or the catalog entry), for error messages."""
        if self._intrinsics is not None:
            return self._intrinsics.copy(), f"{self._filepath}: catalog 'intrinsics'"
        if self._intrinsics_pattern is not None:
            relative = sequence_dir.relative_to(root)
            fields = {
                "root": str(root),
                "camera": relative.parts[0] if relative.parts else root.name,
                "sequence": relative.as_posix(),
            }
            path = Path(self._intrinsics_pattern.format(**fields))
            if Path(os.path.abspath(path)).is_relative_to(Path(os.path.abspath(root))):
                self._contained(path, root)  # a file inside the source must not link out of it
            return read_intrinsics(path)[0], str(path)
        if "intrinsics" in meta:
            where = f"{sequence_dir / META_FILE}: 'intrinsics'"
            return as_intrinsics(meta["intrinsics"], where), where
        own = next((sequence_dir / f for f in INTRINSICS_FILES if (sequence_dir / f).is_file()), None)
        if own is not None:
            return read_intrinsics(self._contained(own, root))[0], str(own)
        if "intrinsics" in root_meta:
            where = f"{root / META_FILE}: 'intrinsics'"
            return as_intrinsics(root_meta["intrinsics"], where), where
        raise DataError(
            f"{sequence_dir}: no intrinsics (no meta.json with 'intrinsics', no {'/'.join(INTRINSICS_FILES)} in the "
            "sequence folder, and the dataset has neither 'intrinsics' nor 'intrinsics_pattern')"
        )

    def _read_events(self, path: Path, duration: float, action_classes: list[str] | None) -> list:
        if not path.is_file():
            return []
        events, stated = read_action_json(path)
        if stated is not None and abs(stated - duration) > 1e-3:
            if self._rescale_event_times:
                logger.info("%s: info.duration %.3f s ≠ video %.3f s; rescaling event times", path, stated, duration)
                events = rescale_events(events, stated, duration)
            else:
                logger.warning("%s: info.duration %.3f s differs from the video's %.3f s", path, stated, duration)
        check_events(events, duration, action_classes, str(path))
        return events

    # ------------------------------------------------------------------------------------------------ writing
    def _checked_input(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate everything that is in memory before the first byte is written.

        Values are :class:`RawSequence` or loaders returning one (Kedro's lazy saving): a loader's sequence is
        validated when :meth:`_write_all` calls it, before its own files are written.
        """
        if isinstance(data, Mapping) and not data and self._allow_empty:
            return {}
        if not isinstance(data, Mapping) or not data:
            raise DatasetError(f"{type(self).__name__} saves a non-empty dict {{name: RawSequence}}, got {type(data)}")
        for name, sequence in data.items():
            if not is_valid_sequence_name(name):
                raise DatasetError(f"Sequence name {name!r} is not allowed ({SEQUENCE_NAME_RULE})")
            if not callable(sequence):
                self._checked_sequence(name, sequence)
        return dict(data)

    def _checked_sequence(self, name: str, sequence: Any) -> RawSequence:
        if not isinstance(sequence, RawSequence):
            raise DatasetError(f"Sequence {name!r} is a {type(sequence).__name__}, expected a RawSequence")
        try:
            sequence.validate(where=f"{self._filepath}: sequence {name!r}")
            json.dumps(_extra_meta(sequence))
        except (DataError, TypeError, ValueError) as error:
            raise DatasetError(f"Cannot save sequence {name!r}: {error}") from error
        return sequence

    def _refuse_real_data(self) -> None:
        """Raw data that we did not generate is read-only to the project: refuse to write into its folder."""
        if self._read_only:
            raise DatasetError(f"Refusing to save into {self._filepath}: the catalog entry is read_only (real data)")
        base = Path(str(self._filepath))
        if not base.is_dir():
            return
        for sequence_dir in find_sequences(base, follow_links=False, log=False):
            try:
                generator = _read_meta(sequence_dir / META_FILE).get("generator")
            except DataError:
                generator = None
            if not generator:
                raise DatasetError(
                    f"Refusing to save into {base}: it holds {sequence_dir}, a sequence our generator did not write "
                    "(no 'generator' in its meta.json). Real raw data is read-only to the project; save generated "
                    "data to its own folder (the catalog entry generated_sequences)."
                )

    def _write_all(self, sequences_root: Path, sequences: dict[str, Any]) -> None:
        """Write every sequence under ``sequences_root``, one at a time (its frames in parallel chunks).

        A loader is called only when its turn comes and its sequence is dropped once written, so lazily saved data
        (a generator's stream) is never in memory at once.
        """
        with ThreadPoolExecutor(io_workers()) as pool:
            for name, value in sequences.items():
                # in-memory values were validated by _checked_input; a loader's sequence is validated now
                sequence = self._checked_sequence(name, value()) if callable(value) else value
                futures = [pool.submit(job) for job in self._sequence_jobs(sequences_root / name, name, sequence)]
                del sequence
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise

    def _sequence_jobs(self, folder: Path, name: str, sequence: RawSequence) -> list[Callable[[], None]]:
        """Write the small files of one sequence now; return the frame-writing jobs."""
        where = f"sequence {name!r}"
        num_frames = sequence.num_frames
        (folder / DEPTH_DIR).mkdir(parents=True)
        _write_json(folder / META_FILE, self._meta_json(sequence))
        if sequence.events or sequence.action_classes is not None:
            (folder / "action").mkdir()
            _write_json(folder / ACTION_FILE, events_to_json(sequence.events, num_frames / sequence.fps))
        chunks = [range(start, min(start + _CHUNK, num_frames)) for start in range(0, num_frames, _CHUNK)]
        jobs = [partial(self._write_depth_chunk, folder / DEPTH_DIR, sequence.depth, c, where) for c in chunks]
        if sequence.color is not None:
            (folder / COLOR_DIR).mkdir()
            jobs += [partial(_write_color_chunk, folder / COLOR_DIR, sequence.color, c) for c in chunks]
        if sequence.labels is not None:
            (folder / MASK_DIRS[0]).mkdir(parents=True)
            jobs += [partial(_write_label_chunk, folder / MASK_DIRS[0], sequence.labels, c, where) for c in chunks]
        return jobs

    def _write_depth_chunk(self, folder: Path, depth: np.ndarray, frames: range, where: str) -> None:
        raw = depth_to_raw(depth[frames.start : frames.stop], self._write_scale, where)
        for offset, index in enumerate(frames):
            write_depth_raw(folder / f"{index:05d}.png", raw[offset])

    @property
    def _write_scale(self) -> float:
        return self._depth_scale if self._depth_scale is not None else _DEFAULT_DEPTH_SCALE

    def _meta_json(self, sequence: RawSequence) -> dict:
        return {
            "name": sequence.name,
            "fps": float(sequence.fps),
            "num_frames": sequence.num_frames,
            "intrinsics": np.asarray(sequence.intrinsics, dtype=np.float64).tolist(),
            "action_classes": sequence.action_classes,
            "semantic_classes": sequence.semantic_classes,
            "depth_scale": self._write_scale,
            "mask_format": "id",
            "source": sequence.source,
            "generator": sequence.meta.get("generator") or {},
            "extra": _extra_meta(sequence),
        }


# ---------------------------------------------------------------------------------------------------- helpers
class SequenceLoader:
    """The loader of one sequence: ``loader()`` → :class:`RawSequence` (all frames), ``loader.open()`` → lazy."""

    def __init__(self, opener: Callable[[], LazyRawSequence]) -> None:
        self._opener = opener

    def open(self) -> LazyRawSequence:
        """The sequence's header, with frames decoded on demand (bounded memory)."""
        return self._opener()

    def __call__(self) -> RawSequence:
        return self.open().load()


def find_sequences(root: Path, follow_links: bool = True, log: bool = True) -> list[Path]:
    """Every directory under ``root`` (``root`` included) holding ``align_depth/``, sorted.

    Hidden folders are skipped (logged). Linked folders are followed when ``follow_links`` is ``True`` (the
    loader's choice), while their target stays inside ``root``; links that leave it are followed only when
    ``follow_links == "external"`` and skipped with a warning otherwise. A folder reached twice (a link to a
    folder already visited, a cycle) is read once, the second path skipped with a warning.
    """
    found, seen = [], {}
    real_root = Path(os.path.realpath(root))
    for folder, subfolders, _ in os.walk(root, followlinks=bool(follow_links)):
        real = os.path.realpath(folder)
        if real in seen:  # a link to a folder visited already: one sequence is never read twice
            if log:
                logger.warning("Skipped %s: the same folder as %s (a link)", folder, seen[real])
            subfolders[:] = []
            continue
        seen[real] = folder
        kept = []
        for sub in sorted(subfolders):
            path = Path(folder) / sub
            if sub.startswith("."):
                if log:
                    logger.info("Skipped hidden folder %s", path)
                continue
            if path.is_symlink() and follow_links != "external":
                target = Path(os.path.realpath(path))
                if not follow_links or not target.is_relative_to(real_root):
                    if log:
                        logger.warning("Skipped %s: a link to %s, outside the source root %s (set "
                                       "allow_external_links: true to follow it)", path, target, real_root)
                    continue
            kept.append(sub)
        subfolders[:] = kept
        if DEPTH_DIR in subfolders:
            found.append(Path(folder))
            subfolders[:] = []  # a sequence does not nest further sequences
    return sorted(found)


def _first(*values: Any) -> Any:
    """The first value that is not ``None`` (catalog argument → meta.json → default)."""
    return next((v for v in values if v is not None), None)


def _check_pattern(pattern: str) -> None:
    fields = {field for _, field, _, _ in string.Formatter().parse(pattern) if field is not None}
    unknown = fields - _PATTERN_FIELDS
    if unknown:
        raise ValueError(f"intrinsics_pattern {pattern!r} uses unknown field(s) {sorted(unknown)}; "
                         f"allowed: {sorted(_PATTERN_FIELDS)}")


def _read_meta(path: Path) -> dict:
    """A sequence's ``meta.json`` (``{}`` when absent), with its field types checked."""
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object")
    for alias, key in _META_ALIASES.items():
        if alias in meta:
            if key in meta and meta[key] != meta[alias]:
                raise DataError(f"{path}: '{alias}' and '{key}' say different things; keep one")
            meta[key] = meta.pop(alias)
    for key in ("fps", "depth_scale"):
        if key in meta and not (isinstance(meta[key], int | float) and meta[key] > 0):
            raise DataError(f"{path}: '{key}' must be a number > 0, got {meta[key]!r}")
    for key in ("action_classes", "semantic_classes"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise DataError(f"{path}: '{key}' must be a list of names or null, got {value!r}")
    if meta.get("mask_format", "id") not in ("auto", "id", "color"):
        raise DataError(f"{path}: 'mask_format' must be 'id', 'color' or 'auto', got {meta['mask_format']!r}")
    if meta.get("intrinsics") is not None:
        as_intrinsics(meta["intrinsics"], f"{path}: 'intrinsics'")
    if "extra" in meta and not isinstance(meta["extra"], dict):
        raise DataError(f"{path}: 'extra' must be an object")
    return {k: v for k, v in meta.items() if v is not None}  # null = not stated: the constructor's value applies


def _check_matching_size(
    depth: np.ndarray,
    color: np.ndarray | None,
    labels: np.ndarray | None,
    depth_file: Path,
    color_file: Path | None,
    mask_file: Path | None,
) -> None:
    """Colour and labels must have the depth's H×W (each stack is already size-consistent within itself)."""
    for stack, file, kind in ((color, color_file, "colour frame"), (labels, mask_file, "label mask")):
        if stack is not None and stack.shape[1:3] != depth.shape[1:3]:
            raise DataError(
                f"{file}: {kind} is {stack.shape[2]}x{stack.shape[1]} (WxH) but depth frame {depth_file} "
                f"is {depth.shape[2]}x{depth.shape[1]}; colour, depth and labels must be aligned"
            )


def _extra_meta(sequence: RawSequence) -> dict:
    return {k: v for k, v in sequence.meta.items() if k not in _READER_KEYS}


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")


def _write_color_chunk(folder: Path, color: np.ndarray, frames: range) -> None:
    for index in frames:
        write_color(folder / f"{index:05d}.jpg", color[index])


def _write_label_chunk(folder: Path, labels: np.ndarray, frames: range, where: str) -> None:
    masks = labels_to_u8(labels[frames.start : frames.stop], where)
    for offset, index in enumerate(frames):
        write_mask_u8(folder / f"{index:05d}.png", masks[offset])
