"""The generator's parameters: :mod:`crossvideo_kedro.configs.generate` (one config package for every block)."""

from crossvideo_kedro.configs.generate import (
    BASE_SEMANTIC_CLASSES,
    POOL_FIRST_INDEX,
    PRIMITIVE_STATES,
    SHAPE_SIZES,
    TEXTURES,
    CameraConfig,
    GeneratorConfig,
    LightingConfig,
    MotionConfig,
    SceneConfig,
    SensorConfig,
    UnlabelledPoolConfig,
    check_shape,
)

__all__ = ["BASE_SEMANTIC_CLASSES", "POOL_FIRST_INDEX", "PRIMITIVE_STATES", "SHAPE_SIZES", "TEXTURES",
           "CameraConfig", "GeneratorConfig", "LightingConfig", "MotionConfig", "SceneConfig", "SensorConfig",
           "UnlabelledPoolConfig", "check_shape"]
