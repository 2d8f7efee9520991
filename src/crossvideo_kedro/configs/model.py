"""Model configs of ``pretrain.model`` and the named presets ``small`` and ``paper`` (sizes are config too).

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

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from crossvideo_kedro.configs.base import Bool, Config, Int, Num, expected

TemporalPool = Literal["max", "sum"]
VideoPool = Literal["mean", "max"]
Norm = Literal["batch", "layer"]
ImageNorm = Literal["batch", "group"]
NeighborBackend = Literal["auto", "open3d", "torch"]
Width = Annotated[Int, Field(ge=1)]


def _heads_divide_dim(config: Any) -> Any:
    if config.dim % config.heads:
        raise ValueError(f".heads must divide dim ({config.dim}), got {config.heads!r}")
    return config


class PointEncoderConfig(Config):
    """Point cloud video encoder: point 4D convolution + transformer over anchor tokens."""

    num_points: Int = Field(512, ge=1)  # N points per frame the encoder is sized for (the input may differ)
    num_anchors: Int = Field(32, ge=1)  # A anchors per frame (FPS); P4Transformer: N / spatial stride
    radius: Num = expected("> 0 (metres)", default=0.15, gt=0)  # ball query radius in metres
    k: Int = Field(16, ge=1)  # K neighbours per anchor and frame of the temporal kernel
    temporal_kernel: Int = expected("a positive odd integer", default=3, ge=1)  # frames per tube (odd)
    temporal_pool: TemporalPool = "max"  # pooling over the temporal kernel (P4Transformer: max)
    conv_channels: tuple[Width, ...] = (32,)  # hidden widths of the P4Conv shared MLP before its last layer
    norm: Norm = "layer"  # normalisation in the P4Conv shared MLP (docs/decisions.md: per-sample norms)
    dim: Int = Field(128, ge=1)  # D, token and output width
    depth: Int = Field(2, ge=0)  # transformer layers
    heads: Int = Field(4, ge=1)  # attention heads (dim must be divisible by heads)
    mlp_ratio: Num = Field(2.0, gt=0)  # transformer MLP width = mlp_ratio * dim
    dropout: Num = Field(0.0, ge=0, lt=1)  # dropout in attention and MLP
    video_pool: VideoPool = "mean"  # frame features -> video feature
    neighbor_backend: NeighborBackend = "auto"  # FPS / ball query backend (see geometry/neighbors.py)
    tube_chunk_rows: Int = Field(4096, ge=0)  # neighbour rows per chunk of the tube MLP's last layer (0: unchunked)

    @model_validator(mode="after")
    def _consistent(self) -> PointEncoderConfig:
        if self.num_anchors > self.num_points:
            raise ValueError(f".num_anchors must be in [1, num_points], got {self.num_anchors!r}")
        if self.temporal_kernel % 2 == 0:
            raise ValueError(f".temporal_kernel must be a positive odd integer, got {self.temporal_kernel!r}")
        return _heads_divide_dim(self)


class ImageEncoderConfig(Config):
    """Image video encoder: residual 2D CNN per frame + temporal transformer."""

    image_size: Int = Field(64, ge=8)  # H = W of the input frames (informative: the CNN is global-pooled)
    channels: tuple[Width, ...] = Field((16, 32, 64), min_length=1)  # widths of the residual stages
    blocks_per_stage: Int = Field(1, ge=1)  # BasicBlocks per stage (ResNet-18: 2)
    stem_pool: Bool = False  # 3x3/2 max-pool after the stride-2 stem (ResNet style, for large images)
    norm: ImageNorm = "group"  # CNN normalisation; "group" has per-sample statistics
    dim: Int = Field(128, ge=1)  # D, token and output width
    depth: Int = Field(1, ge=0)  # temporal transformer layers
    heads: Int = Field(4, ge=1)  # attention heads (dim must be divisible by heads)
    mlp_ratio: Num = Field(2.0, gt=0)  # transformer MLP width = mlp_ratio * dim
    dropout: Num = Field(0.0, ge=0, lt=1)  # dropout in attention and MLP
    video_pool: VideoPool = "mean"  # frame features -> video feature

    _heads = model_validator(mode="after")(_heads_divide_dim)


class DecoderConfig(Config):
    """Feature propagation from anchors back to every point (semantic segmentation)."""

    num_neighbors: Int = Field(3, ge=1)  # anchors interpolated per point (inverse-distance weights)
    xyz_dim: Int = Field(32, ge=1)  # width of the per-point xyz embedding
    hidden_dim: Int = Field(128, ge=1)  # hidden width of the fusion MLP
    dim: Int = Field(128, ge=1)  # output width per point
    norm: Norm = "layer"  # normalisation in the fusion MLP
    local_k: Int = Field(0, ge=0)  # per-point local geometry: offsets to the k nearest points (0: off)
    local_dim: Int = Field(64, ge=1)  # width of that local descriptor


class HeadConfig(Config):
    """Projection heads (one per modality and level) into the shared contrastive space."""

    hidden_dim: Int = Field(256, ge=1)  # hidden width of each projection MLP
    out_dim: Int = Field(128, ge=1)  # embedding width (L2-normalised)
    norm: Norm = "batch"  # normalisation between the two linear layers


class ModelConfig(Config):
    """All model configs of one preset: ``{preset, point, image, decoder, head}``.

    ``preset`` (default ``small``) picks the starting values; the sections override single keys of it.
    """

    point: PointEncoderConfig = PointEncoderConfig()
    image: ImageEncoderConfig = ImageEncoderConfig()
    decoder: DecoderConfig = DecoderConfig()
    head: HeadConfig = HeadConfig()

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {key: value for key, value in data.items() if value is not None}  # a null section: the preset's
        if "preset" not in data:
            return data  # no preset: the field defaults, which are ``small``
        name = data.pop("preset")
        if name not in PRESETS:
            raise ValueError(f".preset must be one of {sorted(PRESETS)}, got {name!r}")
        base = PRESETS[name]
        for key in cls.model_fields:
            override = data.get(key) or {}
            data[key] = {**getattr(base, key).model_dump(), **override} if isinstance(override, dict) else override
        return data


PRESETS: dict[str, ModelConfig] = {
    "small": ModelConfig(),
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
    """A ``ModelConfig`` from a preset name, a parameters mapping (``{preset, point, ...}``) or a config."""
    from crossvideo_kedro.configs.base import parse  # noqa: PLC0415 - same package

    if isinstance(preset_or_dict, ModelConfig):
        return preset_or_dict
    if isinstance(preset_or_dict, str):
        preset_or_dict = {"preset": preset_or_dict}
    return parse(ModelConfig, preset_or_dict, "model")
