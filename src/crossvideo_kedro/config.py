"""Strict parameter parsing shared by the config dataclasses: a misspelt key fails loudly, naming itself."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def check_keys(cls: type, params: dict[str, Any], prefix: str, exclude: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` naming ``<prefix>.<key>`` for every key of ``params`` that ``cls`` has no field for."""
    known = {f.name for f in fields(cls)} - set(exclude)
    unknown = sorted(set(params or {}) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {[f'{prefix}.{k}' for k in unknown]}; expected {sorted(known)}")
