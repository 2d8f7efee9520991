"""NTU RGB+D masked depth: one folder of 16-bit PNGs (512 x 424, mm) per ``SsssCcccPpppRrrrAaaa`` video."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from crossvideo_kedro.datasets.depth_video import ActionVideo, ActionVideoFolderDataset, depth_to_points, matching_entries
from crossvideo_kedro.datasets.images import read_depth_raw
from crossvideo_kedro.errors import DataError

NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
#: Pinhole of the reference preprocessing (P4Transformer's NTU script): focal 280 px, centre of the 512 x 424 frame.
FOCAL = 280.0
#: NTU RGB+D 60 training sets: cross-subject (performer ids) and cross-view (camera ids).
TRAIN_SUBJECTS = frozenset({1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
TRAIN_CAMERAS = frozenset({2, 3})
PROTOCOLS = ("cross_subject", "cross_view")


def parse_name(name: str) -> dict[str, int]:
    """``{"setup", "camera", "subject", "replication", "action"}`` of a ``SsssCcccPpppRrrrAaaa`` name."""
    match = NAME.fullmatch(name)
    if match is None:
        raise DataError(f"{name!r}: not an NTU RGB+D video name (expected SsssCcccPpppRrrrAaaa)")
    return dict(zip(("setup", "camera", "subject", "replication", "action"), map(int, match.groups()), strict=True))


def read_depth_folder(folder: Path) -> np.ndarray:
    """Depth video (T, H, W) uint16 in mm from the PNGs of ``folder`` in name order; sizes must agree."""
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise DataError(f"{folder}: no depth PNG frames")
    shape = read_depth_raw(paths[0]).shape
    return np.stack([read_depth_raw(path, expected_hw=shape) for path in paths])


def parse_video_name(folder: Path, protocol: str = "cross_subject") -> ActionVideo:
    """The record of one video folder from its name alone (``points`` empty): label = A - 1, split by ``protocol``."""
    if protocol not in PROTOCOLS:
        raise DataError(f"protocol {protocol!r} is not one of {list(PROTOCOLS)}")
    ids = parse_name(folder.name)
    train = ids["subject"] in TRAIN_SUBJECTS if protocol == "cross_subject" else ids["camera"] in TRAIN_CAMERAS
    return ActionVideo(folder.name, [], ids["action"] - 1, ids["subject"], "train" if train else "test", ids)


def read_video(folder: Path, protocol: str = "cross_subject") -> ActionVideo:
    """One video folder as an :class:`ActionVideo` (label = A - 1; split by ``protocol``)."""
    video = parse_video_name(folder, protocol)
    depth = read_depth_folder(folder)
    video.points = depth_to_points(depth, FOCAL, FOCAL, depth.shape[2] / 2, depth.shape[1] / 2)
    return video


def find_folders(root: Path | str) -> list[Path]:
    """Every ``SsssCcccPpppRrrrAaaa`` folder under ``root``, sorted by name; other entries are ignored."""
    return matching_entries(root, NAME, "NTU RGB+D video folders (SsssCcccPpppRrrrAaaa)", dirs=True)


def read_ntu(root: Path | str, protocol: str = "cross_subject") -> list[ActionVideo]:
    """Every ``SsssCcccPpppRrrrAaaa`` folder under ``root``, sorted by name; other entries are ignored."""
    return [read_video(folder, protocol) for folder in find_folders(root)]


class NTUDepthDataset(ActionVideoFolderDataset):
    """Kedro dataset of an NTU RGB+D masked-depth root: ``path``, optional ``protocol``."""

    read_folder = staticmethod(read_ntu)
