"""Partitioned data as nodes receive it: ``{name: loader}`` from a partitioned dataset, ``{name: value}`` in memory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def materialise(part: Callable[[], T] | T) -> T:
    """The value of one partition: call a lazy loader, pass a value through."""
    return part() if callable(part) else part


def get_partition(partitions: Mapping[str, Any], name: str) -> Any:
    """Load one partition by name, with an error that lists what exists."""
    if name not in partitions:
        known = sorted(partitions)
        raise KeyError(f"no partition {name!r}; have {known[:5]}{'...' if len(known) > 5 else ''}")
    return materialise(partitions[name])
