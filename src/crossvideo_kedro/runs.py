"""Runs as transactions over the versioned catalog: a lock per data folder, a manifest committed last, pinned loads.

Kedro versions every dataset on its own (``<filepath>/<timestamp>/<file>``) and loads each one's newest version, so
two outputs of one run are not tied together and a concurrent or killed run leaves versions that pair with another
run's. This module ties them:

* :class:`RunLock` — one ``kedro run`` at a time on a data folder (``data/.runs/lock``, an ``flock`` that the
  kernel releases when its process dies, so a killed run never leaves a lock that blocks the next).
* :func:`write_manifest` — ``data/.runs/<save version>.json``, written atomically as the run's last act: the
  versions it saved and the versions it loaded. A version without a manifest (a killed or refused run) is never
  loaded by a later run.
* :func:`resolve_pins` — the versions a new run loads for its inputs: the set recorded by the manifest that covers
  the most of them (newest first), so e.g. ``pretrain_views`` comes with the ``point_cloud_videos`` it was made from.
* :func:`clean_staging` — the ``.<name>.tmp-*`` litter that atomic writes of killed runs left behind.

See ``docs/reliability.md`` for the guarantees.
"""

from __future__ import annotations

import contextlib
import sys
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click

from kedro.framework.cli.utils import KedroCliError

from crossvideo_kedro.atomic import atomic_path

logger = logging.getLogger(__name__)

RUNS_FOLDER = ".runs"
STAGING_MARK = ".tmp-"  # atomic_path names its staging paths ``.<target name>.tmp-<random>``


class RunRefused(KedroCliError):
    """A run refused before its first node: shown by the CLI as one message, without a traceback."""

    def show(self, file: IO | None = None) -> None:
        click.secho(f"Error: {self.message}", file=file or sys.stderr, fg="red")


# ------------------------------------------------------------------------------------------------------ manifests
@dataclass
class Manifest:
    """What one finished run saved and loaded: ``{dataset key: version}`` each (key: its path in the project)."""

    version: str  # the run's save version (Kedro's session id)
    saved: dict[str, str] = field(default_factory=dict)
    loaded: dict[str, str] = field(default_factory=dict)
    status: str = "complete"  # complete | failed (then ``saved`` holds only nodes whose outputs all exist)
    pipelines: list[str] = field(default_factory=list)
    finished: float = 0.0
    names: dict[str, str] = field(default_factory=dict)  # dataset key (its path) -> the catalog name that saved it
    parents: dict[str, list[str]] = field(default_factory=dict)  # saved key -> the keys it was made from

    @property
    def view(self) -> dict[str, str]:
        """The consistent set this run stands for: what it loaded, overridden by what it saved."""
        return {**self.loaded, **self.saved}

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "status": self.status, "pipelines": self.pipelines,
                "finished": self.finished, "saved": self.saved, "loaded": self.loaded, "names": self.names,
                "parents": self.parents}


def runs_folder(data: str | os.PathLike) -> Path:
    return Path(data) / RUNS_FOLDER


def write_manifest(data: str | os.PathLike, manifest: Manifest) -> Path:
    """Commit a run: write its manifest atomically (a reader sees all of it or nothing)."""
    path = runs_folder(data) / f"{manifest.version}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest.to_dict(), indent=1, sort_keys=True))
        with open(tmp, "rb") as handle:  # its bytes are on disk before its name is
            os.fsync(handle.fileno())
    with contextlib.suppress(OSError):  # and the rename itself (POSIX: fsync the folder)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return path


def tracking_epoch(data: str | os.PathLike, version: str | None, write: bool = True) -> str | None:
    """The save version of the first run that recorded runs in ``data`` (``data/.runs/epoch``).

    The first call on a folder makes ``version`` the epoch (written when ``write``, i.e. by the lock holder).
    Versions older than the epoch were saved before runs were recorded.
    """
    path = runs_folder(data) / "epoch"
    with contextlib.suppress(OSError):
        return path.read_text().strip() or version
    if write and version:
        with atomic_path(path) as tmp:
            tmp.write_text(version)
    return version


def read_manifests(data: str | os.PathLike) -> list[Manifest]:
    """Every readable manifest of a data folder, newest run first (unreadable ones are skipped with a warning)."""
    manifests = []
    for path in sorted(runs_folder(data).glob("*.json"), reverse=True):
        try:
            raw = json.loads(path.read_text())
            manifests.append(Manifest(version=str(raw["version"]), saved=dict(raw["saved"]),
                                      loaded=dict(raw.get("loaded", {})), status=str(raw.get("status", "complete")),
                                      pipelines=list(raw.get("pipelines", [])),
                                      finished=float(raw.get("finished", 0.0)),
                                      names=dict(raw.get("names", {})),
                                      parents={k: list(v) for k, v in raw.get("parents", {}).items()}))
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("%s: unreadable run manifest, ignored (%s)", path, error)
    return manifests


