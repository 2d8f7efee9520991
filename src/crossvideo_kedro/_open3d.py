"""The one place that imports Open3D.

``open3d`` (CPU build, ``open3d-cpu``) links against ``libusb-1.0.so.0``, which fresh machines often lack. The
``libusb-package`` wheel ships that library; :func:`preload_libusb` loads it globally (where the system has none), and
``crossvideo_kedro/__init__.py`` calls it, so after ``import crossvideo_kedro`` a plain ``import open3d`` works without a
system package. The project's own code imports Open3D through :func:`open3d` / :func:`ml_ops`.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from types import ModuleType


def _preload_libusb() -> None:
    import libusb_package  # noqa: PLC0415 - only needed when the system has no libusb

    path = libusb_package.get_library_path()
    if path is None:
        raise ImportError("libusb-package ships no libusb-1.0 library for this platform; install libusb-1.0-0")
    ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)


@functools.cache
def preload_libusb() -> bool:
    """Make ``libusb-1.0.so.0`` loadable for ``import open3d`` (Linux): the system's, else ``libusb-package``'s.

    Returns:
        Whether a libusb is loaded (``False`` off Linux, or where neither is available: ``import open3d`` then
        fails with its own message).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL("libusb-1.0.so.0", mode=ctypes.RTLD_GLOBAL)
    except OSError:
        try:
            _preload_libusb()
        except (ImportError, OSError):
            return False
    return True


@functools.cache
def open3d() -> ModuleType:
    """Import and return the ``open3d`` module, preloading libusb from ``libusb-package`` if needed."""
    try:
        import open3d as o3d  # noqa: PLC0415
    except ImportError as error:
        if "libusb" not in str(error):
            raise
        _preload_libusb()
        import open3d as o3d  # noqa: PLC0415
    return o3d


@functools.cache
def ml_ops() -> ModuleType | None:
    """Return ``open3d.ml.torch.ops`` (batched CPU FPS and ball query), or ``None`` when unavailable."""
    try:
        open3d()
        import open3d.ml.torch as ml3d  # noqa: PLC0415
    except (ImportError, OSError):  # pragma: no cover - depends on the install
        return None
    return ml3d.ops
