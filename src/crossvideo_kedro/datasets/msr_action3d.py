"""MSR-Action3D: raw ``aAA_sSS_eEE_sdepth.bin`` depth videos or the community's preprocessed ``.npz`` point clouds.

``.bin``: three little-endian uint32 (frames, width, height), then frames x height x width uint32 depth in mm,
row-major. ``.npz``: key ``point_clouds``, an object array of per-frame (N_t, 3) arrays, read by
:mod:`~crossvideo_kedro.datasets.safe_pickle` (nothing in the file is executed).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from crossvideo_kedro.datasets.depth_video import ActionVideo, ActionVideoFolderDataset, depth_to_points, matching_entries
from crossvideo_kedro.datasets.safe_pickle import load_npz_member
from crossvideo_kedro.errors import DataError

NAME = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_sdepth\.(bin|npz)")
#: Pinhole of the reference preprocessing (MeteorNet, P4Transformer): focal 280 px, principal point at the centre.
FOCAL = 280.0
#: Training subjects per protocol: ``first_five`` is the reference code's (subjects 1-5 train, 6-10 test);
#: ``odd`` is the odd/even cross-subject protocol of the older depth-map literature.
TRAIN_SUBJECTS = {"first_five": frozenset({1, 2, 3, 4, 5}), "odd": frozenset({1, 3, 5, 7, 9})}


def read_bin(path: Path) -> np.ndarray:
    """Depth video (T, H, W) uint32 in mm from a raw ``.bin`` file; a size that disagrees with the header raises."""
    raw = np.fromfile(path, dtype="<u4")
    if raw.size < 3:
        raise DataError(f"{path}: shorter than the 12-byte header (frames, width, height)")
    frames, width, height = (int(v) for v in raw[:3])
    if raw.size - 3 != frames * width * height:
        raise DataError(
            f"{path}: header says {frames} frames of {width}x{height} ({frames * width * height} values), "
            f"the file holds {raw.size - 3}"
        )
    return raw[3:].reshape(frames, height, width)


def parse_name(path: Path, protocol: str = "first_five") -> ActionVideo:
    """The record of one file from its name alone (``points`` empty): label = action - 1, split by ``protocol``."""
    match = NAME.fullmatch(path.name)
    if match is None:
        raise DataError(f"{path}: not an MSR-Action3D file name (expected aAA_sSS_eEE_sdepth.bin or .npz)")
    if protocol not in TRAIN_SUBJECTS:
        raise DataError(f"protocol {protocol!r} is not one of {sorted(TRAIN_SUBJECTS)}")
    action, subject, episode = (int(g) for g in match.groups()[:3])
    split = "train" if subject in TRAIN_SUBJECTS[protocol] else "test"
    return ActionVideo(path.name.split(".")[0], [], action - 1, subject, split, {"episode": episode})


def read_video(path: Path, protocol: str = "first_five") -> ActionVideo:
    """One video of either form as an :class:`ActionVideo` (label = action - 1, split by ``protocol``)."""
    video = parse_name(path, protocol)
    if path.suffix == ".bin":
        depth = read_bin(path)
        points = depth_to_points(depth, FOCAL, FOCAL, depth.shape[2] / 2, depth.shape[1] / 2)
    else:
        points = [np.asarray(frame, dtype=np.float32) for frame in load_npz_member(path, "point_clouds")]
        if any(frame.ndim != 2 or frame.shape[1] != 3 for frame in points):
            raise DataError(f"{path}: every frame of point_clouds must be (N_t, 3)")
    video.points = points
    return video


def find_files(folder: Path | str) -> list[Path]:
    """Every ``aAA_sSS_eEE_sdepth.{bin,npz}`` of ``folder``, sorted by name; other files are ignored."""
    return matching_entries(folder, NAME, "MSR-Action3D files (aAA_sSS_eEE_sdepth.bin or .npz)")


def read_msr_action3d(folder: Path | str, protocol: str = "first_five") -> list[ActionVideo]:
    """Every ``aAA_sSS_eEE_sdepth.{bin,npz}`` of ``folder``, sorted by name; other files are ignored."""
    return [read_video(path, protocol) for path in find_files(folder)]


class MSRAction3DDataset(ActionVideoFolderDataset):
    """Kedro dataset of an MSR-Action3D folder: ``path``, optional ``protocol`` (``first_five`` or ``odd``)."""

    read_folder = staticmethod(read_msr_action3d)
