"""Versioned matplotlib figures as PNG files: written atomically, and a plot that does not apply (``None``) writes
nothing (contract 5 of the brief: plotting nodes return ``None`` with a log line when their plot does not apply)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from functools import wraps
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version
from kedro_datasets._typing import ImagePreview
from matplotlib.figure import Figure

from crossvideo_kedro.atomic import atomic_path

logger = logging.getLogger(__name__)


class FigureDataset(AbstractVersionedDataset[Figure | None, bytes]):
    """A matplotlib :class:`~matplotlib.figure.Figure` saved as one PNG; ``load()`` returns the PNG's bytes.

    ``save(None)`` logs one line and writes no file (and no version folder), so a skipped plot never crashes a run
    and never leaves an empty image. Saving never touches the global matplotlib backend.

    Example catalog entry::

        "{plot}_plot":
          type: crossvideo_kedro.datasets.plots.FigureDataset
          filepath: data/08_reporting/{plot}.png
          versioned: true
          save_args: {dpi: 110}
    """

    def __init__(self, filepath: str, save_args: dict[str, Any] | None = None, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        if not str(filepath).endswith(".png"):
            raise DatasetError(f"FigureDataset writes PNG files: filepath must end in .png, got {filepath!r}")
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self._save_args = {"bbox_inches": "tight", **(save_args or {}), "format": "png"}
        self.metadata = metadata

    def load(self) -> bytes:
        path = Path(self._get_load_path())
        if not path.is_file():
            raise DatasetError(f"{path}: no such PNG file")
        return path.read_bytes()

    @classmethod
    def _save_wrapper(cls, save_func: Callable[[FigureDataset, Figure], None]) -> Callable:
        """Kedro's versioned save (new version folder, then a check that the newest version is the one just saved),
        except for ``None``: one log line and nothing else, as there is no version to check."""
        versioned_save = super()._save_wrapper(save_func)

        @wraps(save_func)
        def save(self: FigureDataset, data: Figure | None) -> None:
            if data is None:
                logger.info("%s: the plot does not apply to this run (its node returned None); nothing written",
                            self._filepath)
                return
            versioned_save(self, data)

        return save

    def save(self, data: Figure) -> None:
        if not isinstance(data, Figure):
            raise DatasetError(f"FigureDataset saves a matplotlib Figure or None, got {type(data).__name__}")
        with atomic_path(Path(self._get_save_path())) as tmp:
            data.savefig(tmp, **self._save_args)

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_file()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "save_args": self._save_args, "version": self._version}

    def preview(self) -> ImagePreview:
        """The newest PNG, base64-encoded, for kedro-viz's image preview."""
        return ImagePreview(base64.b64encode(self.load()).decode("ascii"))
