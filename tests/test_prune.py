"""``kedro prune``: keep the newest finished runs (and the runs they loaded from), remove every other version."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from kedro.io import DataCatalog
from kedro.io.core import Version
from kedro_datasets.json import JSONDataset

from crossvideo_kedro.framework import runs
from crossvideo_kedro.framework.hooks import pin_to_finished_runs
from crossvideo_kedro.framework.prune import apply_prune, plan_prune, size_of

RAW, DERIVED = "data/01_raw/raw.json", "data/02_intermediate/derived.json"
KEYS = [RAW, DERIVED]


def version(n: int) -> str:
    return f"2026-12-06T00.00.{n:02d}.000Z"


def save(project: Path, key: str, run: int, payload_bytes: int = 1000) -> None:
    JSONDataset(filepath=str(project / key), version=Version(None, version(run))).save({"run": run,
                                                                                       "pad": "x" * payload_bytes})


def record(project: Path, run: int, saved: list[str], loaded: dict[str, int] | None = None,
           status: str = "complete") -> None:
    runs.tracking_epoch(project / "data", version(run))
    runs.write_manifest(project / "data", runs.Manifest(
        version=version(run), saved=dict.fromkeys(saved, version(run)),
        loaded={key: version(n) for key, n in (loaded or {}).items()}, status=status))


def catalog(project: Path) -> DataCatalog:
    return DataCatalog(datasets={"raw": JSONDataset(filepath=str(project / RAW), version=Version(None, None)),
                                 "derived": JSONDataset(filepath=str(project / DERIVED), version=Version(None, None))})


def versions_on_disk(project: Path, key: str) -> list[str]:
    return sorted(p.name for p in (project / key).iterdir())


@pytest.fixture
def three_runs(tmp_path: Path) -> Path:
    """Three finished runs (each saves raw and derived), a killed run's versions and staging litter."""
    for run in (1, 2, 3):
        save(tmp_path, RAW, run)
        save(tmp_path, DERIVED, run)
        record(tmp_path, run, KEYS)
    save(tmp_path, RAW, 4)  # killed before its manifest
    litter = tmp_path / RAW / f".{version(5)}.tmp-dead"
    litter.mkdir()
    (litter / "raw.json").write_text("{")
    old = time.time() - 60
    os.utime(litter, (old, old))
    return tmp_path


def test_dry_run_lists_everything_but_the_newest_run_and_deletes_nothing(three_runs):
    plan = plan_prune(three_runs, KEYS, keep=1)
    assert plan.kept_runs == [version(3)]
    removed = {str(r.path.relative_to(three_runs)): r.reason for r in plan.removals}
    assert removed == {
        f"{RAW}/{version(1)}": f"saved by run {version(1)}, not kept",
        f"{RAW}/{version(2)}": f"saved by run {version(2)}, not kept",
        f"{DERIVED}/{version(1)}": f"saved by run {version(1)}, not kept",
        f"{DERIVED}/{version(2)}": f"saved by run {version(2)}, not kept",
        f"{RAW}/{version(4)}": "no finished run recorded it (a killed run)",
        f"{RAW}/.{version(5)}.tmp-dead": "staging litter of a killed writer",
        f"data/.runs/{version(1)}.json": f"manifest of run {version(1)}, not kept",
        f"data/.runs/{version(2)}.json": f"manifest of run {version(2)}, not kept",
    }
    version_bytes = size_of(three_runs / RAW / version(1))  # the folder and its file, as du counts them
    assert version_bytes >= (three_runs / RAW / version(1) / "raw.json").stat().st_size
    assert plan.kept_bytes == 2 * version_bytes and plan.removed_bytes > 5 * version_bytes
    assert "MB to remove" in plan.summary()
    assert len(versions_on_disk(three_runs, RAW)) == 5  # four versions and the litter: still there


def test_apply_keeps_one_run_and_the_catalog_still_loads_it(three_runs):
    apply_prune(three_runs, KEYS, keep=1)
    assert versions_on_disk(three_runs, RAW) == [version(3)]
    assert versions_on_disk(three_runs, DERIVED) == [version(3)]
    assert [m.version for m in runs.read_manifests(three_runs / "data")] == [version(3)]
    loaded = catalog(three_runs)
    pins = pin_to_finished_runs(loaded, ["raw", "derived"], three_runs)
    assert pins == {RAW: version(3), DERIVED: version(3)}
    assert loaded.load("raw")["run"] == 3 and loaded.load("derived")["run"] == 3
    assert plan_prune(three_runs, KEYS, keep=1).removals == []  # nothing left to prune


def test_a_kept_run_keeps_the_runs_it_loaded_from(tmp_path):
    save(tmp_path, RAW, 1)
    record(tmp_path, 1, [RAW])  # generate
    save(tmp_path, RAW, 2)
    record(tmp_path, 2, [RAW])  # generate again
    save(tmp_path, DERIVED, 3)
    record(tmp_path, 3, [DERIVED], loaded={RAW: 1})  # ingest of the first generate run
    apply_prune(tmp_path, KEYS, keep=1)
    assert versions_on_disk(tmp_path, RAW) == [version(1)] and versions_on_disk(tmp_path, DERIVED) == [version(3)]
    assert [m.version for m in runs.read_manifests(tmp_path / "data")] == [version(3), version(1)]
    loaded = catalog(tmp_path)
    pin_to_finished_runs(loaded, ["raw", "derived"], tmp_path)
    assert loaded.load("raw")["run"] == 1 and loaded.load("derived")["run"] == 3


def test_prune_is_refused_while_a_run_holds_the_data_folder(three_runs):
    lock = runs.RunLock(three_runs / "data")
    lock.acquire({"pipelines": ["generate"]})
    try:
        with pytest.raises(runs.RunRefused, match="another kedro run is using"):
            apply_prune(three_runs, KEYS, keep=1)
    finally:
        lock.release()
    assert len(versions_on_disk(three_runs, RAW)) == 5


def test_keep_must_be_positive(three_runs):
    with pytest.raises(ValueError, match="keep must be >= 1"):
        plan_prune(three_runs, KEYS, keep=0)


def test_kedro_prune_command_dry_run_then_apply(tmp_path):
    """``kedro prune`` on a copy of the project's configuration: the catalog names the datasets to prune."""
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    root = Path(__file__).parents[1]
    shutil.copy(root / "pyproject.toml", tmp_path)
    shutil.copytree(root / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "src").mkdir()  # the package itself comes from PYTHONPATH
    key = "data/02_intermediate/class_names.json"  # a versioned JSON entry of the real catalog
    for run in (1, 2, 3):
        save(tmp_path, key, run)
        record(tmp_path, run, [key])
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "KEDRO_DISABLE_TELEMETRY": "true"}

    def prune(*options: str, module: str = "kedro") -> str:
        result = subprocess.run([sys.executable, "-m", module, "prune", "--keep", "1", *options], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    dry = prune()
    assert f"{key}/{version(1)}" in dry and f"{key}/{version(2)}" in dry and f"{key}/{version(3)}" not in dry
    assert "dry run: nothing deleted" in dry and versions_on_disk(tmp_path, key) == [version(n) for n in (1, 2, 3)]
    prune("--apply")
    assert versions_on_disk(tmp_path, key) == [version(3)]
    assert "0 path(s)" in prune(module="crossvideo_kedro")  # the project's script: crossvideo-kedro prune
