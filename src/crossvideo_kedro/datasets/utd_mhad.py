"""UTD-MHAD depth videos: ``aA_sS_tT_depth.mat`` holding ``d_depth``, uint16 (240, 320, T) in mm at 30 fps."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.io

from crossvideo_kedro.datasets.depth_video import ActionVideo, ActionVideoFolderDataset, depth_to_points, matching_entries
from crossvideo_kedro.errors import DataError

NAME = re.compile(r"a(\d+)_s(\d+)_t(\d+)_depth\.mat")
FPS = 30.0
#: Kinect v1 depth pinhole (an approximation: the dataset ships no intrinsics), in pixels.
FX, FY, CX, CY = 285.6, 285.6, 160.0, 120.0
#: Cross-subject protocol of the dataset paper: odd subjects train, even subjects test.
TRAIN_SUBJECTS = frozenset({1, 3, 5, 7})


def read_depth(path: Path) -> np.ndarray:
    """Depth video (T, 240, 320) uint16 in mm from one ``.mat`` file."""
    try:
        depth = scipy.io.loadmat(path, variable_names=["d_depth"]).get("d_depth")
    except (OSError, ValueError, TypeError) as error:
        raise DataError(f"{path}: not a readable MATLAB file ({type(error).__name__}: {error})") from error
    if depth is None or depth.ndim != 3 or not np.issubdtype(depth.dtype, np.integer):
        got = "no d_depth" if depth is None else f"d_depth {depth.shape} {depth.dtype}"
        raise DataError(f"{path}: expected an integer d_depth of shape (H, W, T) in mm, got {got}")
    return np.moveaxis(depth, -1, 0)


def parse_name(path: Path) -> ActionVideo:
    """The record of one file from its name alone (``points`` empty): label = A - 1; odd subjects train."""
    match = NAME.fullmatch(path.name)
    if match is None:
        raise DataError(f"{path}: not a UTD-MHAD depth file name (expected aA_sS_tT_depth.mat)")
    action, subject, trial = (int(g) for g in match.groups())
    split = "train" if subject in TRAIN_SUBJECTS else "test"
    return ActionVideo(path.stem, [], action - 1, subject, split, {"trial": trial})


def read_video(path: Path) -> ActionVideo:
    """One ``.mat`` as an :class:`ActionVideo` (label = A - 1; odd subjects train)."""
    video = parse_name(path)
    video.points = depth_to_points(read_depth(path), FX, FY, CX, CY)
    return video


def find_files(folder: Path | str) -> list[Path]:
    """Every ``aA_sS_tT_depth.mat`` of ``folder``, ordered by (action, subject, trial); other files are ignored."""
    return matching_entries(folder, NAME, "UTD-MHAD depth files (aA_sS_tT_depth.mat)",
                            key=lambda p: tuple(int(g) for g in NAME.fullmatch(p.name).groups()))


def read_utd_mhad(folder: Path | str) -> list[ActionVideo]:
    """Every ``aA_sS_tT_depth.mat`` of ``folder``, ordered by (action, subject, trial); other files are ignored."""
    return [read_video(path) for path in find_files(folder)]


class UTDMHADDataset(ActionVideoFolderDataset):
    """Kedro dataset of a UTD-MHAD depth folder: ``path``."""

    read_folder = staticmethod(read_utd_mhad)
