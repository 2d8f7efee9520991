"""``ingest``: raw RGB-D (or point) sequences → point cloud videos, image videos and the sequence index."""

from crossvideo_kedro.pipelines.ingest.pipeline import create_pipeline

__all__ = ["create_pipeline"]
