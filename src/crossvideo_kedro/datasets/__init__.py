"""Kedro datasets for the raw sources (docs/design.md §2).

* :class:`HOI4DRawDataset` — HOI4D's raw per-sequence layout (real or generated); versioned, reads and writes.
* :class:`RGBDFolderDataset` — a folder of numbered RGB-D frames (7-Scenes, RealSense …); read-only.
* :class:`HOI4DH5Dataset` — HOI4D's preprocessed HDF5 benchmarks (PPTr/C2P); read-only, one clip per loader.
* :class:`ActionBenchmarkDataset` — MSR-Action3D, UTD-MHAD, NTU RGB+D 60 as point sequences or their split.
* :class:`SplitFileDataset` — a fixed split (CSV, JSON or HOI4D-style lists) → ``{sequence: split}``.

Each ``load()`` returns ``{sequence name: loader}`` (like Kedro's ``PartitionedDataset``); a loader decodes one
sequence into a validated :class:`~crossvideo_kedro.sequences.RawSequence` or a
:class:`~crossvideo_kedro.sequences.PointSequence`; the RGB-D readers' loaders also have ``open()``, which returns a
:class:`~crossvideo_kedro.sequences.LazyRawSequence` whose frames are decoded chunk by chunk (how ingest streams).
"""

from crossvideo_kedro.datasets.action_benchmarks import ActionBenchmarkDataset
from crossvideo_kedro.datasets.hoi4d_h5 import HOI4DH5Dataset
from crossvideo_kedro.datasets.hoi4d_raw import HOI4DRawDataset
from crossvideo_kedro.datasets.rgbd_folder import RGBDFolderDataset
from crossvideo_kedro.datasets.splits import SplitFileDataset

__all__ = ["ActionBenchmarkDataset", "HOI4DH5Dataset", "HOI4DRawDataset", "RGBDFolderDataset", "SplitFileDataset"]
