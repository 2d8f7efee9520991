"""``augment``: a versioned bank of augmented view pairs of the training clips."""

from crossvideo_kedro.pipelines.augment.pipeline import create_pipeline

__all__ = ["create_pipeline"]
