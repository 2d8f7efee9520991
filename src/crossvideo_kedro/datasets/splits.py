"""Fixed train/val/test splits from a file (a benchmark's published split) as a read-only Kedro dataset.

Three formats, one result ``{sequence: split}`` with split one of train / val / test / unlabelled:

* CSV with a header holding ``sequence`` and ``split`` columns (other columns, e.g. ``subject``, are ignored)::

      sequence,split,subject
      S01_A02,train,1

* JSON, either ``{"S01_A02": "train", ...}`` or ``{"train": ["S01_A02", ...], "test": [...]}``;
* HOI4D-style lists: ``lists: {train: train_list.txt, test: test_list.txt}``, one sequence per line (blank lines and
  ``#`` comments ignored).

Names go through the readers' own naming (``/`` → ``__``, :func:`~crossvideo_kedro.datasets.images.safe_name`), so
a list of HOI4D relative paths (``ZY20210800001/H1/C1/N19/S100/s02/T1``) names the sequences ingest reads.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from crossvideo_kedro.datasets.images import safe_name
from crossvideo_kedro.sequences import SPLITS


class SplitFileDataset(AbstractDataset[None, dict[str, str]]):
    """A split file → ``{sequence: split}``; point ``split_file`` at it and set ``ingest.split: file``.

    Example catalog entries::

        split_file:
          type: crossvideo_kedro.datasets.SplitFileDataset
          filepath: data/01_raw/my_dataset/split.csv

        split_file:                           # HOI4D-style lists
          type: crossvideo_kedro.datasets.SplitFileDataset
          lists: {train: data/01_raw/hoi4d/train_list.txt, test: data/01_raw/hoi4d/test_list.txt}
    """

    def __init__(self, filepath: str | None = None, lists: Mapping[str, str] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        """Create the dataset: exactly one of ``filepath`` (``.csv`` or ``.json``) and ``lists``."""
        if (filepath is None) == (lists is None):
            raise ValueError("SplitFileDataset needs exactly one of filepath (.csv/.json) and lists {split: file}")
        if filepath is not None and Path(filepath).suffix.lower() not in (".csv", ".json"):
            raise ValueError(f"SplitFileDataset filepath {filepath!r} must end in .csv or .json")
        if lists is not None:
            bad = sorted(set(lists) - set(SPLITS))
            if bad:
                raise ValueError(f"SplitFileDataset lists keys must be among {list(SPLITS)}, got {bad}")
        self._filepath = Path(filepath) if filepath is not None else None
        self._lists = {k: Path(v) for k, v in (lists or {}).items()}
        self.metadata = metadata

    def load(self) -> dict[str, str]:
        """Read the split.

        Raises:
            DatasetError: Missing file, malformed content, an unknown split value or a sequence given twice with
                different splits — naming the file (and line).
        """
        pairs: list[tuple[str, str, str]] = []  # (sequence, split, where)
        if self._filepath is not None:
            if not self._filepath.is_file():
                raise DatasetError(f"{self._filepath}: split file does not exist")
            reader = _read_csv if self._filepath.suffix.lower() == ".csv" else _read_json
            pairs = reader(self._filepath)
        for split, path in self._lists.items():
            if not path.is_file():
                raise DatasetError(f"{path}: {split} list does not exist")
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                text = line.split("#", 1)[0].strip()
                if text:
                    pairs.append((text, split, f"{path}:{number}"))
        result: dict[str, str] = {}
        for name, split, where in pairs:
            if split not in SPLITS:
                raise DatasetError(f"{where}: split {split!r} of {name!r} is not one of {list(SPLITS)}")
            key = safe_name(name.strip().strip("/"))
            if result.get(key, split) != split:
                raise DatasetError(f"{where}: sequence {name!r} is in both {result[key]!r} and {split!r}")
            result[key] = split
        if not result:
            raise DatasetError(f"{self._filepath or list(self._lists.values())}: the split file names no sequence")
        return result

    def save(self, data: Any) -> None:
        """Not supported: a split file is an input."""
        raise DatasetError(f"{type(self).__name__} is read-only ({self._filepath or self._lists})")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath) if self._filepath else None,
                "lists": {k: str(v) for k, v in self._lists.items()}}

    def _exists(self) -> bool:
        paths = [self._filepath] if self._filepath else list(self._lists.values())
        return all(p.is_file() for p in paths)


def _read_csv(path: Path) -> list[tuple[str, str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle)
        if rows.fieldnames is None or not {"sequence", "split"} <= {f.strip() for f in rows.fieldnames}:
            raise DatasetError(f"{path}: a split CSV needs a header with 'sequence' and 'split' columns, "
                               f"got {rows.fieldnames}")
        pairs = []
        for number, row in enumerate(rows, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            if not row["sequence"]:
                raise DatasetError(f"{path}:{number}: empty sequence name")
            pairs.append((row["sequence"], row["split"], f"{path}:{number}"))
    return pairs


def _read_json(path: Path) -> list[tuple[str, str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: split file is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected {{sequence: split}} or {{split: [sequences]}}")
    if data and all(isinstance(v, list) for v in data.values()):
        return [(str(name), split, f"{path}: {split}") for split, names in data.items() for name in names]
    if all(isinstance(v, str) for v in data.values()):
        return [(name, split, str(path)) for name, split in data.items()]
    raise DatasetError(f"{path}: expected {{sequence: split}} or {{split: [sequences]}}, not a mix")
