"""HOI4D's raw per-sequence layout (real, or written by the built-in generator) as a Kedro dataset.

Layout of one sequence (DESIGN.md §2)::

    <sequence>/align_rgb/00000.jpg …       colour (optional: without it the sequence is depth-only)
    <sequence>/align_depth/00000.png …     uint16 depth, × depth_scale → metres, 0 = no depth
    <sequence>/2Dseg/mask/00000.png …      labels (optional; HOI4D cameras 2–4 use 2Dseg/shift_mask)
    <sequence>/action/color.json           action events (optional)
    <sequence>/meta.json                   written by our generator/saver (optional)

Every directory under ``path`` that holds ``align_depth/`` is a sequence (HOI4D nests
``ZY2021…/H*/C*/N*/S*/s*/T*``); its name is the relative path with ``/`` → ``__``.
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
    is_safe_name,
    labels_to_u8,
    numbered_files,
    palette_lookup,
    read_color,
    read_depth,
    read_intrinsics,
    read_mask,
    read_stack,
    safe_name,
    write_color,
    write_depth_raw,
    write_mask_u8,
)
from crossvideo_kedro.sequences import DataError, RawSequence

logger = logging.getLogger(__name__)

COLOR_DIR = "align_rgb"
DEPTH_DIR = "align_depth"
MASK_DIRS = ("2Dseg/mask", "2Dseg/shift_mask")
ACTION_FILE = "action/color.json"
META_FILE = "meta.json"
_PATTERN_FIELDS = {"root", "camera", "sequence"}
#: Keys of RawSequence.meta that describe where a loaded sequence came from; not written back by save.
_READER_KEYS = {"path", "relative_path", "depth_files", "color_files", "mask_files", "generator"}
_CHUNK = 16  # frames per write job


class HOI4DRawDataset(AbstractVersionedDataset[Mapping[str, RawSequence], dict[str, Callable[[], RawSequence]]]):
    """Folders of RGB-D sequences in HOI4D's raw layout; loads lazily, saves atomically.

    ``load()`` returns ``{sequence name: loader}`` like Kedro's ``PartitionedDataset``; each loader decodes one
    sequence and returns a validated :class:`RawSequence` (``meta["depth_files"]``/``["color_files"]`` list the
    frame files so later errors can name them).

    Precedence: a sequence's own ``meta.json`` describes that sequence, so its ``intrinsics``, ``fps``,
    ``action_classes``, ``semantic_classes``, ``depth_scale``, ``mask_format`` and ``source`` win over the
    constructor's; the constructor's values apply to sequences without ``meta.json`` (real HOI4D). Intrinsics
    without ``meta.json``: ``intrinsics`` if given, else the file named by ``intrinsics_pattern``.

    ``save({name: RawSequence})`` writes the same layout (JPEG q95 colour, uint16 PNG depth of
    ``round(depth / depth_scale)``, 8-bit id masks with 255 = unknown, ``color.json`` in the "events" form,
    ``meta.json``) into a hidden staging folder beside the target and renames it into place, so a failed save
    leaves nothing behind. Versioned, every save is a new ``<path>/<version>/<name>`` folder; unversioned, an
    existing non-empty ``path`` is never overwritten.

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
        fps: float = 15.0,
        intrinsics: Sequence[Sequence[float]] | None = None,
        intrinsics_pattern: str | None = None,
        mask_format: str = "auto",
        mask_palette: Mapping[str, int] | None = None,
        depth_scale: float = 0.001,
        source: str = "hoi4d",
        rescale_event_times: bool = False,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            path: Root folder of the sequences (with versioning: the folder holding the version folders).
            action_classes: Action class names (index = id); events must name one of them. ``None``: unknown.
            semantic_classes: Semantic class names (index = id), or ``None``.
            fps: Frame rate of the stored frames (HOI4D: 15).
            intrinsics: 3×3 K for every sequence without ``meta.json`` intrinsics.
            intrinsics_pattern: File holding K (``.npy``, ``.txt`` or ``.json``), formatted with ``{root}`` (the
                load folder), ``{camera}`` (first component of the sequence's relative path, HOI4D:
                ``ZY20210800001``) and ``{sequence}`` (the relative path), e.g.
                ``"{root}/camera_params/{camera}/intrin.npy"``.
            mask_format: ``"id"``, ``"color"`` (real HOI4D; needs ``mask_palette``) or ``"auto"`` (by PNG mode).
            mask_palette: ``{"#rrggbb": id}`` for colour masks; unlisted colours → −1.
            depth_scale: Metres per raw depth unit, for reading (without ``meta.json``) and for writing.
            source: Source name given to sequences without ``meta.json``.
            rescale_event_times: When ``color.json`` states an ``info.duration`` different from the video's
                (T / fps), scale its event times onto the video (some real HOI4D files use a 10 s clock for 20 s
                videos). Off: times are taken as they are and must lie inside the video.
            version: Kedro version (``versioned: true`` in the catalog); ``None`` reads/writes ``path`` itself.
            metadata: Free-form metadata, ignored by the dataset.
        """
        super().__init__(filepath=PurePosixPath(path), version=version)
        if mask_format not in ("auto", "id", "color"):
            raise ValueError(f"mask_format must be 'auto', 'id' or 'color', got {mask_format!r}")
        if mask_format == "color" and not mask_palette:
            raise ValueError("mask_format 'color' needs a mask_palette {'#rrggbb': id}")
        if not fps > 0 or not depth_scale > 0:
            raise ValueError(f"fps and depth_scale must be > 0, got fps={fps}, depth_scale={depth_scale}")
        if intrinsics_pattern is not None:
            _check_pattern(intrinsics_pattern)
        self._action_classes = list(action_classes) if action_classes is not None else None
        self._semantic_classes = list(semantic_classes) if semantic_classes is not None else None
        self._fps = float(fps)
        self._intrinsics = as_intrinsics(intrinsics, "HOI4DRawDataset(intrinsics=...)") if intrinsics else None
        self._intrinsics_pattern = intrinsics_pattern
        self._mask_format = mask_format
        self._palette = palette_lookup(mask_palette) if mask_palette else None
        self._depth_scale = float(depth_scale)
        self._source = source
        self._rescale_event_times = bool(rescale_event_times)
        self.metadata = metadata

    # ------------------------------------------------------------------------------------------------ kedro API
    def load(self) -> dict[str, Callable[[], RawSequence]]:
        """Discover the sequences under the load folder.

        Returns:
            ``{name: loader}``, sorted by name; ``loader()`` decodes and validates one sequence.

        Raises:
            DatasetError: The folder does not exist or holds no sequence.
        """
        root = Path(str(self._get_load_path()))
        if not root.is_dir():
            raise DatasetError(f"HOI4D raw folder {root} does not exist (or is not a directory)")
        loaders: dict[str, Callable[[], RawSequence]] = {}
        for sequence_dir in find_sequences(root):
            relative = sequence_dir.relative_to(root)
            name = safe_name(relative.as_posix() if relative.parts else root.name)
            if name in loaders:
                raise DatasetError(f"{sequence_dir}: sequence name {name!r} is not unique under {root}")
            loaders[name] = partial(self._load_sequence, root, sequence_dir, name)
        if not loaders:
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
        }

    def _exists(self) -> bool:
        root = Path(str(self._get_load_path()))
        return root.is_dir() and any(root.iterdir())

    # ------------------------------------------------------------------------------------------------ reading
    def _load_sequence(self, root: Path, sequence_dir: Path, name: str) -> RawSequence:
        """Decode one sequence folder into a validated :class:`RawSequence`."""
        meta = _read_meta(sequence_dir / META_FILE)
        fps = float(meta.get("fps", self._fps))
        depth_scale = float(meta.get("depth_scale", self._depth_scale))
        action_classes = meta.get("action_classes", self._action_classes)
        depth_files, color_files, mask_files = self._frame_files(sequence_dir)
        # The cheap checks first: a bad annotation or camera file fails before any frame is decoded.
        intrinsics = self._sequence_intrinsics(root, sequence_dir, meta)
        events = self._read_events(sequence_dir, len(depth_files) / fps, action_classes)
        with ThreadPoolExecutor(io_workers()) as pool:
            depth = read_stack(depth_files, partial(read_depth, depth_scale=depth_scale, invalid=(0,)), pool)
            color = read_stack(color_files, read_color, pool) if color_files else None
            labels = self._read_labels(mask_files, meta, pool) if mask_files else None
        _check_matching_size(depth, color, labels, depth_files, color_files, mask_files)
        sequence = RawSequence(
            name=name,
            depth=depth,
            intrinsics=intrinsics,
            fps=fps,
            color=color,
            labels=labels,
            events=events,
            action_classes=action_classes,
            semantic_classes=meta.get("semantic_classes", self._semantic_classes),
            source=str(meta.get("source", self._source)),
            meta={
                **meta.get("extra", {}),
                "generator": meta.get("generator"),
                "path": str(sequence_dir),
                "relative_path": sequence_dir.relative_to(root).as_posix(),
                "depth_files": [str(p) for p in depth_files],
                "color_files": [str(p) for p in color_files],
                "mask_files": [str(p) for p in mask_files],
            },
        )
        return sequence.validate(where=str(sequence_dir))

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

    def _sequence_intrinsics(self, root: Path, sequence_dir: Path, meta: dict) -> np.ndarray:
        if "intrinsics" in meta:
            return as_intrinsics(meta["intrinsics"], f"{sequence_dir / META_FILE}: 'intrinsics'")
        if self._intrinsics is not None:
            return self._intrinsics.copy()
        if self._intrinsics_pattern is not None:
            relative = sequence_dir.relative_to(root)
            fields = {
                "root": str(root),
                "camera": relative.parts[0] if relative.parts else root.name,
                "sequence": relative.as_posix(),
            }
            return read_intrinsics(self._intrinsics_pattern.format(**fields))[0]
        raise DataError(
            f"{sequence_dir}: no intrinsics (no meta.json with 'intrinsics', and the dataset has neither "
            "'intrinsics' nor 'intrinsics_pattern')"
        )

    def _read_labels(self, mask_files: list[Path], meta: dict, pool: ThreadPoolExecutor) -> np.ndarray:
        fmt = meta.get("mask_format", self._mask_format)
        return read_stack(mask_files, partial(read_mask, fmt=fmt, palette=self._palette), pool)

    def _read_events(self, sequence_dir: Path, duration: float, action_classes: list[str] | None) -> list:
        path = sequence_dir / ACTION_FILE
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
    def _checked_input(self, data: Mapping[str, RawSequence]) -> dict[str, RawSequence]:
        """Validate everything before the first byte is written."""
        if not isinstance(data, Mapping) or not data:
            raise DatasetError(f"{type(self).__name__} saves a non-empty dict {{name: RawSequence}}, got {type(data)}")
        for name, sequence in data.items():
            if not is_safe_name(name):
                raise DatasetError(
                    f"Sequence name {name!r} is not a safe folder name (letters, digits, '.', '_', '-'; "
                    "no path separators, not starting with '.')"
                )
            if not isinstance(sequence, RawSequence):
                raise DatasetError(f"Sequence {name!r} is a {type(sequence).__name__}, expected a RawSequence")
            try:
                sequence.validate(where=f"{self._filepath}: sequence {name!r}")
                json.dumps(_extra_meta(sequence))
            except (DataError, TypeError, ValueError) as error:
                raise DatasetError(f"Cannot save sequence {name!r}: {error}") from error
        return dict(data)

    def _write_all(self, sequences_root: Path, sequences: dict[str, RawSequence]) -> None:
        """Write every sequence under ``sequences_root`` (frames in parallel chunks)."""
        jobs: list[Callable[[], None]] = []
        for name, sequence in sequences.items():
            jobs += self._sequence_jobs(sequences_root / name, name, sequence)
        with ThreadPoolExecutor(io_workers()) as pool:
            futures = [pool.submit(job) for job in jobs]
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
        raw = depth_to_raw(depth[frames.start : frames.stop], self._depth_scale, where)
        for offset, index in enumerate(frames):
            write_depth_raw(folder / f"{index:05d}.png", raw[offset])

    def _meta_json(self, sequence: RawSequence) -> dict:
        return {
            "name": sequence.name,
            "fps": float(sequence.fps),
            "num_frames": sequence.num_frames,
            "intrinsics": np.asarray(sequence.intrinsics, dtype=np.float64).tolist(),
            "action_classes": sequence.action_classes,
            "semantic_classes": sequence.semantic_classes,
            "depth_scale": self._depth_scale,
            "mask_format": "id",
            "source": sequence.source,
            "generator": sequence.meta.get("generator") or {},
            "extra": _extra_meta(sequence),
        }


# ---------------------------------------------------------------------------------------------------- helpers
def find_sequences(root: Path) -> list[Path]:
    """Every directory under ``root`` (``root`` included) holding ``align_depth/``, sorted; hidden folders skipped."""
    found = []
    for folder, subfolders, _ in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        if DEPTH_DIR in subfolders:
            found.append(Path(folder))
            subfolders[:] = []  # a sequence does not nest further sequences
    return sorted(found)


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
    for key in ("fps", "depth_scale"):
        if key in meta and not (isinstance(meta[key], int | float) and meta[key] > 0):
            raise DataError(f"{path}: '{key}' must be a number > 0, got {meta[key]!r}")
    for key in ("action_classes", "semantic_classes"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise DataError(f"{path}: '{key}' must be a list of names or null, got {value!r}")
    if meta.get("mask_format", "id") not in ("auto", "id", "color"):
        raise DataError(f"{path}: 'mask_format' must be 'id', 'color' or 'auto', got {meta['mask_format']!r}")
    if "extra" in meta and not isinstance(meta["extra"], dict):
        raise DataError(f"{path}: 'extra' must be an object")
    return {k: v for k, v in meta.items() if v is not None}  # null = not stated: the constructor's value applies


def _check_matching_size(
    depth: np.ndarray,
    color: np.ndarray | None,
    labels: np.ndarray | None,
    depth_files: list[Path],
    color_files: list[Path],
    mask_files: list[Path],
) -> None:
    """Colour and labels must have the depth's H×W (each stack is already size-consistent within itself)."""
    for stack, files, kind in ((color, color_files, "colour frame"), (labels, mask_files, "label mask")):
        if stack is not None and stack.shape[1:3] != depth.shape[1:3]:
            raise DataError(
                f"{files[0]}: {kind} is {stack.shape[2]}x{stack.shape[1]} (WxH) but depth frame {depth_files[0]} "
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
