"""``generate``: the built-in synthetic RGB-D interaction videos, written in the HOI4D raw layout."""

from crossvideo_kedro.pipelines.generate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
