"""Runs as a careful user drives them: `kedro run` processes in a temporary copy of the project, on tiny generated
data — concurrent runs, a run killed between two saves, a fresh clone's first run, parameters refused up front.

A slow dataset (``slow_datasets.py``, written into the copy) holds a run between two saves until the test creates the
file named by ``HOLD_UNTIL``, so a second process starts while the first is provably mid-run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "generate": {"num_sequences": 3, "num_frames": 12, "width": 48, "height": 32, "num_workers": 1,
                 "unlabelled": {"num_sequences": 1}},
    "ingest": {"num_points": 32, "image_size": [8, 8], "num_workers": 1, "split": {"train": 1.0}},
}
SLOW_DATASETS = '''
import os, time
from crossvideo_kedro.datasets.npz import NpzPartitionsDataset

def _pause():  # until the test creates the file named by HOLD_UNTIL (at most 10 minutes)
    deadline = time.monotonic() + 600
    while os.environ.get("HOLD_UNTIL") and not os.path.exists(os.environ["HOLD_UNTIL"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)

class SlowNpz(NpzPartitionsDataset):
    def save(self, data):
        _pause()
        super().save(data)
'''


def make_project(root: Path) -> Path:
    """A copy of the project's conf in ``root`` with env ``tiny`` and env ``slow`` (tiny + a slow image_videos save)."""
    project = root / "project"
    project.mkdir()
    shutil.copytree(ROOT / "conf", project / "conf")
    for name in ("pyproject.toml", ".telemetry"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, project / name)
    (project / "src").mkdir()
    (project / "slow_datasets.py").write_text(SLOW_DATASETS)
    catalog = yaml.safe_load((ROOT / "conf" / "base" / "catalog.yml").read_text())
    for env in ("tiny", "slow"):
        (project / "conf" / env).mkdir()
        for pipeline, values in TINY.items():
            (project / "conf" / env / f"parameters_{pipeline}.yml").write_text(yaml.safe_dump({pipeline: values}))
    slow = {"image_videos": {**catalog["image_videos"], "type": "slow_datasets.SlowNpz"}}
    (project / "conf" / "slow" / "catalog.yml").write_text(yaml.safe_dump(slow))
    return project


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg", "COLUMNS": "200", **extra}


def kedro(project: Path, *args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "kedro", "run", *args], cwd=project, env=env(**extra),
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"kedro run {' '.join(args)} failed:\n{result.stdout[-3000:]}\n" \
                                       f"{result.stderr[-3000:]}"
    return result


