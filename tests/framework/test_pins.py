"""Pinned inputs form one consistent set: a failed run's partial outputs are never paired with another run's."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from crossvideo_kedro.framework import runs
from tests.test_reliability import kedro, make_project


def test_a_failed_runs_partial_outputs_are_not_mixed_with_an_older_runs():
    """ingest R0 finished; ingest R1 saved its videos and failed before sequence_index: all three come from R0."""
    r0 = runs.Manifest("2026-01-01T00.00.00.000Z", saved={"pcv": "R0", "img": "R0", "index": "R0"})
    r1 = runs.Manifest("2026-01-02T00.00.00.000Z", saved={"pcv": "R1", "img": "R1"}, status="failed")
    pins, source = runs.resolve_pins({"pcv", "img", "index"}, [r1, r0])
    assert pins == {"pcv": "R0", "img": "R0", "index": "R0"} and set(source.values()) == {r0.version}
    # a failed default run whose ingest node finished whole still serves the next run
    r2 = runs.Manifest("2026-01-03T00.00.00.000Z", saved={"pcv": "R2", "img": "R2", "index": "R2"}, status="failed")
    assert runs.resolve_pins({"pcv", "img", "index"}, [r2, r1, r0])[0] == {"pcv": "R2", "img": "R2", "index": "R2"}
    # a failed run alone, with nothing finished beside it, leaves out what it did not save (the run is refused)
    assert runs.resolve_pins({"pcv", "img", "index"}, [r1])[0] == {"pcv": "R1", "img": "R1"}


@pytest.mark.slow
def test_augment_after_a_failed_ingest_loads_the_finished_ingest_whole(tmp_path):
    """ingest (32 points) finishes; an ingest with 16 points saves its videos and fails before its sequence_index is
    written; augment then loads videos and index of the first ingest, never the failed one's videos.

    (A split-file typo no longer gets that far: ingest checks the split file before it saves anything, tested in
    tests/pipelines/test_ingest_pipeline.py; here the index's save fails because its folder's parent is a file.)"""
    project = make_project(tmp_path)
    kedro(project, "--env", "tiny", "--pipelines", "generate,ingest")
    (project / "split.json").write_text('{"no_such_sequence": "train"}')  # a typo: refused short, nothing saved
    split_entry = {"split_file": {"type": "crossvideo_kedro.datasets.SplitFileDataset", "filepath": "split.json"}}
    catalog = project / "conf" / "tiny" / "catalog.yml"
    original = catalog.read_text() if catalog.exists() else ""
    catalog.write_text(yaml.safe_dump(split_entry))
    refused = kedro(project, "--env", "tiny", "--pipelines", "ingest", "--params", "ingest.split=file", check=False)
    output = (refused.stdout + refused.stderr).splitlines()
    errors = [line for line in output if line.startswith("Error: DataError: split_file: ")]
    assert refused.returncode != 0 and len(errors) == 1 and "no_such_sequence" in errors[0], output[-40:]
    assert "Traceback" not in refused.stderr and "╭" not in refused.stderr and len(output) < 80, len(output)
    assert "no_such_sequence" in (project / "data" / ".runs" / "last_error.log").read_text()

    (project / "blocker").write_text("a file where the index's folder would go")
    catalog.write_text(yaml.safe_dump({"sequence_index": {
        "type": "pandas.ParquetDataset", "filepath": "blocker/sequence_index.parquet", "versioned": True}}))
    failed = kedro(project, "--env", "tiny", "--pipelines", "ingest", "--params", "ingest.num_points=16", check=False)
    assert failed.returncode != 0
    points = project / "data" / "02_intermediate" / "point_cloud_videos"
    assert len([p for p in points.iterdir() if p.is_dir()]) == 2  # the failed run did save its videos
    catalog.write_text(original)

    result = kedro(project, "--env", "tiny", "--pipelines", "augment")
    log = result.stdout + result.stderr
    pinned = dict(re.findall(r"(\w+)=(\S+?)[,\s]", log.split("inputs pinned to finished runs: ", 1)[1] + "\n"))
    assert pinned["point_cloud_videos"] == pinned["image_videos"] == pinned["sequence_index"], log[-3000:]
    version = pinned["point_cloud_videos"]
    with np.load(next((points / version).rglob("*.npz")), allow_pickle=False) as clip:
        assert clip["points"].shape[1] == 32
