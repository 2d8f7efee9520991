"""Every parameter block as one kind of typed model (pydantic, frozen, unknown keys refused), and :func:`parse`.

One module per block: ``generate``, ``ingest``, ``augment``, ``pretrain`` (with ``loss``, ``checkpoint`` and
``model``: the presets), ``finetune`` (with ``temporal`` and ``augment``), ``evaluate`` (the study and its variants) and ``predict``.
This package imports nothing else of the project: every layer may read it.
"""

from crossvideo_kedro.configs.augment import AugmentConfig, GeometricConfig, ImageAugConfig
from crossvideo_kedro.configs.base import Config, parse
from crossvideo_kedro.configs.evaluate import Run, StudyConfig, Variant
from crossvideo_kedro.configs.finetune import FinetuneConfig, TemporalConfig, WindowAugmentConfig
from crossvideo_kedro.configs.generate import GeneratorConfig
from crossvideo_kedro.configs.ingest import IngestConfig
from crossvideo_kedro.configs.model import (
    PRESETS,
    DecoderConfig,
    HeadConfig,
    ImageEncoderConfig,
    ModelConfig,
    PointEncoderConfig,
)
from crossvideo_kedro.configs.predict import PredictConfig
from crossvideo_kedro.configs.pretrain import CheckpointConfig, DenseConfig, LossConfig, PretrainConfig

__all__ = [
    "PRESETS", "AugmentConfig", "CheckpointConfig", "Config", "DecoderConfig", "DenseConfig", "FinetuneConfig",
    "GeneratorConfig", "GeometricConfig", "HeadConfig", "ImageAugConfig", "ImageEncoderConfig", "IngestConfig",
    "LossConfig", "ModelConfig", "PointEncoderConfig", "PredictConfig", "PretrainConfig", "Run", "StudyConfig",
    "TemporalConfig", "Variant", "WindowAugmentConfig", "parse",
]
