"""``generate_unseen``: generated sequences no model has seen, as the default recording of ``predict``."""

from crossvideo_kedro.pipelines.generate_unseen.pipeline import create_pipeline

__all__ = ["create_pipeline"]
