"""Read ``.npz`` members that hold object arrays without executing anything the file names.

NumPy stores an object array as a pickle. ``np.load(allow_pickle=True)`` would run any callable that pickle names;
here the pickle is replayed by an unpickler that admits only the few NumPy globals needed to rebuild arrays, so a
file naming anything else (``os.system``, ``builtins.exec``, ...) is refused before it can run.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy._core import multiarray

from crossvideo_kedro.errors import DataError

#: (module, name) -> object: the only globals an object-array pickle may name. NumPy 1.x wrote ``numpy.core``.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{(module, "_reconstruct"): multiarray._reconstruct for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "scalar"): multiarray.scalar for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` resolves only :data:`ALLOWED_GLOBALS`; ``source`` names the file in errors."""

    def __init__(self, file: IO[bytes], source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: the pickle names the global {module}.{name}, which is not allowed; only NumPy's "
                f"array rebuilders are ({', '.join(sorted(f'{m}.{n}' for m, n in ALLOWED_GLOBALS))})"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self.source}: the pickle uses persistent ids, which are not allowed")


def _read_member(file: IO[bytes], source: str) -> np.ndarray:
    """Parse one ``.npy`` stream: plain dtypes by ``np.lib.format``, object arrays by :class:`RestrictedUnpickler`."""
    major, _ = np.lib.format.read_magic(file)
    read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(file)
    if not dtype.hasobject:
        count = int(np.prod(shape))
        data = np.frombuffer(bytearray(file.read(count * dtype.itemsize)), dtype=dtype)
        if data.size != count:
            raise DataError(f"{source}: truncated array data (expected {count} values of {dtype}, got {data.size})")
        return data.reshape(shape, order="F" if fortran else "C")
    array = RestrictedUnpickler(file, source).load()
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise DataError(f"{source}: the pickle does not hold an array of shape {tuple(shape)}")
    return array


def load_npz_member(path: Path | str, key: str) -> np.ndarray:
    """Array ``key`` of the ``.npz`` at ``path``; object arrays are rebuilt without running anything they name.

    Raises :class:`DataError` naming the file for a missing file or key, a corrupt archive or a refused global.
    """
    path = Path(path)
    source = f"{path}[{key}]"
    try:
        with zipfile.ZipFile(path) as archive:
            if f"{key}.npy" not in archive.namelist():
                keys = sorted(n.removesuffix(".npy") for n in archive.namelist())
                raise DataError(f"{path}: no array {key!r} (arrays: {keys})")
            with archive.open(f"{key}.npy") as file:
                return _read_member(file, source)
    except FileNotFoundError as error:
        raise DataError(f"{path}: file not found") from error
    except (zipfile.BadZipFile, ValueError, EOFError, pickle.UnpicklingError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"{source}: not a readable .npy member ({type(error).__name__}: {error})") from error
