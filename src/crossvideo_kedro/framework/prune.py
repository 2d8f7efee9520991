"""Free disk space: keep the newest finished runs and what they need, remove every other dataset version.

What stays:

* the ``keep`` newest runs recorded ``complete`` in ``data/.runs/`` (see :mod:`crossvideo_kedro.framework.runs`), each with
  every version it saved and every version it loaded;
* the runs that saved a version a kept run loaded (e.g. the ``generate`` run behind a kept ``ingest`` run), with
  what they saved and loaded in turn, so every kept run's inputs stay loadable and consistent;
* per dataset that no kept run records, its newest version made before the folder recorded runs (what a run loads
  then).

What goes: every other version folder of a versioned catalog dataset (versions of runs not kept, and versions no
finished run recorded: a killed run's), the manifests of the runs not kept, and the staging litter
(``.<name>.tmp-*``) of killed writers. Names that do not look like a Kedro version (``YYYY-MM-DDThh.mm.ss.sssZ``)
are never touched, nor is anything outside the dataset folders and ``data/.runs/``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from crossvideo_kedro.framework import runs

VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")  # Kedro's save version


@dataclass(frozen=True)
class Removal:
    """One path that pruning deletes."""

    path: Path
    size: int  # bytes of the files under it
    reason: str


@dataclass
class PrunePlan:
    """What :func:`plan_prune` keeps and removes."""

    kept_runs: list[str]  # save versions of the runs kept, newest first (the ``keep`` newest and those they need)
    kept_layers: dict[str, int] = field(default_factory=dict)  # bytes kept per layer folder (``data/01_raw``, ...)
    removals: list[Removal] = field(default_factory=list)

    @property
    def kept_bytes(self) -> int:
        return sum(self.kept_layers.values())

    @property
    def removed_bytes(self) -> int:
        return sum(r.size for r in self.removals)

    def summary(self) -> str:
        """Human-readable lines: each path to remove with its size and reason, then the totals."""
        lines = [f"{r.size / 1e6:9.1f} MB  {r.path}  ({r.reason})" for r in self.removals]
        lines.append("kept: " + (", ".join(f"{layer} {size / 1e6:.1f} MB" for layer, size in
                                          sorted(self.kept_layers.items())) or "nothing"))
        lines.append(f"{len(self.removals)} path(s), {self.removed_bytes / 1e6:.1f} MB to remove; "
                     f"{self.kept_bytes / 1e6:.1f} MB kept for {len(self.kept_runs)} run(s): "
                     f"{', '.join(self.kept_runs) or 'none'}")
        return "\n".join(lines)


def size_of(path: Path) -> int:
    """Bytes that ``path`` (a file, or a folder with everything under it) takes on disk, as ``du`` counts them:
    allocated blocks, not file lengths (many small files take more than their lengths). Links are not followed."""
    total = _disk_bytes(path)
    if path.is_dir() and not path.is_symlink():
        for folder, folders, files in os.walk(path):
            total += sum(_disk_bytes(Path(folder, name)) for name in (*folders, *files))
    return total


def _disk_bytes(path: Path) -> int:
    stat = path.lstat()
    blocks = getattr(stat, "st_blocks", None)  # POSIX; elsewhere the file length
    return blocks * 512 if blocks is not None else stat.st_size


def kept_runs(manifests: list[runs.Manifest], keep: int) -> tuple[list[runs.Manifest], set[tuple[str, str]]]:
    """The ``keep`` newest complete runs plus the runs that saved what they loaded (transitively).

    Returns:
        ``(kept manifests newest first, {(dataset key, version)} they record)``.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1 (the number of finished runs to keep), got {keep}")
    kept = {m.version: m for m in [m for m in manifests if m.status == "complete"][:keep]}
    versions = {item for m in kept.values() for item in m.view.items()}
    grown = True
    while grown:
        grown = False
        for manifest in manifests:
            if manifest.version not in kept and any(item in versions for item in manifest.saved.items()):
                kept[manifest.version] = manifest
                versions |= set(manifest.view.items())
                grown = True
    return sorted(kept.values(), key=lambda m: m.version, reverse=True), versions


def plan_prune(project: str | os.PathLike, dataset_keys: Iterable[str], keep: int) -> PrunePlan:
    """Work out what pruning a project's data folder removes; deletes nothing.

    Args:
        project: The project folder (holding ``data/``).
        dataset_keys: Storage paths of the versioned catalog datasets, relative to ``project`` (their identity in
            the run manifests); the keys the manifests record are added.
        keep: Number of newest finished (``complete``) runs to keep, >= 1.
    """
    project = Path(project)
    data = project / "data"
    manifests = runs.read_manifests(data)
    kept, keep_versions = kept_runs(manifests, keep)
    kept_ids = {m.version for m in kept}
    saved_by = {item: m.version for m in manifests for item in m.saved.items()}
    recorded_keys = {key for key, _ in keep_versions}
    epoch = runs.tracking_epoch(data, None, write=False)
    keys = sorted(set(dataset_keys) | {key for m in manifests for key in m.view})
    plan = PrunePlan(kept_runs=[m.version for m in kept])
    for key in keys:
        root = project / key
        if not root.is_dir():
            continue
        versions = sorted(p.name for p in root.iterdir() if p.is_dir() and VERSION.match(p.name))
        before_epoch = [v for v in versions if epoch and v < epoch]
        for version in versions:
            path = root / version
            if (key, version) in keep_versions or (
                    key not in recorded_keys and before_epoch and version == before_epoch[-1]):
                layer = "/".join(Path(key).parts[:2])
                plan.kept_layers[layer] = plan.kept_layers.get(layer, 0) + size_of(path)
                plan.removals += _litter(path)
                continue
            if version in before_epoch:
                reason = "made before runs were recorded, superseded"
            elif (key, version) in saved_by:
                reason = f"saved by run {saved_by[key, version]}, not kept"
            else:
                reason = "no finished run recorded it (a killed run)"
            plan.removals.append(Removal(path, size_of(path), reason))
        plan.removals += _litter(root)
    for manifest in manifests:
        if manifest.version not in kept_ids:
            path = runs.runs_folder(data) / f"{manifest.version}.json"
            if path.is_file():
                plan.removals.append(Removal(path, size_of(path), f"manifest of run {manifest.version}, not kept"))
    plan.removals += _litter(runs.runs_folder(data))
    return plan


def _litter(folder: Path) -> list[Removal]:
    """Staging paths (``.<name>.tmp-*``) that atomic writes of killed writers left in ``folder``."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [Removal(p, size_of(p), "staging litter of a killed writer") for p in entries
            if p.name.startswith(".") and runs.STAGING_MARK in p.name]


def apply_prune(project: str | os.PathLike, dataset_keys: Iterable[str], keep: int) -> PrunePlan:
    """Plan and delete, holding the data folder's run lock (refused while a ``kedro run`` uses it).

    Manifests go first, so that no later run pins a version while it is being deleted.

    Raises:
        crossvideo_kedro.framework.runs.RunRefused: another run holds the lock.
    """
    data = Path(project) / "data"
    lock = runs.RunLock(data)
    lock.acquire({"pipelines": ["prune"], "started": time.time()})
    try:
        plan = plan_prune(project, dataset_keys, keep)
        for removal in sorted(plan.removals, key=lambda r: r.path.suffix != ".json"):
            if removal.path.is_dir() and not removal.path.is_symlink():
                shutil.rmtree(removal.path)
            else:
                removal.path.unlink(missing_ok=True)
    finally:
        lock.release()
    return plan
