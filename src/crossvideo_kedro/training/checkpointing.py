"""Periodic training checkpoints: model, optimiser, scheduler, RNG states and step, written atomically.

Layout of one run (``<directory>/<run_id>/``): ``step_<n>.pt`` files (the newest ``keep``) and ``last.pt``, a copy of
the newest step file in a file of its own (never a link: damage to one name must not reach the other), each written
to a staging file and renamed into place. Loading tries ``last.pt``, then the step files newest first: a truncated or
foreign file falls back to the newest intact one with a warning, so any one damaged file loses nothing, and a folder
with nothing usable gives one error listing why each file was refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from functools import cache
from pathlib import Path
from typing import Any

import torch

from crossvideo_kedro.atomic import atomic_path
from crossvideo_kedro.datasets.checkpoint import load_checkpoint, save_checkpoint

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("step", "torch_rng")  # what every checkpoint this class writes holds
CODE_PACKAGES = ("training", "models", "losses.py")  # the code that decides what training computes


@cache
def code_identity() -> dict[str, str]:
    """The package version and a digest of the training/model/loss sources: part of every run's fingerprint."""
    import crossvideo_kedro  # noqa: PLC0415

    root = Path(crossvideo_kedro.__file__).parent
    digest = hashlib.sha256()
    for name in CODE_PACKAGES:
        paths = sorted((root / name).rglob("*.py")) if (root / name).is_dir() else [root / name]
        for path in paths:
            if path.is_file():
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return {"package_version": crossvideo_kedro.__version__, "code": digest.hexdigest()[:16]}


def fingerprint(*parts: Any) -> str:
    """A short, stable hash of JSON-serialisable parts (config, data description) and of the code version.

    Changing a parameter, the data, the package version or the training/model/loss code gives a new run id, so a
    rerun never resumes (or reuses) weights that another configuration or other code produced.
    """
    text = json.dumps([code_identity(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CheckpointError(ValueError):
    """No checkpoint of a run folder can be resumed from; the message says why for each file."""


class Checkpointer:
    """Keeps ``<directory>/<run_id>/step_<n>.pt`` (the newest ``keep``) and ``last.pt`` (a copy of the newest)."""

    def __init__(self, directory: str | Path, run_id: str, every_steps: int, keep: int = 2):
        """``every_steps`` and ``keep`` (>= 1) come from a parsed ``pretrain.checkpoint`` (CheckpointConfig)."""
        self.folder = Path(directory) / run_id
        self.run_id = run_id
        self.every_steps = every_steps
        self.keep = keep
        self.total_steps: int | None = None
        self._created = time.time()

    @property
    def last(self) -> Path:
        return self.folder / "last.pt"

    def step_path(self, step: int) -> Path:
        return self.folder / f"step_{step:07d}.pt"

    def step_files(self) -> list[Path]:
        """Step files, newest first."""
        return sorted(self.folder.glob("step_*.pt"), reverse=True)

    def due(self, step: int, total_steps: int) -> bool:
        self.total_steps = total_steps
        return step % self.every_steps == 0 or step == total_steps

    def save(self, state: dict[str, Any], step: int) -> None:
        state = {**state, "step": step, "torch_rng": torch.get_rng_state()}
        if self.total_steps is not None:
            state["total_steps"] = self.total_steps
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        path = self.step_path(step)
        save_checkpoint(state, path)
        _copy(path, self.last)
        for old in self.step_files()[self.keep:]:
            old.unlink(missing_ok=True)
        logger.debug("checkpoint at step %d -> %s", step, path)

    def load(self, total_steps: int | None = None) -> dict[str, Any] | None:
        """The newest intact checkpoint of this run, with the RNG states restored, or ``None`` if there is none.

        Args:
            total_steps: steps of the whole run; when the checkpoint is at the end, the log says that the finished
                result is reused and how to retrain (also known from the checkpoint itself when it recorded it).

        Raises:
            CheckpointError: checkpoint files exist but none is readable as a checkpoint of this trainer.
        """
        self.clean()
        candidates = [p for p in dict.fromkeys([self.last, *self.step_files()]) if p.is_file()]
        if not candidates:
            return None
        refused: list[str] = []
        state = None
        for path in candidates:
            try:
                state = load_checkpoint(path)
                missing = [k for k in REQUIRED_KEYS if not isinstance(state, dict) or k not in state]
                if missing:
                    raise CheckpointError(f"{path}: not a training checkpoint of this project (no {missing})")
            except Exception as error:  # noqa: BLE001 - every way a file can be unusable (truncated, foreign, ...)
                refused.append(str(error))
                state = None
                continue
            if refused:
                logger.warning("falling back to %s: %s", path, "; ".join(refused))
            chosen = path
            break
        if state is None:
            raise CheckpointError(
                f"no usable checkpoint in {self.folder}: {'; '.join(refused)}. Delete the folder or set "
                "checkpoint.resume: false to start this run from scratch"
            )
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        total = total_steps if total_steps is not None else state.get("total_steps")
        if total is not None and state["step"] >= total:
            logger.info(
                "run %s already finished (step %d of %d, %s): reusing its result instead of training again; to "
                "retrain, set checkpoint.resume: false (e.g. --params pretrain.checkpoint.resume=false) or change "
                "a parameter such as the seed", self.run_id, state["step"], total, chosen)
        else:
            logger.info("resuming from %s (step %d)", chosen, state["step"])
        return state

    def clean(self) -> list[Path]:
        """Remove staging files of killed writers (``.*.tmp-*`` older than this checkpointer) and give a ``last.pt``
        that is a hard link to a step file (older layout) a file of its own."""
        removed = []
        for litter in self.folder.glob(".*.tmp-*"):
            with contextlib.suppress(OSError):
                if litter.stat().st_mtime < self._created:
                    shutil.rmtree(litter) if litter.is_dir() else litter.unlink()
                    removed.append(litter)
        if removed:
            logger.info("removed %d staging file(s) of killed runs in %s", len(removed), self.folder)
        if self.last.is_file() and self.last.stat().st_nlink > 1:
            _copy(self.last, self.last)
            logger.info("%s was a hard link to a step file: now a file of its own", self.last)
        return removed


def _copy(source: Path, target: Path) -> None:
    """Write ``target`` as an independent copy of ``source``, atomically (staging file, fsync, rename)."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
