"""Real action benchmarks (MSR-Action3D, UTD-MHAD, NTU RGB+D 60) as ingest's raw source and as its split file.

:class:`ActionBenchmarkDataset` reads a benchmark folder with the readers of this package and returns either

* ``output: sequences`` — ``{name: loader}``; each loader reads its files and returns a
  :class:`~crossvideo_kedro.sequences.PointSequence` in metres (frames padded with NaN to the frame with the most
  points; ingest samples N finite points per frame) whose ``frame_labels`` are the action of each frame;
* ``output: split`` — ``{name: "train" | "test"}`` of the benchmark's protocol, from the file names alone.

Two forms (``form``):

* ``videos`` — one sequence per video, every frame labelled with the video's action (recognition);
* ``concatenated`` — the videos of one recording group (a subject and trial for UTD-MHAD, a subject and episode
  for MSR-Action3D, a setup, camera, performer and replication for NTU) in a seeded order, ``group_size`` at a time,
  one after another: the labels change at the clip boundaries (action segmentation). A group's last sequence holds
  the remainder (fewer videos).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io.core import AbstractDataset, DatasetError

from crossvideo_kedro.datasets import msr_action3d, ntu, utd_mhad
from crossvideo_kedro.datasets.depth_video import ActionVideo
from crossvideo_kedro.errors import DataError
from crossvideo_kedro.sequences import PointSequence

logger = logging.getLogger(__name__)

FORMS = ("videos", "concatenated")
OUTPUTS = ("sequences", "split")


@dataclass(frozen=True)
class Benchmark:
    """How to read one benchmark: its files, names, points, classes, frame rate and recording groups."""

    find: Callable[[Path], list[Path]]  # folder -> the video files or folders, sorted
    parse: Callable[..., ActionVideo]  # (path, **options) -> record without points
    read: Callable[..., ActionVideo]  # (path, **options) -> record with points (mm)
    num_classes: int
    class_prefix: str  # class i is named f"{prefix}{i + 1:0{width}d}" (the benchmark's own action ids)
    fps: float
    group: tuple[tuple[str, str], ...]  # (name prefix, id) of the recording group of the concatenated form
    options: tuple[str, ...] = ()  # reader options the benchmark accepts (protocol)


BENCHMARKS = {
    "msr_action3d": Benchmark(msr_action3d.find_files, msr_action3d.parse_name, msr_action3d.read_video, 20, "a",
                              15.0, (("s", "subject"), ("e", "episode")), ("protocol",)),
    "utd_mhad": Benchmark(utd_mhad.find_files, utd_mhad.parse_name, utd_mhad.read_video, 27, "a",
                          utd_mhad.FPS, (("s", "subject"), ("t", "trial"))),
    "ntu60": Benchmark(ntu.find_folders, ntu.parse_video_name, ntu.read_video, 60, "A", 30.0,
                       (("S", "setup"), ("C", "camera"), ("P", "subject"), ("R", "replication")), ("protocol",)),
}


def class_names(benchmark: str) -> list[str]:
    """The benchmark's action ids as class names (``a01`` … ``a20``, ``A001`` … ``A060``)."""
    spec = BENCHMARKS[benchmark]
    width = 3 if spec.num_classes > 99 or spec.class_prefix == "A" else 2
    return [f"{spec.class_prefix}{i + 1:0{width}d}" for i in range(spec.num_classes)]


def _group_key(video: ActionVideo, spec: Benchmark) -> str:
    return "_".join(f"{prefix}{video.subject if key == 'subject' else video.ids[key]}" for prefix, key in spec.group)


def plan_sequences(records: list[tuple[Path, ActionVideo]], spec: Benchmark, form: str, group_size: int,
                   seed: int) -> dict[str, list[tuple[Path, ActionVideo]]]:
    """``{sequence name: [(path, record), ...]}``: one video each, or each group's videos in a seeded order,
    ``group_size`` at a time (``np.random.default_rng([seed, crc32(group)])`` permutes a group sorted by name)."""
    if form == "videos":
        return {video.name: [(path, video)] for path, video in records}
    groups: dict[str, list[tuple[Path, ActionVideo]]] = {}
    for path, video in records:
        groups.setdefault(_group_key(video, spec), []).append((path, video))
    plan = {}
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda item: item[1].name)
        order = np.random.default_rng([seed, zlib.crc32(key.encode())]).permutation(len(members))
        for k, start in enumerate(range(0, len(members), group_size)):
            plan[f"{key}_g{k}"] = [members[i] for i in order[start : start + group_size]]
    return plan


