"""Pins the private Kedro attributes :mod:`crossvideo_kedro.framework.kedro_internals` relies on.

If a Kedro upgrade renames or changes one of them, this test fails naming it; the run guard would otherwise pin the
wrong versions quietly.
"""

from __future__ import annotations

from pathlib import PurePath

import kedro
from kedro.io import CachedDataset, DataCatalog
from kedro.io.core import Version
from kedro_datasets.json import JSONDataset

from crossvideo_kedro.framework import kedro_internals


def test_the_kedro_release_is_the_one_these_attributes_were_pinned_on():
    assert kedro.__version__.split(".")[0] == "1", kedro.__version__


def test_every_private_attribute_used_exists_with_the_meaning_relied_on(tmp_path):
    path = tmp_path / "table.json"
    catalog = DataCatalog({"table": JSONDataset(filepath=str(path), version=Version(None, None))},
                          save_version="2026-01-01T00.00.00.000Z")
    assert catalog._save_version == kedro_internals.catalog_save_version(catalog) == "2026-01-01T00.00.00.000Z"

    dataset = JSONDataset(filepath=str(path), version=Version(None, None))
    assert isinstance(dataset._version, Version) and kedro_internals.is_versioned(dataset)
    assert not kedro_internals.is_versioned(JSONDataset(filepath=str(path)))  # _version is None unless versioned
    assert isinstance(dataset._filepath, PurePath) and str(kedro_internals.storage_path(dataset)) == str(path)
    assert kedro_internals.version_path(dataset, "v1") == path / "v1" / "table.json"  # _get_versioned_path
    assert callable(dataset._clear_version_cache)
    cached = CachedDataset(dataset)
    assert cached._dataset is dataset and kedro_internals.unwrap(cached) is dataset

    # pin_version: two saved versions; the pinned one is loaded, even after the newest was resolved and cached
    for version, value in (("2026-01-01T00.00.00.000Z", {"a": 1}), ("2026-01-02T00.00.00.000Z", {"a": 2})):
        JSONDataset(filepath=str(path), version=Version(None, version)).save(value)
    assert dataset.load() == {"a": 2}
    kedro_internals.pin_version(dataset, Version("2026-01-01T00.00.00.000Z", None))
    assert dataset.load() == {"a": 1}
