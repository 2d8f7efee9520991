"""Atomic writes: a reader never sees a half-written file or folder, and a failed write leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``, on error delete it.

    A file target is replaced atomically (``os.replace``). A directory target must not exist yet: directories
    cannot be swapped atomically, and refusing is what keeps earlier outputs from being overwritten.
    """
    target = Path(target)
    created = [p for p in reversed(target.parents) if not p.exists()]  # folders to remove again on failure
    target.parent.mkdir(parents=True, exist_ok=True)
    if directory and target.exists():
        raise FileExistsError(f"{target} already exists; refusing to overwrite it")
    prefix = f".{target.name}.tmp-"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            os.rename(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        for folder in reversed(created):  # e.g. an empty version folder
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
