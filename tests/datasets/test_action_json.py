"""HOI4D ``color.json``: both forms read, the "events" form written, malformed files named in the error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossvideo_kedro.datasets.actions import (
    check_events,
    events_to_json,
    parse_action_json,
    read_action_json,
    rescale_events,
)
from crossvideo_kedro.sequences import DataError, Event


def _write(tmp_path: Path, value: object) -> Path:
    path = tmp_path / "color.json"
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


def test_events_form(tmp_path: Path) -> None:
    path = _write(tmp_path, {
        "info": {"duration": 20.0, "Video Name": "x"},
        "events": [
            {"id": 2, "event": "grasp", "startTime": 3.5, "endTime": 20.0},
            {"id": 1, "event": "reach", "startTime": 0.0, "endTime": 3.5},
        ],
    })
    events, duration = read_action_json(path)
    assert events == [Event("reach", 0.0, 3.5), Event("grasp", 3.5, 20.0)]  # sorted by start
    assert duration == 20.0


def test_mark_result_form(tmp_path: Path) -> None:
    path = _write(tmp_path, {"markResult": {"marks": [
        {"event": " Pickup ", "hdTimeStart": 1.25, "hdTimeEnd": "2.5", "id": 7},
    ]}})
    events, duration = read_action_json(path)
    assert events == [Event("Pickup", 1.25, 2.5)]
    assert duration is None


def test_round_trip_through_the_events_form() -> None:
    events = [Event("reach", 0.0, 1.0 / 3.0), Event("grasp", 1.0 / 3.0, 2.0)]
    document = json.loads(json.dumps(events_to_json(events, 2.0)))
    assert document["info"] == {"duration": 2.0}
    assert [e["id"] for e in document["events"]] == [0, 1]
    assert parse_action_json(document, "x") == (events, 2.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"color\.json: action annotation is not valid JSON"),
        ([1, 2], r"color\.json: action annotation must be a JSON object"),
        ({"info": {}}, r"color\.json: action annotation has neither 'events' nor 'markResult'"),
        ({"events": {"a": 1}}, r"color\.json: 'events' must be a list, got dict"),
        ({"events": [{"event": "reach", "startTime": 0}]}, r"color\.json: events\[0\] lacks key\(s\) \['endTime'\]"),
        ({"markResult": {}}, r"color\.json: 'markResult' has no 'marks' list"),
        ({"markResult": {"marks": [{"event": "a", "hdTimeStart": 0}]}},
         r"color\.json: markResult\.marks\[0\] lacks key\(s\) \['hdTimeEnd'\]"),
        ({"events": [{"event": "", "startTime": 0, "endTime": 1}]}, r"events\[0\]\.event must be a non-empty string"),
        ({"events": [{"event": "a", "startTime": "soon", "endTime": 1}]},
         r"events\[0\]\.startTime must be a number of seconds, got 'soon'"),
        ({"events": [{"event": "a", "startTime": None, "endTime": 1}]}, r"events\[0\]\.startTime must be a number"),
        ({"info": {"duration": -1}, "events": []}, r"info\.duration must be > 0 s"),
    ],
)
def test_malformed_files_name_the_file_and_key(tmp_path: Path, content: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_action_json(_write(tmp_path, content))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"color\.json: action annotation file does not exist"):
        read_action_json(tmp_path / "color.json")


def test_check_events_against_video_and_classes() -> None:
    check_events([Event("reach", 0.0, 2.0)], 2.0, ["reach"], "f.json")
    expected = r"f\.json: event 0 'reach' \[1\.0, 2\.5\) s lies outside the video \[0, 2\.000\] s"
    with pytest.raises(DataError, match=expected):
        check_events([Event("reach", 1.0, 2.5)], 2.0, None, "f.json")
    with pytest.raises(DataError, match=r"f\.json: event 0 'reach' \[1\.0, 1\.0\) s .* or is empty"):
        check_events([Event("reach", 1.0, 1.0)], 2.0, None, "f.json")
    with pytest.raises(DataError, match=r"f\.json: event 1 'jump' is not in the action class list \['reach'\]"):
        check_events([Event("reach", 0.0, 1.0), Event("jump", 1.0, 2.0)], 2.0, ["reach"], "f.json")


def test_rescale_events_maps_the_file_clock_onto_the_video() -> None:
    assert rescale_events([Event("a", 1.0, 10.0)], 10.0, 20.0) == [Event("a", 2.0, 20.0)]
