"""crossvideo-kedro: CrossVideo self-supervised pretraining for point cloud videos, as a Kedro project."""

__version__ = "0.1.0"

from crossvideo_kedro._open3d import preload_libusb as _preload_libusb  # noqa: E402

_preload_libusb()  # `import open3d` needs libusb-1.0, which fresh machines lack (see crossvideo_kedro/_open3d.py)
