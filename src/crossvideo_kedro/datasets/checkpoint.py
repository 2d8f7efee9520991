"""Versioned torch checkpoints (state dicts + configs), saved atomically and loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version
from kedro_datasets._typing import TablePreview

from crossvideo_kedro.atomic import atomic_path


def save_checkpoint(obj: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a reader never sees a partial file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint without executing anything it contains (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise DatasetError(f"{path}: not a readable torch checkpoint ({type(error).__name__}: {error})") from error


def summarise(obj: Any, prefix: str = "", depth: int = 3) -> list[tuple[str, str]]:
    """``(key path, summary)`` rows of a checkpoint: state dicts as tensor and parameter counts, lists by length,
    plain values as they are (nested dicts down to ``depth``)."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        count = sum(v.numel() for v in obj.values())
        return [(prefix, f"state dict: {len(obj)} tensors, {count:,} values")]
    if isinstance(obj, dict) and obj and not any(isinstance(v, dict | list | torch.Tensor) for v in obj.values()):
        text = ", ".join(f"{k}={v!r}" for k, v in obj.items())  # a config block: one row
        return [(prefix, text if len(text) <= 160 else text[:157] + "...")]
    if isinstance(obj, dict) and depth > 0:
        return [row for key, value in obj.items() for row in summarise(value, f"{prefix}.{key}".strip("."), depth - 1)]
    if isinstance(obj, list | tuple) and obj and isinstance(obj[0], dict) and depth > 0:
        return [(prefix, f"{len(obj)} entries")] + summarise(obj[0], f"{prefix}[0]", depth - 1)
    if isinstance(obj, torch.Tensor):
        return [(prefix, f"tensor {tuple(obj.shape)} {obj.dtype}")]
    text = repr(obj)
    return [(prefix, text if len(text) <= 80 else text[:77] + "...")]


class TorchCheckpointDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any]]):
    """A dict of state dicts, tensors and plain config values, stored with ``torch.save``.

    Example catalog entry::

        pretrained_encoders:
          type: crossvideo_kedro.datasets.checkpoint.TorchCheckpointDataset
          filepath: data/06_models/pretrained_encoders.pt
          versioned: true
    """

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None):
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        return load_checkpoint(Path(self._get_load_path()))

    def save(self, data: dict[str, Any]) -> None:
        save_checkpoint(data, Path(self._get_save_path()))

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_file()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def preview(self, nrows: int = 40) -> TablePreview:
        """kedro-viz table of the newest checkpoint: what it holds, one row per entry (state dicts summarised)."""
        rows = summarise(self.load())[:nrows]
        return TablePreview({"columns": ["entry", "content"], "index": list(range(len(rows))),
                             "data": [list(row) for row in rows]})
