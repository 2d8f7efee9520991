"""``evaluate``: the study's tidy metrics table, its summary and its plots."""

from crossvideo_kedro.pipelines.evaluate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