def resolve_pins(needed: Iterable[str], manifests: list[Manifest]) -> tuple[dict[str, str], dict[str, str]]:
    """Versions to load for ``needed`` datasets, taken whole from as few recorded runs as possible.

    The most derived dataset comes first (``pretrained_encoders`` before the ``pretrain_pool`` it was trained on,
    before the ``point_cloud_videos`` the pool was cut from; "derived" as the manifests record it): its newest
    finished version is taken together with everything its run recorded (what it saved and what it loaded). Each
    dataset still open then comes from the run that disagrees least with the versions already chosen (then the
    newest). So inputs made by one run come from one run, with the versions that run itself loaded.

    Returns:
        ``({dataset: version}, {dataset: version of the run it came from})``; datasets that no manifest records
        are left out.
    """
    remaining = set(needed)
    parents: dict[str, set[str]] = {}
    for manifest in manifests:
        for key in manifest.saved:
            parents.setdefault(key, set()).update(manifest.parents.get(key, manifest.loaded))
    depths: dict[str, int] = {}

    def depth(key: str, path: tuple[str, ...] = ()) -> int:
        if key not in depths:
            ups = [p for p in parents.get(key, ()) if p in remaining and p not in path and p != key]
            depths[key] = 1 + max((depth(p, (*path, key)) for p in ups), default=-1)
        return depths[key]

    pins: dict[str, str] = {}
    source: dict[str, str] = {}
    for key in sorted(remaining, key=lambda k: (-depth(k), k)):
        if key in pins:
            continue
        candidates = [m for m in manifests if key in m.view]
        if not candidates:
            continue

        def score(manifest: Manifest, key: str = key) -> tuple[int, str, str]:
            view = manifest.view
            conflicts = sum(1 for k, version in pins.items() if k in view and view[k] != version)
            return -conflicts, view[key], manifest.version

        best = max(candidates, key=score)
        for k in sorted(remaining - pins.keys()):
            if k in best.view:
                pins[k], source[k] = best.view[k], best.version
    return pins, source


def newest_recorded(name: str, manifests: list[Manifest]) -> str | None:
    """The newest version of ``name`` that any finished run saved."""
    versions = [m.saved[name] for m in manifests if name in m.saved]
    return max(versions) if versions else None


# ------------------------------------------------------------------------------------------------------ the lock
def _process_started(pid: int) -> float | None:
    """Start time of a process (seconds since boot, from /proc), or ``None`` where unknown."""
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return float(fields_[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class RunLock:
    """An exclusive lock on a data folder for one ``kedro run``.

    ``fcntl.flock`` on ``data/.runs/lock``: the kernel drops it when the holding process exits or is killed, so a
    stale lock never blocks anyone (the file may stay; its content only describes the last holder for messages).
    """

    def __init__(self, data: str | os.PathLike):
        self.path = runs_folder(data) / "lock"
        self._handle = None
        self.started = time.time()

    def acquire(self, description: Mapping[str, Any]) -> None:
        """Take the lock or raise :class:`RunRefused` naming the run that holds it."""
        try:
            import fcntl  # noqa: PLC0415 - POSIX only
        except ImportError:  # pragma: no cover - Windows: no lock, say so
            logger.warning("no run lock on this platform: do not start two runs on one data folder at once")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "{}"
            handle.close()
            try:
                info = json.loads(holder)
            except ValueError:
                info = {}
            raise RunRefused(
                f"another kedro run is using {self.path.parent.parent}/ (pid {info.get('pid', '?')}, pipelines "
                f"{info.get('pipelines', '?')}, started {info.get('started_at', '?')}): wait for it to finish, or "
                "run from a copy of the project with its own data/ folder"
            ) from None
        self.started = time.time()
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "proc_start": _process_started(os.getpid()),
                                 "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started)),
                                 **description}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.seek(0)
                self._handle.truncate()
            self._handle.close()  # closing drops the flock
            self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None


# ------------------------------------------------------------------------------------------------------ litter
def clean_staging(folders: Iterable[str | os.PathLike], before: float) -> list[Path]:
    """Delete staging paths (``.<name>.tmp-*``) of killed writers in ``folders``, older than ``before``.

    Only call it while holding the data folder's :class:`RunLock`: then no live run of this project writes there.
    A folder left empty by the cleaning (a version folder a killed run had just created) is removed too.

    Returns:
        The paths removed.
    """
    removed: list[Path] = []
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not (entry.name.startswith(".") and STAGING_MARK in entry.name):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime >= before:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError as error:
                logger.warning("could not remove staging litter %s: %s", entry.path, error)
        if removed and removed[-1].parent == folder:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when empty
    if removed:
        logger.info("removed %d staging path(s) left by killed runs (e.g. %s)", len(removed), removed[0])
    return removed
