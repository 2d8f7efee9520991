"""Model configs (dataclasses built from parameter dicts) and the named presets ``small`` and ``paper``.

Every config is built with ``from_dict``: an unknown (e.g. misspelt) key or an invalid value raises a
``ValueError`` that names the key. ``Literal`` options are checked in ``__post_init__``.

Units: coordinates are metres in the camera frame (see docs/design.md §3), times are seconds.

Choice of sizes
---------------
``small`` trains on 2 CPU cores: 512 points and 32 anchors per frame, ball radius 0.15 m, 16 neighbours, D = 128,
a 4 -> 32 -> 128 tube MLP, 2 transformer layers, 64×64 images with a 3-stage residual CNN (16, 32, 64 channels).
With 512 points on a ~1 m² tabletop the point spacing is ~4.4 cm and the anchor spacing ~18 cm, so a 0.15 m ball
holds ~35 points (k = 16 keeps the first 16) and neighbouring balls overlap.

``paper`` follows P4Transformer / PPTr: 2048 points, spatial stride 32 (64 anchors per frame), 32 neighbours,
temporal kernel 3, a single linear tube embedding of (Δx, Δy, Δz, Δt) max-pooled over neighbours and kernel frames
(``conv_channels=()``), D = 1024, depth 5, 8 heads, MLP 2048 (ratio 2). P4Transformer's radius (0.7 on MSR-Action3D,
0.9 in PPTr on HOI4D) is in the units of those preprocessed datasets, not metres; for our metric clouds we take
0.1 m: with 2048 points on ~1 m² (spacing ~2.2 cm) a 0.1 m ball holds ~64 points, twice k, as in P4Transformer
where balls are usually full. The image encoder is ResNet-18-shaped (64, 128, 256, 512 channels, 2 blocks per stage,
max-pooled stem) on 112×112 frames, with a 2-layer temporal transformer of width 512.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin, get_type_hints

from crossvideo_kedro.geometry.neighbors import NeighborBackend

TemporalPool = Literal["max", "sum"]
VideoPool = Literal["mean", "max"]
Norm = Literal["batch", "layer"]
ImageNorm = Literal["batch", "group"]


# ---------------------------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------------------------


def _from_dict(cls: type, d: dict[str, Any] | None, where: str) -> Any:
    """Build dataclass ``cls`` from ``d``, rejecting unknown keys; lists become tuples for tuple fields."""
    d = dict(d or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(names)}")
    hints = get_type_hints(cls)
    for key, value in d.items():
        if get_origin(hints[key]) is tuple and isinstance(value, list):
            d[key] = tuple(value)
    return cls(**d)


def _check_types(obj: Any, where: str) -> None:
    """Check every field against its annotation (int, float, bool, str Literal, tuple[int, ...])."""
    hints = get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        _check_value(f"{where}.{f.name}", getattr(obj, f.name), hints[f.name])


def _check_value(key: str, value: Any, hint: Any) -> None:
    origin = get_origin(hint)
    if origin is Literal:
        if value not in get_args(hint):
            raise ValueError(f"{key} must be one of {get_args(hint)}, got {value!r}")
    elif origin is tuple:
        if not isinstance(value, tuple):
            raise ValueError(f"{key} must be a list of integers, got {value!r}")
        for item in value:
            _check_value(key, item, get_args(hint)[0])
    elif origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported annotation for {key}: {hint}")  # pragma: no cover - none used
    elif hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false, got {value!r}")
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} must be a number, got {value!r}")


def _require(condition: bool, key: str, message: str, value: Any) -> None:
    if not condition:
        raise ValueError(f"{key} {message}, got {value!r}")


# ---------------------------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class PointEncoderConfig:
    """Point cloud video encoder: point 4D convolution + transformer over anchor tokens."""

    num_points: int = 512  # N points per frame the encoder is sized for (the input may differ, >= num_anchors)
    num_anchors: int = 32  # A anchors per frame (FPS); P4Transformer: N / spatial stride
    radius: float = 0.15  # ball query radius in metres
    k: int = 16  # K neighbours per anchor and frame of the temporal kernel
    temporal_kernel: int = 3  # frames per tube (odd): t-1, t, t+1 for 3; ends replicated
    temporal_pool: TemporalPool = "max"  # pooling over the temporal kernel (P4Transformer: max)
    conv_channels: tuple[int, ...] = (32,)  # hidden widths of the P4Conv shared MLP before its last, dim-wide layer
    # normalisation in the P4Conv shared MLP (the last layer's after pooling). "layer" by default: BatchNorm's running
    # statistics lag behind short, fast contrastive schedules and collapse eval-mode features (measured: clip cosine
    # spread 0.002 in eval vs 0.25 in train mode), and per-sample norms keep DDP ranks exactly equivalent.
    norm: Norm = "layer"
    dim: int = 128  # D, token and output width
    depth: int = 2  # transformer layers
    heads: int = 4  # attention heads (dim must be divisible by heads)
    mlp_ratio: float = 2.0  # transformer MLP width = mlp_ratio * dim
    dropout: float = 0.0  # dropout in attention and MLP
    video_pool: VideoPool = "mean"  # frame features -> video feature
    neighbor_backend: NeighborBackend = "auto"  # FPS / ball query backend (see geometry/neighbors.py)
    # neighbour rows per chunk of the P4Conv tube MLP's last layer + max over neighbours (0: unchunked): the largest
    # tensor, (B, T, Kt, A, K, D) before the max, then never exists in full (same outputs; ~2x faster)
    tube_chunk_rows: int = 4096

    def __post_init__(self) -> None:
        _check_types(self, "point")
        _require(self.num_points >= 1, "point.num_points", "must be >= 1", self.num_points)
        _require(1 <= self.num_anchors <= self.num_points, "point.num_anchors", "must be in [1, num_points]",
                 self.num_anchors)
        _require(self.radius > 0, "point.radius", "must be > 0 (metres)", self.radius)
        _require(self.k >= 1, "point.k", "must be >= 1", self.k)
        _require(self.temporal_kernel >= 1 and self.temporal_kernel % 2 == 1, "point.temporal_kernel",
                 "must be a positive odd integer", self.temporal_kernel)
        _require(all(c >= 1 for c in self.conv_channels), "point.conv_channels", "must be positive widths",
                 self.conv_channels)
        _require(self.dim >= 1, "point.dim", "must be >= 1", self.dim)
        _require(self.depth >= 0, "point.depth", "must be >= 0", self.depth)
        _require(self.heads >= 1 and self.dim % self.heads == 0, "point.heads", "must divide dim", self.heads)
        _require(self.mlp_ratio > 0, "point.mlp_ratio", "must be > 0", self.mlp_ratio)
        _require(0 <= self.dropout < 1, "point.dropout", "must be in [0, 1)", self.dropout)
        _require(self.tube_chunk_rows >= 0, "point.tube_chunk_rows", "must be >= 0 (0: unchunked)",
                 self.tube_chunk_rows)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> PointEncoderConfig:
        """Build from a parameters dict; unknown keys and invalid values raise ``ValueError`` naming the key."""
        return _from_dict(cls, d, "point")


@dataclass
class ImageEncoderConfig:
    """Image video encoder: residual 2D CNN per frame + temporal transformer."""

    image_size: int = 64  # H = W of the input frames (informative: the CNN is global-pooled, any size works)
    channels: tuple[int, ...] = (16, 32, 64)  # widths of the residual stages; every stage after the first halves H, W
    blocks_per_stage: int = 1  # BasicBlocks per stage (ResNet-18: 2)
    stem_pool: bool = False  # 3x3/2 max-pool after the stride-2 stem (ResNet style, for large images)
    norm: ImageNorm = "group"  # CNN normalisation; "group" has per-sample statistics (see PointEncoderConfig.norm)
    dim: int = 128  # D, token and output width
    depth: int = 1  # temporal transformer layers
    heads: int = 4  # attention heads (dim must be divisible by heads)
    mlp_ratio: float = 2.0  # transformer MLP width = mlp_ratio * dim
    dropout: float = 0.0  # dropout in attention and MLP
    video_pool: VideoPool = "mean"  # frame features -> video feature

    def __post_init__(self) -> None:
        _check_types(self, "image")
        _require(self.image_size >= 8, "image.image_size", "must be >= 8", self.image_size)
        _require(len(self.channels) >= 1 and all(c >= 1 for c in self.channels), "image.channels",
                 "must be a non-empty list of positive widths", self.channels)
        _require(self.blocks_per_stage >= 1, "image.blocks_per_stage", "must be >= 1", self.blocks_per_stage)
        _require(self.dim >= 1, "image.dim", "must be >= 1", self.dim)
        _require(self.depth >= 0, "image.depth", "must be >= 0", self.depth)
        _require(self.heads >= 1 and self.dim % self.heads == 0, "image.heads", "must divide dim", self.heads)
        _require(self.mlp_ratio > 0, "image.mlp_ratio", "must be > 0", self.mlp_ratio)
        _require(0 <= self.dropout < 1, "image.dropout", "must be in [0, 1)", self.dropout)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ImageEncoderConfig:
        """Build from a parameters dict; unknown keys and invalid values raise ``ValueError`` naming the key."""
        return _from_dict(cls, d, "image")


@dataclass
class DecoderConfig:
    """Feature propagation from anchors back to every point (semantic segmentation)."""

    num_neighbors: int = 3  # anchors interpolated per point (inverse-distance weights), PointNet++: 3
    xyz_dim: int = 32  # width of the per-point xyz embedding concatenated to the interpolated features
    hidden_dim: int = 128  # hidden width of the fusion MLP
    dim: int = 128  # output width per point
    norm: Norm = "layer"  # normalisation in the fusion MLP
    local_k: int = 0  # per-point local geometry: offsets to the k nearest points of its frame -> MLP -> max (0: off)
    local_dim: int = 64  # width of that local descriptor

    def __post_init__(self) -> None:
        _check_types(self, "decoder")
        _require(self.local_k >= 0, "decoder.local_k", "must be >= 0 (0: no local branch)", self.local_k)
        _require(self.local_dim >= 1, "decoder.local_dim", "must be >= 1", self.local_dim)
        _require(self.num_neighbors >= 1, "decoder.num_neighbors", "must be >= 1", self.num_neighbors)
        _require(self.xyz_dim >= 1, "decoder.xyz_dim", "must be >= 1", self.xyz_dim)
        _require(self.hidden_dim >= 1, "decoder.hidden_dim", "must be >= 1", self.hidden_dim)
        _require(self.dim >= 1, "decoder.dim", "must be >= 1", self.dim)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DecoderConfig:
        """Build from a parameters dict; unknown keys and invalid values raise ``ValueError`` naming the key."""
        return _from_dict(cls, d, "decoder")


@dataclass
class HeadConfig:
    """Projection heads (one per modality and level) into the shared contrastive space."""

    hidden_dim: int = 256  # hidden width of each projection MLP
    out_dim: int = 128  # embedding width (L2-normalised)
    norm: Norm = "batch"  # normalisation between the two linear layers

    def __post_init__(self) -> None:
        _check_types(self, "head")
        _require(self.hidden_dim >= 1, "head.hidden_dim", "must be >= 1", self.hidden_dim)
        _require(self.out_dim >= 1, "head.out_dim", "must be >= 1", self.out_dim)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> HeadConfig:
        """Build from a parameters dict; unknown keys and invalid values raise ``ValueError`` naming the key."""
        return _from_dict(cls, d, "head")


@dataclass
class ModelConfig:
    """All model configs of one preset."""

    point: PointEncoderConfig = field(default_factory=PointEncoderConfig)
    image: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ModelConfig:
        """Build from ``{"preset": name, "point": {...}, "image": {...}, "decoder": {...}, "head": {...}}``.

        ``preset`` (default "small") picks the starting values; the sub-dicts override single keys of it.
        """
        d = dict(d or {})
        sections = {"point": PointEncoderConfig, "image": ImageEncoderConfig, "decoder": DecoderConfig,
                    "head": HeadConfig}
        unknown = sorted(set(d) - set(sections) - {"preset"})
        if unknown:
            raise ValueError(f"model: unknown key(s) {unknown}; valid keys are {sorted([*sections, 'preset'])}")
        name = d.pop("preset", "small")
        if name not in PRESETS:
            raise ValueError(f"model.preset must be one of {sorted(PRESETS)}, got {name!r}")
        base = PRESETS[name]
        parts = {}
        for key, cls_ in sections.items():
            overrides = d.get(key) or {}
            if not isinstance(overrides, dict):
                raise ValueError(f"model.{key} must be a mapping, got {overrides!r}")
            parts[key] = cls_.from_dict({**dataclasses.asdict(getattr(base, key)), **overrides})
        return cls(**parts)


PRESETS: dict[str, ModelConfig] = {
    "small": ModelConfig(
        point=PointEncoderConfig(),
        image=ImageEncoderConfig(),
        decoder=DecoderConfig(),
        head=HeadConfig(hidden_dim=256, out_dim=128),
    ),
    "paper": ModelConfig(
        point=PointEncoderConfig(
            num_points=2048, num_anchors=64, radius=0.1, k=32, temporal_kernel=3, temporal_pool="max",
            conv_channels=(), dim=1024, depth=5, heads=8, mlp_ratio=2.0, dropout=0.0,
        ),
        image=ImageEncoderConfig(
            image_size=112, channels=(64, 128, 256, 512), blocks_per_stage=2, stem_pool=True, dim=512, depth=2,
            heads=8, mlp_ratio=2.0,
        ),
        decoder=DecoderConfig(num_neighbors=3, xyz_dim=64, hidden_dim=256, dim=256),
        head=HeadConfig(hidden_dim=1024, out_dim=256),
    ),
}


def resolve_config(preset_or_dict: str | dict[str, Any] | ModelConfig) -> ModelConfig:
    """A ``ModelConfig`` from a preset name, a parameters dict (see ``ModelConfig.from_dict``) or a config."""
    if isinstance(preset_or_dict, ModelConfig):
        return preset_or_dict
    if isinstance(preset_or_dict, str):
        return ModelConfig.from_dict({"preset": preset_or_dict})
    return ModelConfig.from_dict(preset_or_dict)
