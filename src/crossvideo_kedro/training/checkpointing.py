"""Periodic training checkpoints: model, optimiser, scheduler, RNG states and step, written atomically."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from crossvideo_kedro.datasets.checkpoint import load_checkpoint, save_checkpoint

logger = logging.getLogger(__name__)


def fingerprint(*parts: Any) -> str:
    """A short, stable hash of JSON-serialisable parts (config, data description): the identity of a run."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Checkpointer:
    """Keeps ``<directory>/<run_id>/last.pt`` (plus ``step_<n>.pt`` history up to ``keep`` files)."""

    def __init__(self, directory: str | Path, run_id: str, every_steps: int, keep: int = 2):
        if every_steps < 1:
            raise ValueError(f"checkpoint.every_steps must be >= 1, got {every_steps}")
        self.folder = Path(directory) / run_id
        self.every_steps = every_steps
        self.keep = keep

    @property
    def last(self) -> Path:
        return self.folder / "last.pt"

    def due(self, step: int, total_steps: int) -> bool:
        return step % self.every_steps == 0 or step == total_steps

    def save(self, state: dict[str, Any], step: int) -> None:
        state = {**state, "step": step, "torch_rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        save_checkpoint(state, self.last)
        if self.keep > 1:
            save_checkpoint(state, self.folder / f"step_{step:07d}.pt")
            for old in sorted(self.folder.glob("step_*.pt"))[: -(self.keep - 1)]:
                old.unlink(missing_ok=True)
        logger.debug("checkpoint at step %d -> %s", step, self.last)

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint of this run, with the RNG states restored, or ``None``."""
        if not self.last.is_file():
            return None
        state = load_checkpoint(self.last)
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        logger.info("resuming from %s (step %d)", self.last, state["step"])
        return state
