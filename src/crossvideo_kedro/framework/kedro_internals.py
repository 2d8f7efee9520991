"""Every private Kedro attribute the project relies on, in one place (Kedro 1.x).

Kedro has no public API to pin the version a versioned dataset loads, to read where it stores its versions, or to
read a catalog's save version. The run guard needs all three; they are read and written here only, and
``tests/framework/test_kedro_internals.py`` pins exactly these attributes, so a Kedro upgrade that changes them fails
that test by name instead of pinning the wrong versions.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

from kedro.io import AbstractVersionedDataset, DataCatalog
from kedro.io.core import Version


def catalog_save_version(catalog: DataCatalog) -> str | None:
    """The save version a catalog gives its versioned datasets (``DataCatalog._save_version``), if any."""
    return getattr(catalog, "_save_version", None)


def unwrap(dataset: Any) -> Any:
    """The dataset inside a ``CachedDataset`` (``CachedDataset._dataset``), else ``dataset`` itself."""
    return getattr(dataset, "_dataset", dataset)


def is_versioned(dataset: Any) -> bool:
    """Whether ``dataset`` was configured ``versioned: true`` (``AbstractVersionedDataset._version`` is set)."""
    return isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None


def storage_path(dataset: AbstractVersionedDataset) -> PurePath:
    """The folder that holds a versioned dataset's versions (``AbstractVersionedDataset._filepath``)."""
    return dataset._filepath


def version_path(dataset: AbstractVersionedDataset, version: str) -> Path:
    """Where ``version`` of a versioned dataset is stored (``AbstractVersionedDataset._get_versioned_path``)."""
    return Path(str(dataset._get_versioned_path(version)))


def pin_version(dataset: AbstractVersionedDataset, version: Version) -> None:
    """Make a versioned dataset load ``version.load`` and save ``version.save`` from now on.

    Sets ``AbstractVersionedDataset._version`` and drops the cached resolved versions
    (``_clear_version_cache``), which would otherwise keep answering with the version resolved before.
    """
    dataset._version = version
    dataset._clear_version_cache()
