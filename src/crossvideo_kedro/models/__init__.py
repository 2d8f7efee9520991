"""CrossVideo models: point cloud video encoder (P4Conv + transformer), image video encoder, decoder, heads.

Plain torch modules that know nothing about Kedro; notebooks import them directly.
"""

from crossvideo_kedro.geometry.neighbors import ball_query, furthest_point_sample
from crossvideo_kedro.models.decoder import PointDecoder, interpolate_features
from crossvideo_kedro.models.heads import ProjectionHead
from crossvideo_kedro.models.image import ImageVideoEncoder
from crossvideo_kedro.models.point4d import P4Conv, PointVideoEncoder, TransformerEncoder
from crossvideo_kedro.configs.model import (
    PRESETS,
    DecoderConfig,
    HeadConfig,
    ImageEncoderConfig,
    ModelConfig,
    PointEncoderConfig,
    resolve_config,
)

__all__ = [
    "PRESETS",
    "DecoderConfig",
    "HeadConfig",
    "ImageEncoderConfig",
    "ImageVideoEncoder",
    "ModelConfig",
    "P4Conv",
    "PointDecoder",
    "PointEncoderConfig",
    "PointVideoEncoder",
    "ProjectionHead",
    "TransformerEncoder",
    "ball_query",
    "furthest_point_sample",
    "interpolate_features",
    "resolve_config",
]
