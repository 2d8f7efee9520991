"""``finetune``: downstream 4D tasks for every study variant (one Kedro namespace per variant)."""

from crossvideo_kedro.pipelines.finetune.pipeline import create_pipeline

__all__ = ["create_pipeline"]
