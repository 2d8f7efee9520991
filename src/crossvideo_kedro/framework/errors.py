"""Errors a user causes end a ``kedro run`` with a short ``Error:`` block; the traceback goes to a file.

A :class:`~crossvideo_kedro.sequences.DataError` (a data file that breaks its contract) or a
:class:`~crossvideo_kedro.training.checkpointing.CheckpointError` (no usable checkpoint) already says what is wrong,
in which file, frame or key, and how to fix it; the ~200 lines of traceback around it say nothing more to the user.
:func:`user_errors` turns them (also when Kedro wraps them, e.g. in a ``DatasetError``) into :class:`UserError`,
which the CLI prints as its message alone, and writes the traceback to ``data/.runs/last_error.log``.
``CROSSVIDEO_VERBOSE=1`` keeps the original exception and its full traceback on the terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click
from kedro.framework.cli.utils import KedroCliError

VERBOSE_ENV = "CROSSVIDEO_VERBOSE"
TRACEBACK_FILE = Path("data") / ".runs" / "last_error.log"


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exception classes whose message is the whole story for the user."""
    from crossvideo_kedro.sequences import DataError  # noqa: PLC0415 - the CLI imports this before any model code
    from crossvideo_kedro.training.checkpointing import CheckpointError  # noqa: PLC0415

    return DataError, CheckpointError


def find_user_error(error: BaseException) -> BaseException | None:
    """The first user error in ``error``'s chain of causes (``raise ... from``, implicit context), else ``None``."""
    seen: set[int] = set()
    types = user_error_types()
    while error is not None and id(error) not in seen:
        if isinstance(error, types):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class UserError(KedroCliError):
    """A user error shown as ``Error: <message>`` and a pointer to the traceback, without the traceback."""

    def __init__(self, message: str, traceback_file: Path | None) -> None:
        super().__init__(message)
        self.traceback_file = traceback_file

    def show(self, file: IO | None = None) -> None:
        file = file or sys.stderr
        click.secho(f"Error: {self.message}", file=file, fg="red")
        where = f"traceback in {self.traceback_file}; " if self.traceback_file else ""
        click.secho(f"({where}{VERBOSE_ENV}=1 shows it here)", file=file)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


@contextlib.contextmanager
def user_errors(project: str | os.PathLike = ".") -> Iterator[None]:
    """Turn a user error raised inside into :class:`UserError` (unless ``CROSSVIDEO_VERBOSE`` is set)."""
    try:
        yield
    except KedroCliError:
        raise
    except Exception as error:
        found = find_user_error(error)
        if found is None or verbose():
            raise
        path = Path(project) / TRACEBACK_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(traceback.format_exception(error)))
        except OSError:
            path = None
        raise UserError(f"{type(found).__name__}: {found}", path) from None
