"""HOI4D action annotations (``action/color.json``) ⇄ :class:`~crossvideo_kedro.sequences.Event` lists.

HOI4D ships two forms, times in seconds from the first frame::

    {"info": {"duration": 20.0, ...}, "events": [{"id": 1, "event": "Reachout", "startTime": 0.0, "endTime": 1.5}, ...]}
    {"markResult": {"marks": [{"event": "Reachout", "hdTimeStart": 0.0, "hdTimeEnd": 1.5, ...}, ...]}, ...}

We read both and write the first. Some real HOI4D files state ``info.duration`` on a different clock than their video
(e.g. 10 s for a 300-frame, 15 fps video); :func:`rescale_events` maps such times onto the video.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crossvideo_kedro.sequences import DataError, Event, check_event_list

logger = logging.getLogger(__name__)

_FORMS = (
    ("events", None, "startTime", "endTime"),
    ("markResult", "marks", "hdTimeStart", "hdTimeEnd"),
)
_EXPECTED = (
    "expected {'events': [{'event', 'startTime', 'endTime'}, ...]} "
    "or {'markResult': {'marks': [{'event', 'hdTimeStart', 'hdTimeEnd'}, ...]}}"
)


def read_action_json(path: str | Path) -> tuple[list[Event], float | None]:
    """Read a ``color.json`` file.

    Returns:
        The events sorted by start time, and ``info.duration`` in seconds (``None`` when absent).

    Raises:
        DataError: Missing file, invalid JSON, or a structure/key/value that is not one of the two forms.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: action annotation file does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: action annotation is not valid JSON ({error})") from error
    return parse_action_json(data, str(path))


def parse_action_json(data: Any, where: str) -> tuple[list[Event], float | None]:
    """Parse the decoded JSON of a ``color.json`` (either form).

    Args:
        data: The decoded JSON document.
        where: Name of the file, for error messages.

    Returns:
        Events sorted by start, and the stated duration in seconds or ``None``.
    """
    if not isinstance(data, dict):
        raise DataError(f"{where}: action annotation must be a JSON object, {_EXPECTED}")
    for key, inner, start_key, end_key in _FORMS:
        if key in data:
            marks = data[key]
            if inner is not None:
                if not isinstance(marks, dict) or inner not in marks:
                    raise DataError(f"{where}: '{key}' has no '{inner}' list, {_EXPECTED}")
                marks = marks[inner]
            label = f"{key}.{inner}" if inner else key
            events = _parse_marks(marks, label, start_key, end_key, where)
            return sorted(events, key=lambda e: (e.start, e.end)), _duration(data, where)
    raise DataError(f"{where}: action annotation has neither 'events' nor 'markResult' ({_EXPECTED})")


def _parse_marks(marks: Any, label: str, start_key: str, end_key: str, where: str) -> list[Event]:
    if not isinstance(marks, list):
        raise DataError(f"{where}: '{label}' must be a list, got {type(marks).__name__}")
    events = []
    for i, mark in enumerate(marks):
        if not isinstance(mark, dict):
            raise DataError(f"{where}: {label}[{i}] must be an object, got {type(mark).__name__}")
        missing = [k for k in ("event", start_key, end_key) if k not in mark]
        if missing:
            raise DataError(
                f"{where}: {label}[{i}] lacks key(s) {missing} (expected 'event', '{start_key}', '{end_key}')"
            )
        name = mark["event"]
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{where}: {label}[{i}].event must be a non-empty string, got {name!r}")
        start = _seconds(mark[start_key], f"{label}[{i}].{start_key}", where)
        end = _seconds(mark[end_key], f"{label}[{i}].{end_key}", where)
        events.append(Event(name=name.strip(), start=start, end=end))
    return events


def _seconds(value: Any, label: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DataError(f"{where}: {label} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except ValueError as error:
        raise DataError(f"{where}: {label} must be a number of seconds, got {value!r}") from error
    if not math.isfinite(seconds):
        raise DataError(f"{where}: {label} must be finite, got {value!r}")
    return seconds


def _duration(data: dict, where: str) -> float | None:
    info = data.get("info")
    if not isinstance(info, dict):
        return None
    value = info.get("duration", info.get("Duration"))
    if value is None:
        return None
    duration = _seconds(value, "info.duration", where)
    if duration <= 0:
        raise DataError(f"{where}: info.duration must be > 0 s, got {duration}")
    return duration


def rescale_events(events: Sequence[Event], stated_duration: float, video_duration: float) -> list[Event]:
    """Map event times from the file's clock (``info.duration``) onto the video's (T / fps)."""
    scale = video_duration / stated_duration
    return [Event(e.name, e.start * scale, e.end * scale) for e in events]


def check_events(
    events: Sequence[Event], duration: float, action_classes: Sequence[str] | None, where: str
) -> None:
    """Check that every event is non-empty, lies inside ``[0, duration]`` s, names a known class, and that no two
    events overlap (back to back is fine).

    Raises:
        DataError: Naming ``where`` (the annotation file), the event(s) and what was expected.
    """
    check_event_list(list(events), duration, list(action_classes) if action_classes is not None else None, where)


def events_to_json(events: Sequence[Event], duration: float) -> dict:
    """The ``"events"`` form of ``color.json`` for ``events`` of a video lasting ``duration`` seconds."""
    return {
        "info": {"duration": float(duration)},
        "events": [
            {"id": i, "event": e.name, "startTime": float(e.start), "endTime": float(e.end)}
            for i, e in enumerate(events)
        ],
    }