def start(project: Path, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kedro", "run", *args], cwd=project, env=env(**extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def versions(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if (p / path.name).exists()) if path.is_dir() else []


def manifests(project: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((project / "data" / ".runs").glob("*.json"))]


def wait_for(condition, timeout: float = 240.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process ended early:\n{process.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, output[-3000:]
    assert "Traceback" not in output and "╭" not in output, output[-3000:]  # no traceback wall
    return lines[0]


@pytest.mark.slow
def test_a_second_concurrent_run_is_refused_and_the_first_keeps_its_own_data(tmp_path):
    """Run A (3 sequences) is mid-run when run B (1 sequence) starts: B is refused, A is intact."""
    project = make_project(tmp_path)
    release = tmp_path / "release"
    a = start(project, "--env", "slow", "--pipelines", "generate,ingest", HOLD_UNTIL=str(release))
    lock = project / "data" / ".runs" / "lock"
    wait_for(lambda: lock.is_file() and '"pid"' in lock.read_text(), process=a)  # A holds the data folder
    time.sleep(0.5)
    b = kedro(project, "--env", "tiny", "--pipelines", "generate,ingest", "--params", "generate.num_sequences=1",
              check=False)
    assert b.returncode != 0
    assert f"pid {a.pid}" in one_line_error(b.stdout + b.stderr)  # names the run that holds the folder
    assert a.poll() is None  # A was mid-run all along
    release.touch()
    output, _ = a.communicate(timeout=600)
    assert a.returncode == 0, output[-3000:]
    data = project / "data" / "02_intermediate"
    (run,) = manifests(project)
    index = pd.read_parquet(data / "sequence_index.parquet" /
                            run["saved"]["data/02_intermediate/sequence_index.parquet"] / "sequence_index.parquet")
    assert sorted(index["sequence"]) == ["pool_0000", "seq_0000", "seq_0001", "seq_0002"]  # A's own, nothing of B
    assert versions(data / "point_cloud_videos") == [run["version"]]  # B saved nothing
    assert "did not match load version" not in output


@pytest.mark.slow
def test_a_run_killed_between_two_saves_is_never_loaded(tmp_path):
    """Killed after point_cloud_videos (16 points) is saved and before image_videos; the next run
    loads the previous finished run's point videos (32 points) with its own index, never the killed one's."""
    project = make_project(tmp_path)
    kedro(project, "--env", "tiny", "--pipelines", "generate,ingest")
    (first,) = manifests(project)
    pcv = project / "data" / "02_intermediate" / "point_cloud_videos"
    victim = start(project, "--env", "slow", "--pipelines", "ingest", "--params", "ingest.num_points=16",
                   HOLD_UNTIL=str(tmp_path / "never"))
    wait_for(lambda: len(versions(pcv)) == 2, process=victim)  # its point videos are renamed into place ...
    victim.send_signal(signal.SIGKILL)  # ... and it dies before image_videos / sequence_index are saved
    victim.wait(timeout=60)
    killed = max(versions(pcv))
    assert np.load(pcv / killed / "point_cloud_videos" / "seq_0000.npz")["points"].shape[1] == 16
    assert len(manifests(project)) == 1  # the killed run never committed
    litter = project / "data" / "02_intermediate" / "image_videos" / killed / ".image_videos.tmp-k1ll"
    litter.mkdir(parents=True)  # what a kill during image_videos' save would have left
    (litter / "seq_0000.npz").write_bytes(b"half")
    os.utime(litter, (time.time() - 60, time.time() - 60))

    result = kedro(project, "--env", "tiny", "--pipelines", "ingest", "--from-nodes", "plot_ingest_preview")
    assert "did not match load version" not in result.stdout + result.stderr
    runs = manifests(project)
    assert len(runs) == 2
    loaded = runs[-1]["loaded"]
    for name in ("point_cloud_videos", "image_videos", "sequence_index.parquet", "class_names.json"):
        key = f"data/02_intermediate/{name}"
        assert loaded[key] == first["saved"][key] != killed, name  # one finished run's set, not the killed one
    assert not litter.parent.exists()  # the staging litter and its empty version folder are gone
    assert killed in versions(pcv)  # complete versions are kept (never loaded, but not deleted either)


@pytest.mark.slow
def test_a_fresh_clone_first_pretrain_run_says_what_to_run_first(tmp_path):
    """One line naming the missing dataset and the command that makes it, no traceback."""
    project = make_project(tmp_path)
    result = kedro(project, "--env", "tiny", "--pipelines", "pretrain", check=False)
    assert result.returncode != 0
    line = one_line_error(result.stdout + result.stderr)
    assert "no saved version yet" in line and "point_cloud_videos" in line
    assert "run `kedro run --pipelines generate,ingest,augment --env tiny` first" in line


@pytest.mark.slow
def test_bad_parameters_are_refused_before_any_node_runs(tmp_path):
    """A misspelt key in a generate,ingest,augment,pretrain run is refused before node 1 saves."""
    project = make_project(tmp_path)
    result = kedro(project, "--env", "tiny", "--pipelines", "generate,ingest,augment,pretrain", "--params",
                   "ingest.num_pionts=64,generate.width=3,ingest.seed=abc", check=False)
    assert result.returncode != 0
    line = one_line_error(result.stdout + result.stderr)
    assert "parameters refused before any node ran" in line
    for text in ("ingest.num_pionts", "generate.width must be an integer >= 16, got 3", "ingest.seed must be an integer"):
        assert text in line
    assert not (project / "data" / "01_raw" / "generated").exists()  # no node ran


# ---------------------------------------------------------------------------------------------- fast, in-process
from crossvideo_kedro.framework import runs  # noqa: E402
from crossvideo_kedro.framework.parameters import validate_parameters  # noqa: E402


def test_pins_come_whole_from_the_run_that_made_the_most_inputs():
    """ingest R0 → augment R1 (from R0) → ingest again R2: a pretrain run gets R1's views with R0's videos."""
    r0 = runs.Manifest("2026-01-01T00.00.00.000Z", saved={"pcv": "R0", "index": "R0"})
    r1 = runs.Manifest("2026-01-02T00.00.00.000Z", saved={"pool": "R1"}, loaded={"pcv": "R0", "index": "R0"})
    r2 = runs.Manifest("2026-01-03T00.00.00.000Z", saved={"pcv": "R2", "index": "R2"})
    pins, source = runs.resolve_pins({"pool", "pcv", "index"}, [r2, r1, r0])
    assert pins == {"pool": "R1", "pcv": "R0", "index": "R0"} and set(source.values()) == {r1.version}
    assert runs.resolve_pins({"pcv", "index"}, [r2, r1, r0])[0] == {"pcv": "R2", "index": "R2"}  # newest wins ties
    assert runs.resolve_pins({"other"}, [r2, r1, r0])[0] == {}
    # class_names, which the augment run did not load, comes from the ingest run that agrees with it (R0, not R2)
    r0.saved["names"], r2.saved["names"] = "R0", "R2"
    assert runs.resolve_pins({"pool", "pcv", "names"}, [r2, r1, r0])[0] == {"pool": "R1", "pcv": "R0", "names": "R0"}


def test_a_rerun_upstream_stage_is_used_by_the_next_downstream_run():
    """ingest R0 → augment R1 → augment again R3 (from R0): pretrain takes the newest pool R3 with its videos."""
    r0 = runs.Manifest("2026-01-01T00.00.00.000Z", saved={"pcv": "R0"})
    r1 = runs.Manifest("2026-01-02T00.00.00.000Z", saved={"pool": "R1"}, loaded={"pcv": "R0"})
    p1 = runs.Manifest("2026-01-03T00.00.00.000Z", saved={"enc": "P1"}, loaded={"pool": "R1", "pcv": "R0"})
    r3 = runs.Manifest("2026-01-04T00.00.00.000Z", saved={"pool": "R3"}, loaded={"pcv": "R0"})
    assert runs.resolve_pins({"pool", "pcv"}, [r3, p1, r1, r0])[0] == {"pool": "R3", "pcv": "R0"}
    # finetuning needs the encoders: they come with the pool they were trained on, not the newer one
    assert runs.resolve_pins({"enc", "pool", "pcv"}, [r3, p1, r1, r0])[0] == {"enc": "P1", "pool": "R1", "pcv": "R0"}


def test_manifests_round_trip_and_unreadable_ones_are_skipped(tmp_path, caplog):
    runs.write_manifest(tmp_path, runs.Manifest("2026-01-01T00.00.00.000Z", saved={"a": "v"}, pipelines=["x"]))
    (tmp_path / ".runs" / "2026-01-02T00.00.00.000Z.json").write_text("{truncated")
    (read,) = runs.read_manifests(tmp_path)
    assert read.saved == {"a": "v"} and read.pipelines == ["x"] and read.status == "complete"
    assert "unreadable run manifest" in caplog.text
    assert not list((tmp_path / ".runs").glob(".*tmp-*"))


def test_the_lock_refuses_a_second_holder_and_frees_itself(tmp_path):
    first = runs.RunLock(tmp_path)
    first.acquire({"pipelines": ["ingest"]})
    with pytest.raises(runs.RunRefused, match=rf"another kedro run is using .*pid {os.getpid()}.*\['ingest'\]"):
        runs.RunLock(tmp_path).acquire({"pipelines": ["pretrain"]})
    first.release()
    second = runs.RunLock(tmp_path)
    second.acquire({})
    assert second.held
    second.release()


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom crossvideo_kedro.framework.runs import RunLock\n"
                               f"lock = RunLock({str(tmp_path)!r})\nlock.acquire({{}})\nprint('held', flush=True)\n"
                               "time.sleep(60)"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while holder.stdout.readline().strip() != "held":
        assert holder.poll() is None
    with pytest.raises(runs.RunRefused):
        runs.RunLock(tmp_path).acquire({})
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    lock = runs.RunLock(tmp_path)
    lock.acquire({})  # the kernel dropped the dead holder's lock: taken over, no manual cleanup
    assert f'"pid": {os.getpid()}' in (tmp_path / ".runs" / "lock").read_text()
    lock.release()


def test_atomic_writes_stage_under_names_the_cleaner_recognises(tmp_path):
    from crossvideo_kedro.atomic import atomic_path  # noqa: PLC0415

    for directory in (False, True):
        with atomic_path(tmp_path / f"target{directory}", directory=directory) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".") and runs.STAGING_MARK in tmp.name
            assert runs.clean_staging([tmp_path], before=time.time() - 3600) == []  # a live write is never taken


def test_staging_litter_older_than_the_run_is_cleaned(tmp_path):
    version = tmp_path / "videos" / "2026-01-01T00.00.00.000Z"
    version.mkdir(parents=True)
    (version / ".videos.tmp-abc").mkdir()
    (version / ".videos.tmp-abc" / "seq.npz").write_bytes(b"x")
    kept = tmp_path / "videos" / "2026-01-02T00.00.00.000Z"
    kept.mkdir()
    (kept / "videos").mkdir()
    (kept / ".videos.tmp-new").mkdir()
    os.utime(kept / ".videos.tmp-new", (time.time() + 60, time.time() + 60))  # a writer that started after us
    removed = runs.clean_staging([tmp_path / "videos", version, kept], before=time.time())
    assert removed == [version / ".videos.tmp-abc"]
    assert not version.exists()  # the empty version folder the killed run had made is gone too
    assert (kept / ".videos.tmp-new").exists() and (kept / "videos").exists()


@pytest.mark.parametrize(("key", "params", "expected"), [
    ("pretrain", {"steps": "abc"}, "pretrain.steps must be an integer, got 'abc'"),
    ("pretrain", {"lr": float("nan")}, "pretrain.lr must be a finite number, got nan"),
    ("pretrain", {"lr": "nan"}, "pretrain.lr must be a finite number, got 'nan'"),
    ("pretrain", {"steps": 2.5}, "pretrain.steps must be an integer, got 2.5"),
    ("pretrain", {"batch_size": 3.7}, "pretrain.batch_size must be an integer, got 3.7"),
    ("pretrain", {"batch_size": True}, "pretrain.batch_size must be an integer, got True"),
    ("pretrain", {"checkpoint": {"keep": -5}}, "pretrain.checkpoint.keep must be an integer >= 1, got -5"),
    ("pretrain", {"min_lr_ratio": 7}, "pretrain.min_lr_ratio must be >= 0 and <= 1, got 7"),
    ("pretrain", {"model": {"point": {"dim": "x"}}}, "point.dim"),
    ("pretrain", {"loss": {"weights": {"cross_video": -1}}}, "pretrain.loss.weights.cross_video must be >= 0, got -1"),
    ("pretrain", {"loss": {"dense": {"negatives": "near"}}}, "pretrain.loss.dense.negatives must be one of ["),
    ("ingest", {"seed": "abc"}, "ingest.seed must be an integer, got 'abc'"),
    ("ingest", {"image_size": [64, 6.5]}, "ingest.image_size[1] must be an integer, got 6.5"),
    ("ingest", {"num_pionts": 64}, "unknown parameter(s) ['ingest.num_pionts']"),
    ("generate", {"width": 3}, "generate.width must be an integer >= 16, got 3"),
    ("generate", {"fps": float("inf")}, "generate.fps must be a finite number, got inf"),
    ("finetune", {"lr": -1.0}, "finetune.lr must be > 0, got -1.0"),
    ("augment", {"geometric": {"dropout": 1.5}}, "augment.geometric.dropout must be >= 0 and < 1, got 1.5"),
])
def test_every_bad_parameter_names_key_value_and_expectation(key, params, expected):
    problems = validate_parameters({key: params})
    assert len(problems) == 1 and expected in problems[0], problems


def _merged(base: dict, override: dict) -> dict:
    """Kedro's "soft" parameter merge (settings.py): an environment overrides single keys, recursively."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.mark.parametrize("env", sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir()))
def test_the_shipped_parameters_are_valid_in_every_environment(env):
    blocks: dict = {}
    for folder in dict.fromkeys(["base", env]):
        for path in sorted((ROOT / "conf" / folder).glob("parameters_*.yml")):
            blocks = _merged(blocks, yaml.safe_load(path.read_text()) or {})
    assert validate_parameters(blocks) == []


def _run_in_process(project: Path, pipeline, version: str, datasets: dict) -> None:
    """Drive RunGuardHook around a SequentialRunner as a KedroSession does (hooks called directly)."""
    from kedro.io import DataCatalog  # noqa: PLC0415
    from kedro.io.core import Version  # noqa: PLC0415
    from kedro.runner import SequentialRunner  # noqa: PLC0415

    from crossvideo_kedro.datasets.npz import NpzPartitionsDataset  # noqa: PLC0415
    from crossvideo_kedro.framework.hooks import RunGuardHook  # noqa: PLC0415

    catalog = DataCatalog({name: NpzPartitionsDataset(path=str(project / "data" / name), version=Version(None, version))
                           for name in datasets})
    params = {"project_path": str(project), "pipeline_names": ["test"], "load_versions": {}, "run_id": version}
    hook = RunGuardHook()
    hook.before_pipeline_run(run_params=params, pipeline=pipeline, catalog=catalog)
    try:
        SequentialRunner().run(pipeline, catalog)
    except Exception as error:
        hook.on_pipeline_error(error=error, run_params=params, pipeline=pipeline, catalog=catalog)
        raise
    hook.after_pipeline_run(run_params=params, pipeline=pipeline, catalog=catalog)


def test_a_failed_run_commits_only_the_nodes_that_saved_everything(tmp_path):
    from kedro.pipeline import Node, Pipeline  # noqa: PLC0415

    def make(value):
        return lambda *_: {"x": {"v": np.full(2, value)}}

    def broken(_):
        raise RuntimeError("node died")

    first = Pipeline([Node(make(1), None, "a", name="make_a"), Node(make(2), "a", "b", name="make_b")])
    _run_in_process(tmp_path, first, "2026-01-01T00.00.00.000Z", {"a": 0, "b": 0})
    failing = Pipeline([Node(make(3), None, "a", name="make_a"), Node(broken, "a", "b", name="make_b")])
    with pytest.raises(RuntimeError, match="node died"):
        _run_in_process(tmp_path, failing, "2026-01-02T00.00.00.000Z", {"a": 0, "b": 0})
    ok, failed = manifests(tmp_path)
    assert failed["status"] == "failed" and failed["saved"] == {"data/a": "2026-01-02T00.00.00.000Z"}
    assert ok["status"] == "complete" and set(ok["saved"]) == {"data/a", "data/b"}
    assert not (tmp_path / "data" / ".runs" / "lock").read_text()  # released (content cleared, kernel lock dropped)

    seen = {}
    reader = Pipeline([Node(lambda a, b: seen.update(a=a["x"]()["v"][0], b=b["x"]()["v"][0]), ["a", "b"], None,
                            name="read")])
    _run_in_process(tmp_path, reader, "2026-01-03T00.00.00.000Z", {"a": 0, "b": 0})
    assert seen == {"a": 1, "b": 2}  # b of the first run comes with the a it was made from, not the failed run's a


def test_a_folder_from_before_manifests_loads_its_old_versions_but_never_a_later_killed_one(tmp_path, caplog):
    from crossvideo_kedro.datasets.npz import NpzPartitionsDataset  # noqa: PLC0415
    from kedro.io.core import Version  # noqa: PLC0415
    from kedro.pipeline import Node, Pipeline  # noqa: PLC0415

    def save(version, value):
        NpzPartitionsDataset(path=str(tmp_path / "data" / "a"), version=Version(None, version)).save(
            {"x": {"v": np.full(2, value)}})

    save("2026-01-01T00.00.00.000Z", 1)  # made before this code recorded runs
    seen = []
    reader = Pipeline([Node(lambda a: seen.append(a["x"]()["v"][0]), "a", None, name="read")])
    with caplog.at_level("WARNING"):
        _run_in_process(tmp_path, reader, "2026-01-02T00.00.00.000Z", {"a": 0})
    assert seen == [1] and "made before this data folder recorded runs" in caplog.text
    save("2026-01-03T00.00.00.000Z", 2)  # a tracked run that was killed before its commit
    _run_in_process(tmp_path, reader, "2026-01-04T00.00.00.000Z", {"a": 0})
    assert seen == [1, 1]  # still the pre-manifest version, never the killed run's


def test_a_notebook_catalog_can_be_pinned_like_a_run(tmp_path):
    from kedro.io import DataCatalog  # noqa: PLC0415
    from kedro.io.core import Version  # noqa: PLC0415
    from kedro.pipeline import Node, Pipeline  # noqa: PLC0415

    from crossvideo_kedro.datasets.npz import NpzPartitionsDataset  # noqa: PLC0415
    from crossvideo_kedro.framework.hooks import pin_to_finished_runs  # noqa: PLC0415

    writer = Pipeline([Node(lambda: {"x": {"v": np.full(2, 5)}}, None, "a", name="make_a")])
    _run_in_process(tmp_path, writer, "2026-01-01T00.00.00.000Z", {"a": 0})
    NpzPartitionsDataset(path=str(tmp_path / "data" / "a"), version=Version(None, "2026-01-02T00.00.00.000Z")).save(
        {"x": {"v": np.full(2, 9)}})  # a killed run's newer version
    catalog = DataCatalog({"a": NpzPartitionsDataset(path=str(tmp_path / "data" / "a"), version=Version(None, None))})
    assert catalog.load("a")["x"]()["v"][0] == 9  # Kedro alone: the newest, the killed run's
    assert pin_to_finished_runs(catalog, ["a"], tmp_path) == {"data/a": "2026-01-01T00.00.00.000Z"}
    assert catalog.load("a")["x"]()["v"][0] == 5


def test_a_notebook_pins_what_finished_runs_recorded_and_skips_the_rest(tmp_path):
    """The notebooks pin all their datasets at once; one that no finished run made (a fresh clone, or `predict`
    never run) must neither stop the others being pinned nor be invented."""
    from kedro.io import DataCatalog  # noqa: PLC0415
    from kedro.io.core import Version  # noqa: PLC0415
    from kedro.pipeline import Node, Pipeline  # noqa: PLC0415

    from crossvideo_kedro.datasets.npz import NpzPartitionsDataset  # noqa: PLC0415
    from crossvideo_kedro.framework.hooks import pin_to_finished_runs  # noqa: PLC0415

    writer = Pipeline([Node(lambda: {"x": {"v": np.full(2, 5)}}, None, "a", name="make_a")])
    _run_in_process(tmp_path, writer, "2026-01-01T00.00.00.000Z", {"a": 0})
    for name, value in (("a", 9), ("b", 7)):  # a killed run's newer a, and a b no finished run recorded
        NpzPartitionsDataset(path=str(tmp_path / "data" / name),
                             version=Version(None, "2026-01-02T00.00.00.000Z")).save({"x": {"v": np.full(2, value)}})

    def catalog():
        return DataCatalog({name: NpzPartitionsDataset(path=str(tmp_path / "data" / name), version=Version(None, None))
                            for name in ("a", "b")})

    with pytest.raises(runs.RunRefused, match="b"):
        pin_to_finished_runs(catalog(), ["a", "b"], tmp_path)
    pinned = catalog()
    assert pin_to_finished_runs(pinned, ["a", "b"], tmp_path, missing="skip") == {"data/a": "2026-01-01T00.00.00.000Z"}
    assert pinned.load("a")["x"]()["v"][0] == 5 and pinned.load("b")["x"]()["v"][0] == 7
    assert pin_to_finished_runs(catalog(), ["b"], tmp_path, missing="skip") == {}
    with pytest.raises(ValueError, match="missing must be"):
        pin_to_finished_runs(catalog(), ["a"], tmp_path, missing="ignore")
