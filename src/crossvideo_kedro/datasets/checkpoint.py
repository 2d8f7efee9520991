"""Versioned torch checkpoints (state dicts + configs), saved atomically and loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

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
