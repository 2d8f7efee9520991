"""Camera geometry and point sampling, free of Kedro (notebooks import these directly)."""

from crossvideo_kedro.geometry.backproject import backproject_pixels, valid_depth_mask
from crossvideo_kedro.geometry.camera import check_intrinsics, project_points, scale_intrinsics
from crossvideo_kedro.geometry.sampling import sample_fixed

__all__ = [
    "backproject_pixels",
    "check_intrinsics",
    "project_points",
    "sample_fixed",
    "scale_intrinsics",
    "valid_depth_mask",
]