def to_point_sequence(name: str, videos: list[ActionVideo], fps: float, classes: list[str], source: str,
                      unit_m: float) -> PointSequence:
    """Videos one after another as one point cloud video (T, P_max, 3) in metres, NaN where a frame has fewer
    points; ``frame_labels`` (T,) the action of each frame's video."""
    frames = [frame for video in videos for frame in video.points]
    if not frames:
        raise DataError(f"{name}: the video has no frames")
    points = np.full((len(frames), max(len(f) for f in frames), 3), np.nan, dtype=np.float32)  # (T, P_max, 3)
    for t, frame in enumerate(frames):  # one copy per frame; the points themselves are not looped over
        points[t, : len(frame)] = frame * unit_m
    labels = np.concatenate([np.full(len(v.points), v.label, dtype=np.int16) for v in videos])  # (T,)
    return PointSequence(name=name, points=points, fps=fps, frame_labels=labels, action_classes=classes,
                         source=source, meta={"videos": [v.name for v in videos], "subject": videos[0].subject})


class ActionBenchmarkDataset(AbstractDataset[None, dict[str, Any]]):
    """A real action benchmark folder as ``{name: loader}`` of point sequences, or as ``{name: split}``.

    Example catalog entries (the same options; ``output`` differs)::

        _msr: &msr
          type: crossvideo_kedro.datasets.ActionBenchmarkDataset
          path: data/01_raw/MSRAction3D
          benchmark: msr_action3d
          protocol: first_five
        raw_sequences: {<<: *msr}
        split_file: {<<: *msr, output: split}
    """

    def __init__(self, path: str, benchmark: str, protocol: str | None = None, form: str = "videos",
                 output: str = "sequences", group_size: int = 4, seed: int = 0, fps: float | None = None,
                 unit_m: float = 0.001, metadata: dict[str, Any] | None = None) -> None:
        """Create the dataset.

        Args:
            path: The benchmark's folder (files or video folders as its reader expects).
            benchmark: ``msr_action3d``, ``utd_mhad`` or ``ntu60``.
            protocol: The reader's split protocol (MSR ``first_five`` | ``odd``; NTU ``cross_subject`` |
                ``cross_view``); ``None``: the reader's default. UTD-MHAD has one protocol.
            form: ``videos`` (one sequence per video) or ``concatenated`` (``group_size`` videos of a group).
            output: ``sequences`` (ingest's raw source) or ``split`` (its split file).
            group_size: Videos per concatenated sequence.
            seed: Seeds the order of the concatenated videos.
            fps: Frame rate; ``None``: the benchmark's (MSR-Action3D 15, UTD-MHAD and NTU 30).
            unit_m: Metres per unit of the readers' points (millimetres).
            metadata: Free-form metadata, ignored by the dataset.
        """
        if benchmark not in BENCHMARKS:
            raise ValueError(f"benchmark must be one of {sorted(BENCHMARKS)}, got {benchmark!r}")
        if form not in FORMS or output not in OUTPUTS:
            raise ValueError(f"form must be one of {FORMS} and output one of {OUTPUTS}, got {form!r}, {output!r}")
        if not isinstance(group_size, int) or group_size < 1:
            raise ValueError(f"group_size must be an integer >= 1, got {group_size!r}")
        self._spec = BENCHMARKS[benchmark]
        if protocol is not None and "protocol" not in self._spec.options:
            raise ValueError(f"{benchmark} has one protocol; remove protocol: {protocol!r}")
        self._path, self._benchmark, self._form, self._output = Path(path), benchmark, form, output
        self._options = {"protocol": protocol} if protocol is not None else {}
        self._group_size, self._seed = group_size, seed
        self._fps = float(fps) if fps is not None else self._spec.fps
        self._unit_m = float(unit_m)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """The plan from the file names (nothing else is read): loaders, or the split of every sequence."""
        if not self._path.is_dir():
            raise DatasetError(f"{type(self).__name__}: folder {self._path} does not exist")
        try:
            records = [(path, self._spec.parse(path, **self._options)) for path in self._spec.find(self._path)]
        except DataError as error:
            raise DatasetError(str(error)) from error
        kept = [(p, v) for p, v in records if 0 <= v.label < self._spec.num_classes]
        if len(kept) < len(records):
            logger.info("%s: %d of %d videos are outside the %d classes of %s and are left out", self._path,
                        len(records) - len(kept), len(records), self._spec.num_classes, self._benchmark)
        plan = plan_sequences(kept, self._spec, self._form, self._group_size, self._seed)
        if self._output == "split":
            return {name: members[0][1].split for name, members in plan.items()}
        return {name: partial(self._read, name, [p for p, _ in members]) for name, members in plan.items()}

    def _read(self, name: str, paths: list[Path]) -> PointSequence:
        videos = [self._spec.read(path, **self._options) for path in paths]
        return to_point_sequence(name, videos, self._fps, class_names(self._benchmark), self._benchmark,
                                 self._unit_m)

    def save(self, data: Any) -> None:
        """Not supported."""
        raise DatasetError(f"{type(self).__name__} is read-only ({self._path})")

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "benchmark": self._benchmark, "form": self._form, "output": self._output,
                **self._options}

    def _exists(self) -> bool:
        return self._path.is_dir()
